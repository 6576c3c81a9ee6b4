"""Matrix-calculus forms built from compiled equations, printed as textbooks write them."""

import sympy

from derive.lang import expr as ex
from derive.calculus import forms as fm
from derive.output.printing import ExprLatex, FormLatex
from derive.calculus.program import compile_expr

SHAPES = {"W": (2, 2), "U": (2, 3), "h": (2, 1), "x": (3, 1)}


def program(text):
    return compile_expr(ex.parse(text), lambda e: SHAPES[e[1]], 5, in_step=True)


def printer(prog, **kw):
    shapes = {id(i.node): i.shape for i in prog.instrs}
    return FormLatex(ExprLatex({}, shapes, **kw), "L")


def test_tanh_rnn_backward_and_jacobian_forms():
    prog = program("tanh(W @ h[t-1] + U @ x[t])")
    own = ex.Ref("h", ex.Index("t", 0))
    g = fm.Adj("h", ex.Index("t", 0), False)
    vjp = fm.vjp_forms(prog, g, {("t", "h", -1), ("p", "W", None)}, own)
    p = printer(prog)
    assert p.doprint(vjp[("t", "h", -1)]) == \
        r"W^{\top} \operatorname{diag}\left(1 - h_{t} \odot h_{t}\right) " \
        r"\frac{\partial L}{\partial h_{t}}"
    assert p.doprint(vjp[("p", "W", None)]) == \
        r"\operatorname{diag}\left(1 - h_{t} \odot h_{t}\right) \frac{\partial L}{\partial h_{t}}" \
        r" h_{t - 1}^{\top}"
    jac = fm.jacobian_forms(prog, ("t", "h", -1), own)
    assert p.doprint(jac) == r"\operatorname{diag}\left(1 - h_{t} \odot h_{t}\right) W"
    assert printer(prog, shift=1).doprint(jac) == \
        r"\operatorname{diag}\left(1 - h_{t + 1} \odot h_{t + 1}\right) W"


def test_gated_update_jacobian_has_the_gate_on_its_diagonal():
    shapes = {"f": (2, 1), "c": (2, 1), "i": (2, 1), "g": (2, 1)}
    prog = compile_expr(ex.parse("f[t] * c[t-1] + i[t] * g[t]"), lambda e: shapes[e[1]], 3,
                        in_step=True)
    jac = fm.jacobian_forms(prog, ("t", "c", -1))
    assert printer(prog).doprint(jac) == r"\operatorname{diag}\left(f_{t}\right)"


def test_hardmax_passes_nothing_back():
    prog = compile_expr(ex.parse("hardmax(W @ h)"), lambda e: SHAPES[e[1]], None)
    out = fm.vjp_forms(prog, fm.Num(1), {("p", "h", None)})
    assert out == {}


def test_the_numbers_of_a_product_are_multiplied_into_one_factor():
    # ½ Σ (·)² back-propagates ½ · 2 (·): shown as the textbook writes it, h − y
    cases = {"sum(h[t-1]**2) / 2": r"h_{t - 1}", "0.5 * sum(h[t-1]**2)": r"h_{t - 1}",
             "sum(h[t-1]**2) / 4": r"0.5 h_{t - 1}", "3 * sum(h[t-1]**2) / 2": r"3 h_{t - 1}",
             "sum((W @ h[t-1])**2) / 2": r"W^{\top} W h_{t - 1}"}
    for text, want in cases.items():
        prog = program(text)
        vjp = fm.vjp_forms(prog, fm.Num(1), {("t", "h", -1)}, None)
        assert printer(prog).doprint(vjp[("t", "h", -1)]) == want, text
    assert fm.mm(fm.Num(2), fm.Num(sympy.Rational(1, 2))) == fm.Num(1)
