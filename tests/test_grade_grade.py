"""Grading one sheet: tolerances, diagnoses and their ranking, carried-forward, the JSON."""

import sympy

from derive.grade.answers import Sheet
from derive.grade.grade import Grader, plain
from derive.lang.loader import load, loads

from conftest import ROOT

Q1 = ROOT / "problems/q1.yaml"
R = sympy.Rational


def _grade(answers, path=Q1, **tol):
    g = Grader(load(path), **tol)
    return g, g.grade(Sheet("s.yaml", "s", answers))


def test_seed_002_each_wrong_answer_is_first_the_dropped_term_at_h1():
    g, r = _grade({"a": 4, "b": 10, "c": -16, "d": -20})
    assert r.score == 0
    for q in "abcd":
        first = r.questions[q].diagnosis[0]
        assert (first.mistake, first.where, first.explains) == \
            ("dropped-term", "h[1]", ("a", "b", "c", "d"))
        assert "W_{x} x_{1}" in first.text and "h_{1} = W_{h} h_{0} = 1" in first.text
        assert first.steps == (("h_{1} = W_{h} h_{0} + W_{x} x_{1} = 2",
                                "h_{1} = W_{h} h_{0} = 1"),)


def test_within_tolerance_is_correct():
    _, r = _grade({"a": R(6004, 1000), "b": R(2002, 1000), "c": R(1, 10**7), "d": 8})
    assert all(g.correct and g.diagnosis == () for g in r.questions.values())
    assert r.score == 1
    _, r = _grade({"a": R(601, 100), "c": R(1, 10**5)})
    assert not r.questions["a"].correct and not r.questions["c"].correct
    _, r = _grade({"a": R(601, 100)}, rtol=0.01)  # the command line's --rtol
    assert r.questions["a"].correct


def test_the_problem_grading_block_sets_the_tolerance():
    text = (ROOT / "problems/q1.yaml").read_text() + "grading:\n  rtol: 0.1\n  atol: 0.01\n"
    p = loads(text, "q1g.yaml")
    assert p.grading == (("rtol", 0.1), ("atol", 0.01))
    g = Grader(p)
    r = g.grade(Sheet("s.yaml", "s", {"a": R(65, 10), "c": R(5, 1000), "d": 9}))
    assert [r.questions[q].correct for q in "acd"] == [True, True, False]


def test_an_answer_no_mistake_explains_says_so():
    _, r = _grade({"a": 123, "d": 8})
    assert r.questions["a"].correct is False and r.questions["a"].diagnosis == ()
    assert r.questions["d"].correct and r.score == 0.5


def test_carried_forward_credits_the_method():
    """ŷ_2 = 7 is wrong (the key: 6), but L = (4 − 5)² + (7 − 5)² = 5 is right for it."""
    _, r = _grade({"a": 7, "b": 5})
    d = r.questions["b"].diagnosis
    assert [(x.mistake, x.where, x.explains) for x in d] == \
        [("carried-forward", "yhat[2]", ("b",))]
    assert "\\hat{y}_{2} = 7" in d[0].text and "method" in d[0].text
    assert d[0].steps == (("\\hat{y}_{2} = 6", "\\hat{y}_{2} = 7"),)
    assert r.questions["a"].diagnosis == ()  # 7 itself: no slip of the catalog gives it


def test_a_derivative_carried_into_a_later_one():
    """∂L/∂h_1 = 5 is wrong (the key: 0); ∂L/∂W_h = δ_1 h_0 + δ_2 h_1 = 5·1 + 4·2 = 13 is right
    for it."""
    _, r = _grade({"c": 5, "d": 13})
    d = r.questions["d"].diagnosis
    assert [(x.mistake, x.where, x.explains) for x in d] == \
        [("carried-forward", "d(L, h[1])", ("d",))]
    assert d[0].steps == (("\\partial L/\\partial h_{1} = 0",
                           "\\partial L/\\partial h_{1} = 5"),)
    _, r = _grade({"c": 5, "g": 9})  # the truncated question reads no δ_1 of the full pass
    assert r.questions["g"].diagnosis == ()


def test_two_mistakes_with_the_same_answers_are_reported_together():
    g = Grader(loads("title: twins\nequations:\n  z: a*x + b*x\ngiven:\n  a: 2\n  b: 2\n"
                     "  x: 3\nquestions:\n  - {id: q, find: z}\n  - {id: r, find: 'd(z, x)'}\n",
                     "twins.yaml"))
    sig = {}
    for m in g.catalog.singles:
        sig.setdefault(tuple(sorted((q, str(v)) for q, v in m.answers.items())), []).append(m)
    twins = next(ms for ms in sig.values() if len(ms) > 1)
    answers = {q: v for q, v in twins[0].answers.items()}
    r = g.grade(Sheet("s.yaml", "s", answers))
    changed = [q for q in answers if not r.questions[q].correct]
    ids = [(d.mistake, d.where, d.text) for d in r.questions[changed[0]].diagnosis]
    at = [ids.index((m.mistake, m.where, m.text)) for m in twins]
    assert at == list(range(at[0], at[0] + len(twins)))  # side by side


def test_vector_answers_are_compared_entry_by_entry():
    g = Grader(load(ROOT / "problems/vector_rnn.yaml"))
    key = g.key["c"]
    rows = tuple(tuple(key.row(i)) for i in range(2))
    assert g.grade(Sheet("s", "s", {"c": rows})).questions["c"].correct
    near = ((rows[0][0] * R(10005, 10000), rows[0][1]), rows[1])  # within rtol 1e-3
    assert g.grade(Sheet("s", "s", {"c": near})).questions["c"].correct
    off = ((rows[0][0], rows[0][1] + R(1, 10)), rows[1])
    assert not g.grade(Sheet("s", "s", {"c": off})).questions["c"].correct


def test_json_has_the_spec_shape():
    g, r = _grade({"a": 4, "b": None, "d": 8})
    data = g.json(r)
    assert list(data) == ["file", "student", "score", "questions"]
    assert data["questions"]["b"] == {"given": None, "expected": 2, "correct": False,
                                      "diagnosis": []}
    assert data["questions"]["d"] == {"given": 8, "expected": 8, "correct": True,
                                      "diagnosis": []}
    first = data["questions"]["a"]["diagnosis"][0]
    assert list(first) == ["mistake", "where", "text", "explains"]
    assert first["explains"] == ["a"]
    assert plain(R(1, 4)) == 0.25 and plain((1, R(1, 2))) == [1, 0.5]


def test_a_bad_grading_block_names_its_key():
    import pytest
    from derive.errors import SpecError
    base = (ROOT / "problems/q1.yaml").read_text()
    for block, message in (("grading:\n  rtol: 2\n", "grading.rtol (line"),
                           ("grading:\n  tol: 0.1\n", "grading.tol (line"),
                           ("grading:\n  atol: abc\n", "grading.atol (line")):
        with pytest.raises(SpecError) as e:
            loads(base + block, "q1g.yaml")
        assert message in str(e.value), str(e.value)
