"""The one question handler: truncation of any loss term, both loss forms alike, one wording;
the forward pass shown once per problem."""

from pathlib import Path

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


# ---- the forward pass, shown once per problem ------------------------------------------------

def _forward_once(sol) -> None:
    """The problem's forward pass holds every value a question reads; a question shows at
    most its own line (a value question)."""
    from derive.solution import ForwardRef, ForwardTable, ForwardValues, VForward
    shown = set()
    for st in sol.forward:
        shown.update(st.rows if not isinstance(st, ForwardTable) else
                     [s for s in sol.graph.nodes if sol.graph.nodes[s].name in st.names] +
                     list(st.plain))
    for qs in sol.questions:
        for st in qs.steps:
            if isinstance(st, ForwardRef):
                assert set(st.rows) <= shown, qs.question.id
            elif isinstance(st, (ForwardValues, VForward)):
                assert len(st.rows) == 1, qs.question.id
            assert not isinstance(st, ForwardTable), qs.question.id


def test_each_problems_forward_pass_appears_once():
    from conftest import PROBLEMS, ROOT
    cases = sorted((ROOT / "tests" / "cases").glob("*.yaml"))
    for path in list(PROBLEMS) + cases:
        sol = solve_text(path.read_text(), path.name)
        _forward_once(sol)
        md = render.markdown(sol)
        assert md.count("## Forward pass") == (1 if sol.forward else 0), path.name
        for qs in sol.questions:  # no question lists the forward pass again
            body = md.split(f"## Question {qs.question.id}\n")[1].split("## Question ")[0]
            assert "Forward pass:" not in body, (path.name, qs.question.id)


def test_the_forward_pass_is_listed_once_and_referred_to():
    path = Path(__file__).parent / "cases" / "once_ten_questions.yaml"
    sol = solve_text(path.read_text(), path.name)
    md, tex = render.markdown(sol), render.latex(sol)
    h2 = r"h_{2} &= \tanh\left(W_{hh} h_{1} + W_{xh} x_{2} + b\right) = "
    assert md.count(h2) == 1 and tex.count(h2) == 1
    assert md.index("## Forward pass") < md.index("## Question h3")
    assert tex.index(r"\section*{Forward pass}") < tex.index(r"\section*{Question h3}")
    dwhh = md.split("## Question dWhh\n")[1].split("## Question")[0]
    # it reads them all: said so, not listed
    assert dwhh.startswith("\nCompute") and \
        "Forward values: every value of the forward pass above; backward values: " in dwhh
    loss = md.split("## Question loss\n")[1].split("## Question")[0]
    assert ("Forward values: see the forward pass above ($h_{1}$, $h_{2}$, $h_{3}$, "
            "$\\hat{y}_{1}$, $\\hat{y}_{2}$, $\\hat{y}_{3}$, $L_{1}$, $L_{2}$, $L_{3}$).") in loss
    # a value question still shows its own evaluation line
    yhat2 = md.split("## Question yhat2\n")[1].split("## Question")[0]
    assert r"\hat{y}_{2} &= W_{y} h_{2} = " in yhat2
    assert "($h_{1}$, $h_{2}$)" in yhat2
    # the book: one forward pass per problem, none on the questions-only sheet
    book = render.book([sol, solve_text(
        (Path(__file__).parent.parent / "problems" / "q1.yaml").read_text(), "q1.yaml")], "B")
    assert book.count(r"\subsection*{Forward pass}") == 2
    sheet = render.book([sol], "B", solutions=False)
    assert "Forward pass" not in sheet


def test_a_long_reference_names_runs_of_steps_by_their_ends():
    path = Path(__file__).parent.parent / "problems" / "tanh_rnn.yaml"
    md = render.markdown(solve_text(path.read_text(), path.name))
    assert ("Forward values: see the forward pass above ($h_{1}$, $\\dots$, $h_{6}$, "
            "$\\hat{y}_{1}$, $\\dots$, $\\hat{y}_{6}$, $L_{1}$, $\\dots$, $L_{6}$, $L$).") in md
    forward = md.split("## Forward pass")[1].split("## Question")[0]
    assert "Forward pass, step by step:" in forward  # six steps: a table, by the same rule


def test_each_losss_backward_pass_appears_once_and_the_questions_refer_to_it():
    """Gradient questions of one loss share its backward pass: its equations and table of
    adjoints are shown once, after the forward pass; each question keeps its parameter's rule,
    its step terms and its answer, and names the adjoints it reads."""
    from derive.solution import BackwardRef, VBackward, VTable
    path = Path(__file__).parent / "cases" / "once_ten_questions.yaml"
    sol = solve_text(path.read_text(), path.name)
    assert len(sol.backward) == 1
    back, table = sol.backward[0]
    assert isinstance(back, VBackward) and back.param is None and isinstance(table, VTable)
    assert [c[1] for c in table.columns] == ["yhat", "h"]
    md, tex = render.markdown(sol), render.latex(sol)
    delta = (r"\frac{\partial L}{\partial h_{t}} &= W_{y}^{\top} \frac{\partial L}"
             r"{\partial \hat{y}_{t}} + W_{hh}^{\top}")
    assert md.count(delta) == 1 and tex.count(delta) == 1
    assert md.index("## Forward pass") < md.index("## Backward pass") < md.index("## Question")
    assert tex.count(r"\section*{Backward pass}") == 1
    refs = {qs.question.id for qs in sol.questions
            if any(isinstance(st, BackwardRef) for st in qs.steps)}
    assert refs == {"dWhh", "dWxh", "dWy", "db", "dh1", "trunc"}
    dwy = md.split("## Question dWy\n")[1].split("## Question")[0]
    assert ("backward values: see the backward pass of $L$ above ($\\frac{\\partial L}"
            "{\\partial \\hat{y}_{t}}$).") in dwy
    # the parameter's own rule, its step terms (once, as a sum) and the answer stay
    dwhh = md.split("## Question dWhh\n")[1].split("## Question")[0]
    assert (r"\frac{\partial L}{\partial W_{hh}} &= \sum_{t=1}^{T} \operatorname{diag}"
            r"\left(1 - h_{t} \odot h_{t}\right)") in dwhh
    assert dwhh.count(r"\begin{bmatrix} -0.007313 & 0.007313 \\ 0.04077 & -0.04077 "
                      r"\end{bmatrix}") == 1
    assert "**Answer:** $\\frac{\\partial L}{\\partial W_{hh}} = \\begin{bmatrix} 0.3481 & " \
        "-0.04235" in dwhh
    # the answer matrix is shown once, on the answer line
    assert dwhh.count("0.3481") == 1


def test_one_gradient_question_keeps_its_own_backward_pass():
    """A loss only one question differentiates has no shared pass: the question shows it."""
    from derive.solution import BackwardRef, VBackward
    path = Path(__file__).parent / "cases" / "once_ten_questions.yaml"
    text = path.read_text()
    text = text[:text.index("questions:")] + """questions:
  - id: dWhh
    find: d(L, W_hh)
  - id: jac
    find: d(h[3], h[1])
"""
    sol = solve_text(text, path.name)
    assert sol.backward == ()
    dwhh = sol.questions[0]
    assert any(isinstance(st, VBackward) and st.rows for st in dwhh.steps)
    assert not any(isinstance(st, BackwardRef) for st in dwhh.steps)
    md = render.markdown(sol)
    assert "## Backward pass" not in md and "Backward pass: the adjoint" in md
    full = render.answers(solve_text(path.read_text(), path.name))
    assert render.answers(sol)["dWhh"]["exact"] == full["dWhh"]["exact"]
