"""The one table of the grammar's functions: each entry holds everything about one function.

An entry (:class:`Op`) gives its arity and shape rule, its forward value (exact in sympy, 50
digits in mpmath, over tensors in a number domain), its vector-Jacobian product, its local
derivative as shown to students (and any words about points without a derivative), its
matrix-calculus forms, its LaTeX, its PyTorch form for the independent cross-check, its real
domain and the bound γ of its derivative.  The engines, the printers and the cross-check read
this table and never name a function themselves; adding a function is one :func:`register`.

Derivatives of the elementwise functions come from their sympy form (sympy's own rule for tanh,
exp, log, sqrt and abs; ``fdiff`` below for sigmoid and relu), so the rule that is shown is the
rule that is used.

This module imports only sympy, mpmath and :mod:`derive.errors`: everything else imports it.
Tensors and number domains reach the entries as arguments (duck-typed: a domain ``D`` with
``num``/``add``/``sub``/``mul``/``div``/``dot``/``sign``/``func`` and ``exact``; a tensor with
``rows``, ``cols``, ``data``, ``shape``, ``map``, ``transpose`` and ``like``), and so do the
form builders of :mod:`derive.calculus.forms` and the printer of grammar trees.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Callable

import mpmath
import sympy
from sympy.core.function import ArgumentIndexError

from .errors import ExprError

#: The real variable in which elementwise derivatives are written (f'(x)).
X = sympy.Symbol("x", real=True)


# ---- sympy functions of our own --------------------------------------------------------------

class sigmoid(sympy.Function):
    """The logistic function 1/(1 + exp(-x)); sigmoid' = sigmoid (1 - sigmoid)."""

    is_real = True

    def _at(cls, x):
        if x.is_zero:
            return sympy.Rational(1, 2)
        if x.is_Float:
            return 1 / (1 + sympy.exp(-x))
        return None

    # sympy's automatic-evaluation hook is a classmethod named eval (not Python's eval)
    eval = classmethod(_at)

    def fdiff(self, argindex=1):
        if argindex != 1:
            raise ArgumentIndexError(self, argindex)
        return self * (1 - self)

    def _eval_rewrite_as_exp(self, x, **kwargs):
        return 1 / (1 + sympy.exp(-x))

    def _eval_evalf(self, prec):
        return (1 / (1 + sympy.exp(-self.args[0])))._eval_evalf(prec)

    def _latex(self, printer, exp=None):
        a = printer._print(self.args[0])
        return rf"\sigma\left({a}\right)" if exp is None else rf"\sigma^{{{exp}}}\left({a}\right)"

    def _exact_text(self, printer):
        return f"1/(1 + exp(-({printer._print(self.args[0])})))"


class step(sympy.Function):
    """The derivative of relu: 1 where x > 0, else 0 (PyTorch's convention at 0)."""

    is_real = True

    def _at(cls, x):
        if x.is_positive:
            return sympy.Integer(1)
        if x.is_nonpositive:
            return sympy.Integer(0)
        return None

    eval = classmethod(_at)  # sympy's evaluation hook

    def fdiff(self, argindex=1):
        return sympy.Integer(0)

    def _latex(self, printer, exp=None):
        s = rf"\mathbf{{1}}\left[{printer._print(self.args[0])} > 0\right]"
        return s if exp is None else rf"{s}^{{{exp}}}"

    def _exact_text(self, printer):
        return f"Heaviside({printer._print(self.args[0])}, 0)"


class relu(sympy.Function):
    """max(x, 0); its derivative at 0 is taken as 0, as PyTorch does."""

    is_real = True

    def _at(cls, x):
        if x.is_nonnegative:
            return x
        if x.is_negative:
            return sympy.Integer(0)
        return None

    eval = classmethod(_at)  # sympy's evaluation hook

    def fdiff(self, argindex=1):
        if argindex != 1:
            raise ArgumentIndexError(self, argindex)
        return step(self.args[0])

    def _latex(self, printer, exp=None):
        s = rf"\operatorname{{relu}}\left({printer._print(self.args[0])}\right)"
        return s if exp is None else rf"{s}^{{{exp}}}"

    def _exact_text(self, printer):
        return f"Max({printer._print(self.args[0])}, 0)"


