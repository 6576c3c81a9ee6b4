import pytest
import sympy

from derive.calculus.graph import sym
from derive.output.printing import (DerivePrinter, exact_form, exact_text, format_number,
                                    formula_number, rounded, symbol_latex, watch_rounding)
from derive.ops import sigmoid


def test_numbers_as_shown():
    assert format_number(sympy.Integer(8)) == "8"
    assert format_number(sympy.Rational(1, 10)) == "0.1"
    assert format_number(sympy.Rational(-5, 2)) == "-2.5"
    assert format_number(sympy.Rational(1, 3)) == r"\frac{1}{3}"
    assert format_number(sympy.tanh(sympy.Rational(3, 2))) == "0.9051"


R = sympy.Rational


@pytest.mark.parametrize("value, shown", [
    # integers below a million: their digits
    (R(0), "0"), (R(8), "8"), (R(-120000), "-120000"), (R(999999), "999999"),
    # terminating decimals of up to three significant digits: the decimal
    (R(1, 10), "0.1"), (R(-3, 4), "-0.75"), (R(1, 16), "0.0625"), (R(999, 1000), "0.999"),
    (R(7, 4), "1.75"),
    # in scientific form far from 1, still exact
    (R(10 ** 6), r"1 \times 10^{6}"), (R(2500000), r"2.5 \times 10^{6}"),
    (R(1, 10 ** 8), r"1 \times 10^{-8}"), (R(-1, 4000000), r"-2.5 \times 10^{-7}"),
    (R(1, 20000), r"5 \times 10^{-5}"),
    # other fractions with numerator and denominator of at most three digits: the fraction
    (R(1, 3), r"\frac{1}{3}"), (R(-5, 7), r"-\frac{5}{7}"), (R(125, 256), r"\frac{125}{256}"),
    (R(3, 16), r"\frac{3}{16}"), (R(11, 8), r"\frac{11}{8}"), (R(61, 16), r"\frac{61}{16}"),
])
def test_the_number_rule_keeps_short_numbers_exact(value, shown):
    assert exact_form(value) == shown
    assert format_number(value) == shown


@pytest.mark.parametrize("value, shown", [
    # the relu RNN of issue 11: fractions nobody writes by hand
    (R(8187543, 131072), "62.47"), (R(1204049, 32768), "36.74"), (R(-8187543, 131072), "-62.47"),
    (R(2401, 256), "9.379"), (R(16807, 1024), "16.41"), (R(1000, 999), "1.001"),
    (R(1, 1024), "0.0009766"),
    # four significant digits always, trailing zeros kept: a rounded number never looks exact
    (R(169, 100) + R(1, 10 ** 9), "1.690"), (R(99996, 100000), "1.000"),
    (sympy.Float(0.1), "0.1000"),
    # halves round away from zero, as by hand (binary floats would give 1.234)
    (R(12345, 10000), "1.235"), (R(-12345, 10000), "-1.235"),
    # from 1000 on in scientific form, so 4 digits never read as an integer
    (R(12345, 10), r"1.235 \times 10^{3}"), (R(1234567), r"1.235 \times 10^{6}"),
    (R(9999999), r"1.000 \times 10^{7}"),
    # far past float's range, exactly
    (R(3, 2) ** 3000, r"1.878 \times 10^{528}"), (R(1, 7) ** 400, r"9.137 \times 10^{-339}"),
    # irrational numbers
    (sympy.exp(-20), r"2.061 \times 10^{-9}"), (-sympy.sqrt(2), "-1.414"),
])
def test_the_number_rule_rounds_the_rest_to_four_digits(value, shown):
    if value.is_Rational:
        assert exact_form(value) is None
    assert format_number(value) == shown
    assert rounded(value) == shown


def test_rounded_numbers_agree_with_the_exact_value():
    """Every rounded number is within half a unit of its fourth digit of the exact value, and
    shows exactly four significant digits (what the note tells the reader to look for)."""
    import random
    rng = random.Random(11)
    for _ in range(400):
        v = R(rng.randint(-10 ** 9, 10 ** 9), rng.randint(1, 10 ** 7))
        if v == 0:
            continue
        s = rounded(v)
        mant, _, exp = s.partition(r" \times 10^")
        x = sympy.Rational(mant) * (sympy.Integer(10) ** int(exp.strip("{}")) if exp else 1)
        lead = sympy.floor(sympy.log(abs(v), 10))
        assert abs(x - v) <= sympy.Integer(10) ** (lead - 3) / 2
        assert len(mant.lstrip("-").replace(".", "").lstrip("0")) == 4, s


