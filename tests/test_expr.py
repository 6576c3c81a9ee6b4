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


def test_earlier_starts_and_later_steps_parse():
    # h[-1]: the second start of a lag-two recurrence; hb[t+1], hb[T+1]: a backward one
    assert ex.parse("h[-1]") == ex.Ref("h", ex.Index("n", -1))
    assert ex.parse("hb[t+1]") == ex.Ref("hb", ex.Index("t", 1))
    assert ex.parse("hb[T+1]") == ex.Ref("hb", ex.Index("T", 1))
    assert ex.parse("sum(L[t]) / T") == ex.Bin("/", ex.Call("sum", (ex.Ref("L", ex.Index("t", 0)),)),
                                                ex.Name("T"))


def test_entries_parse_after_a_step_or_by_a_given_index():
    t0 = ex.Index("t", 0)
    assert ex.parse("p[t][c[t]]") == ex.Entry(ex.Ref("p", t0), (ex.Ref("c", t0),))
    assert ex.parse("h[T][1]") == ex.Entry(ex.Ref("h", ex.Index("T", 0)),
                                           (ex.Num(sympy.Integer(1)),))
    assert ex.parse("p[c]") == ex.Entry(ex.Name("p"), (ex.Name("c"),))
    assert ex.to_text(ex.parse("-log(p[t][c[t]])")) == "-(log(p[t][c[t]]))"
    assert ex.uses_t(ex.parse("v[c[t]]"))


@pytest.mark.parametrize("text,words", [
    ("p[t][t]", "an entry index is a whole number"),
    ("p[t][0]", "entries count from 1"),
    ("p[t][c[t]+1]", "an entry index is a whole number"),
    ("h[1][1][1][1][1]", "too many subscripts"),
])
def test_bad_entry_indices(text, words):
    with pytest.raises(ExprError, match=words):
        ex.parse(text)


def test_subscripts_of_a_name_that_does_not_run_over_steps_are_entries():
    seq = {"h", "x"}.__contains__
    one, two = ex.Num(sympy.Integer(1)), ex.Num(sympy.Integer(2))
    assert ex.read_entries(ex.parse("v[2]"), seq) == ex.Entry(ex.Name("v"), (two,))
    assert ex.read_entries(ex.parse("W[2][1]"), seq) == ex.Entry(ex.Name("W"), (two, one))
    assert ex.read_entries(ex.parse("x[2]"), seq) == ex.Ref("x", ex.Index("n", 2))
    assert ex.read_entries(ex.parse("h[2][1]"), seq) == \
        ex.Entry(ex.Ref("h", ex.Index("n", 2)), (one,))
    with pytest.raises(ExprError, match=r"W\[1\]\[2\]\[1\]: too many subscripts"):
        ex.read_entries(ex.parse("W[1][2][1]"), seq)
    with pytest.raises(ExprError, match=r"v\[0\]: entry 0 is out of range"):
        ex.read_entries(ex.parse("v[0]"), seq)
