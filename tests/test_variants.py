"""derive/variants: vary: and require: blocks, draws, ids, the manifest and `derive variants`.

Every kept variant's answers are compared with PyTorch float64 autograd written here by hand
from the drawn values (never from derive's derivatives), and require is re-checked on those
independent numbers."""

import hashlib
import importlib.util
import re

import pytest
import yaml
from typer.testing import CliRunner

from derive.cli import app
from derive.errors import SpecError
from derive.lang.loader import load, loads
from derive.output import render
from derive.variants import Variant, generate, with_given
from derive.variants.draw import (draw, draw_seed, manifest_value, number_text, plain_value,
                                  variant_id)
from derive.variants.run import max_draws

from conftest import ROOT, close

runner = CliRunner()
Q1 = ROOT / "problems" / "q1_vary.yaml"
VEC = ROOT / "tests" / "cases" / "variants_vector.yaml"


def _num(v):
    if isinstance(v, list):
        return [_num(x) for x in v]
    if isinstance(v, str):
        p, _, q = v.partition("/")
        return float(p) / float(q or 1)
    return float(v)


def q1_torch(torch, given: dict) -> dict:
    """q1 by hand: h_t = W_h h_{t-1} + W_x x_t, yhat_t = W_y h_t, L = sum (yhat_t - y_t)^2,
    y = (5, 5); g is truncated BPTT with K = 1 (h_{t-1} a constant in term t)."""
    f = torch.float64
    W_h = torch.tensor(_num(given["W_h"]), dtype=f, requires_grad=True)
    W_x = torch.tensor(_num(given["W_x"]), dtype=f, requires_grad=True)
    W_y = torch.tensor(_num(given["W_y"]), dtype=f, requires_grad=True)
    x = _num(given["x"])
    h0 = torch.tensor(_num(given["h[0]"]), dtype=f)
    y = [5.0, 5.0]
    h1 = W_h * h0 + W_x * x[0]
    h1.retain_grad()
    h2 = W_h * h1 + W_x * x[1]
    L = (W_y * h1 - y[0]) ** 2 + (W_y * h2 - y[1]) ** 2
    L.backward()
    h1d = h1.detach()
    trunc = (2 * (W_y * h1 - y[0]) * W_y * h0 + 2 * (W_y * h2 - y[1]) * W_y * h1d).item()
    return {"a": (W_y * h2).item(), "b": L.item(), "c": h1.grad.item(), "d": W_h.grad.item(),
            "e": W_x.grad.item(), "f": W_y.grad.item(), "g": trunc}


