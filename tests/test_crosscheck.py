"""Problems written to the spec (not in problems/) against independent PyTorch float64 values."""

import pytest

from derive.check import crosscheck

from derive.output import render
from derive.calculus.questions import solve
from derive.lang.loader import loads

TANH = """
title: tanh RNN, five steps
steps: 5
equations:
  h[t]: tanh(W_hh*h[t-1] + W_xh*x[t] + b)
  yhat[t]: W_hy*h[t] + c
  L[t]: (yhat[t] - y[t])**2
  L: sum(L[t])
given:
  h[0]: 0.1
  x: [0.5, -1, 2, 0.25, -0.75]
  y: [0.2, 0.4, -0.1, 0.3, 0]
  W_hh: 0.9
  W_xh: -0.6
  W_hy: 1.3
  b: 0.05
  c: -0.1
questions:
  - find: L
  - find: d(L, W_hh)
  - find: d(L, W_xh)
  - find: d(L, W_hy)
  - find: d(L, b)
  - find: d(L, c)
  - find: d(L, h[0])
  - find: d(L, h[2])
  - find: d(L, x[3])
  - find: d(h[5], h[2])
  - find: d(L, W_hh)
    truncate: 2
  - find: d(L, W_xh)
    truncate: 1
  - find: d(L, W_hh)
    form: expanded
"""

MANY_TO_ONE = """
title: many-to-one, sigmoid and cross-entropy
steps: 4
equations:
  h[t]: tanh(a*h[t-1] + b*x[t])
  p: sigmoid(v*h[T] + k)
  L: -(y*log(p) + (1 - y)*log(1 - p))
given:
  h[0]: 0
  x: [1, -2, 0.5, 3]
  y: 0
  a: 1.1
  b: 0.4
  v: -1.5
  k: 0.3
questions:
  - find: p
  - find: d(L, a)
  - find: d(L, b)
  - find: d(L, v)
  - find: d(L, k)
  - find: d(L, h[1])
  - find: d(L, a)
    truncate: 2
"""

SYMBOLIC_THEN_NUMBERS = """
title: symbolic structure, numbers for the check
steps: 3
equations:
  z[t]: w*h[t-1] + u*x[t]
  h[t]: sigmoid(z[t])
  o[t]: r*h[t]
  J[t]: (o[t] - y[t])**2 / 2
  J: sum(J[t])
given:
  h[0]: 0.5
  x: [1, 2, 3]
  y: [1, 0, 1]
  w: 2
  u: -1
  r: 0.5
questions:
  - find: d(J[3], h[1])
  - find: d(J, w)
  - find: d(J, r)
  - find: d(o[3], z[1])
"""

RELU_STATIC = """
title: a static graph with relu, abs, exp, sqrt
equations:
  a: relu(w1*x + b1)
  s: sqrt(a**2 + 1) + abs(w2 - x) + exp(-a/2)
  L: log(s) * s
given:
  x: 1.5
  w1: 0.7
  b1: -0.2
  w2: 3
questions:
  - find: L
  - find: d(L, w1)
  - find: d(L, b1)
  - find: d(L, x)
  - find: d(s, a)
"""

GATED = r"""
title: gated scalar cell, two states
steps: 5
equations:
  c[t]: f*c[t-1] + i*tanh(W*h[t-1] + x[t])
  h[t]: o*tanh(c[t])
  L: sum((h[t] - y[t])**2) / 2
given:
  c[0]: 0
  h[0]: 0
  f: 0.9
  i: 0.5
  o: 0.8
  W: 1.2
  x: [1, 0, -1, 0.5, 2]
  y: [0.1, 0.2, 0.3, 0.4, 0.5]
questions:
  - find: d(L, W)
  - find: d(L, f)
  - find: d(L, c[2])
  - find: d(L, h[1])
  - find: h[3] + c[3]
  - find: d(h[5] * c[5], W)
  - find: d(L, x[2])
  - find: d(L, W)
    truncate: 3
  - find: d(L, W)
    form: expanded
  - text: Why do gates help?
    answer: The additive path $c_t = f c_{t-1} + \dots$ keeps gradients alive.
"""