def test_constants_of_a_formula_stay_exact():
    """A formula states its constants: only numbers that stand for values are rounded."""
    x = sym("x")
    assert formula_number(R(1234567)) == "1234567"
    assert formula_number(R(12345, 100000)) == "0.12345"
    assert formula_number(R(8187543, 131072)) == r"\frac{8187543}{131072}"
    assert formula_number(R(1, 10)) == "0.1"
    assert DerivePrinter().doprint(R(8187543, 131072)) == "62.47"
    assert DerivePrinter().doprint(R(8187543, 131072) * x) == r"\frac{8187543 x}{131072}"
    # a number made of a long coefficient and a function: the coefficient rounded
    assert DerivePrinter().doprint(R(8187543, 131072) * sympy.tanh(R(1, 2))) == \
        r"62.47 \tanh{\left(0.5 \right)}"
    vals = {x: R(8187543, 131072)}
    assert DerivePrinter(values=vals).doprint(2 * x) == r"2 \left(62.47\right)"
    assert DerivePrinter(values=vals).doprint(R(1234567, 2) * x) == \
        r"\frac{1234567 \left(62.47\right)}{2}"
    assert DerivePrinter(values={x: R(1234567)}).doprint(x ** 2) == \
        r"\left(1.235 \times 10^{6}\right)^{2}"


def test_rounding_is_watched_for_the_note():
    with watch_rounding() as outer:
        format_number(R(1, 3))
        assert outer == []
        with watch_rounding() as inner:
            format_number(R(8187543, 131072))
        assert len(inner) == 1
        rounded(sympy.pi)
    assert len(outer) == 2  # the inner block's rounding counts for the outer one too


def test_matrices_set_fractions_full_size_with_room_between_rows():
    from derive.output.printing import matrix_latex
    from derive.output.render import plain
    m = sympy.ImmutableMatrix([[R(1, 3), 2], [R(8187543, 131072), R(-5, 7)]])
    tex = matrix_latex(m, str)
    assert tex == (r"\begin{bmatrix} \dfrac{1}{3} & 2 \\[1em] 62.47 & -\dfrac{5}{7} "
                   r"\end{bmatrix}")
    assert plain(tex) == "[ 1/3 2; 62.47 -5/7 ]"  # the terminal table
    assert matrix_latex(sympy.ImmutableMatrix([[R(1, 2)], [R(2401, 256)]]), str) == \
        r"\begin{bmatrix} 0.5 \\ 9.379 \end{bmatrix}"


def test_names():
    assert symbol_latex("yhat[2]", {}) == r"\hat{y}_{2}"
    assert symbol_latex("W_hh", {}) == "W_{hh}"
    assert symbol_latex("h[t-1]", {}) == "h_{t - 1}"
    assert symbol_latex("W_x[1]", {}) == "W_{x, 1}"
    assert symbol_latex("o[1]", {"o": r"\mathbf{o}"}) == r"\mathbf{o}_{1}"


def test_values_mode_puts_numbers_in_without_evaluating():
    vals = {sym("yhat[1]"): sympy.Integer(4), sym("y[1]"): sympy.Integer(5),
            sym("W_y"): sympy.Integer(2)}
    e = sympy.factor_terms(2 * (sym("yhat[1]") - sym("y[1]")))
    assert DerivePrinter(values=vals).doprint(e) == r"2 \left(4 - 5\right)"
    assert DerivePrinter(values=vals).doprint(sym("W_y") * sym("yhat[1]")) == \
        r"\left(2\right) \left(4\right)"


def test_exact_text_parses_back():
    x = sym("x")
    assert exact_text(sigmoid(x)) == "1/(1 + exp(-(x)))"
    assert sympy.sympify(exact_text(sigmoid(sympy.Rational(1, 2)))).evalf(20) == \
        (1 / (1 + sympy.exp(-sympy.Rational(1, 2)))).evalf(20)


def test_the_functions_of_contract_1_1_print_as_a_textbook_writes_them():
    from derive.lang import expr as ex
    from derive.ops import FUNCTIONS, maximum, maxstep, stack
    from derive.output.printing import ExprLatex
    a, b, e1, e2 = sym("a"), sym("b"), sym("e[1]"), sym("e[2]")
    p = DerivePrinter()
    assert p.doprint(maximum(a, b)) == r"\max\left(a, b\right)"
    assert p.doprint(FUNCTIONS["softplus"].exact(a)) == r"\operatorname{softplus}\left(a\right)"
    assert p.doprint(stack(e1, e2)) == r"\begin{bmatrix} e_{1} \\ e_{2} \end{bmatrix}"
    # max's derivative: 1 above, 0 below, 1/2 at a tie (PyTorch's torch.maximum)
    assert p.doprint(maxstep(a, b)) == (r"\left(\mathbf{1}\left[a > b\right] + \tfrac{1}{2}\,"
                                        r"\mathbf{1}\left[a = b\right]\right)")
    assert maxstep(sympy.Integer(2), sympy.Integer(2)) == sympy.Rational(1, 2)
    assert sympy.diff(maximum(a, b), b) == maxstep(b, a)
    assert maximum(sympy.Integer(3), sympy.Rational(1, 2)) == 3
    # the exact text parses back, with sympy's own Max and Heaviside(0) = 1/2
    assert sympy.sympify(exact_text(maxstep(a, b))).subs({"a": 1, "b": 1}) == \
        sympy.Rational(1, 2)
    assert exact_text(maximum(a, b)) == "Max(a, b)"
    assert exact_text(FUNCTIONS["softplus"].exact(a)) == "log(1 + exp(a))"
    shapes = {}
    pe = ExprLatex({}, shapes, in_step=False)
    assert pe.doprint(ex.parse("mean(L[t])")) == r"\frac{1}{T} \sum_{t=1}^{T} L_{t}"
    assert pe.doprint(ex.parse("softmax(stack(e[1], e[2]))")) == (
        r"\operatorname{softmax}\left(\begin{bmatrix} e_{1} \\ e_{2} \end{bmatrix}\right)")
    assert pe.doprint(ex.parse("log_softmax(z)")) == r"\log\operatorname{softmax}\left(z\right)"
    assert pe.doprint(ex.parse("max(a, 0)")) == r"\max\left(a, 0\right)"