def function_class(name: str, value: Callable, derivative: Callable) -> type:
    """A sympy function ``name`` for a function added at run time: it evaluates at numbers
    through ``value`` (a sympy expression of its argument), differentiates through
    ``derivative`` and prints as \\operatorname{name}; the scalar engine needs nothing else."""

    def _at(cls, x):
        return value(x) if x.is_Number else None

    def fdiff(self, argindex=1):
        if argindex != 1:
            raise ArgumentIndexError(self, argindex)
        return derivative(self.args[0])

    def _eval_evalf(self, prec):
        return value(self.args[0])._eval_evalf(prec)

    def _latex(self, printer, exp=None):
        s = rf"\operatorname{{{name}}}\left({printer._print(self.args[0])}\right)"
        return s if exp is None else rf"{s}^{{{exp}}}"

    def _exact_text(self, printer):
        return printer._print(value(self.args[0]))

    return type(name, (sympy.Function,), {
        "is_real": True, "eval": classmethod(_at), "fdiff": fdiff, "_eval_evalf": _eval_evalf,
        "_latex": _latex, "_exact_text": _exact_text, "__module__": __name__})


# ---- shapes ----------------------------------------------------------------------------------

def shape_text(shape) -> str:
    r, c = shape
    if (r, c) == (1, 1):
        return "scalar"
    return f"{r}×{c}"


def _same_shape(shapes, texts):
    return shapes[0]


def _scalar_shape(shapes, texts):
    return (1, 1)


# ---- the 50-digit forward ----------------------------------------------------------------------

def _real(f, name, domain=None):
    """An mpmath function that refuses complex arguments and points outside its real domain,
    so log(-2) is an error even where later arithmetic would make the result real again."""
    def g(x):
        if isinstance(x, mpmath.mpc) or (domain is not None and not domain(x)):
            raise ValueError(f"{name} is not defined at {mpmath.nstr(x, 6)}")
        return f(x)
    return g


# ---- the entry ---------------------------------------------------------------------------------

@dataclass(frozen=True, eq=False)
class Op:
    """One function of the grammar.

    ``shape(arg_shapes, arg_texts)`` is the result's shape (an ExprError names a mismatch);
    ``exact(*sympy_args)`` its sympy form (for scalars); ``mp(*mpf_args)`` its 50-digit value
    (for scalars; ValueError "... is not defined at ..." outside the real domain);
    ``forward(D, args)`` its value over tensors in a number domain and ``vjp(D, args, out, g)``
    the adjoints of its arguments (None: no gradient flows back through one).

    ``rule`` is the LaTeX of its local derivative as shown to students and ``words`` what is
    said about points without a derivative ("{at}" in them: the quantities where one occurs).
    ``kink``: not differentiable somewhere (relu and abs at 0, max where a = b); its words are
    said only when a forward value sits there, which ``convention(D, args)`` tells (default:
    an entry of the argument is 0). Other ``words`` are said of every derivative through it
    (hardmax, log_softmax).
    ``derivative`` is f'(X) in sympy for an elementwise function (None otherwise).

    ``back_form(k, node, subs, g, own)`` and ``jac_form(k, node, subs, js, own)`` give its
    matrix-calculus forms (``k``: the form builders of :mod:`derive.calculus.forms`); a
    ``jac_form`` of None means the Jacobian is not shown as a form.

    ``tex`` is its LaTeX name, ``latex(p, args)`` a call printed by the grammar printer ``p``
    (LaTeX, precedence), ``prime_latex(arg, scalar)`` f'(arg), ``prime_by_output`` f' written
    through the output o (vector, scalar), ``prose`` its name in a sentence.

    ``torch(th, *tensors)`` is the PyTorch form of the cross-check; ``domain`` (predicate,
    name) its real domain; ``gamma`` sup |f'| (None when not bounded or not an activation);
    ``transcendental``: the vector engine counts it when choosing exact or 50-digit numbers.
    ``cls`` is its sympy class when it has one (its rule is then stated beside a derivation);
    ``variadic``: it takes ``arity`` arguments or more (stack);
    ``namespace`` the mpmath functions of its sympy forms by name, for ``lambdify``.
    """

    name: str
    arity: int
    shape: Callable
    exact: Callable
    mp: Callable
    forward: Callable
    vjp: Callable
    rule: str
    torch: Callable
    back_form: Callable
    jac_form: Callable | None
    tex: str
    latex: Callable
    prime_latex: Callable | None = None
    prime_by_output: tuple | None = None
    derivative: sympy.Expr | None = None
    words: str | None = None
    kink: bool = False
    domain: tuple | None = None
    gamma: sympy.Expr | None = None
    prose: str = ""
    scalar_out: bool = False
    transcendental: bool = False
    cls: type | None = None
    namespace: dict = field(default_factory=dict)
    variadic: bool = False
    convention: Callable | None = None

    def at_kink(self, D, args) -> bool:
        """Whether the arguments (tensors) sit where it has no derivative (see ``kink``)."""
        if self.convention is not None:
            return self.convention(D, args)
        return any(x == 0 for x in args[0].data)

    @functools.cached_property
    def mp_prime(self) -> Callable:
        """f'(x) at 50 digits, compiled once from ``derivative``."""
        return sympy.lambdify([X], self.derivative, modules=[MPMATH, "mpmath"])


