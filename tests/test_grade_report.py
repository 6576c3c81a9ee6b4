"""`derive grade` in process: the seed's sheet, --json, --out reports, a roster with a bad row."""

import json

from typer.testing import CliRunner

from derive.cli import app

from conftest import ROOT

runner = CliRunner()
Q1 = str(ROOT / "problems/q1.yaml")
SEED = str(ROOT / "problems/q1.student002.answers.yaml")


def test_grade_the_seed_sheet_json():
    r = runner.invoke(app, ["grade", Q1, SEED, "--json"])
    assert r.exit_code == 0, r.output
    data = json.loads(r.stdout)
    assert data["student"] == "student002" and data["score"] == 0
    assert data["file"].endswith("q1.yaml")
    for q, (given, expected) in {"a": (4, 6), "b": (10, 2), "c": (-16, 0),
                                 "d": (-20, 8)}.items():
        got = data["questions"][q]
        assert (got["given"], got["expected"], got["correct"]) == (given, expected, False)
        assert got["diagnosis"][0] == {
            "mistake": "dropped-term", "where": "h[1]",
            "text": "$h_{1}$ was computed without the term $W_{x} x_{1}$, so "
                    "$h_{1} = W_{h} h_{0} = 1$.",
            "explains": ["a", "b", "c", "d"]}


def test_grade_prints_a_table_and_writes_the_report(tmp_path):
    r = runner.invoke(app, ["grade", Q1, SEED, "--out", str(tmp_path)])
    assert r.exit_code == 0, r.output
    assert "  a: 4 (key 6) wrong: dropped-term at h[1] (explains a, b, c, d)" in r.stdout
    md = (tmp_path / "student002.md").read_text()
    assert "| a | `yhat[2]` | $4$ | $6$ | ✗ |" in md
    assert "| $h_{1} = W_{h} h_{0} + W_{x} x_{1} = 2$ | $h_{1} = W_{h} h_{0} = 1$ |" in md
    assert not (tmp_path / "summary.md").exists()  # one sheet: no class summary


def test_the_readme_shows_the_seed_report(tmp_path):
    runner.invoke(app, ["grade", Q1, SEED, "--out", str(tmp_path)])
    md = (tmp_path / "student002.md").read_text()
    readme = (ROOT / "README.md").read_text()
    section = md.split("## Question d")[1]  # the README quotes the last question's part
    assert "## Question d" + section in readme


def test_a_roster_with_a_bad_row(tmp_path):
    roster = tmp_path / "class.csv"
    roster.write_text("student,a,b,c,d\n"
                      "s1,4,10,-16,-20\n"
                      "s2,6,2,0,8\n"
                      "s3,6,oops,0,8\n"
                      "s4,7,5,0,-8\n"
                      "s5,123,2,0,8\n")
    out = tmp_path / "out"
    r = runner.invoke(app, ["grade", Q1, str(roster), "--json", "--out", str(out)])
    assert r.exit_code == 2
    assert r.stderr.strip() == (f"error: {roster}: row 4 (s3), question b: not a number: "
                                "'oops' (a given value may not refer to oops)")
    data = json.loads(r.stdout)
    assert [d["student"] for d in data] == ["s1", "s2", "s4", "s5"]
    assert [d["score"] for d in data] == [0, 1, 0.25, 0.75]
    s4 = data[2]["questions"]
    assert s4["b"]["diagnosis"][0]["mistake"] == "carried-forward"  # L right for ŷ_2 = 7
    assert s4["d"]["diagnosis"][0]["mistake"] == "sign"
    assert data[3]["questions"]["a"]["diagnosis"] == []
    assert sorted(p.name for p in out.iterdir()) == ["s1.md", "s2.md", "s4.md", "s5.md",
                                                     "summary.md", "summary.svg"]
    summary = (out / "summary.md").read_text()
    for row in ("| dropped-term | 1 |", "| sign | 1 |", "| carried-forward | 1 |",
                "| unexplained | 2 |", "| missing-path | 0 |",
                "| [s1](s1.md) | 0 | 0 of 4 | dropped-term |"):
        assert row in summary, row
    assert "row 4 (s3)" in summary and "![How many students made each mistake](summary.svg)" \
        in summary
    svg = (out / "summary.svg").read_text()
    assert svg.startswith("<svg") and svg.count("<rect") == 9 and ">unexplained</text>" in svg
    again = tmp_path / "again"
    runner.invoke(app, ["grade", Q1, str(roster), "--out", str(again)])
    assert (again / "summary.svg").read_bytes() == (out / "summary.svg").read_bytes()


def test_bad_input_is_one_message_and_exit_2(tmp_path):
    sheet = tmp_path / "s.yaml"
    sheet.write_text("answers:\n  zz: 4\n")
    r = runner.invoke(app, ["grade", Q1, str(sheet)])
    assert r.exit_code == 2 and r.stdout == ""
    assert r.stderr == (f"error: {sheet}: answers.zz (line 2): no question zz in q1.yaml (its "
                        "questions with a numeric answer: a, b, c, d, e, f, g)\n")
    roster = tmp_path / "r.csv"
    roster.write_text("name,a\nx,1\n")
    r = runner.invoke(app, ["grade", Q1, str(roster)])
    assert r.exit_code == 2 and "row 1: the CSV has no `student` column" in r.stderr
    r = runner.invoke(app, ["grade", Q1, SEED, "--rtol", "2"])
    assert r.exit_code == 2 and "--rtol is a number from 0 to 1" in r.stderr


def test_every_formula_of_the_reports_renders_with_katex(tmp_path):
    """A student reads the report on GitHub or in an LMS: KaTeX accepts every formula of the
    reports of every single slip planted in q1, tanh_rnn, vector_rnn and gru (sentences, the
    key's steps beside the student's, the answers table)."""
    import re

    from derive.grade import report
    from derive.grade.answers import Sheet
    from derive.grade.grade import Grader
    from derive.lang.loader import load
    from test_render import katex_rejects

    items = []
    for name in ("q1", "tanh_rnn", "vector_rnn", "gru"):
        grader = Grader(load(ROOT / f"problems/{name}.yaml"))
        for m in grader.catalog.singles:
            answers = {q: v for q, v in m.answers.items() if v is not None}
            md = report.student_markdown(grader, grader.grade(Sheet("s.yaml", "s", answers)))
            for f in re.finditer(r"\$\$(.+?)\$\$|\$([^$\n]+?)\$", md, re.S):
                items.append((f.group(1) or f.group(2), f.group(1) is not None))
    assert len(items) > 500
    assert katex_rejects(items, tmp_path) == []
