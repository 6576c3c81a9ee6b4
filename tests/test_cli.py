import json
import time

import pytest
from typer.testing import CliRunner

from derive.cli import app

from conftest import ROOT

runner = CliRunner()
HOSTILE = sorted((ROOT / "tests" / "hostile").glob("*.yaml"))


def test_solve_writes_markdown_and_latex(tmp_path):
    r = runner.invoke(app, ["solve", str(ROOT / "problems/q1.yaml"), "--out", str(tmp_path)])
    assert r.exit_code == 0, r.output
    assert "d(L, W_h)" in r.output and " 8" in r.output
    md = (tmp_path / "q1" / "solution.md").read_text()
    tex = (tmp_path / "q1" / "solution.tex").read_text()
    assert r"\frac{\partial L}{\partial W_{h}} = 8" in md
    assert tex.startswith(r"\documentclass") and r"\end{document}" in tex


def test_solve_json_is_the_spec_object(tmp_path):
    r = runner.invoke(app, ["solve", str(ROOT / "problems/q1.yaml"), "--json", "--out",
                            str(tmp_path)])
    assert r.exit_code == 0
    obj = json.loads(r.stdout)
    assert obj["title"] == "A two-step RNN with identity activations"
    a = obj["answers"]
    assert [a[k]["exact"] for k in "abcd"] == ["6", "2", "0", "8"]
    assert a["d"] == {"find": "d(L, W_h)", "exact": "8", "latex": "8", "value": 8.0,
                      "check": {"status": "agrees", "digits": 15, "torch": 8.0}}
    assert a["e"]["exact"] == "40" and a["f"]["exact"] == "2" and a["g"]["exact"] == "4"


def test_solve_json_vectors_and_matrices(tmp_path):
    r = runner.invoke(app, ["solve", str(ROOT / "problems/attention.yaml"), "--json", "--out",
                            str(tmp_path)])
    assert r.exit_code == 0, r.output
    a = json.loads(r.stdout)["answers"]
    assert a["3-1a"]["exact"] == "[-2, 3, 0, 6]" and a["3-1a"]["value"] == [-2, 3, 0, 6]
    assert a["3-1b"]["value"] == [6.0, 1.0, 2.0]
    assert a["3-2a"]["value"] == [[0.0] * 3] * 3  # the Jacobian: rows are r's entries
    assert a["3-1a"]["latex"] == r"\begin{bmatrix} -2 \\ 3 \\ 0 \\ 6 \end{bmatrix}"
    r = runner.invoke(app, ["solve", str(ROOT / "problems/vector_rnn.yaml"), "--json",
                            "--out", str(tmp_path)])
    c = json.loads(r.stdout)["answers"]["c"]
    assert c["exact"] is None and len(c["value"]) == 2 and len(c["value"][0]) == 2


def test_format_option_limits_outputs(tmp_path):
    r = runner.invoke(app, ["solve", str(ROOT / "problems/q1.yaml"), "--format", "md",
                            "--out", str(tmp_path)])
    assert r.exit_code == 0
    # the Markdown brings its figure
    assert sorted(p.name for p in (tmp_path / "q1").iterdir()) == ["graph.svg", "solution.md"]
    r = runner.invoke(app, ["solve", str(ROOT / "problems/q1.yaml"), "--format", "pdfx",
                            "--out", str(tmp_path)])
    assert r.exit_code == 2


def test_help_for_app_and_solve():
    r = runner.invoke(app, ["--help"])
    assert r.exit_code == 0 and "solve" in r.output
    r = runner.invoke(app, ["solve", "--help"])
    assert r.exit_code == 0 and "--json" in r.output and "--format" in r.output


def test_same_problem_gives_identical_files(tmp_path):
    for sub in ("a", "b"):
        runner.invoke(app, ["solve", str(ROOT / "problems/q1.yaml"), "--out",
                            str(tmp_path / sub)])
    for name in ("solution.md", "solution.tex"):
        assert (tmp_path / "a/q1" / name).read_bytes() == (tmp_path / "b/q1" / name).read_bytes()