#: name -> entry, the grammar's functions.
FUNCTIONS: dict[str, Op] = {}
#: Sympy classes whose derivative rule is worth stating beside a derivation.
RULE_OF_CLASS: dict[type, str] = {}
#: mpmath functions by sympy name, for ``lambdify`` of expressions over our functions.
MPMATH: dict[str, Callable] = {}


def register(op: Op) -> Op:
    """Add a function to the grammar (or replace the one of the same name, in its place)."""
    old = FUNCTIONS.get(op.name)
    if old is not None:
        _forget(old)
    FUNCTIONS[op.name] = op
    MPMATH.update(op.namespace)
    if op.cls is not None:
        RULE_OF_CLASS[op.cls] = op.name
    return op


def unregister(name: str) -> None:
    """Remove a function added by :func:`register`."""
    _forget(FUNCTIONS.pop(name))


def _forget(op: Op) -> None:
    for k in op.namespace:
        MPMATH.pop(k, None)
    if op.cls is not None:
        RULE_OF_CLASS.pop(op.cls, None)


# ---- elementwise functions -------------------------------------------------------------------

def _call_latex(tex):
    return lambda p, args: (rf"{tex}\left({p.doprint(args[0])}\right)", 4)


def elementwise(name: str, mp: Callable, rule: str, torch: Callable, *,
                exact: Callable | None = None, value: Callable | None = None,
                derivative: Callable | None = None, tex: str | None = None,
                latex: Callable | None = None, prime_latex: Callable | None = None,
                prime_by_output: tuple | None = None, back_form: Callable | None = None,
                domain: tuple | None = None, gamma=None, kink: bool = False,
                prose: str | None = None, namespace: dict | None = None,
                by_output: Callable | None = None) -> Op:
    """The entry of a function applied entry by entry.

    Either ``exact`` (its sympy form, a function or class) or ``value`` and ``derivative``
    (sympy expressions of its argument, from which a sympy class is made, see
    :func:`function_class`).  ``mp`` is its mpmath value; f' is sympy's derivative of
    ``exact`` unless ``derivative`` is given with it, and its 50-digit form is compiled from
    that.  ``namespace``: mpmath functions of other names its sympy forms use (relu' is
    step).  ``by_output(D, y)``: f' computed from the output y (tanh' = 1 - y²), which keeps
    a symbolic derivative in the quantity's own name.  The entry's ``forward`` and ``vjp`` evaluate through the entry itself, so a changed
    entry is built here again rather than with ``dataclasses.replace``."""
    if exact is None:
        exact = function_class(name, value, derivative)
        d = sympy.diff(exact(X), X)
    else:
        d = sympy.diff(exact(X), X) if derivative is None else derivative(X)
    cls = exact if isinstance(exact, type) and issubclass(exact, sympy.Function) else None
    tex = tex or rf"\operatorname{{{name}}}"
    mp = _real(mp, name, domain[0] if domain else None)
    ns = {cls.__name__ if cls is not None else name: mp, **(namespace or {})}

    def forward(D, args):
        return args[0].map(lambda x: D.func(op, x))

    def vjp(D, args, out, g):
        if by_output is not None:  # tanh' as 1 - h_t²: the output's own name, as by hand
            d = out.map(lambda y: by_output(D, y))
        else:
            d = args[0].map(lambda x: D.func(op, x, prime=True))
        return [g.like([D.mul(gi, di) for gi, di in zip(g.data, d.data)])]

    def prime(k, subs, own):
        out = k.Sub(own, subs[0].scalar) if own is not None else None
        return k.Prime(name, subs[0], out, subs[0].scalar)

    def back(k, node, subs, g, own):
        return [k.times(g, prime(k, subs, own))]

    def jac(k, node, subs, js, own):
        return k.mm(k.diag_or(prime(k, subs, own)), js[0])

    op = Op(name=name, arity=1, shape=_same_shape, exact=exact, mp=mp, forward=forward,
            vjp=vjp, rule=rule, torch=torch, back_form=back_form or back, jac_form=jac,
            tex=tex, latex=latex or _call_latex(tex),
            prime_latex=prime_latex or (lambda a, scalar: (rf"{tex}'\left({a}\right)", 4)),
            prime_by_output=prime_by_output, derivative=d,
            words=KINK_WORDS.format(f=name) if kink else None, kink=kink, domain=domain,
            gamma=gamma, prose=prose if prose is not None else f"${tex}$",
            transcendental=True, cls=cls, namespace=ns)
    return op


