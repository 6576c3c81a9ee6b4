"""The table of operations: every entry complete, its derivative and vector-Jacobian product
against high-precision finite differences (never against its own rule), its PyTorch form
against its forward, and a function added at run time that touches nothing but the table."""

import dataclasses

import mpmath
import pytest
import sympy

from derive import ops
from derive.calculus.tensor import EXACT, FAST, Tensor, from_value
from derive.ops import FUNCTIONS, relu, sigmoid, step

R = sympy.Rational
ELEMENTWISE = sorted(n for n, op in FUNCTIONS.items() if op.derivative is not None)

#: A few points inside each function's domain, away from its kinks.
POINTS = {"log": (R(3, 10), R(17, 10), R(21, 5)), "sqrt": (R(3, 10), R(17, 10), R(21, 5))}
DEFAULT_POINTS = (R(-13, 10), R(7, 10), R(21, 10))


def _fd(f, x):
    """f'(x) by a central difference at 60 digits (error ~ h² = 1e-40)."""
    with mpmath.workdps(60):
        h = mpmath.mpf(10) ** -20
        return (f(x + h) - f(x - h)) / (2 * h)


def _mpf(r):
    return mpmath.mpf(r.p) / r.q


def _n(v):
    """An exact sympy number at 50 digits."""
    return mpmath.mpf(sympy.Float(sympy.N(v, 55), 55)._mpf_)


# ---- every entry has every field --------------------------------------------------------------

def test_every_entry_has_every_field():
    required = {"name", "arity", "shape", "exact", "mp", "forward", "vjp", "rule", "torch",
                "back_form", "tex", "latex", "prose"}
    names = {f.name for f in dataclasses.fields(ops.Op)}
    assert required <= names
    for name, op in FUNCTIONS.items():
        assert op.name == name and op.arity in (1, 2)
        for f in dataclasses.fields(ops.Op):
            assert hasattr(op, f.name), (name, f.name)
        for f in required - {"name", "arity", "rule", "tex", "prose"}:
            assert callable(getattr(op, f)), (name, f)
        assert op.rule and op.tex and op.prose
        assert op.jac_form is None or callable(op.jac_form)
        if op.derivative is not None:  # elementwise: f', its LaTeX and its 50-digit form
            assert callable(op.prime_latex) and callable(op.mp_prime)
            assert op.shape(((3, 1),), ("z",)) == (3, 1)
        assert op.gamma is None or op.gamma.is_positive
        assert op.words is None or isinstance(op.words, str)
    assert {n for n, op in FUNCTIONS.items() if op.gamma is not None} == \
        {"tanh", "sigmoid", "relu"}
    assert {n for n, op in FUNCTIONS.items() if op.kink} == {"relu", "abs"}


# ---- derivatives and vector-Jacobian products against finite differences --------------------

@pytest.mark.parametrize("name", ELEMENTWISE)
def test_elementwise_derivative_matches_finite_differences(name):
    op = FUNCTIONS[name]
    for x in POINTS.get(name, DEFAULT_POINTS):
        with mpmath.workdps(60):
            want = _fd(op.mp, _mpf(x))
            tol = mpmath.mpf(10) ** -30
            assert abs(_n(op.derivative.xreplace({ops.X: x})) - want) < tol, (name, x)
            assert abs(op.mp_prime(_mpf(x)) - want) < tol, (name, x)
            assert abs(FAST.func(op, _mpf(x), prime=True) - want) < tol, (name, x)
            assert abs(_n(EXACT.func(op, x, prime=True)) - want) < tol, (name, x)
            # the exact and the 50-digit forward agree
            assert abs(_n(op.exact(x)) - op.mp(_mpf(x))) < mpmath.mpf(10) ** -45


