"""`derive export` in process: the files it writes read back, its notes and its refusals."""

from typer.testing import CliRunner

from derive.cli import app

from conftest import ROOT
from test_cli import _wrong_tanh_and_w_h
from test_moodle import flat, key_values, parse_cloze, read_moodle
from test_qti import read_qti

runner = CliRunner()


def test_export_moodle_writes_one_cloze_question_per_problem(tmp_path):
    out = tmp_path / "quiz.xml"
    r = runner.invoke(app, ["export", str(ROOT / "problems/q1.yaml"),
                            str(ROOT / "problems/vector_rnn.yaml"), "--to", "moodle", "--out",
                            str(out)])
    assert r.exit_code == 0, r.output
    assert r.stdout == f"wrote {out} (2 questions, 22 numeric answers)\n" and not r.stderr
    got = read_moodle(out.read_text(encoding="utf-8"))
    assert [name for name, *_ in got] == ["A two-step RNN with identity activations",
                                         "A vector tanh RNN over two steps"]
    for (_, text, files, _), stem in zip(got, ("q1", "vector_rnn")):
        gaps, _ = parse_cloze(text)
        want = [x for v in key_values(stem).values() for x in flat(v)]
        assert [g[0].value for g in gaps] == want and list(files) == ["graph.svg"]


def test_export_qti_defaults_to_output_stem(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    r = runner.invoke(app, ["export", str(ROOT / "problems/q1.yaml"), "--to", "qti",
                            "--no-check"])
    assert r.exit_code == 0, r.output
    [(title, items, _)] = read_qti((tmp_path / "output" / "q1.qti.zip").read_bytes())
    assert [i[3] for i in items[1:]] == list(key_values("q1").values())


def test_export_says_which_questions_it_leaves_out(tmp_path):
    out = tmp_path / "data.xml"
    r = runner.invoke(app, ["export", str(ROOT / "problems/caesar_data.yaml"), "--to",
                            "moodle", "--out", str(out), "--no-check"])
    assert r.exit_code == 0, r.output
    assert r.stderr == "note: " + str(ROOT / "problems/caesar_data.yaml") + \
        ": questions t, b left out (no numeric answer)\n"
    [(_, text, files, _)] = read_moodle(out.read_text(encoding="utf-8"))
    gaps, _ = parse_cloze(text)
    assert [g[0].value for g in gaps[:3]] == [15, 14, 5] and files == {}  # no steps, no graph


def test_export_refusals_write_nothing(tmp_path):
    out = tmp_path / "x.xml"
    cases = [
        (["problems/symbolic.yaml", "--to", "moodle"], 2, "nothing to export"),
        (["problems/q1.yaml", "--to", "pdf"], 2, "--to takes moodle or qti (got 'pdf')"),
        (["problems/q1.yaml", "--to", "moodle", "-n", "3", "--seed", "1"], 2,
         "needs derive variants"),
    ]
    for args, code, msg in cases:
        r = runner.invoke(app, ["export", str(ROOT / args[0]), *args[1:], "--out", str(out)])
        assert r.exit_code == code and msg in r.stderr and r.stderr.count("\n") == 1, r.output
        assert "Traceback" not in r.output and not out.exists()


def test_export_writes_nothing_when_the_cross_check_disagrees(tmp_path, monkeypatch):
    _wrong_tanh_and_w_h(monkeypatch)
    out = tmp_path / "x.zip"
    r = runner.invoke(app, ["export", str(ROOT / "problems/q1.yaml"), "--to", "qti", "--out",
                            str(out)])
    assert r.exit_code == 1 and "nothing exported" in r.stderr
    assert "question d (d(L, W_h)): derive gives 16, PyTorch autograd gives 8" in r.stderr
    assert not out.exists()