def _log_back(k, node, subs, g, own):
    # g ⊙ (1 ⊘ z) reads better as g ⊘ z
    return [k.Quot(g, subs[0], k.is_scalar(g) and subs[0].scalar)]


#: What a derivative through hardmax is, and the convention at points of no derivative.
HARDMAX_WORDS = ("hardmax is piecewise constant: wherever it is defined (no tie for the "
                 "largest score) a small change of its input does not move the arg-max, so "
                 "its derivative is 0 and no gradient flows back through it to the scores, "
                 "queries or keys. At a tie it is not differentiable at all; derive then takes "
                 "0 as well.")
KINK_WORDS = ("{f} is not differentiable at 0, and an input here is exactly 0: derive takes "
              "the derivative there as 0 (the convention PyTorch uses).")

for _op in (
    elementwise("tanh", mpmath.tanh, r"\tanh'(z) = 1 - \tanh^2(z)", lambda th, x: th.tanh(x),
                exact=sympy.tanh, tex=r"\tanh", gamma=sympy.Integer(1),
                prime_by_output=("1 - {o} \\odot {o}", "1 - {o}^{{2}}"),
                by_output=lambda D, y: D.sub(D.num(1), D.mul(y, y))),
    elementwise("sigmoid", lambda x: 1 / (1 + mpmath.exp(-x)),
                r"\sigma'(z) = \sigma(z)\,(1 - \sigma(z))", lambda th, x: th.sigmoid(x),
                exact=sigmoid, tex=r"\sigma", gamma=sympy.Rational(1, 4),
                prime_by_output=("{o} \\odot \\left(1 - {o}\\right)",
                                 "{o} \\left(1 - {o}\\right)"),
                by_output=lambda D, y: D.mul(y, D.sub(D.num(1), y))),
    elementwise("relu", lambda x: x if x > 0 else mpmath.mpf(0),
                r"\operatorname{relu}'(z) = 1 \text{ for } z > 0,\ 0 \text{ for } z \le 0",
                lambda th, x: th.relu(x), exact=relu, gamma=sympy.Integer(1), kink=True,
                prose="relu", namespace={"step": _real(lambda x: mpmath.mpf(1) if x > 0
                                                       else mpmath.mpf(0), "relu'")},
                prime_latex=lambda a, scalar: (rf"\mathbf{{1}}\left[{a} > 0\right]", 4)),
    elementwise("exp", mpmath.exp, r"(e^{z})' = e^{z}", lambda th, x: th.exp(x),
                exact=sympy.exp, tex=r"\exp", prime_by_output=("{o}", "{o}"),
                by_output=lambda D, y: y),
    elementwise("log", mpmath.log, r"(\log z)' = 1/z", lambda th, x: th.log(x),
                exact=sympy.log, tex=r"\log", domain=(lambda x: x > 0, "log"),
                back_form=_log_back,
                prime_latex=lambda a, scalar: (rf"\frac{{1}}{{{a}}}" if scalar else
                                               rf"1 \oslash {a}", 4)),
    elementwise("sqrt", mpmath.sqrt, r"(\sqrt{z})' = 1/(2\sqrt{z})", lambda th, x: th.sqrt(x),
                exact=sympy.sqrt, tex=r"\sqrt", domain=(lambda x: x >= 0, "sqrt"),
                latex=lambda p, args: (rf"\sqrt{{{p.doprint(args[0])}}}", 4),
                prime_latex=lambda a, scalar: (rf"\frac{{1}}{{2\sqrt{{{a}}}}}" if scalar else
                                               rf"1 \oslash \left(2\sqrt{{{a}}}\right)", 4)),
    elementwise("abs", abs, r"|z|' = \operatorname{sign}(z) \text{ (0 at } z = 0)",
                lambda th, x: th.abs(x), exact=sympy.Abs, kink=True,
                namespace={"sign": _real(mpmath.sign, "sign")},
                latex=lambda p, args: (rf"\left|{p.doprint(args[0])}\right|", 4),
                prime_latex=lambda a, scalar: (rf"\operatorname{{sign}}\left({a}\right)", 4)),
):
    register(_op)


#: Wrong local derivatives students write, next to the functions they belong to (grading,
#: :mod:`derive.grade.catalog`): function name -> (what was written, in LaTeX, as
#: "f'(z) = ..."; f' at an entry from the argument x and the output y).  The re-solve takes
#: this in place of the entry's true derivative.
WRONG_PRIMES: dict[str, tuple] = {
    "tanh": ((r"\tanh'(z) = 1 - z^2", lambda D, x, y: D.sub(D.num(1), D.mul(x, x))),
             (r"\tanh'(z) = 1 - \tanh(z)", lambda D, x, y: D.sub(D.num(1), y))),
    "sigmoid": ((r"\sigma'(z) = \sigma(z)", lambda D, x, y: y),
                (r"\sigma'(z) = 1 - \sigma(z)", lambda D, x, y: D.sub(D.num(1), y))),
}


