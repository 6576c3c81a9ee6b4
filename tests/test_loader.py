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