def _check_rejected(path, tmp_path):
    out = tmp_path / "out"
    t0 = time.perf_counter()
    r = runner.invoke(app, ["solve", str(path), "--out", str(out)])
    elapsed = time.perf_counter() - t0
    assert r.exit_code == 2, (path.name, r.output, r.exception)
    msg = r.stderr.strip()
    assert msg.count("\n") == 0 and msg.startswith("error: ") and str(path) in msg, msg
    assert "Traceback" not in r.output
    assert not out.exists() or not any(out.rglob("*"))
    return msg, elapsed


@pytest.mark.parametrize("path", HOSTILE, ids=[p.stem for p in HOSTILE])
def test_hostile_file_is_rejected_cleanly(path, tmp_path, capfd):
    msg, _ = _check_rejected(path, tmp_path)
    assert "pwned" not in capfd.readouterr().out


def test_hostile_corpus_is_large_enough():
    assert len(HOSTILE) >= 25


def test_ten_megabyte_file_is_rejected(tmp_path):
    big = tmp_path / "big.yaml"
    big.write_text("title: big\n# " + "x" * 10_000_000 + "\nequations: {y: 2*x}\n"
                   "questions: [{find: y}]\n")
    msg, _ = _check_rejected(big, tmp_path)
    assert "larger than" in msg


def test_messages_name_key_and_line(tmp_path):
    msg, _ = _check_rejected(ROOT / "tests/hostile/import.yaml", tmp_path)
    assert "equations.y (line 3)" in msg
    msg, _ = _check_rejected(ROOT / "tests/hostile/cycle.yaml", tmp_path)
    assert "cycle" in msg
    msg, _ = _check_rejected(ROOT / "tests/hostile/yaml_syntax.yaml", tmp_path)
    assert "line" in msg


ENTRY_MISUSE = {  # hostile file -> (key and line, what the message says)
    "entry_class_not_whole": ("given.c (line 14)", "c[2] is 3/2, but p[t][c[t]] needs a whole "
                              "number from 1 to 3"),
    "entry_class_out_of_range": ("given.c (line 14)", "c[1] is 4, but p[t][c[t]] needs a "
                                 "whole number from 1 to 3"),
    "entry_out_of_range": ("equations.L[t] (line 6)", "p[t][4]: entry 4 is out of range, p[t] "
                           "has 3 entries"),
    "entry_too_many": ("equations.L[t] (line 6)", "p[t][1][2]: too many subscripts"),
    "entry_zero": ("questions.a.find (line 15)", "W_hh[0][1]: entry 0 is out of range"),
    "entry_scalar": ("equations.L[t] (line 6)", "s[1]: s is a scalar, it has no entries"),
    "entry_matrix_one_subscript": ("questions.a.find (line 15)",
                                   "W_hh is a 2×2 matrix, pick an entry as W_hh[i][j]"),
}


@pytest.mark.parametrize("stem", sorted(ENTRY_MISUSE))
def test_misused_entries_name_key_line_and_what(stem, tmp_path):
    msg, _ = _check_rejected(ROOT / f"tests/hostile/{stem}.yaml", tmp_path)
    where, what = ENTRY_MISUSE[stem]
    assert f"{stem}.yaml: {where}: " in msg and what in msg, msg


def test_bad_second_file_writes_nothing(tmp_path):
    r = runner.invoke(app, ["solve", str(ROOT / "problems/q1.yaml"),
                            str(ROOT / "tests/hostile/cycle.yaml"), "--out", str(tmp_path)])
    assert r.exit_code == 2
    assert not any(tmp_path.rglob("*"))