# ---- functions of a whole vector ---------------------------------------------------------------

def _vector_only(name):
    def shape(shapes, texts):
        r, c = shapes[0]
        if r != 1 and c != 1:
            raise ExprError(f"{name} takes a vector; {texts[0]} is {shape_text((r, c))}")
        return (r, c)
    return shape


def _one(x):
    """softmax or hardmax of a single entry: 1."""
    return sympy.Integer(1) + 0 * x


def _softmax_forward(D, args):
    a = args[0]
    if D.exact:
        exps = [D.func(FUNCTIONS["exp"], x) for x in a.data]
        s = D.dot(exps, [D.num(1)] * len(exps))
        return a.like([D.div(e, s) for e in exps])
    m = max(a.data)
    exps = [mpmath.exp(x - m) for x in a.data]
    s = mpmath.fsum(exps)
    return a.like([e / s for e in exps])


def _softmax_vjp(D, args, out, g):
    sg = D.dot(out.data, g.data)
    return [out.like([D.mul(s, D.sub(gi, sg)) for s, gi in zip(out.data, g.data)])]


def _softmax_form(k, node, subs, g, own):
    return k.mm(k.SoftJac(k.Sub(own if own is not None else node, False)), g, scalar=False)


def hardmax(D, a):
    """The one-hot vector at the first largest entry, and whether the largest is tied."""
    best, tied = 0, False
    for i in range(1, len(a.data)):
        s = D.sign(D.sub(a.data[i], a.data[best]))
        if s > 0:
            best, tied = i, False
        elif s == 0:
            tied = True
    one, zero = D.num(1), D.num(0)
    return a.like([one if i == best else zero for i in range(len(a.data))]), tied


def _total(D, a):
    return D.dot(a.data, [D.num(1)] * len(a.data))


def _sum_vjp(D, args, out, g):
    return [args[0].like([g.data[0]] * len(args[0].data))]


def _dot_shape(shapes, texts):
    sa, sb = shapes
    if sa != sb and sorted(sa) != sorted(sb):
        raise ExprError(f"dot needs two vectors of one size: {texts[0]} is {shape_text(sa)}, "
                        f"{texts[1]} is {shape_text(sb)}")
    return (1, 1)


def _dot_vjp(D, args, out, g):
    a, b = args
    gs = g.data[0]
    same = b.shape == a.shape
    return [(b if same else b.transpose()).map(lambda y: D.mul(gs, y)),
            (a if same else a.transpose()).map(lambda x: D.mul(gs, x))]


def _sum_latex(p, args):
    if p.scalar(args[0]):
        return p._p(args[0])
    a = p.wrap(args[0], 4)
    if "_" in a and not a.endswith(r"\right)"):
        a = rf"\left({a}\right)"  # h_{T}_i is a double subscript: (h_T)_i
    return r"\textstyle\sum_i " + a + "_i", 2


register(Op(
    name="softmax", arity=1, shape=_vector_only("softmax"), exact=_one,
    mp=lambda x: mpmath.mpf(1), forward=_softmax_forward, vjp=_softmax_vjp,
    rule=r"\text{softmax of one entry is } 1",
    torch=lambda th, x: th.softmax(x.reshape(-1), 0).reshape(x.shape),
    back_form=lambda k, node, subs, g, own: [_softmax_form(k, node, subs, g, own)],
    jac_form=lambda k, node, subs, js, own: _softmax_form(k, node, subs, js[0], own),
    tex=r"\operatorname{softmax}", latex=_call_latex(r"\operatorname{softmax}"),
    prose=r"$\operatorname{softmax}$", transcendental=True))
register(Op(
    name="hardmax", arity=1, shape=_vector_only("hardmax"), exact=_one,
    mp=lambda x: mpmath.mpf(1), forward=lambda D, args: hardmax(D, args[0])[0],
    vjp=lambda D, args, out, g: [None],  # piecewise constant: no gradient flows through it
    rule=r"\text{hardmax is piecewise constant: its derivative is } 0",
    torch=lambda th, x: th.nn.functional.one_hot(th.argmax(x.reshape(-1)), x.numel())
    .to(x.dtype).reshape(x.shape),
    back_form=lambda k, node, subs, g, own: [None],
    jac_form=lambda k, node, subs, js, own: None,
    tex=r"\operatorname{hardmax}", latex=_call_latex(r"\operatorname{hardmax}"),
    words=HARDMAX_WORDS, prose=r"$\operatorname{hardmax}$"))
