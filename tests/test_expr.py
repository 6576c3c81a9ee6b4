import pytest
import sympy

from derive.lang import expr as ex
from derive.errors import ExprError


def test_decimals_and_fractions_are_exact():
    assert ex.parse("0.1") == ex.Num(sympy.Rational(1, 10))
    assert ex.parse_number("1/3") == sympy.Rational(1, 3)
    assert ex.parse_number("2.5e-3") == sympy.Rational(1, 400)


def test_indices():
    assert ex.parse("h[t-1]") == ex.Ref("h", ex.Index("t", -1))
    assert ex.parse("h[T]") == ex.Ref("h", ex.Index("T", 0))
    assert ex.parse("x[2]") == ex.Ref("x", ex.Index("n", 2))


def test_matrix_operators_and_transpose_parse():
    e = ex.parse("W_hh.T @ h[t-1]")
    assert isinstance(e, ex.Bin) and e.op == "@" and isinstance(e.left, ex.Transpose)


@pytest.mark.parametrize("text,words", [
    ("__import__('os')", "unknown function"),
    ("__import__('os').system('x')", "only the named functions"),
    ("x.__class__", "attribute access"),
    ("lambda: 1", "lambda"),
    ("[a for a in b]", "comprehension"),
    ("'s'", "string"),
    ("tanh(x=1)", "keyword"),
    ("x < y", "comparison"),
    ("9**9**9", "exponent"),
    ("x**y", "exponent must be a number"),
    ("(" * 100 + "x" + ")" * 100, "nested"),
    ("x" * 5000, "longer than"),
    ("foo(x)", "unknown function"),
    ("d(L, W)", "d(of, wrt) may only stand alone"),
    ("h[t+1] if x else y", "conditional"),
    ("_x", "not allowed"),
    ("h[t*2]", "an index must be"),
    ("1e999", "too large"),
])
def test_rejected(text, words):
    with pytest.raises(ExprError, match=words.replace("(", r"\(").replace(")", r"\)")):
        ex.parse(text, allow_t=True)


def test_d_only_at_top_of_a_find():
    assert ex.parse("d(L, W)", allow_d=True) == ex.Call("d", (ex.Name("L"), ex.Name("W")))
    with pytest.raises(ExprError):
        ex.parse("2*d(L, W)", allow_d=True)


def test_t_outside_equations_is_rejected():
    with pytest.raises(ExprError, match="t is only defined"):
        ex.parse("h[t]", allow_t=False)
    assert ex.parse("sum(L[t])", allow_t=False) == ex.Call("sum", (ex.Ref("L", ex.Index("t", 0)),))


def test_mean_runs_over_t_like_sum_and_stack_takes_any_number_of_arguments():
    from derive.lang import expr as ex
    m = ex.parse("mean((yhat[t] - y[t])**2)", allow_t=False)  # t is bound inside mean
    assert not ex.uses_t(m) and ex.uses_t(m.args[0])
    terms = ex.loss_terms(ex.parse("mean(L[t]) + 0.01*w**2"), {}, 3)
    assert [(ex.to_text(e), t, h) for e, t, h in terms] == [
        ("(L[t] / 3)", 1, 1), ("(L[t] / 3)", 2, 2), ("(L[t] / 3)", 3, 3),
        ("(1/100 * (w ** 2))", None, 0)]
    s = ex.parse("softmax(stack(e[1], e[2], e[3]))")
    assert ex.to_text(s) == "softmax(stack(e[1], e[2], e[3]))"
    with pytest.raises(ExprError, match="stack takes at least 1 argument"):
        ex.parse("stack()")
    with pytest.raises(ExprError, match="max takes 2 arguments"):
        ex.parse("max(a, b, c)")