def test_latex_commands_in_title_print_literally(tmp_path):
    p = tmp_path / "evil.yaml"
    p.write_text("title: 'Notes \\input{/etc/passwd} and \\write18{rm -rf /}'\n"
                 "statement: 'Math $\\input{/etc/passwd}$ stays text.'\n"
                 "equations: {y: 2*x}\ngiven: {x: 3}\nquestions: [{find: y}]\n")
    r = runner.invoke(app, ["solve", str(p), "--out", str(tmp_path / "o")])
    assert r.exit_code == 0, r.output
    tex = (tmp_path / "o/evil/solution.tex").read_text()
    assert "\\input{" not in tex and "\\write18" not in tex
    assert "{\\textbackslash}input\\{/etc/passwd\\}" in tex


def test_output_is_identical_across_hash_seeds(tmp_path):
    import os
    import subprocess
    import sys
    problems = sorted(str(p) for p in (ROOT / "problems").glob("*.yaml")
                      if not p.name.endswith((".key.yaml", ".answers.yaml")))
    for seed in ("1", "2"):
        env = dict(os.environ, PYTHONHASHSEED=seed)
        subprocess.run([sys.executable, "-c", "from derive.cli import main; main()", "solve",
                        *problems, "--out", str(tmp_path / seed)], check=True, env=env,
                       capture_output=True)
    for f in sorted((tmp_path / "1").rglob("*.*")):
        other = tmp_path / "2" / f.relative_to(tmp_path / "1")
        assert f.read_bytes() == other.read_bytes(), f


# ---- the cross-check and answer keys ----------------------------------------------------------

def _copy(tmp_path, *stems):
    import shutil
    for stem in stems:
        for suffix in (".yaml", ".key.yaml"):
            shutil.copy(ROOT / "problems" / f"{stem}{suffix}", tmp_path / f"{stem}{suffix}")
    return tmp_path


def test_check_passes_for_every_bundled_problem():
    r = runner.invoke(app, ["check", str(ROOT / "problems")])
    assert r.exit_code == 0, r.output
    assert "match their keys and PyTorch" in r.stdout
    assert "DRIFT" not in r.stdout and "DISAGREES" not in r.stdout


def test_check_fails_when_a_key_answer_is_changed(tmp_path):
    d = _copy(tmp_path, "q1", "vector_rnn")
    kp = d / "q1.key.yaml"
    kp.write_text(kp.read_text().replace("exact: '8', value: 8.0", "exact: '9', value: 9.0"))
    r = runner.invoke(app, ["check", str(d)])
    assert r.exit_code == 1
    assert "q1.yaml: question d: exact answers differ: the key says 9, derive now gives 8" \
        in r.stderr
    assert r.stderr.count("question") == 1  # only that one, and vector_rnn still matches


def test_check_without_a_key_says_how_to_write_one(tmp_path):
    d = _copy(tmp_path, "q1")
    (d / "q1.key.yaml").unlink()
    r = runner.invoke(app, ["check", str(d / "q1.yaml")])
    assert r.exit_code == 1 and "no answer key" in r.stderr and "derive key" in r.stderr


def test_key_writes_the_committed_key_and_is_idempotent(tmp_path):
    d = _copy(tmp_path, "q1")
    (d / "q1.key.yaml").unlink()
    r = runner.invoke(app, ["key", str(d / "q1.yaml")])
    assert r.exit_code == 0 and "wrote" in r.stdout
    assert (d / "q1.key.yaml").read_text() == (ROOT / "problems" / "q1.key.yaml").read_text()
    r = runner.invoke(app, ["key", str(d / "q1.yaml"), str(d / "q1.key.yaml")])
    assert r.exit_code == 0 and "unchanged" in r.stdout


def _wrong_tanh_and_w_h(monkeypatch):
    """Inject wrong local derivatives into the one numeric core: the share of a product that
    reaches W_h doubled (the scalar q1), and tanh's backward rule doubled (the vector RNN)."""
    from derive.calculus import program
    from derive.lang import expr as ex

    real = program._backward

    def wrong(D, ins, a, out, g, *need):
        grads = real(D, ins, a, out, g, *need)
        node = ins.node
        if isinstance(node, ex.Call) and node.func == "tanh" or \
                isinstance(node, ex.Bin) and node.op == "*" and node.left == ex.Name("W_h"):
            grads = [x.map(lambda v: D.mul(D.num(2), v)) if x is not None and k == 0 else x
                     for k, x in enumerate(grads)]
        return grads

    monkeypatch.setattr(program, "_backward", wrong)