register(Op(
    name="sum", arity=1, shape=_scalar_shape, exact=lambda x: x, mp=lambda x: x,
    forward=lambda D, args: args[0].like([_total(D, args[0])], (1, 1)), vjp=_sum_vjp,
    rule=r"\partial \textstyle\sum_t e_t / \partial e_t = 1",
    torch=lambda th, x: x.sum(),
    back_form=lambda k, node, subs, g, own: [
        k.mm(g, k.Ones(), scalar=False) if not subs[0].scalar else g],
    jac_form=None, tex=r"\textstyle\sum", latex=_sum_latex, prose="the sum",
    scalar_out=True))
register(Op(
    name="dot", arity=2, shape=_dot_shape, exact=lambda a, b: a * b, mp=lambda a, b: a * b,
    forward=lambda D, args: args[0].like([D.dot(args[0].data, args[1].data)], (1, 1)),
    vjp=_dot_vjp, rule=r"\partial (a \cdot b)/\partial a = b",
    torch=lambda th, a, b: (a.reshape(-1) * b.reshape(-1)).sum(),
    back_form=lambda k, node, subs, g, own: [k.times(g, subs[1]), k.times(g, subs[0])],
    jac_form=None, tex=r"\cdot",
    latex=lambda p, args: (p.wrap(args[0], 3) + r" \cdot " + p.wrap(args[1], 3), 2),
    prose="the dot product", scalar_out=True))


# ---- functions of contract v1.1: mean, max, softplus, log_softmax, stack -------------------------

class maximum(sympy.Function):
    """max(a, b) of two scalars; at a tie its derivative is 1/2 by each argument
    (:class:`maxstep`), as PyTorch's ``torch.maximum`` splits the gradient."""

    is_real = True

    def _at(cls, a, b):
        if a == b:
            return a
        if a.is_number and b.is_number:
            d = a - b
            if d.is_Number:
                return a if d > 0 else b
            s = sympy.sign(d.evalf(60))
            if s.is_Number and s != 0:
                return a if s > 0 else b
        return None

    eval = classmethod(_at)  # sympy's evaluation hook

    def fdiff(self, argindex=1):
        a, b = self.args
        if argindex == 1:
            return maxstep(a, b)
        if argindex == 2:
            return maxstep(b, a)
        raise ArgumentIndexError(self, argindex)

    def _eval_evalf(self, prec):
        a, b = (x.evalf(prec) for x in self.args)
        return a if a >= b else b

    def _latex(self, printer, exp=None):
        s = rf"\max\left({printer._print(self.args[0])}, {printer._print(self.args[1])}\right)"
        return s if exp is None else rf"{s}^{{{exp}}}"

    def _exact_text(self, printer):
        return f"Max({printer._print(self.args[0])}, {printer._print(self.args[1])})"


class maxstep(sympy.Function):
    """∂max(a, b)/∂a: 1 where a > b, 0 where a < b, 1/2 at a tie (PyTorch's convention)."""

    is_real = True

    def _at(cls, a, b):
        d = a - b
        if d.is_zero:
            return sympy.Rational(1, 2)
        if d.is_positive:
            return sympy.Integer(1)
        if d.is_negative:
            return sympy.Integer(0)
        return None

    eval = classmethod(_at)  # sympy's evaluation hook

    def fdiff(self, argindex=1):
        return sympy.Integer(0)

    def _latex(self, printer, exp=None):
        a, b = (printer._print(x) for x in self.args)
        s = (rf"\left(\mathbf{{1}}\left[{a} > {b}\right] + \tfrac{{1}}{{2}}\,"
             rf"\mathbf{{1}}\left[{a} = {b}\right]\right)")
        return s if exp is None else rf"{s}^{{{exp}}}"

    def _exact_text(self, printer):
        a, b = (printer._print(x) for x in self.args)
        return f"Heaviside({a} - ({b}), 1/2)"


class stack(sympy.Function):
    """The column vector of its (scalar) arguments, in the scalar view of an equation."""

    is_real = True

    def _latex(self, printer, exp=None):
        s = (r"\begin{bmatrix} " + r" \\ ".join(printer._print(a) for a in self.args)
             + r" \end{bmatrix}")
        return s if exp is None else rf"{s}^{{{exp}}}"


def _broadcast(name):
    """The shape rule of an elementwise function of two arguments (as ``*``)."""
    def shape(shapes, texts):
        a, b = shapes
        if a == b or b == (1, 1):
            return a
        if a == (1, 1):
            return b
        raise ExprError(f"shapes do not match in {name}({texts[0]}, {texts[1]}): "
                        f"{shape_text(a)} and {shape_text(b)}")
    return shape


