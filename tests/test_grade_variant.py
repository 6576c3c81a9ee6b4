"""Grading against a variant (``variant:`` in a sheet or a roster column): the variant's givens
come from the manifest of ``derive variants``, and each variant gets its own key and slips."""

import json
import shutil

import yaml
from typer.testing import CliRunner

from derive.cli import app

from conftest import ROOT

runner = CliRunner()
VARY = ROOT / "problems/q1_vary.yaml"


def _manifest(tmp_path, problem=VARY):
    r = runner.invoke(app, ["variants", str(problem), "-n", "3", "--seed", "5", "--format",
                            "none", "--no-check", "--out", str(tmp_path / "v")])
    assert r.exit_code == 0, r.output
    path = tmp_path / "v" / problem.stem / "variants.yaml"
    return path, yaml.safe_load(path.read_text())["variants"]


def test_a_variant_sheet_is_graded_with_that_variants_numbers_and_slips(tmp_path):
    manifest, variants = _manifest(tmp_path)
    v = variants[0]
    # this run's first variant, and the seed-002 slip worked by hand on its numbers:
    # h1 = W_h h0 = -3 (no W_x x1), yhat1 = -6, h2 = 3 + 1 = 4, yhat2 = 8, L = 121 + 9 = 130,
    # dL/dh1 = 2(-11)(2) + 2(3)(2)(-1) = -56, dL/dW_h = -56 (3) + 12 (-3) = -204
    assert v["given"] == {"W_h": -1, "W_x": 0.1, "x": [5, 10], "h[0]": 3, "W_y": 2}
    sheet = tmp_path / "s.answers.yaml"
    sheet.write_text(f"student: s1\nvariant: {v['id']}\nanswers:\n  a: 8\n  b: 130\n"
                     "  c: -56\n  d: -204\n  e: -160\n")
    r = runner.invoke(app, ["grade", str(VARY), str(sheet), "--json", "--variants",
                            str(manifest)])
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    assert out["variant"] == v["id"]
    for q in "abcd":
        g = out["questions"][q]
        assert str(g["expected"]) == v["answers"][q]["exact"] and not g["correct"]
        first = g["diagnosis"][0]
        assert (first["mistake"], first["where"]) == ("dropped-term", "h[1]")
        assert first["explains"] == ["a", "b", "c", "d"]
    assert out["questions"]["e"]["correct"]  # -160 is this variant's key, not FILE's (21)
    assert [out["questions"][q]["expected"] for q in "abcde"] == [7, 104, -48, -164, -160]
    # the report names the variant
    r = runner.invoke(app, ["grade", str(VARY), str(sheet), "--variants", str(manifest),
                            "--out", str(tmp_path / "rep")])
    assert r.exit_code == 0, r.output
    assert f"variant {v['id']}" in (tmp_path / "rep" / "s1.md").read_text()


def test_a_roster_mixes_variants_and_reports_an_unknown_one(tmp_path):
    manifest, variants = _manifest(tmp_path)
    a, b = variants[0], variants[1]
    roster = tmp_path / "r.csv"
    roster.write_text("student,variant,a,b\n"
                      f"s1,{a['id']},{a['answers']['a']['exact']},{a['answers']['b']['exact']}\n"
                      f"s2,{b['id']},{b['answers']['a']['exact']},{b['answers']['b']['exact']}\n"
                      "s3,00000000,1,2\n"
                      "s4,,6,2\n")
    r = runner.invoke(app, ["grade", str(VARY), str(roster), "--json", "--variants",
                            str(manifest)])
    assert r.exit_code == 2
    out = json.loads(r.stdout)
    assert [(s["student"], s.get("variant"), s["score"]) for s in out] == [
        ("s1", a["id"], 1.0), ("s2", b["id"], 1.0), ("s4", None, 1.0)]
    assert "r.csv: row 4, column variant: no variant 00000000 in" in r.stderr


def test_the_manifest_must_come_from_this_problem_file(tmp_path):
    copy = tmp_path / "q1_vary.yaml"
    shutil.copy(VARY, copy)
    manifest, variants = _manifest(tmp_path, copy)
    copy.write_text(copy.read_text() + "# edited after the variants were drawn\n")
    sheet = tmp_path / "s.answers.yaml"
    sheet.write_text(f"variant: {variants[0]['id']}\nanswers:\n  a: 7\n")
    r = runner.invoke(app, ["grade", str(copy), str(sheet), "--variants", str(manifest)])
    assert r.exit_code == 2
    assert "made from another version of q1_vary.yaml: run derive variants again" in r.stderr
    r = runner.invoke(app, ["grade", str(copy), str(sheet), "--variants",
                            str(tmp_path / "nowhere.yaml")])
    assert r.exit_code == 2 and "no manifest of variants here" in r.stderr
    r = runner.invoke(app, ["grade", str(ROOT / "problems/q1.yaml"), str(sheet)])
    assert r.exit_code == 2 and "the problem has no vary: block" in r.stderr