TRUNCATED_UNNAMED = """
title: truncated unnamed sum
steps: 3
equations:
  h[t]: w*h[t-1] + x[t]
  L: sum((h[t] - y[t])**2) / 2
given:
  h[0]: 1
  w: 0.5
  x: [1, 2, 3]
  y: [0, 1, 0]
questions:
  - find: d(L, w)
    truncate: 1
  - find: d(L, w)
"""


@pytest.mark.parametrize("text", [TANH, MANY_TO_ONE, SYMBOLIC_THEN_NUMBERS, RELU_STATIC, GATED,
                                  TRUNCATED_UNNAMED],
                         ids=["tanh", "many_to_one", "sigmoid_chain", "static", "gated",
                              "truncated_unnamed"])
def test_engine_agrees_with_torch(text, torch):
    problem = loads(text, "inline.yaml")
    answers = render.answers(solve(problem))
    for q in problem.questions:
        if q.find is None:
            continue
        want = crosscheck.value(problem, q)
        got = answers[q.id]["value"]
        assert got is not None, q.id
        assert abs(got - want) <= 1e-9 * max(abs(want), 1e-3), (q.id, q.find_text, got, want)


def test_truncation_changes_the_answer(torch):
    problem = loads(TANH, "inline.yaml")
    answers = render.answers(solve(problem))
    assert abs(answers["b"]["value"] - answers["k"]["value"]) > 1e-6
    assert answers["b"]["value"] == pytest.approx(answers["m"]["value"], rel=1e-15)


SYMBOLIC = """
title: fully symbolic two-step tanh RNN
steps: 2
equations:
  h[t]: tanh(w*h[t-1] + u*x[t])
  yhat[t]: v*h[t]
  L[t]: (yhat[t] - y[t])**2
  L: sum(L[t])
questions:
  - find: d(L, w)
  - find: d(L, h[1])
  - find: d(L, u)
    truncate: 1
"""

NUMBERS = {"w": "0.7", "u": "-0.4", "v": "1.3", "h[0]": "0.2", "x[1]": "1", "x[2]": "-2",
           "y[1]": "0.5", "y[2]": "-0.25"}


def test_symbolic_answers_evaluate_to_torch_values(torch):
    import sympy

    from derive.calculus.graph import sym
    answers = render.answers(solve(loads(SYMBOLIC, "symbolic.yaml")))
    given = ("given:\n  h[0]: 0.2\n  x: [1, -2]\n  y: [0.5, -0.25]\n  w: 0.7\n  u: -0.4\n"
             "  v: 1.3\n")
    numeric = loads(SYMBOLIC.replace("questions:", given + "questions:"), "numeric.yaml")
    point = solve(numeric).values  # forward values of the named states h[1], h[2]
    values = {k: sympy.Rational(v) for k, v in NUMBERS.items()}
    values.update({f"h[{k}]": point[sym(f"h[{k}]")] for k in (1, 2)})
    for q in numeric.questions:
        exact = answers[q.id]["exact"]
        assert answers[q.id]["value"] is None and exact
        text = exact
        names = {}
        for k in sorted(values, key=len, reverse=True):
            name = k.replace("[", "_").replace("]", "")
            names[name] = sympy.Symbol(name)
            text = text.replace(k, name)
        expr = sympy.sympify(text, locals=names)
        got = float(expr.subs({names[k.replace("[", "_").replace("]", "")]: v
                               for k, v in values.items()}))
        want = crosscheck.value(numeric, q)
        assert abs(got - want) <= 1e-9 * max(abs(want), 1e-3), (q.id, got, want)


def test_compare_entry_by_entry_with_digits():
    from derive.check.crosscheck import compare
    assert compare(8.0, 8.0).digits == 15 and compare(8.0, 8.0).status == "agrees"
    c = compare([1.0, 2.0], [1.0, 2.0 + 2e-12])
    assert c.status == "agrees" and c.digits == 11
    assert compare([1.0, 2.0], [1.0, 2.1]).status == "disagrees"
    assert compare(0.0, 1e-14).status == "agrees"  # both near zero
    assert compare(1.0, float("nan")).status == "disagrees"
    assert compare([1.0], [1.0, 2.0]).status == "disagrees"