def _pairs(args):
    """(a_i, b_i) entry by entry, a scalar argument spread over the other's entries."""
    a, b = args
    n = max(len(a.data), len(b.data))
    return [(a.data[0 if len(a.data) == 1 else i], b.data[0 if len(b.data) == 1 else i])
            for i in range(n)]


def _max_share(D, x, y):
    """∂max(x, y)/∂x at one entry: 1, 0, or 1/2 at a tie (symbolic: maxstep(x, y))."""
    try:
        s = D.sign(D.sub(x, y))
    except ExprError:
        return maxstep(D.to_sympy(x), D.to_sympy(y))
    return D.num(1) if s > 0 else D.num(0) if s < 0 else D.num(sympy.Rational(1, 2))


def _max_forward(D, args):
    out = []
    for x, y in _pairs(args):
        try:
            s = D.sign(D.sub(x, y))
        except ExprError:  # symbols: max(a, b) stays as it is
            out.append(maximum(D.to_sympy(x), D.to_sympy(y)))
            continue
        out.append(x if s >= 0 else y)
    big = args[0] if len(args[0].data) >= len(args[1].data) else args[1]
    return big.like(out)


def _max_vjp(D, args, out, g):
    pairs = _pairs(args)
    grads = []
    for k, a in enumerate(args):
        d = [D.mul(gi, _max_share(D, *(p if k == 0 else p[::-1])))
             for gi, p in zip(g.data, pairs)]
        if len(a.data) != len(d):  # a scalar spread over the other argument: the sum
            d = [D.dot(d, [D.num(1)] * len(d))]
        grads.append(a.like(d))
    return grads


def _max_tie(D, args) -> bool:
    return any(D.sub(x, y) == 0 for x, y in _pairs(args))


def _max_back(k, node, subs, g, own):
    a, b = subs
    sc = a.scalar and b.scalar

    def share(x, y):
        step_ = k.MaxStep(x, y, sc)
        # diag(1[a > b] + ...) g, as textbooks write a gate on a vector adjoint
        f = k.times(g, step_) if sc or k.is_scalar(g) else k.mm(k.diag_or(step_), g)
        return k.spread(f, x.scalar)

    return [share(a, b), share(b, a)]


def _max_jac(k, node, subs, js, own):
    a, b = subs
    sc = a.scalar and b.scalar
    terms = []
    for (x, y), j in (((a, b), js[0]), ((b, a), js[1])):
        if j is None:
            continue
        step_ = k.MaxStep(x, y, sc)
        terms.append(k.mm(step_ if x.scalar else k.diag_or(step_), j))
    return k.plus(terms)


#: What is said when a tie of max occurs in the forward values.
MAX_WORDS = ("$\\max(a, b)$ is not differentiable where $a = b$, and its two arguments are "
             "exactly equal in {at}: derive follows PyTorch's torch.maximum, which splits the "
             "gradient evenly there, 1/2 to each argument.")

register(Op(
    name="max", arity=2, shape=_broadcast("max"), exact=maximum,
    mp=lambda a, b: a if a >= b else b, forward=_max_forward, vjp=_max_vjp,
    rule=(r"\partial \max(a, b)/\partial a = 1 \text{ for } a > b,\ 0 \text{ for } a < b,\ "
          r"\tfrac{1}{2} \text{ at } a = b"),
    torch=lambda th, a, b: th.maximum(a, b), back_form=_max_back, jac_form=_max_jac,
    tex=r"\max",
    latex=lambda p, args: (rf"\max\left({p.doprint(args[0])}, {p.doprint(args[1])}\right)", 4),
    words=MAX_WORDS, kink=True, convention=_max_tie, prose=r"$\max$", cls=maximum,
    namespace={"maximum": lambda a, b: a if a >= b else b,
               "maxstep": lambda a, b: mpmath.mpf(1) if a > b else
               mpmath.mpf(0) if a < b else mpmath.mpf(1) / 2}))

register(elementwise(
    "softplus", lambda x: mpmath.log1p(mpmath.exp(x)),
    r"\operatorname{softplus}'(z) = \sigma(z)",
    lambda th, x: th.logaddexp(x, th.zeros_like(x)),
    value=lambda x: sympy.log(1 + sympy.exp(x)), derivative=lambda x: sigmoid(x),
    gamma=sympy.Integer(1), prime_latex=lambda a, scalar: (rf"\sigma\left({a}\right)", 4)))


def _log_softmax_forward(D, args):
    a = args[0]
    if D.exact:
        exps = [D.func(FUNCTIONS["exp"], x) for x in a.data]
        lse = D.func(FUNCTIONS["log"], D.dot(exps, [D.num(1)] * len(exps)))
        return a.like([D.sub(x, lse) for x in a.data])
    m = max(a.data)
    lse = m + mpmath.log(mpmath.fsum(mpmath.exp(x - m) for x in a.data))
    return a.like([x - lse for x in a.data])


