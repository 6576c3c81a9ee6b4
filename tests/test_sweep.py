"""Sweeps (``over: k``): the list over k, its exact entries, norms, the bound, the plot files,
keys with lists, and every misuse as one message naming file, key and line (through the CLI)."""

import json
import xml.etree.ElementTree as ET

import pytest
import sympy
from typer.testing import CliRunner

from derive.calculus import core as core_mod
from derive.check import keys
from derive.cli import app
from derive.output import render

from conftest import ROOT, solve_text

runner = CliRunner()

LINEAR = """title: a linear RNN
steps: 4
equations:
  h[t]: a*h[t-1] + x[t]
given:
  h[0]: 1
  x: [1, 2, 3, 4]
  a: 0.5
questions:
  - id: s
    find: d(h[T], h[k])
    over: {k: [0, T]}
"""


def _rejected(tmp_path, text: str) -> str:
    f = tmp_path / "sw.yaml"
    f.write_text(text)
    out = tmp_path / "out"
    r = runner.invoke(app, ["solve", str(f), "--out", str(out)])
    assert r.exit_code == 2, (r.output, r.exception)
    msg = r.stderr.strip()
    assert msg.count("\n") == 0 and msg.startswith(f"error: {f}: ") and "Traceback" not in msg
    assert not out.exists()
    return msg


@pytest.mark.parametrize("question,key,line,words", [
    ("find: d(h[T], h[1])\n    over: k", "questions.s.over", 12,
     "needs a find that uses k as an index"),
    ("find: d(h[T], h[k])\n    over: {k: [3, 1]}", "questions.s.over", 12,
     "the range of k is empty (3 > 1)"),
    ("find: d(h[T], h[k])\n    over: {k: [1, T/2]}", "questions.s.over", 12,
     "a bound of over is a whole number or T, T-j, T+j"),
    ("find: d(h[T], h[k])\n    over: {k: [1]}", "questions.s.over", 12, "two bounds"),
    ("find: d(h[T], h[t])\n    over: t", "questions.s.over", 12, "t, T, d and the function"),
    ("find: d(h[T], h[a])\n    over: a", "questions.s.over", 12, "it is a name of the problem"),
    ("find: h[k] * k\n    over: k", "questions.s.find", 11, "k is the question's sweep index"),
    ("find: d(h[T], h[k])\n    over: {k: [0, T+1]}", "questions.s.over", 12,
     "at k = 5, h[k] is h[5], which does not exist (h exists at steps 0..4)"),
    ("find: d(h[T], h[k-1])\n    over: {k: [0, T]}", "questions.s.over", 12,
     "at k = 0, h[k-1] is h[-1]"),
    ("find: d(h[T], h[k])\n    over: [k]", "questions.s.over", 12,
     "over is a name (over: k) or a range (over: {k: [1, T]})"),
])
def test_misuse_is_one_message_naming_file_key_and_line(tmp_path, question, key, line, words):
    text = LINEAR.replace("find: d(h[T], h[k])\n    over: {k: [0, T]}", question)
    msg = _rejected(tmp_path, text)
    assert f"{key} (line {line}): " in msg and words in msg, msg


def test_over_needs_steps(tmp_path):
    msg = _rejected(tmp_path, "title: t\nequations:\n  y: 2*x\nquestions:\n"
                              "  - find: d(y, x)\n    over: k\n")
    assert "questions.a.over (line 6): over (a sweep over steps) needs 'steps'" in msg


def test_json_value_is_the_list_and_exact_a_list_of_texts(tmp_path):
    f = tmp_path / "lin.yaml"
    f.write_text(LINEAR)
    r = runner.invoke(app, ["solve", str(f), "--json", "--out", str(tmp_path / "o")])
    assert r.exit_code == 0, r.output
    a = json.loads(r.stdout)["answers"]["s"]
    # ∂h_4/∂h_k = a^(4-k) for the linear recurrence, exactly
    assert a["exact"] == ["1/16", "1/8", "1/4", "1/2", "1"]
    assert a["value"] == [0.0625, 0.125, 0.25, 0.5, 1.0]
    assert a["latex"] == r"\left(0.0625,\ 0.125,\ 0.25,\ 0.5,\ 1\right)"
    assert a["check"]["status"] == "agrees" and a["check"]["torch"] == a["value"]
    # the plot is written beside the Markdown and shown by it
    md = (tmp_path / "o/lin/solution.md").read_text()
    assert "](sweep-s.svg)" in md
    ET.fromstring((tmp_path / "o/lin/sweep-s.svg").read_text())


