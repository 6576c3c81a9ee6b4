"""The general T-step formula and the vanishing/exploding bound."""

import sympy

from derive.calculus import general

from derive.output import render
from derive.calculus.questions import solve
from derive.lang.loader import load, loads

from conftest import ROOT


def test_inlining_writes_the_step_out():
    p = load(ROOT / "problems" / "symbolic.yaml")
    e = general.inline(p, "h")
    assert general.recurrent_weight("h", e) == ("tanh", "w_hh")


def test_norm_is_the_largest_singular_value():
    r = sympy.Rational
    assert general.norm(r(-3, 4)) == r(3, 4)
    n = general.norm(((r(3), r(0)), (r(0), r(-5))))
    assert abs(n - 5) < 1e-25


def test_symbolic_general_formula_uses_the_problems_own_factors():
    md = render.markdown(solve(load(ROOT / "problems" / "symbolic.yaml")))
    assert r"\prod_{j=k+1}^{t} \frac{\partial h_{j}}{\partial h_{j - 1}}" in md
    assert r"\frac{\partial h_{j}}{\partial h_{j - 1}} = w_{hh} \left(1 - h_{j}^{2}\right)" in md
    assert r"\frac{\partial^{+} h_{k}}{\partial w_{hh}} = h_{k - 1} \left(1 - h_{k}^{2}\right)" \
        in md
    assert "vanishing gradients" in md and "exploding gradients" in md


def test_bound_with_numbers_says_which_regime():
    text = """
title: exploding
steps: 4
equations:
  h[t]: w*h[t-1] + x[t]
  L: h[T]**2
given:
  h[0]: 1
  x: [0, 0, 0, 0]
  w: 3
questions:
  - find: d(L, w)
    form: general
"""
    sol = solve(loads(text))
    md = render.markdown(sol)
    assert r"\gamma \lVert w \rVert = 3$, above 1: long-range terms may explode" in md
    # the worked answer is still there: L = (w^4)^2, dL/dw = 8 w^7 = 17496
    assert render.answers(sol)["a"]["exact"] == "17496"
