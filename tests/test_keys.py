"""Answer keys: written plainly, read back, drift named per question."""

import pytest

from derive.check import keys

from derive.output import render
from derive.calculus.questions import solve
from derive.errors import SpecError
from derive.lang.loader import load

from conftest import PROBLEMS, ROOT


def test_key_text_round_trips_and_matches():
    sol = solve(load(ROOT / "problems" / "q1.yaml"))
    answers = render.answers(sol)
    text = keys.key_text("problems/q1.yaml", sol.problem.title, answers)
    assert text.startswith("# Answer key for q1.yaml")
    assert "d: {find: 'd(L, W_h)', exact: '8', value: 8.0}" in text
    assert keys.drifts(keys.parse_key(text, "q1.key.yaml"), answers) == []


def test_drift_names_the_question_and_both_values():
    answers = render.answers(solve(load(ROOT / "problems" / "q1.yaml")))
    key = keys.parse_key(keys.key_text("q1.yaml", "t", answers), "k")
    key["d"] = dict(key["d"], exact="9", value=9.0)
    (d,) = keys.drifts(key, answers)
    assert (d.question, d.key, d.now, d.why) == ("d", "9", "8", "exact answers differ")
    del key["d"]
    assert [x.why for x in keys.drifts(key, answers)] == ["the key has no answer for it"]


def test_values_drift_beyond_one_part_in_a_billion():
    answers = {"a": {"find": "L", "exact": None, "value": [1.0, 2.0]}}
    same = {"a": {"find": "L", "exact": None, "value": [1.0 + 1e-12, 2.0]}}
    moved = {"a": {"find": "L", "exact": None, "value": [1.0 + 1e-6, 2.0]}}
    assert keys.drifts(same, answers) == []
    assert keys.drifts(moved, answers)[0].why == "values differ"


def test_key_files_are_never_problems(tmp_path):
    (tmp_path / "a.yaml").write_text("x")
    (tmp_path / "a.key.yaml").write_text("x")
    assert keys.problems_in([tmp_path]) == [tmp_path / "a.yaml"]
    assert keys.problems_in([tmp_path / "a.key.yaml"]) == []
    assert keys.key_path(tmp_path / "a.yaml") == tmp_path / "a.key.yaml"


def test_a_broken_key_is_a_clear_error():
    with pytest.raises(SpecError, match="answers"):
        keys.parse_key("title: no answers\n", "x.key.yaml")


@pytest.mark.parametrize("path", PROBLEMS, ids=[p.stem for p in PROBLEMS])
def test_every_bundled_problem_matches_its_committed_key(path):
    answers = render.answers(solve(load(path)))
    key = keys.parse_key(keys.key_path(path).read_text(), str(keys.key_path(path)))
    assert keys.drifts(key, answers) == []
