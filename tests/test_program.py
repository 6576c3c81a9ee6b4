"""Compiled equations: shapes, forward values and backward rules against finite values."""

import pytest
import sympy

from derive.lang import expr as ex
from derive.errors import ExprError
from derive.calculus.program import compile_expr
from derive.calculus.tensor import EXACT, Tensor, from_value

R = sympy.Rational
SHAPES = {"W": (2, 2), "x": (2, 1), "y": (2, 1), "s": (1, 1)}
VALUES = {"W": ((R(1), R(2)), (R(-1), R(1, 2))), "x": (R(3), R(-1)), "y": (R(1), R(1)),
          "s": R(2)}


def run(text):
    prog = compile_expr(ex.parse(text), lambda e: SHAPES[e[1]], None)
    regs = prog.run(EXACT, None, lambda k: from_value(VALUES[k[0]], EXACT))
    return prog, regs


def test_forward_of_matrix_products_and_transposes():
    _, regs = run("W @ x")
    assert regs[-1].data == [1, R(-7, 2)]
    _, regs = run("x.T @ W @ x")
    assert regs[-1].shape == (1, 1) and regs[-1].data == [R(3) + R(7, 2)]
    _, regs = run("s * x + y")
    assert regs[-1].data == [7, -1]
    _, regs = run("sum(x * y)")
    assert regs[-1].data == [2]


def test_backward_rules_match_sympy_derivatives():
    """The vector-Jacobian products equal the gradient sympy takes of the written-out sum."""
    prog, regs = run("sum(tanh(W @ x) * y) + dot(x, y) * s")
    grads = prog.vjp(EXACT, regs, Tensor(1, 1, [R(1)]), None)
    w = sympy.Matrix(2, 2, sympy.symbols("w0:4"))
    xs = sympy.Matrix(sympy.symbols("x0:2"))
    f = sum(sympy.tanh((w * xs)[i]) * 1 for i in range(2)) + (xs[0] + xs[1]) * 2
    at = {w[0]: 1, w[1]: 2, w[2]: -1, w[3]: R(1, 2), xs[0]: 3, xs[1]: -1}
    for (name, _), g in grads.items():
        syms = list(w) if name == "W" else list(xs) if name == "x" else None
        if syms is None:
            continue
        for sym_, got in zip(syms, g.data):
            want = sympy.diff(f, sym_).subs(at)
            assert abs(sympy.N(got - want, 30)) < 1e-25


def test_a_sum_over_t_inside_a_step_is_over_entries():
    prog = compile_expr(ex.parse("sum(h[t] * h[t])"), lambda e: (2, 1), 3, in_step=True)
    last = prog.instrs[-1]
    assert last.op == "call" and last.extra.name == "sum" and last.shape == (1, 1)


def test_exponents_must_be_numbers():
    with pytest.raises(ExprError, match="exponent"):
        compile_expr(ex.Bin("**", ex.Name("x"), ex.Name("s")), lambda e: SHAPES[e[1]], None)


def run_entries(text):
    e = ex.read_entries(ex.parse(text), lambda name: False)
    prog = compile_expr(e, lambda k: SHAPES[k[1]], None)
    return prog, prog.run(EXACT, None, lambda k: from_value(VALUES[k[0]], EXACT))


def test_entries_pick_one_value_and_send_the_adjoint_to_it_alone():
    _, regs = run_entries("W[2][1] * x[2]")
    assert regs[-1].data == [1]
    prog, regs = run_entries("x[1] * W[1][2]")
    grads = prog.vjp(EXACT, regs, Tensor(1, 1, [R(1)]), None)
    assert grads[("x", None)].data == [2, 0]
    assert grads[("W", None)].data == [0, 3, 0, 0]


@pytest.mark.parametrize("text,words", [
    ("x[3]", r"x\[3\]: entry 3 is out of range, x has 2 entries"),
    ("W[1][3]", "W has 2 columns"),
    ("W[1]", "W is a 2×2 matrix, pick an entry as W\\[i\\]\\[j\\]"),
    ("s[1]", "s is a scalar"),
    ("x[1][1]", "too many subscripts, x is a vector of 2 entries"),
])
def test_entries_that_do_not_fit_the_shape_are_refused(text, words):
    e = ex.read_entries(ex.parse(text), lambda name: False)
    with pytest.raises(ExprError, match=words):
        compile_expr(e, lambda k: SHAPES[k[1]], None)