def test_tanh_entries_are_exact_where_exact_and_the_bound_is_a_true_bound():
    sol = solve_text((ROOT / "tests/cases/sweep_scalar.yaml").read_text())
    qs = {q.question.id: q for q in sol.questions}
    ans = render.answers(sol)
    assert ans["jac"]["exact"][-1] == "1" and ans["jac"]["exact"][0] is None
    assert ans["states"]["exact"][0] == "tanh(37/40)"  # h_1 = tanh(0.9·0.25 + 0.7·1)
    sweep = qs["jac"].steps[-1]
    b = sweep.bound
    assert b.exact and b.gamma == 1 and b.weight == "w" and b.weight_norm == sympy.Rational(9, 10)
    assert b.values == tuple(sympy.Rational(9, 10) ** (8 - k) for k in range(1, 9))
    assert all(abs(v) <= w for v, w in zip(sweep.values, b.values))
    # d(L, h[k]) has no true bound: a reference slope through the value at k = T
    delta = qs["delta"].steps[-1].bound
    assert not delta.exact and delta.anchor == 8
    # values and truncated sweeps get no bound, and say why
    assert qs["states"].steps[-1].bound is None and qs["trunc"].steps[-1].bound is None
    assert "truncate" in qs["trunc"].steps[-1].no_bound


def test_representative_derivation_is_the_two_step_chain():
    sol = solve_text((ROOT / "tests/cases/sweep_scalar.yaml").read_text())
    md = render.markdown(sol)
    part = md[md.index("## Question jac"):md.index("## Question from0")]
    assert "The derivation for one value, $k = 6$" in part
    assert r"\frac{\partial h_{8}}{\partial h_{6}} &= \frac{\partial h_{8}}{\partial h_{7}}" \
        in part
    assert r"\prod_{j=k + 1}^{T}" in part and r"w \left(1 - h_{j}^{2}\right)" in part


def test_vector_norms_spectral_and_euclidean():
    sol = solve_text((ROOT / "problems/sweep.yaml").read_text())
    a, b = (q.steps[-1] for q in sol.questions)
    assert a.target.norm == "spectral" and b.target.norm == "euclidean"
    # ‖W_hh‖₂ by torch.linalg.matrix_norm(W_hh, ord=2)
    assert a.bound.exact and float(a.bound.weight_norm) == pytest.approx(0.7226309186389196,
                                                                          rel=1e-12)
    # ∂h_T/∂h_T = I has norm 1, and every norm lies under the bound
    assert float(a.values[-1]) == pytest.approx(1.0, abs=1e-40)
    assert all(float(v) <= float(w) * (1 + 1e-12) for v, w in zip(a.values, a.bound.values))
    # vanishing: the norms fall by orders of magnitude from k = T to k = 1
    assert float(a.values[0]) < 2e-3


def test_a_rational_vector_norm_is_exact():
    sol = solve_text("""title: n
steps: 3
equations:
  h[t]: W @ h[t-1] + x[t]
  L: sum(h[T])
given:
  h[0]: [1, 1]
  x: [[1, 0], [0, 1], [1, 1]]
  W: [[0.5, 0], [0, 0.25]]
questions:
  - find: d(L, h[k])
    over: k
""")
    # ∂L/∂h_k = (Wᵀ)^(3-k) 1 = [0.5^(3-k), 0.25^(3-k)]
    want = [sympy.sqrt(sympy.Rational(1, 2) ** (2 * n) + sympy.Rational(1, 4) ** (2 * n))
            for n in (2, 1, 0)]
    assert list(sol.questions[0].answer.expr) == want
    assert render.answers(sol)["a"]["exact"] == [str(w) for w in want]