def test_a_wrong_local_derivative_is_caught_by_the_cross_check(tmp_path, monkeypatch):
    _wrong_tanh_and_w_h(monkeypatch)
    r = runner.invoke(app, ["solve", str(ROOT / "problems/q1.yaml"), "--out", str(tmp_path)])
    assert r.exit_code == 1
    assert "question d (d(L, W_h)): derive gives 16, PyTorch autograd gives 8" in r.stderr
    md = (tmp_path / "q1" / "solution.md").read_text()
    assert "CROSS-CHECK FAILED" in md
    r = runner.invoke(app, ["solve", str(ROOT / "problems/vector_rnn.yaml"), "--out",
                            str(tmp_path)])
    assert r.exit_code == 1 and "question c (d(L, W_hh))" in r.stderr
    r = runner.invoke(app, ["check", str(ROOT / "problems/vector_rnn.yaml")])
    assert r.exit_code == 1 and "TORCH DISAGREES" in r.stdout


def test_solve_json_reports_agreement_for_every_numeric_answer(tmp_path):
    from conftest import PROBLEMS
    r = runner.invoke(app, ["solve", *map(str, PROBLEMS), "--json", "--out", str(tmp_path)])
    assert r.exit_code == 0, r.output
    objs = json.loads(r.stdout)
    assert len(objs) == len(PROBLEMS)
    seen = 0
    for obj in objs:
        for qid, a in obj["answers"].items():
            if a["value"] is None and "by" not in a["check"]:  # a text answer is checked
                assert a["check"] == {"status": "skipped", "reason": "the answer is symbolic"}
                continue
            assert a["check"]["status"] == "agrees" and a["check"]["digits"] >= 12, (qid, a)
            seen += 1
    assert seen >= 45


def test_no_check_and_missing_torch(tmp_path, monkeypatch):
    r = runner.invoke(app, ["solve", str(ROOT / "problems/q1.yaml"), "--json", "--no-check",
                            "--out", str(tmp_path)])
    assert r.exit_code == 0 and "check" not in json.loads(r.stdout)["answers"]["d"]
    from derive.check import crosscheck
    monkeypatch.setattr(crosscheck, "available", lambda: False)
    r = runner.invoke(app, ["solve", str(ROOT / "problems/q1.yaml"), "--out", str(tmp_path)])
    assert r.exit_code == 0 and "cross-check skipped" in r.stderr and "pip install" in r.stderr
    r = runner.invoke(app, ["check", str(ROOT / "problems")])
    assert r.exit_code == 2 and "needs torch" in r.stderr
    r = runner.invoke(app, ["check", str(ROOT / "problems"), "--no-check"])
    assert r.exit_code == 0 and "match their keys" in r.stdout


def test_graph_gradients_option_writes_them_on_the_figure(tmp_path):
    r = runner.invoke(app, ["solve", str(ROOT / "problems/q1.yaml"), "--format", "md",
                            "--graph-gradients", "--no-check", "--out", str(tmp_path)])
    assert r.exit_code == 0, r.output
    svg = (tmp_path / "q1" / "graph.svg").read_text()
    assert svg.count('fill="#a00"') == 7  # h1, h2, ŷ1, ŷ2, L1, L2, L


SUM_OF_A_SCALAR = """title: attention weights written with sum inside a [t] equation
steps: 3
equations:
  h[t]: tanh(w*h[t-1] + x[t])
  e[t]: q*h[t]
  alpha[t]: exp(e[t]) / {f}(exp(e[t]))
  L: sum(alpha[t])
given:
  h[0]: 0
  x: [1, 2, 3]
  w: 0.5
  q: 1
questions:
  - find: d(L, q)
"""