def _args_for(name):
    """Arguments inside the domain: vectors (3 × 1), and a column and a row for dot."""
    pos = name in POINTS
    a = (R(3, 10), R(17, 10), R(21, 5)) if pos else (R(-13, 10), R(7, 10), R(21, 10))
    if FUNCTIONS[name].arity == 2:
        return [from_value(a, FAST), from_value((R(1, 3), R(-2), R(5, 4)), FAST).transpose()]
    return [from_value(a, FAST)]


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_vjp_matches_finite_differences(name):
    op = FUNCTIONS[name]
    with mpmath.workdps(60):
        args = _args_for(name)
        out = op.forward(FAST, args)
        g = Tensor(out.rows, out.cols, [mpmath.mpf(c) / 7 for c in (3, -5, 2)][:len(out.data)])

        def loss(vals):
            o = op.forward(FAST, vals)
            return mpmath.fdot(o.data, g.data)

        adjoints = op.vjp(FAST, args, out, g)
        assert len(adjoints) == op.arity
        for i, (a, adj) in enumerate(zip(args, adjoints)):
            for j in range(len(a.data)):
                def f(v, i=i, j=j):
                    moved = list(args)
                    moved[i] = a.like(a.data[:j] + [v] + a.data[j + 1:])
                    return loss(moved)
                want = _fd(f, a.data[j])
                got = mpmath.mpf(0) if adj is None else adj.data[j]
                assert adj is None or adj.shape == a.shape
                assert abs(got - want) < mpmath.mpf(10) ** -30, (name, i, j)


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_exact_and_fast_forward_and_vjp_agree(name):
    op = FUNCTIONS[name]
    fast = _args_for(name)
    exact = [a.like([sympy.nsimplify(str(v)) for v in a.data]) for a in fast]
    with mpmath.workdps(50):
        fast = [a.like([_mpf(v) for v in e.data]) for a, e in zip(fast, exact)]
        outs = (op.forward(EXACT, exact), op.forward(FAST, fast))
        for e, f in zip(outs[0].data, outs[1].data):
            assert abs(_n(e) - f) < mpmath.mpf(10) ** -40
        ge = outs[0].like([R(k + 2, 3) for k in range(len(outs[0].data))])
        gf = ge.like([_mpf(v) for v in ge.data])
        for ae, af in zip(op.vjp(EXACT, exact, outs[0], ge), op.vjp(FAST, fast, outs[1], gf)):
            assert (ae is None) == (af is None)
            if ae is not None:
                assert ae.shape == af.shape
                for e, f in zip(ae.data, af.data):
                    assert abs(_n(e) - f) < mpmath.mpf(10) ** -40, name


# ---- PyTorch agrees with the forward -----------------------------------------------------------

@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_torch_forward_agrees(name, torch):
    op = FUNCTIONS[name]
    args = _args_for(name)
    with mpmath.workdps(50):
        want = op.forward(FAST, args).data
    ts = [torch.tensor([[float(v) for v in a.data[r * a.cols:(r + 1) * a.cols]]
                        for r in range(a.rows)], dtype=torch.float64) for a in args]
    got = op.torch(torch, *ts).reshape(-1).tolist()
    assert len(got) == len(want)
    for x, y in zip(got, want):
        assert abs(x - float(y)) <= 1e-12 * max(1.0, abs(float(y))), name


# ---- conventions --------------------------------------------------------------------------------

def test_non_differentiable_points_follow_pytorch():
    x = sympy.Symbol("x", real=True)
    assert step(sympy.Integer(0)) == 0 and relu(sympy.Integer(-2)) == 0
    assert sympy.diff(sympy.Abs(x), x).subs(x, 0) == 0
    assert sympy.diff(relu(x), x) == step(x)
    with mpmath.workdps(50):
        assert FAST.func(FUNCTIONS["relu"], mpmath.mpf(0), prime=True) == 0
        assert FAST.func(FUNCTIONS["abs"], mpmath.mpf(0), prime=True) == 0


def test_sigmoid_at_zero_is_exact():
    assert sigmoid(sympy.Integer(0)) == sympy.Rational(1, 2)


def test_outside_the_domain_is_an_error_in_both_domains():
    from derive.errors import ExprError
    for D, x in ((EXACT, R(-2)), (FAST, mpmath.mpf(-2))):
        with pytest.raises(ExprError, match="log is not defined at -2"):
            D.func(FUNCTIONS["log"], x)
    with pytest.raises(ValueError, match="sqrt is not defined"):
        FUNCTIONS["sqrt"].mp(mpmath.mpf(-1))

