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
        assert not op.variadic or name == "stack"
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
        {"tanh", "sigmoid", "relu", "softplus"}
    assert {n for n, op in FUNCTIONS.items() if op.kink} == {"relu", "abs", "max"}


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
    if name == "stack":  # three scalars
        return [from_value(x, FAST) for x in a]
    if name == "max":  # two vectors, no entry tied
        return [from_value(a, FAST), from_value((R(1, 3), R(-2), R(5, 2)), FAST)]
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
        assert len(adjoints) == len(args)
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


# ---- adding a function touches only the table -------------------------------------------------

@pytest.fixture
def softsign():
    """softsign(x) = x/(1 + |x|), registered for one test and removed afterwards."""
    op = ops.register(ops.elementwise(
        "softsign", lambda x: x / (1 + abs(x)),
        r"\operatorname{softsign}'(z) = 1/(1 + |z|)^2",
        lambda th, x: x / (1 + th.abs(x)),
        value=lambda x: x / (1 + sympy.Abs(x)),
        derivative=lambda x: 1 / (1 + sympy.Abs(x)) ** 2,
        gamma=sympy.Integer(1)))
    yield op
    ops.unregister("softsign")
    assert "softsign" not in FUNCTIONS and "softsign" not in ops.MPMATH
    assert op.cls not in ops.RULE_OF_CLASS


SCALAR = """
title: softsign RNN
steps: 3
equations:
  h[t]: softsign(w*h[t-1] + u*x[t])
  L[t]: (h[t] - y[t])**2
  L: sum(L[t])
given:
  h[0]: 0.5
  x: [1, -2, 0.5]
  y: [0.25, -0.5, 0.1]
  w: 0.75
  u: 1.5
questions:
  - id: a
    find: h[3]
  - id: b
    find: d(L, w)
  - id: c
    find: d(L, u)
  - id: d
    find: d(L, h[1])
"""

VECTOR = """
title: vector softsign RNN
steps: 2
equations:
  h[t]: softsign(W @ h[t-1] + U @ x[t])
  yhat[t]: V @ h[t]
  L[t]: (yhat[t] - y[t])**2
  L: sum(L[t])
given:
  h[0]: [0.5, -0.25]
  x: [[1, 0], [-1, 2]]
  y: [0.5, -1]
  W: [[0.5, -0.25], [0.125, 0.75]]
  U: [[1, 0.5], [-0.5, 1]]
  V: [[1, -2]]
questions:
  - id: a
    find: h[2]
  - id: b
    find: d(L, W)
  - id: c
    find: d(L, U)
  - id: d
    find: d(L, h[1])
"""


def _torch_rnn(th, text_is_vector):
    """The same problems by hand in torch float64, differentiated by autograd."""
    f = lambda z: z / (1 + th.abs(z))  # noqa: E731
    t64 = lambda v: th.tensor(v, dtype=th.float64, requires_grad=True)  # noqa: E731
    if not text_is_vector:
        w, u, h0 = t64(0.75), t64(1.5), 0.5
        xs, ys = [1.0, -2.0, 0.5], [0.25, -0.5, 0.1]
        hs, L = [th.tensor(h0, dtype=th.float64)], 0
        for t in range(3):
            h = f(w * hs[-1] + u * xs[t])
            if t == 0:
                h.retain_grad()
            hs.append(h)
            L = L + (h - ys[t]) ** 2
        L.backward()
        return {"a": hs[3].item(), "b": w.grad.item(), "c": u.grad.item(), "d": hs[1].grad.item()}
    W, U = t64([[0.5, -0.25], [0.125, 0.75]]), t64([[1, 0.5], [-0.5, 1]])
    V = th.tensor([[1.0, -2.0]], dtype=th.float64)
    xs = [th.tensor([[1.0], [0.0]], dtype=th.float64), th.tensor([[-1.0], [2.0]], dtype=th.float64)]
    ys = [0.5, -1.0]
    hs, L = [th.tensor([[0.5], [-0.25]], dtype=th.float64)], 0
    for t in range(2):
        h = f(W @ hs[-1] + U @ xs[t])
        if t == 0:
            h.retain_grad()
        hs.append(h)
        L = L + ((V @ h).reshape(()) - ys[t]) ** 2
    L.backward()
    return {"a": hs[2].reshape(-1).tolist(), "b": W.grad.tolist(), "c": U.grad.tolist(),
            "d": hs[1].grad.reshape(-1).tolist()}


@pytest.mark.parametrize("vector", [False, True])
def test_a_function_added_at_run_time_needs_only_the_table(softsign, torch, vector):
    import derive
    from derive.check import crosscheck
    from derive.lang.loader import loads
    from derive.output import render
    from conftest import close

    problem = loads(VECTOR if vector else SCALAR, "softsign.yaml")
    sol = derive.solve(problem)
    answers = render.answers(sol)
    want = _torch_rnn(torch, vector)
    for qid, w in want.items():
        assert close(answers[qid]["value"], w), (qid, answers[qid]["value"], w)
    checks = crosscheck.check(problem, answers)
    assert set(checks) == set(want) and all(c.status == "agrees" for c in checks.values())
    # the worked solution is written with the entry's own LaTeX
    md, tex = render.markdown(sol), render.latex(sol)
    assert r"\operatorname{softsign}" in md and r"\operatorname{softsign}" in tex