def test_zero_values_are_left_out_of_the_plot_and_said(tmp_path):
    sol = solve_text(LINEAR.replace("d(h[T], h[k])\n    over: {k: [0, T]}",
                                    "d(h[2], h[k])\n    over: k\n  - id: z\n"
                                    "    find: d(h[1], h[k])\n    over: {k: [3, 4]}"))
    md = render.markdown(sol)
    assert "At $k = 3, 4$ the value is 0, which has no place on a log scale" in md
    assert "Every value is 0: a log scale has nothing to show" in md
    docs = render.documents(sol, ("md",))
    assert "sweep-s.svg" in docs and "sweep-z.svg" not in docs


def test_one_backward_pass_per_entry_whatever_T(monkeypatch):
    """d(h[T], h[k]) for every k comes from one backward pass (a scalar state) or one per
    entry (a vector), plus the representative's: never one per k."""
    calls = []
    real = core_mod.Core.backward
    monkeypatch.setattr(core_mod.Core, "backward",
                        lambda self, *a, **kw: calls.append(1) or real(self, *a, **kw))

    def passes(T, hidden):
        calls.clear()
        h0 = "[0, 0]" if hidden == 2 else "0"
        w = "[[0.5, -0.25], [0.25, 0.5]]" if hidden == 2 else "0.5"
        op = "@" if hidden == 2 else "*"
        solve_text(f"title: t\nsteps: {T}\nequations:\n  h[t]: tanh(W {op} h[t-1] + x[t])\n"
                   f"given:\n  h[0]: {h0}\n  x: {[round(0.1 * (i % 7), 1) for i in range(T)]}\n"
                   f"  W: {w}\nquestions:\n  - find: d(h[T], h[k])\n    over: k\n")
        return len(calls)

    assert passes(10, 1) == passes(200, 1) == 2
    assert passes(10, 2) == passes(100, 2) == 4


def test_key_compares_a_list_entry_by_entry():
    sol = solve_text(LINEAR)
    answers = render.answers(sol)
    key = keys.parse_key(keys.key_text("lin.yaml", "t", answers), "k")
    assert key["s"]["exact"] == ["1/16", "1/8", "1/4", "1/2", "1"]
    assert keys.drifts(key, answers) == []
    moved = dict(key["s"], exact=["1/16", "1/8", "1/3", "1/2", "1"])
    (d,) = keys.drifts({"s": moved}, answers)
    assert d.why == "entry 3: exact answers differ"
    inexact = dict(key["s"], exact=None, value=[0.0625, 0.125, 0.25 + 1e-6, 0.5, 1.0])
    assert keys.drifts({"s": inexact}, answers)[0].why == "entry 3: values differ"
    short = dict(key["s"], exact=None, value=[0.0625])
    assert keys.drifts({"s": short}, answers)[0].why == "the lists have different lengths"


def test_symbolic_sweep_lists_expressions_and_draws_nothing():
    sol = solve_text("title: s\nsteps: 3\nequations:\n  h[t]: tanh(w*h[t-1] + x[t])\n"
                     "given:\n  h[0]: 0\nquestions:\n  - find: d(h[T], h[k])\n    over: k\n")
    a = render.answers(sol)["a"]
    assert a["value"] is None
    assert a["exact"] == ["w**2*(1 - h[2]**2)*(1 - h[3]**2)", "w - w*h[3]**2", "1"]
    assert "there is no plot" in render.markdown(sol)
    assert render.documents(sol, ("md",)).keys() == {"md", "svg"}


def test_the_bundled_sweep_renders_the_same_bytes_twice():
    text = (ROOT / "problems/sweep.yaml").read_text()
    one = render.documents(solve_text(text), ("md", "tex"))
    two = render.documents(solve_text(text), ("md", "tex"))
    assert one == two and set(one) == {"md", "tex", "svg", "sweep-a.svg", "sweep-b.svg"}
    assert r"\begin{tikzpicture}" in one["tex"] and "dashed" in one["tex"]
