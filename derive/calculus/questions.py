"""The one entry point of the calculus: a validated problem in, a :class:`Solution` out."""

from __future__ import annotations

from ..lang.loader import Problem
from ..solution import Solution
from . import scalar, vector
from .graph import unroll


def solve(problem: Problem, gradients: bool = False) -> Solution:
    """Solve every question of a validated problem (raises SpecError for numeric defects).

    ``gradients``: also the gradient of the loss (the last plain quantity) by every node, for
    the graph figure."""
    graph = unroll(problem)
    if vector.is_vector_problem(graph):
        return vector.solve(graph, gradients)
    return scalar.solve_graph(graph, gradients)