def test_entries_print_as_a_textbook_writes_them():
    from derive.lang import expr as ex
    from derive.output.printing import ExprLatex
    assert symbol_latex("W_hh[[1,2]]", {}) == r"\left(W_{hh}\right)_{1,2}"
    assert symbol_latex("v[[2]]", {}) == "v_{2}"
    assert symbol_latex("h[1][[2]]", {}) == r"\left(h_{1}\right)_{2}"
    e = ex.parse("-log(p[t][c[t]])")
    assert ExprLatex({}, {}).doprint(e) == \
        r"-\log\left(\left(p_{t}\right)_{c_{t}}\right)"
    # at a step, with the given class numbers put in
    assert ExprLatex({}, {}, at=2, picks={"c[2]": 3}).doprint(e) == \
        r"-\log\left(\left(p_{2}\right)_{3}\right)"
    w = ex.read_entries(ex.parse("W[2][1] * v[1]"), lambda name: False)
    assert ExprLatex({}, {}).doprint(w) == "W_{2,1} v_{1}"


def test_the_bracket_rule_of_matrix_and_entry_by_entry_products():
    """A matrix product and ⊙ bind alike in print: either one as an operand of the other is
    bracketed, so the formula reads as it is computed; a scalar factor needs no bracket."""
    from derive.calculus import forms as fm
    from derive.lang import expr as ex
    from derive.output.printing import ExprLatex, FormLatex

    def v(name):
        return fm.Sub(ex.Name(name), False)

    p = FormLatex(ExprLatex({}, {}), "L")
    delta = fm.Adj("n", None, False)
    inner = fm.had(fm.had(delta, v("g")), v("r"))  # δ ⊙ g ⊙ r, then Wᵀ of it
    assert p.doprint(fm.mm(fm.Tr(v("W"), False), inner)) == \
        r"W^{\top} \left(\frac{\partial L}{\partial n} \odot g \odot r\right)"
    assert p.doprint(fm.had(fm.mm(fm.Tr(v("W"), False), delta), v("r"))) == \
        r"\left(W^{\top} \frac{\partial L}{\partial n}\right) \odot r"
    assert p.doprint(fm.mm(inner, fm.Tr(v("h"), False))) == \
        r"\left(\frac{\partial L}{\partial n} \odot g \odot r\right) h^{\top}"
    assert p.doprint(fm.mm(fm.Num(2), fm.had(v("h"), v("r")))) == r"2 h \odot r"  # a scalar
    # the grammar's own products, as an equation is written
    shapes = {}
    e = ExprLatex({}, shapes)
    W, h, r = ex.Name("W"), ex.Name("h"), ex.Name("r")
    for n, s in ((W, (2, 2)), (h, (2, 1)), (r, (2, 1))):
        shapes[id(n)] = s
    had = ex.Bin("*", r, ex.Bin("@", W, h))
    mat = ex.Bin("@", W, ex.Bin("*", r, h))
    for n in (had, had.right, mat, mat.right):
        shapes[id(n)] = (2, 1)
    assert e.doprint(had) == r"r \odot \left(W h\right)"
    assert e.doprint(mat) == r"W \left(r \odot h\right)"


def test_the_gru_backward_pass_brackets_what_it_computes():
    """PyTorch's GRU: Wᵀ acts on the whole product δ ⊙ (1 − n ⊙ n) ⊙ r, as the numbers do."""
    from conftest import ROOT
    from derive.calculus.questions import solve
    from derive.lang.loader import load
    from derive.output import render

    md = render.markdown(solve(load(ROOT / "tests/cases/lead_gru_pytorch.yaml")))
    assert (r"W_{hn}^{\top} \left(\frac{\partial L}{\partial n_{t + 1}} \odot \left(1 - "
            r"n_{t + 1} \odot n_{t + 1}\right) \odot r_{t + 1}\right)") in md
    assert r"W_{hn}^{\top} \frac{\partial L}{\partial n_{t + 1}} \odot" not in md
    assert (r"\sum_{t=1}^{T} \left(\frac{\partial L}{\partial n_{t}} \odot \left(1 - n_{t} "
            r"\odot n_{t}\right) \odot r_{t}\right) h_{t - 1}^{\top}") in md