def _log_softmax_vjp(D, args, out, g):
    # Jᵀ g with J = I − 1 softmax(v)ᵀ: g − softmax(v) (1ᵀ g)
    s = _softmax_forward(D, args)
    sg = D.dot(g.data, [D.num(1)] * len(g.data))
    return [g.like([D.sub(gi, D.mul(si, sg)) for gi, si in zip(g.data, s.data)])]


#: What is said of a derivative through log_softmax (a textbook's softmax-cross-entropy words).
LOG_SOFTMAX_WORDS = (
    r"$\log\operatorname{softmax}(v) = v - \log \sum_j \exp(v_j)$, so its Jacobian is "
    r"$I - \mathbf{1}\, \operatorname{softmax}(v)^\top$ (for a scalar $v$ it is 0: the "
    r"softmax of one entry is 1). With a target $y$ whose entries sum to 1 (a one-hot class), "
    r"the gradient of the cross-entropy $-y^\top \log\operatorname{softmax}(v)$ by $v$ is "
    r"$\operatorname{softmax}(v) - y$.")

register(Op(
    name="log_softmax", arity=1, shape=_vector_only("log_softmax"),
    exact=lambda x: sympy.Integer(0), mp=lambda x: mpmath.mpf(0),
    forward=_log_softmax_forward, vjp=_log_softmax_vjp,
    rule=(r"\partial \log\operatorname{softmax}(v)/\partial v = I - \mathbf{1}\, "
          r"\operatorname{softmax}(v)^{\top}"),
    torch=lambda th, x: th.log_softmax(x.reshape(-1), 0).reshape(x.shape),
    back_form=lambda k, node, subs, g, own: [k.mm(k.LogSoftJac(subs[0], True), g,
                                                  scalar=subs[0].scalar)],
    jac_form=lambda k, node, subs, js, own: k.mm(k.LogSoftJac(subs[0], False), js[0]),
    tex=r"\log\operatorname{softmax}", latex=_call_latex(r"\log\operatorname{softmax}"),
    words=LOG_SOFTMAX_WORDS, prose=r"$\log\operatorname{softmax}$", transcendental=True))


def _mean_latex(p, args):
    if p.scalar(args[0]):
        return p._p(args[0])
    return rf"\operatorname{{mean}}\left({p.doprint(args[0])}\right)", 4


def _mean_forward(D, args):
    a = args[0]
    return a.like([D.div(_total(D, a), D.num(len(a.data)))], (1, 1))


def _mean_vjp(D, args, out, g):
    share = D.div(g.data[0], D.num(len(args[0].data)))
    return [args[0].like([share] * len(args[0].data))]


register(Op(
    name="mean", arity=1, shape=_scalar_shape, exact=lambda x: x, mp=lambda x: x,
    forward=_mean_forward, vjp=_mean_vjp,
    rule=r"\partial \operatorname{mean}(v)/\partial v_i = 1/n",
    torch=lambda th, x: x.mean(),
    back_form=lambda k, node, subs, g, own: [
        k.mm(k.Quot(g, k.Count(subs[0]), True), k.Ones(), scalar=False)
        if not subs[0].scalar else g],
    jac_form=None, tex=r"\operatorname{mean}", latex=_mean_latex, prose="the mean",
    scalar_out=True))


def _stack_shape(shapes, texts):
    for i, (s, t) in enumerate(zip(shapes, texts), start=1):
        if s != (1, 1):
            raise ExprError(f"stack takes scalars: argument {i}, {t}, is {shape_text(s)}")
    return (len(shapes), 1)


def _stack_exact(*xs):
    return xs[0] if len(xs) == 1 else stack(*xs)


register(Op(
    name="stack", arity=1, variadic=True, shape=_stack_shape, exact=_stack_exact,
    mp=lambda *xs: xs[0],
    forward=lambda D, args: args[0].like([a.data[0] for a in args], (len(args), 1)),
    vjp=lambda D, args, out, g: [a.like([g.data[i]]) for i, a in enumerate(args)],
    rule=r"\partial \operatorname{stack}(e_1, \dots, e_n)_i/\partial e_i = 1",
    torch=lambda th, *xs: th.stack([x.reshape(()) for x in xs]).reshape(-1, 1),
    back_form=lambda k, node, subs, g, own: [k.Entry(g, i) for i in range(1, len(subs) + 1)],
    jac_form=None, tex=r"\operatorname{stack}",
    latex=lambda p, args: (r"\begin{bmatrix} " + r" \\ ".join(p.doprint(a) for a in args)
                           + r" \end{bmatrix}", 4),
    prose="the stacked vector"))
