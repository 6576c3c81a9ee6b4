import pytest
import sympy

from derive.errors import SpecError
from derive.lang.loader import load, loads

from conftest import ROOT


def test_q1_loads_with_exact_givens():
    p = load(ROOT / "problems/q1.yaml")
    assert p.steps == 2 and [e.key for e in p.equations] == ["h[t]", "yhat[t]", "L[t]", "L"]
    given = {(g.name, g.index): g.value for g in p.given}
    assert given[("W_x", None)] == sympy.Rational(1, 10)
    assert given[("x", None)] == (10, 10)
    assert given[("h", 0)] == 1
    assert [q.id for q in p.questions] == list("abcdefg")
    assert p.questions[6].truncate == 1


def test_default_ids_and_given_expressions():
    p = loads("title: t\nequations:\n  y: x\ngiven:\n  x: 'sqrt(2)'\nquestions:\n"
              "  - find: y\n  - find: d(y, x)\n")
    assert [q.id for q in p.questions] == ["a", "b"]
    assert p.given[0].value == sympy.sqrt(2)


@pytest.mark.parametrize("text,key,line", [
    ("title: t\nequations:\n  y: 2*x\nquestions:\n  - find: y\nfoo: 1\n", "foo", 6),
    ("title: t\nequations:\n  y: 2*\nquestions:\n  - find: y\n", "equations.y", 3),
    ("title: t\nsteps: 0\nequations:\n  y: 2\nquestions:\n  - find: y\n", "steps", 2),
    ("title: t\nequations:\n  y: 2\nquestions:\n  - bogus: 1\n", "questions[1].bogus", 5),
    ("title: t\nequations:\n  y: 2\nquestions:\n  - text: hi\n", "questions.a", 5),
    ("title: t\nequations:\n  h[t]: 2\nquestions:\n  - find: h[1]\n", "equations.h[t]", 3),
])
def test_errors_name_key_and_line(text, key, line):
    with pytest.raises(SpecError) as e:
        loads(text, "p.yaml")
    assert e.value.key == key and e.value.line == line
    assert str(e.value).startswith(f"p.yaml: {key} (line {line}): ")


def test_missing_file():
    with pytest.raises(SpecError, match="no such problem file"):
        load("does/not/exist.yaml")


def test_plain_numbers_in_lists_are_exact():
    import sympy
    from derive.lang.loader import loads
    p = loads("title: n\nequations:\n  y: W @ x\ngiven:\n  W: [[0.1, '1e-3'], [2, -.5]]\n"
              "  x: ['1/3', 'sqrt(4)']\nquestions:\n  - find: y\n")
    W = next(g for g in p.given if g.name == "W").value
    assert W == ((sympy.Rational(1, 10), sympy.Rational(1, 1000)),
                 (sympy.Integer(2), sympy.Rational(-1, 2)))
    x = next(g for g in p.given if g.name == "x").value
    assert x == (sympy.Rational(1, 3), sympy.Integer(2))


@pytest.mark.parametrize("char,line", [("\x00", 3), ("\x1b", 1), ("\x07", 4)])
def test_a_control_character_is_one_line_naming_its_line(char, line):
    # found by the fuzz test: yaml's ReaderError spans two lines
    lines = ["title: t", "equations:", "  y: 2*x", "questions:", "  - find: y"]
    lines[line - 1] += char
    with pytest.raises(SpecError) as err:
        loads("\n".join(lines) + "\n", "c.yaml")
    assert str(err.value) == (f"c.yaml (line {line}): character {ord(char):#06x} is not "
                              "allowed in YAML (control characters are not allowed)")


def test_given_starts_before_the_first_step_and_after_the_last():
    p = loads("title: t\nsteps: 3\nequations:\n  hb[t]: hb[t+1] + h[t-2]\n  h[t]: h[t-1]\n"
              "given:\n  h[-1]: 2\n  h[0]: 1\n  hb[T+1]: 3\n  hb[T+2]: 4\nquestions:\n"
              "  - find: hb[1]\n", "p.yaml")
    assert [(g.name, g.index) for g in p.given] == [("h", -1), ("h", 0), ("hb", 4), ("hb", 5)]
    # an error at the given names its step and finds the line of what the author wrote
    assert p.lines["given.hb[4]"] == p.lines["given.hb[T+1]"] == 9


@pytest.mark.parametrize("given,words", [
    ("  T: 3\n", r"T is the number of steps \(set it with steps:\); it cannot be given"),
    ("  h[x]: 3\n", r"a given index must be a whole number \(h\[0\], h\[-1\]\) or T\+k"),
    ("  h[t]: 3\n", "a given index must be"),
])
def test_bad_given_keys(given, words):
    with pytest.raises(SpecError, match=words) as e:
        loads(f"title: t\nsteps: 2\nequations:\n  h[t]: h[t-1]\ngiven:\n{given}"
              "questions:\n  - find: h[1]\n", "p.yaml")
    assert e.value.line == 6


def test_T_cannot_be_defined():
    for key in ("T", "T[t]"):
        with pytest.raises(SpecError, match="T is the number of steps") as e:
            loads(f"title: t\nsteps: 2\nequations:\n  {key}: 3\nquestions:\n  - find: 1\n",
                  "p.yaml")
        assert e.value.key == f"equations.{key}" and e.value.line == 4


def test_given_T_plus_k_needs_steps():
    with pytest.raises(SpecError, match="T needs 'steps'"):
        loads("title: t\nequations:\n  y: hb\ngiven:\n  hb[T+1]: 3\nquestions:\n  - find: y\n")
