"""derive/lang/require.py: the conditions of a require: block, parsed by the find grammar."""

import pytest

from derive.errors import ExprError
from derive.lang import expr as ex
from derive.lang.require import parse_condition


def test_comparison_of_a_derivative_and_a_number():
    c = parse_condition("d(L, W_h) != 0")
    assert c.ops == ("!=",)
    left, right = c.sides
    assert left.kind == "find" and left.expr == ex.Call("d", (ex.Name("L"), ex.Name("W_h")))
    assert right.kind == "find" and right.expr == ex.Num(0)


def test_every_operator_and_chains():
    for op in ("<", "<=", ">", ">=", "==", "!="):
        assert parse_condition(f"L {op} 3").ops == (op,)
    c = parse_condition("0 < yhat[2] <= 100")
    assert c.ops == ("<", "<=") and len(c.sides) == 3
    assert c.sides[1].expr == ex.Ref("yhat", ex.Index("n", 2))


def test_integer_and_abs_around_a_derivative():
    c = parse_condition("integer(d(L, W_h))")
    assert c.ops == ("integer",) and c.sides[0].expr.func == "d"
    c = parse_condition("abs(d(L, W_x)) >= 1/2")
    assert c.sides[0].kind == "abs" and c.sides[0].args[0].expr.func == "d"
    c = parse_condition("-2*d(L, W_x) + 1 < L")
    assert c.sides[0].kind == "+" and c.sides[0].args[0].kind == "*"
    assert list(c.sides[0].finds())[1].func == "d"
    # without a derivative, a side is one expression of the grammar (abs is its function)
    assert parse_condition("abs(L) <= 100").sides[0].expr == ex.Call("abs", (ex.Name("L"),))


@pytest.mark.parametrize("text, words", [
    ("d(L, W_h)", "a condition is a comparison"),
    ("L < ", "invalid condition"),
    ("L is 3", "not a comparison of require"),
    ("L in 3", "not a comparison of require"),
    ("__import__('os') == 1", "unknown function __import__"),
    ("L == 'a'", "string literal is not allowed"),
    ("L.real > 0", "attribute access"),
    ("integer(L, 2)", "integer takes one argument"),
    ("sqrt(d(L, W_h)) > 1", "d(of, wrt) may stand alone"),
    ("L < 1 and L > 0", "a condition is a comparison"),
    ("h[t] > 0", "t is only defined"),
    ("", "a condition is a comparison"),
])
def test_bad_conditions_say_why(text, words):
    with pytest.raises(ExprError, match=words.replace("(", r"\(").replace(")", r"\)")):
        parse_condition(text)