def vec_reference():
    spec = importlib.util.spec_from_file_location("case_variants_vector",
                                                  VEC.with_suffix(".py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.reference


# ---- the loader: vary: and require: --------------------------------------------------------

def test_q1_vary_loads_its_blocks():
    p = load(Q1)
    assert [v.key for v in p.vary] == ["W_h", "W_x", "x", "h[0]", "W_y"]
    w_y = p.vary[-1]
    assert w_y.kind == "decimals" and w_y.size == 6  # -1, -0.5, 0.5, 1, 1.5, 2 (0 excluded)
    assert [number_text(w_y.value(r)) for r in range(6)] == ["-1", "-0.5", "0.5", "1", "1.5",
                                                              "2"]
    h0 = p.vary[3]
    assert (h0.name, h0.index, h0.size) == ("h", 0, 6)
    assert [c.text for c in p.require] == ["d(L, W_h) != 0", "abs(L) <= 1000",
                                           "integer(d(L, W_h))"]
    assert [c.line for c in p.require] == [p.lines["require[1]"], p.lines["require[2]"],
                                           p.lines["require[3]"]]


BASE = """title: t
steps: 2
equations:
  h[t]: W_h*h[t-1] + W_x*x[t]
  L: (h[2] - 1)**2
given:
  h[0]: 1
  x: [1, 2]
  W_h: 1
  W_x: 0.5
questions:
  - find: d(L, W_h)
"""


@pytest.mark.parametrize("block, key, line, words", [
    ("vary:\n  W_q: {choice: [1, 2]}\n", "vary.W_q", 14,
     "W_q is not a given, so it cannot vary (did you mean W_x?); the givens are W_h, W_x, h[0], x"),
    ("vary:\n  h[1]: {choice: [1, 2]}\n", "vary.h[1]", 14, "h[1] is not a given"),
    ("vary:\n  x: {integers: [5, 1]}\n", "vary.x.integers", 14, "the range 5 to 1 has no "
     "values"),
    ("vary:\n  W_h: {integers: [1, 2], exclude: [1, 2]}\n", "vary.W_h.integers", 14,
     "the range 1 to 2 has no values left after exclude"),
    ("vary:\n  W_x: {decimals: [0, 1], step: 0}\n", "vary.W_x.step", 14,
     "step is a positive number"),
    ("vary:\n  W_x: {decimals: [1, 0], step: 0.5}\n", "vary.W_x.decimals", 14,
     "the range 1 to 0 in steps of 1/2 has no values"),
    ("vary:\n  W_x: {choice: []}\n", "vary.W_x.choice", 14, "choice is a non-empty list"),
    ("vary:\n  x: {choice: [[1, 2, 3]]}\n", "vary.x.choice", 14,
     "each choice is a list of 2 numbers like the given x"),
    ("vary:\n  W_h: {choise: [1, 2]}\n", "vary.W_h.choise", 14, "unknown key"),
    ("vary:\n  W_h: {integers: [0.5, 2]}\n", "vary.W_h.integers", 14,
     "the bounds of integers are whole numbers"),
    ("vary:\n  W_h: {choice: [1, 2], integers: [1, 2]}\n", "vary.W_h", 14, "one of choice"),
    ("vary:\n  W_h: {choice: [1, 1]}\n", "vary.W_h.choice", 14, "listed twice"),
    ("vary:\n  W_h: {choice: [1, 2]}\nrequire:\n  - d(L, W_h) !=\n", "require[1]", 16,
     "invalid condition"),
    ("vary:\n  W_h: {choice: [1, 2]}\nrequire:\n  - L\n", "require[1]", 16,
     "a condition is a comparison"),
    ("vary:\n  W_h: {choice: [1, 2]}\nrequire: L > 0\n", "require", 15,
     "expected a non-empty list of conditions"),
    ("require:\n  - L > 0\n", "require", 13, "require goes with a vary block"),
])
def test_bad_vary_and_require_name_file_key_and_line(block, key, line, words):
    with pytest.raises(SpecError) as e:
        loads(BASE + block, "bad.yaml")
    assert (e.value.file, e.value.key, e.value.line) == ("bad.yaml", key, line), str(e.value)
    assert words in e.value.message, e.value.message
    assert str(e.value).startswith(f"bad.yaml: {key} (line {line}): ")


def test_require_that_cannot_be_evaluated_is_named_when_drawing():
    p = loads(BASE + "vary:\n  W_h: {choice: [1, 2]}\nrequire:\n  - L > 0\n"
              "  - d(L, W_q) != 0\n", "r.yaml")
    with pytest.raises(SpecError) as e:
        generate(p, 1, 0)
    assert (e.value.key, e.value.line) == ("require[2]", 17)
    assert "unknown name W_q (did you mean W_x?)" in e.value.message


# ---- draws, seeds, ids ----------------------------------------------------------------------

def test_draws_keep_the_shape_and_come_from_the_seed():
    p = load(VEC)
    g = draw(p, draw_seed(7, 3))
    assert g == draw(p, draw_seed(7, 3))
    assert len(g["W_hh"]) == 2 and all(len(r) == 2 for r in g["W_hh"])
    assert all(number_text(v) in ("-0.5", "-0.25", "0.25", "0.5") for r in g["W_hh"] for v in r)
    assert g["x"] in (((1, 0), (0, 1)), ((0, 1), (1, 0)), ((1, 1), (0, -1)))
    assert len(g["y"]) == 2 and all(-2 <= v <= 2 for v in g["y"])
    assert all(number_text(v) in ("0.5", "-0.5", "1") for v in g["h[0]"])
    seeds = {draw_seed(7, j) for j in range(200)}
    assert len(seeds) == 200 and all(0 <= s < 2 ** 32 for s in seeds)


def test_ids_hash_the_values_and_numbers_read_back_exactly():
    p = load(Q1)
    a = draw(p, 11)
    assert variant_id(a) == variant_id(dict(a)) and re.fullmatch(r"[0-9a-f]{8}", variant_id(a))
    b = dict(a, W_h=a["W_h"] + 1)
    assert variant_id(b) != variant_id(a)
    from sympy import Rational
    assert number_text(Rational(-3, 4)) == "-0.75" and number_text(Rational(1, 3)) == "1/3"
    assert number_text(Rational(1, 80)) == "0.0125" and number_text(Rational(-7)) == "-7"
    assert manifest_value((Rational(1, 2), Rational(2), Rational(1, 3))) == ["0.5", 2, "1/3"]
    assert type(manifest_value(Rational(2))) is int


# ---- generate ------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def q1_variants():
    return generate(load(Q1), 40, 2026)


def test_forty_distinct_variants_whose_require_holds_in_torch(q1_variants, torch):
    vs = q1_variants
    assert [v.index for v in vs] == list(range(1, 41))
    assert len({v.id for v in vs}) == 40 and all(re.fullmatch(r"[0-9a-f]{8}", v.id) for v in vs)
    assert len({tuple(map(str, v.given.values())) for v in vs}) == 40
    for v in vs:
        assert isinstance(v, Variant) and not v.problem.vary and not v.problem.require
        ref = q1_torch(torch, v.given)
        got = render.answers(v.solution)
        for qid, want in ref.items():
            assert close(got[qid]["value"], want), (v.id, qid, got[qid]["value"], want)
        # require, on the independent numbers
        assert ref["d"] != 0 and abs(ref["d"] - round(ref["d"])) < 1e-9 and abs(ref["b"]) <= 1000
        assert got["d"]["exact"].lstrip("-").isdigit()
        assert v.given["h[0]"] != 0 and v.given["W_y"] != 0
        assert v.given["W_h"] in (1, 2, -1) and 1 <= min(v.given["x"]) <= max(v.given["x"]) <= 10


def test_the_same_seed_gives_the_same_variants_and_shards_split_them(q1_variants):
    p = load(Q1)
    again = generate(p, 40, 2026)
    assert [(v.id, v.seed, v.given) for v in again] == \
        [(v.id, v.seed, v.given) for v in q1_variants]
    quarter = generate(p, 40, 2026, (1, 4))
    assert [v.index for v in quarter] == list(range(1, 41, 4))
    assert [v.id for v in quarter] == [v.id for v in q1_variants][::4]
    last = generate(p, 40, 2026, (4, 4))
    assert [v.index for v in last] == list(range(4, 41, 4))
    other = generate(p, 40, 2027)
    assert [v.id for v in other] != [v.id for v in q1_variants]


def test_worker_processes_do_not_change_the_result(q1_variants):
    two = generate(load(Q1), 40, 2026, jobs=2)
    assert [(v.index, v.id, v.seed, v.given) for v in two] == \
        [(v.index, v.id, v.seed, v.given) for v in q1_variants]


def test_the_kept_draws_seed_makes_the_variant_again(q1_variants):
    p = load(Q1)
    for v in q1_variants[:5]:
        g = draw(p, v.seed)
        assert variant_id(g) == v.id
        assert {k: plain_value(x) for k, x in g.items()} == v.given


def test_vector_variants_against_torch(torch):
    ref = vec_reference()
    vs = generate(load(VEC), 6, 5)
    assert len({v.id for v in vs}) == 6
    for v in vs:
        want = ref(torch, v.given)
        got = render.answers(v.solution)
        for qid in "abcd":
            assert close(got[qid]["value"], want[qid]), (v.id, qid)
        # require: no entry of the gradient is 0 or below 0.001 in size, and |L| < 20
        assert all(abs(x) >= 1e-3 for row in want["c"] for x in row) and abs(want["b"]) < 20
        assert v.given["x"] in ([[1, 0], [0, 1]], [[0, 1], [1, 0]], [[1, 1], [0, -1]])


@pytest.mark.parametrize("path", [Q1, VEC, ROOT / "problems" / "bidirectional.yaml"],
                         ids=["q1_vary", "vector", "bidirectional"])
def test_a_graph_rebound_to_other_values_decides_as_a_fresh_one(path):
    """The workers unroll once and rebind the graph to each draw's values: every decision must
    be that of a graph unrolled from the draw itself."""
    import dataclasses

    from derive.calculus.graph import unroll
    from derive.lang.require import parse_condition
    from derive.variants import conditions

    p = load(path)
    if not p.vary:  # a problem with hb[T+1] and sequences: vary every given
        text = path.read_text().replace("symbols:", "vary:\n  hb[T+1]: {integers: [-1, 1]}\n"
                                        "  x: {integers: [-1, 1]}\n  W_f: {decimals: [-0.5, "
                                        "0.5], step: 0.25}\nsymbols:", 1)
        p = loads(text, "bi.yaml")
    conds = p.require or (parse_condition("hb[1] > -0.5"),)
    base = unroll(dataclasses.replace(p, vary=(), require=()))
    decisions = set()
    for j in range(25):
        q = with_given(p, {k: plain_value(v) for k, v in draw(p, draw_seed(3, j)).items()})
        fresh = conditions.check(q, conds)
        rebound = conditions.check(q, conds, base)
        assert fresh == rebound, (path.name, j)
        decisions.add(fresh is None)
    assert decisions == {True, False}  # both kinds of draw were seen


def test_core_answers_are_the_solutions(q1_variants):
    from derive.variants import conditions

    for v in q1_variants[:10]:
        want = {k: {"find": a["find"], "exact": a["exact"], "value": a["value"]}
                for k, a in render.answers(v.solution).items()}
        assert conditions.answers(v.problem) == want


def test_unsatisfiable_require_says_how_many_were_found():
    p = loads(BASE + "vary:\n  W_h: {integers: [-5, 5]}\nrequire:\n  - L < 0\n", "u.yaml")
    with pytest.raises(SpecError) as e:
        generate(p, 3, 1)
    assert e.value.key == "require" and e.value.line == 15
    assert "only 0 distinct variants satisfy require among all 11 possible draws, but 3 were " \
        "asked for" in e.value.message
    p = loads(BASE + "vary:\n  W_h: {integers: [-5000, 5000]}\nrequire:\n  - L < 0\n",
              "u.yaml")
    with pytest.raises(SpecError, match=rf"only \d+ distinct variants? satisfy require within "
                       rf"{max_draws(30)} draws, the most made for 30"):
        generate(p, 30, 1)


def test_a_small_vary_block_runs_out_of_distinct_variants():
    p = loads(BASE + "vary:\n  W_h: {choice: [1, 2]}\n", "s.yaml")
    assert len(generate(p, 2, 0)) == 2
    with pytest.raises(SpecError, match="the vary block has only 2 distinct variants among all "
                                        "2 possible draws, but 3 were asked for"):
        generate(p, 3, 0)


def test_a_draw_that_cannot_be_solved_is_not_kept():
    text = BASE.replace("W_h*h[t-1]", "h[t-1]/W_h") + "vary:\n  W_h: {integers: [-1, 1]}\n"
    vs = generate(loads(text, "z.yaml"), 2, 3)
    assert sorted(v.given["W_h"] for v in vs) == [-1, 1]


def test_with_given_takes_manifest_values_and_keeps_shapes():
    p = load(Q1)
    q = with_given(p, {"W_x": "0.5", "x": [3, "7/2"], "h[0]": 2.5})
    assert not q.vary and not q.require
    given = {(g.name, g.index): g.value for g in q.given}
    assert str(given[("W_x", None)]) == "1/2" and str(given[("h", 0)]) == "5/2"
    assert [str(x) for x in given[("x", None)]] == ["3", "7/2"]
    assert render.answers(__import__("derive").solve(q))["a"]["exact"] == "23/2"  # W_y h_2 = 2 (4 + 1.75)
    with pytest.raises(SpecError, match=r"x has the shape \(2,\), the new value is a number"):
        with_given(p, {"x": 3})
    with pytest.raises(SpecError, match="W_q is not a given"):
        with_given(p, {"W_q": 3})
    with pytest.raises(SpecError, match="not a rational number"):
        with_given(p, {"W_h": "sqrt(2)"})


# ---- derive variants -----------------------------------------------------------------------

def _run(*args):
    return runner.invoke(app, ["variants", *map(str, args)])


def test_cli_writes_the_manifest_and_every_variants_files(tmp_path, q1_variants):
    r = _run(Q1, "-n", 40, "--seed", 2026, "--out", tmp_path / "a", "--no-check", "-j", 1)
    assert r.exit_code == 0, r.output
    base = tmp_path / "a" / "q1_vary"
    raw = (base / "variants.yaml").read_bytes()
    m = yaml.safe_load(raw)
    assert list(m) == ["problem", "sha256", "derive", "seed", "variants"]
    assert m["problem"] == "q1_vary.yaml" and m["seed"] == 2026 and m["derive"] == "0.1.0"
    assert m["sha256"] == hashlib.sha256(Q1.read_bytes()).hexdigest()
    assert [v["index"] for v in m["variants"]] == list(range(1, 41))
    assert [v["id"] for v in m["variants"]] == [v.id for v in q1_variants]
    for entry, v in zip(m["variants"], q1_variants):
        assert list(entry) == ["index", "id", "seed", "given", "answers"]
        assert entry["seed"] == v.seed and entry["given"] == v.given
        assert entry["answers"] == {qid: {"exact": a["exact"], "value": a["value"]}
                                    for qid, a in render.answers(v.solution).items()}
        d = base / v.id
        assert sorted(p.name for p in d.iterdir()) == ["graph.svg", "problem.key.yaml",
                                                       "problem.yaml", "solution.md",
                                                       "solution.tex"]
    # a second run, with worker processes, writes the same bytes
    r = _run(Q1, "-n", 40, "--seed", 2026, "--out", tmp_path / "b", "--no-check", "-j", 2)
    assert r.exit_code == 0, r.output
    assert (tmp_path / "b" / "q1_vary" / "variants.yaml").read_bytes() == raw
    for v in q1_variants:
        for name in ("problem.yaml", "solution.md", "solution.tex"):
            assert (tmp_path / "b" / "q1_vary" / v.id / name).read_bytes() == \
                (base / v.id / name).read_bytes()


def test_cli_variant_problem_files_solve_to_the_manifests_answers(tmp_path, torch):
    r = _run(Q1, "-n", 8, "--seed", 3, "--out", tmp_path, "--format", "none", "-j", 1)
    assert r.exit_code == 0, r.output
    m = yaml.safe_load((tmp_path / "q1_vary" / "variants.yaml").read_text())
    for entry in m["variants"][:4]:
        f = tmp_path / "q1_vary" / entry["id"] / "problem.yaml"
        text = f.read_text()
        assert text.startswith(f"# Variant {entry['index']} (id {entry['id']}, seed "
                               f"{entry['seed']}) of q1_vary.yaml")
        assert "vary:" not in text and "require:" not in text
        assert "Compute the predicted value" in text  # the author's text stays
        assert f"  x: [{entry['given']['x'][0]}, {entry['given']['x'][1]}]\n" in text
        s = runner.invoke(app, ["solve", str(f), "--json", "--out", str(tmp_path / "solved")])
        assert s.exit_code == 0, s.output
        got = yaml.safe_load(s.stdout)["answers"]
        assert {k: {"exact": a["exact"], "value": a["value"]} for k, a in got.items()} == \
            entry["answers"]
        assert all(a["check"]["status"] == "agrees" for a in got.values())
        ref = q1_torch(torch, entry["given"])
        assert all(close(entry["answers"][k]["value"], ref[k]) for k in ref)
    # --format none: the answers come from the core alone, the files are the problem only
    assert sorted(p.name for p in (tmp_path / "q1_vary" / m["variants"][0]["id"]).iterdir()) \
        == ["problem.yaml"]


def test_cli_shard_makes_exactly_its_quarter(tmp_path):
    r = _run(Q1, "-n", 40, "--seed", 2026, "--out", tmp_path / "all", "--format", "none",
             "--no-check", "-j", 1)
    assert r.exit_code == 0, r.output
    full = yaml.safe_load((tmp_path / "all" / "q1_vary" / "variants.yaml").read_text())
    r = _run(Q1, "-n", 40, "--seed", 2026, "--out", tmp_path / "s", "--format", "none",
             "--no-check", "--shard", "1/4", "-j", 1)
    assert r.exit_code == 0, r.output
    assert "shard 1/4" in r.output
    base = tmp_path / "s" / "q1_vary"
    part = yaml.safe_load((base / "variants.yaml").read_text())
    assert part["variants"] == full["variants"][::4]
    assert [v["index"] % 4 for v in part["variants"]] == [1] * 10
    assert sorted(p.name for p in base.iterdir() if p.is_dir()) == \
        sorted(v["id"] for v in full["variants"][::4])


def test_cli_unsatisfiable_writes_nothing_and_exits_2(tmp_path):
    f = tmp_path / "u.yaml"
    f.write_text(BASE + "vary:\n  W_h: {integers: [-5, 5]}\nrequire:\n  - L < 0\n")
    r = _run(f, "-n", 3, "--out", tmp_path / "out", "-j", 1)
    assert r.exit_code == 2
    assert r.output.strip().splitlines() == [
        f"error: {f}: require (line 15): only 0 distinct variants satisfy require among all "
        "11 possible draws, but 3 were asked for; loosen vary or require, or ask for fewer"]
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("args, words", [
    (["-n", "3", "--shard", "5/4"], "--shard is I/K with 1 <= I <= K"),
    (["-n", "3", "--shard", "x"], "--shard is I/K"),
    (["-n", "3", "--format", "doc"], "--format takes md, tex, pdf or none"),
    (["-n", "0"], "-n is at least 1"),
])
def test_cli_bad_options_exit_2(tmp_path, args, words):
    r = _run(Q1, *args, "--out", tmp_path)
    assert r.exit_code == 2 and words in r.output, r.output
    assert not any(tmp_path.iterdir())


def test_cli_bad_files_exit_2_with_one_message(tmp_path):
    f = tmp_path / "bad.yaml"
    f.write_text(BASE + "vary:\n  W_q: {choice: [1, 2]}\n")
    r = _run(f, "-n", 3, "--out", tmp_path / "o")
    assert r.exit_code == 2 and len(r.output.strip().splitlines()) == 1
    assert f"{f}: vary.W_q (line 14): W_q is not a given" in r.output
    r = _run(ROOT / "problems" / "q1.yaml", "-n", 3, "--out", tmp_path / "o")
    assert r.exit_code == 2 and "has no vary block" in r.output
    assert not (tmp_path / "o").exists()


def test_cli_cross_checks_each_variant(tmp_path):
    r = _run(VEC, "-n", 3, "--seed", 1, "--out", tmp_path, "--format", "md", "-j", 1)
    assert r.exit_code == 0, r.output
    m = yaml.safe_load((tmp_path / "variants_vector" / "variants.yaml").read_text())
    for entry in m["variants"]:
        d = tmp_path / "variants_vector" / entry["id"]
        md = (d / "solution.md").read_text()
        assert "Checked against PyTorch autograd" in md
        assert isinstance(entry["given"]["W_hh"][0][0], float)
        c = runner.invoke(app, ["check", str(d / "problem.yaml")])  # the key beside it
        assert c.exit_code == 0, c.output
        assert yaml.safe_load((d / "problem.key.yaml").read_text())["answers"]["b"]["value"] \
            == entry["answers"]["b"]["value"]


def test_book_typesets_one_variant_per_student(tmp_path):
    import subprocess

    r = runner.invoke(app, ["book", str(Q1), "-n", "3", "--seed", "2026", "--questions-only",
                            "--out", str(tmp_path)])
    assert r.exit_code == 0, r.output
    assert "(3 variants, questions only)" in r.output
    text = subprocess.run(["pdftotext", str(tmp_path / "questions.pdf"), "-"],
                          capture_output=True, text=True, check=True).stdout
    ids = [v.id for v in generate(load(Q1), 3, 2026)]
    for i, vid in enumerate(ids, start=1):
        assert f"(variant {i}, id {vid})" in " ".join(text.split())
    assert "Forward pass" not in text and "Solution" not in text
    r = runner.invoke(app, ["book", str(ROOT / "problems" / "q1.yaml"), "-n", "2", "--out",
                            str(tmp_path / "x")])
    assert r.exit_code == 2 and "has no vary block" in r.output


def test_progress_bar_only_on_a_terminal_and_never_under_ci(monkeypatch):
    import io
    import sys

    from rich.progress import Progress

    from derive import cli

    class Tty(io.StringIO):
        def isatty(self):
            return True

    monkeypatch.delenv("CI", raising=False)
    monkeypatch.setattr(sys, "stdout", Tty())
    monkeypatch.setattr(sys, "stderr", Tty())
    assert isinstance(cli._progress(), Progress)
    monkeypatch.setenv("CI", "true")
    assert cli._progress() is None
    monkeypatch.delenv("CI")
    monkeypatch.setattr(sys, "stdout", io.StringIO())  # piped
    assert cli._progress() is None