def test_an_answer_torch_cannot_compute_is_a_failure(monkeypatch):
    from derive.check import crosscheck
    from derive.output import render
    from conftest import solve_text
    sol = solve_text("title: t\nequations:\n  y: 2*x\ngiven:\n  x: 3\nquestions:\n"
                     "  - find: y\n")

    def broken(problem, q):
        raise RuntimeError("boom")

    monkeypatch.setattr(crosscheck, "value", broken)
    (c,) = crosscheck.check(sol.problem, render.answers(sol)).values()
    assert c.status == "disagrees" and "boom" in c.reason


def _question(problem, qid):
    return next(q for q in problem.questions if q.id == qid)


def test_a_plain_quantity_between_steps_is_computed_when_first_read(torch):
    # Z sums over every step and alpha[t] reads it: the check used to stop at KeyError('e', 2)
    import math
    p = loads("title: t\nsteps: 3\nequations:\n  e[t]: q*x[t]\n  Z: sum(exp(e[t]))\n"
              "  alpha[t]: exp(e[t]) / Z\n  L: alpha[1] * T\ngiven:\n  x: [1, -1, 0.5]\n"
              "  q: 2\nquestions:\n  - id: a\n    find: alpha[1]\n  - id: g\n"
              "    find: d(L, q)\n")
    es = [2.0, -2.0, 1.0]
    z = sum(math.exp(e) for e in es)
    assert crosscheck.value(p, _question(p, "a")) == pytest.approx(math.exp(2) / z, rel=1e-12)
    # d(3 e^{2q}/Σ e^{q x_t})/dq = 3 alpha_1 (x_1 - Σ alpha_t x_t)
    alpha = [math.exp(e) / z for e in es]
    want = 3 * alpha[0] * (1 - sum(a * x for a, x in zip(alpha, (1, -1, 0.5))))
    assert crosscheck.value(p, _question(p, "g")) == pytest.approx(want, rel=1e-12)


def test_a_backward_recurrence_is_evaluated_from_T_down_without_recursion(torch):
    T = 3000
    p = loads(f"title: t\nsteps: {T}\nequations:\n  hb[t]: 0.5*hb[t+1] + x[t]\n"
              f"  L: sum(hb[t])\ngiven:\n  hb[T+1]: 2\n  x: [{', '.join(['1'] * T)}]\n"
              "questions:\n  - id: a\n    find: hb[1]\n  - id: b\n    find: d(L, hb[T+1])\n")
    h = 2.0
    for _ in range(T):
        h = 0.5 * h + 1
    assert crosscheck.value(p, _question(p, "a")) == pytest.approx(h, rel=1e-12)
    # hb[t] holds 0.5^(T+1-t) hb[T+1]: the sum of those factors is 1 - 0.5^T
    assert crosscheck.value(p, _question(p, "b")) == pytest.approx(1 - 0.5 ** T, rel=1e-12)


def test_entries_are_checked_independently(monkeypatch):
    """PyTorch reads entries itself: an entry's backward rule that sends the adjoint to the
    wrong entry is caught, in the loss's equation and by an entry asked for in wrt."""
    from pathlib import Path

    from derive.calculus import program
    from derive.lang import expr as ex

    text = (Path(__file__).parent / "cases" / "entries_sentiment.yaml").read_text()
    sol = solve(loads(text, "s.yaml"))
    assert all(c.status == "agrees"
               for c in crosscheck.check(sol.problem, render.answers(sol)).values())
    real = program._backward

    def wrong(D, ins, a, out, g, *need):
        grads = real(D, ins, a, out, g, *need)
        if isinstance(ins.node, ex.Entry):  # the adjoint lands one entry further down
            base = grads[0]
            grads[0] = base.like(base.data[-1:] + base.data[:-1])
        return grads

    monkeypatch.setattr(program, "_backward", wrong)
    sol = solve(loads(text, "s.yaml"))
    checks = crosscheck.check(sol.problem, render.answers(sol))
    assert checks["L"].status == "agrees"
    assert {k for k, c in checks.items() if c.status == "disagrees"} >= {"W_hh", "W_hy21",
                                                                        "z", "h1_2"}
