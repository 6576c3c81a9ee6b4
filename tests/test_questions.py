"""The one question handler: truncation of any loss term, both loss forms alike, one wording."""

from conftest import answers_of, close, solve_text

from derive.check import crosscheck
from derive.lang.loader import loads
from derive.output import render

NONLINEAR = """
title: a log-sum-exp loss, truncated
steps: 6
equations:
  h[t]: tanh(w*h[t-1] + x[t])
  L: log(sum(exp(v*h[t]))) + 0.1*w**2
given:
  h[0]: 0
  w: 0.5
  v: 2
  x: [1, 2, 3, -1, 0.5, 0.2]
questions:
  - find: d(L, w)
  - find: d(L, h[2])
  - find: d(L, w)
    truncate: 2
"""


def test_truncation_of_a_loss_that_is_not_a_sum_of_steps_agrees_with_torch(torch):
    """A term's direct reads at truncated steps are constants too (detach), not only the
    paths through later states."""
    problem = loads(NONLINEAR, "nonlinear.yaml")
    got = answers_of(NONLINEAR)
    for q in problem.questions:
        want = crosscheck.value(problem, q)
        assert close(got[q.id]["value"], want), (q.id, got[q.id]["value"], want)
    assert not close(got["c"]["value"], got["a"]["value"])


def _tanh_rnn(loss: str, T: int) -> str:
    xs = ", ".join(str((k % 5 - 2) / 10) for k in range(T))
    ys = ", ".join(str((k % 3 - 1) / 10) for k in range(T))
    return (f"title: tanh RNN\nsteps: {T}\nequations:\n  h[t]: tanh(w*h[t-1] + u*x[t])\n{loss}"
            f"given:\n  h[0]: 0\n  w: 0.5\n  u: 0.1\n  v: 1.5\n  x: [{xs}]\n  y: [{ys}]\n"
            "questions:\n  - find: d(L, w)\n  - find: d(L, h[3])\n  - find: d(L, v)\n")


def test_both_loss_forms_give_the_same_answers_and_the_same_rule(torch):
    per_step = _tanh_rnn("  L[t]: (v*h[t] - y[t])**2\n  L: sum(L[t])\n", 8)
    inline = _tanh_rnn("  L: sum((v*h[t] - y[t])**2)\n", 8)
    a, b = answers_of(per_step), answers_of(inline)
    for qid in ("a", "b", "c"):
        assert close(a[qid]["value"], b[qid]["value"], 1e-30, 1e-30), qid
    problem = loads(inline, "inline.yaml")
    for q in problem.questions:
        assert close(b[q.id]["value"], crosscheck.value(problem, q)), q.id
    md = render.markdown(solve_text(inline))
    # ∂L/∂h_t of the inline sum, at a general step, from the terms that read h_t
    assert r"\frac{\partial L}{\partial h_{t}} = 2 v \left(h_{t} v - y_{t}\right)" in md


def test_an_inline_sum_is_never_expanded_into_T_terms():
    """The cost of the inline form grows like that of L[t]: no T-term sympy expression is
    built for the solution or its Markdown (the Σ is written as the author did)."""
    sol = solve_text(_tanh_rnn("  L: sum((v*h[t] - y[t])**2)\n", 300))
    md = render.markdown(sol)
    L = next(n for n in sol.graph.nodes.values() if n.name == "L")
    assert L.template.sums is not None and L.template._expr is None
    assert r"L &= \sum_{t=1}^{T} \left(v h_{t} - y_{t}\right)^{2}" in md


def test_truncation_is_worded_once_for_scalar_and_vector_problems():
    scalar = solve_text(NONLINEAR)
    vector = solve_text("""
title: vector, truncated
steps: 3
equations:
  h[t]: tanh(W @ h[t-1] + x[t])
  L[t]: sum(h[t])
  L: sum(L[t])
given:
  h[0]: [0, 0]
  W: [[0.5, 0.1], [0, 0.3]]
  x: [[1, 0], [0, 1], [1, 1]]
questions:
  - find: d(L, W)
    truncate: 2
""")
    words = ("each loss term is back-propagated through at most 2 steps (its own step and "
             "the ones before); paths through earlier states are dropped.")
    for sol in (scalar, vector):
        notes = [st.text for q in sol.questions for st in q.steps if hasattr(st, "text")]
        assert any(words in n for n in notes), notes
