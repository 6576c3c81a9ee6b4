"""Every bundled problem is solved, rendered and its numbers checked against PyTorch."""

import pytest
import sympy

from derive import crosscheck, render
from derive.engine import solve
from derive.loader import load

from conftest import PROBLEMS


@pytest.mark.parametrize("path", PROBLEMS, ids=[p.stem for p in PROBLEMS])
def test_bundled_problem_solves_and_agrees_with_torch(path, torch):
    problem = load(path)
    sol = solve(problem)
    assert render.markdown(sol) and render.latex(sol)
    answers = render.answers(sol)
    for q in problem.questions:
        a = answers[q.id]
        if a["value"] is None:
            continue
        want = crosscheck.value(problem, q)
        assert abs(a["value"] - want) <= 1e-9 * max(abs(want), 1e-3), (path.name, q.id)


def test_symbolic_problem_matches_direct_differentiation():
    answers = render.answers(solve(load("problems/symbolic.yaml")))
    whh, whx, wyh = sympy.symbols("w_hh w_hx w_yh")
    h0, x1, x2, x3, y1, y2, y3, h1s = sympy.symbols("h0 x1 x2 x3 y1 y2 y3 h1")

    def parse(s):
        for a, b in (("h[0]", "h0"), ("h[1]", "h1"), ("x[1]", "x1"), ("x[2]", "x2"),
                     ("x[3]", "x3"), ("y[1]", "y1"), ("y[2]", "y2"), ("y[3]", "y3")):
            s = s.replace(a, b)
        return sympy.sympify(s, locals={"w_hh": whh, "w_hx": whx, "w_yh": wyh})

    h2 = sympy.tanh(whh * h1s + whx * x2)
    h3 = sympy.tanh(whh * h2 + whx * x3)
    J3 = (wyh * h3 - y3) ** 2
    assert sympy.simplify(parse(answers["a"]["exact"]) - sympy.diff(J3, h1s)) == 0
    assert sympy.simplify(parse(answers["d"]["exact"]) - sympy.diff(h3, h1s)) == 0
    H1 = sympy.tanh(whh * h0 + whx * x1)
    J1 = (wyh * H1 - y1) ** 2
    assert sympy.simplify(parse(answers["b"]["exact"]) - sympy.diff(J1, whh)) == 0
    assert answers["a"]["value"] is None