@pytest.mark.parametrize("f", ["sum", "mean"])
def test_sum_of_a_scalar_inside_a_step_equation_is_refused(tmp_path, f):
    """It would silently give 1 (a sum over the one entry of a scalar); the message points to
    a plain equation or stack(...)."""
    p = tmp_path / "att.yaml"
    p.write_text(SUM_OF_A_SCALAR.format(f=f))
    msg, _ = _check_rejected(p, tmp_path)
    assert "equations.alpha[t] (line 6)" in msg
    assert (f"{f}(...) inside alpha[t] is over the entries of a vector, and exp(e[t]) is a "
            f"scalar: for a {f} over steps define a plain equation such as "
            f"Z: {f}(exp(e[t])), or use stack(...)") in msg


def test_stack_of_a_vector_names_the_argument(tmp_path):
    p = tmp_path / "stack.yaml"
    p.write_text("title: stack of a vector\nsteps: 2\nequations:\n"
                 "  h[t]: tanh(W @ h[t-1])\n  a: softmax(stack(h[2] if 1 else h[1]))\n"
                 "given:\n  h[0]: [1, 2]\n  W: [[1, 0], [0, 1]]\nquestions:\n  - find: a\n")
    msg, _ = _check_rejected(p, tmp_path)  # a conditional is not in the grammar
    p.write_text("title: stack of a vector\nsteps: 2\nequations:\n"
                 "  h[t]: tanh(W @ h[t-1])\n  a: softmax(stack(dot(h[1], h[1]), h[2]))\n"
                 "given:\n  h[0]: [1, 2]\n  W: [[1, 0], [0, 1]]\nquestions:\n  - find: a\n")
    msg, _ = _check_rejected(p, tmp_path)
    assert "equations.a (line 5)" in msg
    assert "stack takes scalars: argument 2, h[2], is 2×1" in msg
    p.write_text("title: empty stack\nequations:\n  a: softmax(stack())\n"
                 "given: {}\nquestions:\n  - find: a\n")
    msg, _ = _check_rejected(p, tmp_path)
    assert "stack takes at least 1 argument" in msg


def test_messages_say_what_to_write(tmp_path):
    msg, _ = _check_rejected(ROOT / "tests/hostile/misspelt_name.yaml", tmp_path)
    assert msg.endswith("equations.h[t] (line 4): unknown name Whh (did you mean W_hh?)")
    msg, _ = _check_rejected(ROOT / "tests/hostile/misspelt_wrt.yaml", tmp_path)
    assert msg.endswith("questions.a.find (line 12): unknown name Whh (did you mean W_hh?)")
    msg, _ = _check_rejected(ROOT / "tests/hostile/vector_state_without_start.yaml", tmp_path)
    assert msg.endswith("give its start h[0] as a vector of 2 (it is not given)")


def test_help_paragraphs_reflow_to_the_terminal():
    r = runner.invoke(app, ["solve", "--help"], env={"COLUMNS": "200"})
    assert r.exit_code == 0
    assert "when torch is installed. Exit status: 0 on success" in r.stdout
    assert "OUT/STEM/solution.md" in r.stdout


def test_sum_of_a_scalar_as_the_term_itself_is_accepted(tmp_path):
    """L[t]: sum((yhat[t] - y[t])**2) with one output is that one squared error: harmless, and
    what a generic loss written for vectors reads like; a normaliser inside log is not."""
    p = tmp_path / "mse.yaml"
    text = SUM_OF_A_SCALAR.replace("alpha[t]: exp(e[t]) / {f}(exp(e[t]))",
                                   "alpha[t]: 0.5 * sum((e[t] - x[t])**2) - mean(e[t])")
    p.write_text(text)
    r = runner.invoke(app, ["solve", str(p), "--no-check", "--out", str(tmp_path / "o")])
    assert r.exit_code == 0, r.output
    p.write_text(SUM_OF_A_SCALAR.replace("exp(e[t]) / {f}(exp(e[t]))",
                                         "e[t] - log(sum(exp(e[t])))"))
    msg, _ = _check_rejected(p, tmp_path)
    assert "sum(...) inside alpha[t] is over the entries of a vector" in msg