def test_the_scalar_domain_check_evaluates_every_function_by_its_entry():
    """abs(w) at w = -4 is 4 (the check once passed abs's argument through unchanged and
    rejected sqrt(abs(w)) as sqrt of -4)."""
    import derive
    from derive.lang.loader import loads
    from derive.output import render
    text = ("title: abs\nequations:\n  y: sqrt(abs(w)) * 2\ngiven:\n  w: -4\n"
            "questions:\n  - id: a\n    find: y\n  - id: b\n    find: d(y, w)\n")
    a = render.answers(derive.solve(loads(text, "abs.yaml")))
    assert a["a"]["exact"] == "4" and a["b"]["exact"] == "-1/2"


# ---- the functions of contract v1.1 --------------------------------------------------------------

def test_max_splits_the_gradient_at_a_tie_as_torch_maximum_does(torch):
    op = FUNCTIONS["max"]
    a, b = (R(1), R(2), R(3)), (R(1), R(5), R(0))
    g = Tensor(3, 1, [R(1), R(1), R(1)])
    for D in (EXACT, FAST):
        args = [from_value(a, D), from_value(b, D)]
        out = op.forward(D, args)
        ga, gb = op.vjp(D, args, out, g.like([D.num(x) for x in g.data]))
        assert [float(x) for x in out.data] == [1, 5, 3]
        assert [float(x) for x in ga.data] == [0.5, 0, 1]
        assert [float(x) for x in gb.data] == [0.5, 1, 0]
        assert op.at_kink(D, args)
        assert not op.at_kink(D, [args[0], from_value((R(2), R(5), R(0)), D)])
    ta = torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64, requires_grad=True)
    tb = torch.tensor([1.0, 5.0, 0.0], dtype=torch.float64, requires_grad=True)
    op.torch(torch, ta, tb).sum().backward()
    assert ta.grad.tolist() == [0.5, 0, 1] and tb.grad.tolist() == [0.5, 1, 0]
    # a scalar spread over a vector collects the shares of every entry
    s = from_value(R(2), EXACT)
    v = from_value((R(2), R(1)), EXACT)
    gs, gv = op.vjp(EXACT, [s, v], op.forward(EXACT, [s, v]), Tensor(2, 1, [R(1), R(1)]))
    assert gs.shape == (1, 1) and gs.data == [R(3, 2)] and gv.data == [R(1, 2), 0]


def test_softplus_is_exact_and_its_derivative_is_sigmoid():
    op = FUNCTIONS["softplus"]
    assert op.exact(sympy.Integer(0)) == sympy.log(2)
    assert op.derivative == sigmoid(ops.X)
    assert EXACT.func(op, R(0), prime=True) == R(1, 2)


def test_log_softmax_of_one_entry_is_zero_and_so_is_its_jacobian():
    op = FUNCTIONS["log_softmax"]
    x = from_value(R(3, 2), EXACT)
    out = op.forward(EXACT, [x])
    assert sympy.simplify(out.data[0]) == 0
    assert sympy.simplify(op.vjp(EXACT, [x], out, Tensor(1, 1, [R(1)]))[0].data[0]) == 0
    assert op.exact(sympy.Symbol("z")) == 0


def test_stack_takes_scalars_and_hands_each_its_entry_back():
    from derive.errors import ExprError
    op = FUNCTIONS["stack"]
    assert op.shape(((1, 1),) * 3, ("a", "b", "c")) == (3, 1)
    with pytest.raises(ExprError, match=r"stack takes scalars: argument 2, h\[2\], is 2×1"):
        op.shape(((1, 1), (2, 1)), ("e[1]", "h[2]"))
    e = sympy.Symbol("e")
    assert op.exact(e) == e  # a stack of one scalar is the scalar


def test_mean_is_the_sum_over_the_number_of_entries():
    op = FUNCTIONS["mean"]
    v = from_value((R(1), R(2), R(6)), EXACT)
    out = op.forward(EXACT, [v])
    assert out.shape == (1, 1) and out.data == [R(3)]
    assert op.vjp(EXACT, [v], out, Tensor(1, 1, [R(3)]))[0].data == [R(1)] * 3


def test_relu_derivative_prints_as_an_indicator_amssymb_can_set():
    # amssymb's \mathbb has capitals only: \mathbb{1} prints a wrong glyph
    z = sympy.Symbol("z", real=True)
    assert sympy.latex(step(z)) == r"\mathbf{1}\left[z > 0\right]"
    assert FUNCTIONS["relu"].prime_latex("a_{t}", False) == (r"\mathbf{1}\left[a_{t} > 0\right]", 4)
    assert FUNCTIONS["relu"].prime_latex("a", True)[0] == r"\mathbf{1}\left[a > 0\right]"
