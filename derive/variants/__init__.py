"""Variants of a problem: ``vary:`` draws givens, ``require:`` keeps draws (classroom spec).

``generate(problem, n, seed, shard)`` gives the :class:`Variant` tuple and ``with_given``
a problem with some givens replaced; ``derive variants`` writes their files.
"""

from .run import Variant, generate, with_given

__all__ = ["Variant", "generate", "with_given"]
