"""`derive export` in process: the files it writes read back, its notes and its refusals."""

from typer.testing import CliRunner

from derive.cli import app

from conftest import ROOT
from test_cli import _wrong_tanh_and_w_h
import yaml

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
         "q1.yaml: -n exports variants, but the problem has no vary block"),
        (["problems/q1_vary.yaml", "--to", "moodle", "--seed", "1"], 2, "give -n too"),
        (["problems/q1_vary.yaml", "--to", "qti", "-n", "0"], 2, "-n is at least 1"),
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


def test_export_of_variants_matches_the_manifest_of_derive_variants(tmp_path):
    """-n N --seed S exports the variants derive variants -n N --seed S writes: every gap and
    every QTI item holds the manifest's answer of its variant, named by its id."""
    problem = str(ROOT / "problems/q1_vary.yaml")
    r = runner.invoke(app, ["variants", problem, "-n", "6", "--seed", "2026", "--out",
                            str(tmp_path), "--format", "none", "--no-check"])
    assert r.exit_code == 0, r.output
    manifest = yaml.safe_load((tmp_path / "q1_vary" / "variants.yaml").read_text())
    variants = manifest["variants"]
    assert len(variants) == 6 and len({v["id"] for v in variants}) == 6

    xml_out, zip_out = tmp_path / "v.xml", tmp_path / "v.zip"
    for to, out in (("moodle", xml_out), ("qti", zip_out)):
        r = runner.invoke(app, ["export", problem, "--to", to, "-n", "6", "--seed", "2026",
                                "--out", str(out), "--no-check"])
        assert r.exit_code == 0, r.output
        assert r.stdout == f"wrote {out} (6 questions, 42 numeric answers)\n"

    title = "A two-step RNN with identity activations, a variant per student"
    got = read_moodle(xml_out.read_text(encoding="utf-8"))
    assert [(name, category) for name, _, _, category in got] == [
        (f"{title} (variant {v['id']})", f"$course$/top/derive/{title}") for v in variants]
    quizzes = read_qti(zip_out.read_bytes())
    assert [t for t, _, _ in quizzes] == [f"{title} (variant {v['id']})" for v in variants]
    for v, (_, text, _, _), (_, items, _) in zip(variants, got, quizzes):
        want = [x for a in v["answers"].values() for x in flat(a["value"])]
        gaps, rest = parse_cloze(text)
        assert [g[0].value for g in gaps] == want
        assert [i[3] for i in items[1:]] == want
        # the givens shown are the variant's own
        w_x = v["given"]["W_x"]
        assert f"W_{{x}} = {w_x}," in rest.replace("&amp;", "&")


def test_export_of_variants_is_reproducible(tmp_path):
    args = ["export", str(ROOT / "problems/q1_vary.yaml"), "--to", "moodle", "-n", "3",
            "--no-check", "--out"]
    a, b = tmp_path / "a.xml", tmp_path / "b.xml"
    assert runner.invoke(app, args + [str(a)]).exit_code == 0
    assert runner.invoke(app, args + [str(b), "--seed", "0"]).exit_code == 0
    assert a.read_bytes() == b.read_bytes()  # the default seed is 0, as for derive variants


def test_the_mistakes_are_the_ones_derive_grade_diagnoses(tmp_path):
    """Each 0 % answer of the export is a number that derive grade, given it as a student's
    answer, explains by the same catalog mistakes whose sentences the feedback holds."""
    import json

    out = tmp_path / "q1.xml"
    r = runner.invoke(app, ["export", str(ROOT / "problems/q1.yaml"), "--to", "moodle",
                            "--out", str(out), "--no-check"])
    assert r.exit_code == 0, r.output
    [(_, text, _, _)] = read_moodle(out.read_text(encoding="utf-8"))
    gaps, _ = parse_cloze(text)
    d = gaps[3]  # d(L, W_h) = 8
    assert d[0].value == 8 and len(d) > 3 and all(a.fraction == 0 for a in d[1:])
    assert len({a.value for a in d}) == len(d)  # one alternative per number
    for alt in d[1:]:
        sheet = tmp_path / "s.yaml"
        sheet.write_text(f"answers:\n  d: {alt.value!r}\n")
        r = runner.invoke(app, ["grade", str(ROOT / "problems/q1.yaml"), str(sheet), "--json"])
        assert r.exit_code == 0, r.output
        q = json.loads(r.stdout)["questions"]["d"]
        assert q["correct"] is False
        said = {html_math(x["text"]) for x in q["diagnosis"] if "+" not in x["mistake"]}
        assert set(alt.feedback.split(" Or: ")) == said


def html_math(text: str) -> str:
    """A sentence with $...$ math as the export writes it: HTML with \\( \\) math."""
    import html
    import re
    return re.sub(r"\$([^$]+)\$", r"\\(\1\\)", html.escape(text, quote=False))


def test_the_problem_s_grading_block_sets_the_tolerance(tmp_path):
    problem = tmp_path / "q1.yaml"
    problem.write_text((ROOT / "problems/q1.yaml").read_text() + "grading:\n  rtol: 0.05\n"
                       "  atol: 0.15\n")
    out = tmp_path / "q1.xml"
    r = runner.invoke(app, ["export", str(problem), "--to", "moodle", "--out", str(out),
                            "--no-check"])
    assert r.exit_code == 0, r.output
    gaps, _ = parse_cloze(read_moodle(out.read_text(encoding="utf-8"))[0][1])
    # max(atol, rtol |key|)
    assert [(g[0].value, g[0].tolerance) for g in gaps] == [
        (6, 0.3), (2, 0.15), (0, 0.15), (8, 0.4), (40, 2), (2, 0.15), (4, 0.2)]
