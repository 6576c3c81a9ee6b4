"""Answer sheets and rosters: every defect is one message naming the file and the key or row."""

import pytest
import sympy

from derive.errors import SpecError
from derive.grade import answers
from derive.grade.grade import Grader
from derive.lang.loader import load

from conftest import ROOT


@pytest.fixture(scope="module")
def q1():
    return Grader(load(ROOT / "problems/q1.yaml"))


@pytest.fixture(scope="module")
def vec():
    return Grader(load(ROOT / "problems/vector_rnn.yaml"))


def _read(tmp_path, grader, name, text):
    f = tmp_path / name
    f.write_text(text)
    try:
        return answers.read(f, grader.key, grader.catalog.questions, grader.problem.file)
    except SpecError as e:
        e.file = name  # the messages below name the file as given
        raise


def test_the_seed_sheet(q1):
    sheets, errors = answers.read(ROOT / "problems/q1.student002.answers.yaml", q1.key,
                                  q1.catalog.questions, q1.problem.file)
    assert errors == [] and len(sheets) == 1
    assert sheets[0].student == "student002"
    assert sheets[0].answers == {"a": 4, "b": 10, "c": -16, "d": -20}


def test_numbers_fractions_decimals_and_lists(tmp_path, vec):
    (s,), _ = _read(tmp_path, vec, "v.yaml", "answers:\n  b: '1/3'\n  a: [0.5, -2]\n"
                    "  c: [[1, 2], [3, 4]]\n  e: ~\n")
    assert s.student == "v"  # the file's name when no student is given
    assert s.answers == {"b": sympy.Rational(1, 3), "a": (sympy.Rational(1, 2), -2),
                         "c": ((1, 2), (3, 4)), "e": None}


@pytest.mark.parametrize("text, message", [
    ("answers:\n  z: 4\n", "s.yaml: answers.z (line 2): no question z in q1.yaml"),
    ("answers:\n  a: ten\n", "s.yaml: answers.a (line 2): not a number: 'ten'"),
    ("answers:\n  a: [1, 2]\n", "s.yaml: answers.a (line 2): expected one number, got a list"),
    ("answers:\n  a: 4\n  a: 5\n", "s.yaml: answers.a (line 3): duplicate key"),
    ("student: s1\n", "s.yaml: answers: required key 'answers' is missing"),
    ("answer:\n  a: 4\n", "s.yaml: answer (line 1): unknown key"),
    ("student: ../x\nanswers:\n  a: 4\n", "s.yaml: student (line 1): a student's id is"),
    ("variant: 3F9A2C1\nanswers:\n  a: 4\n",
     "s.yaml: variant (line 1): a variant's id is the 8 hex digits of the manifest"),
])
def test_bad_sheets(tmp_path, q1, text, message):
    with pytest.raises(SpecError) as e:
        _read(tmp_path, q1, "s.yaml", text)
    assert str(e.value).startswith(message), str(e.value)


@pytest.mark.parametrize("text, message", [
    ("answers:\n  c: [1, 2]\n",
     "answers.c (line 2): expected a list of 2 rows of 2 numbers (the answer's shape), got a "
     "list of 2"),
    ("answers:\n  a: [1, 2, 3]\n",
     "answers.a (line 2): expected a list of 2 numbers (the answer's shape), got a list of 3"),
    ("answers:\n  a: 1\n", "answers.a (line 2): expected a list of 2 numbers"),
])
def test_lists_of_the_wrong_shape(tmp_path, vec, text, message):
    with pytest.raises(SpecError) as e:
        _read(tmp_path, vec, "s.yaml", text)
    assert message in str(e.value)


def test_a_roster_with_bad_rows_grades_the_others(tmp_path, q1):
    text = ("student,a,b,c,d\n"
            "s1,4,10,-16,-20\n"
            "s2,6,abc,0,8\n"
            "s3,6,2\n"
            "s4,6,2,0,8\n"
            "s1,1,1,1,1\n")
    sheets, errors = _read(tmp_path, q1, "r.csv", text)
    assert [s.student for s in sheets] == ["s1", "s4"]
    assert [str(e).replace(f"{tmp_path}/", "") for e in errors] == [
        "r.csv: row 3 (s2), question b: not a number: 'abc' (a given value may not refer "
        "to abc)",
        "r.csv: row 4: the row has 3 cells, the header 5 (a column is missing)",
        "r.csv: row 6 (s1): student s1 appears twice"]


def test_a_roster_cell_holds_a_list(tmp_path, vec):
    sheets, errors = _read(tmp_path, vec, "r.csv", 'student,a\ns1,"[1, 2]"\ns2,"[1]"\n')
    assert sheets[0].answers == {"a": (1, 2)} and len(errors) == 1
    assert "row 3 (s2), question a: expected a list of 2 numbers" in str(errors[0])


@pytest.mark.parametrize("text, message", [
    ("name,a\nx,1\n", "r.csv: row 1: the CSV has no `student` column"),
    ("student,a,zz\nx,1,2\n", "r.csv: row 1, column zz: no question zz in q1.yaml"),
    ("", "r.csv: the CSV is empty"),
])
def test_a_roster_with_a_bad_header_is_refused(tmp_path, q1, text, message):
    with pytest.raises(SpecError) as e:
        _read(tmp_path, q1, "r.csv", text)
    assert str(e.value).startswith(message)


def test_a_roster_reads_each_rows_variant(tmp_path, q1):
    sheets, errors = _read(tmp_path, q1, "r.csv",
                           "student,variant,a\ns1,,6\ns2,3f9a2c10,6\ns3,xyz,6\n")
    assert [(s.student, s.variant) for s in sheets] == [("s1", None), ("s2", "3f9a2c10")]
    assert str(errors[0]).replace(f"{tmp_path}/", "").startswith(
        "r.csv: row 4 (s3), column variant: a variant's id is the 8 hex digits")


