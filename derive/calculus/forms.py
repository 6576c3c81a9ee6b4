"""Matrix-calculus forms: the backward rules of an equation written as textbooks write them
(``W_hhᵀ diag(1 − h_t ⊙ h_t) δ_t``), built from the same compiled program the numbers come from.

A form is a small tree of the dataclasses below; :mod:`derive.printing` prints it.  Shapes
decide between ``⊙`` and a plain product, so the forms carry them.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import SimpleNamespace

import sympy

from ..lang import expr as ex
from .program import Program


@dataclass(frozen=True)
class Sub:
    """A subexpression of an equation, printed as written (at the current step offset)."""

    node: object
    scalar: bool


@dataclass(frozen=True)
class Adj:
    """∂root/∂name at index ``index`` (None for a plain quantity)."""

    name: str
    index: object
    scalar: bool


@dataclass(frozen=True)
class Num:
    value: object


@dataclass(frozen=True)
class Prime:
    """f'(arg) entry by entry; ``out`` (a Sub of the equation's own quantity) lets tanh' print
    as 1 − h ⊙ h."""

    func: str
    arg: Sub
    out: object
    scalar: bool


@dataclass(frozen=True)
class SoftJac:
    """The softmax Jacobian diag(s) − s sᵀ."""

    s: object


@dataclass(frozen=True)
class LogSoftJac:
    """The Jacobian of log softmax(v), I − 1 softmax(v)ᵀ, or its transpose I − softmax(v) 1ᵀ
    (``transposed``); ``v`` is a Sub of the argument."""

    v: object
    transposed: bool


@dataclass(frozen=True)
class MaxStep:
    """∂max(a, b)/∂a entry by entry: 1 where a > b, 0 where a < b, 1/2 at a tie."""

    a: object
    b: object
    scalar: bool


@dataclass(frozen=True)
class Count:
    """The number of entries of a subexpression (the n of a mean)."""

    sub: object


@dataclass(frozen=True)
class Entry:
    """Entry i (1-based) of a vector form: the share of one argument of a stack."""

    form: object
    i: int
    scalar: bool = True


@dataclass(frozen=True)
class Had:
    """Entry-by-entry product (a plain product when either side is a scalar)."""

    items: tuple
    scalar: bool


@dataclass(frozen=True)
class Quot:
    num: object
    den: object
    scalar: bool


@dataclass(frozen=True)
class MM:
    """Matrix product, left to right."""

    items: tuple
    scalar: bool


@dataclass(frozen=True)
class Tr:
    arg: object
    scalar: bool


@dataclass(frozen=True)
class Plus:
    items: tuple  # of (sign, form)
    scalar: bool


@dataclass(frozen=True)
class Ones:
    """The all-ones vector (a scalar spread over every entry)."""


@dataclass(frozen=True)
class Shift:
    """A form whose ``t`` indices are moved by ``by`` (a consumer at step t+1)."""

    form: object
    by: int
    scalar: bool


@dataclass(frozen=True)
class AtT:
    """A form written at the last step: t reads T."""

    form: object
    scalar: bool


@dataclass(frozen=True)
class AtStep:
    """A form written at one fixed step (the start of a backward recurrence's adjoints, t = 1):
    t reads ``step``."""

    form: object
    step: int
    scalar: bool


@dataclass(frozen=True)
class Unit:
    """The unit vector e_i (or the matrix e_i e_jᵀ) of an entry; ``indices`` are the grammar
    nodes of its subscripts (a whole number or a given class number such as c[t])."""

    indices: tuple
    scalar: bool = False


@dataclass(frozen=True)
class Diag:
    arg: object


def is_scalar(f) -> bool:
    return getattr(f, "scalar", True)


def neg(f):
    return Plus(((-1, f),), is_scalar(f))


def had(a, b):
    if a == Num(1):
        return b
    if b == Num(1):
        return a
    return Had((a, b), is_scalar(a) and is_scalar(b))


def _constant(f):
    """The number a form stands for (Num, or a number as written), or None."""
    if isinstance(f, Num):
        return sympy.Rational(f.value)
    if isinstance(f, Sub) and isinstance(f.node, ex.Num):
        return sympy.Rational(f.node.value)
    return None


def mm(*items, scalar=None):
    """The product of ``items`` left to right; its numbers are multiplied into one leading
    factor (½ · 2 (h − y) is written h − y), since a number commutes with every factor."""
    flat, c = [], sympy.Integer(1)
    for it in items:
        for x in (it.items if isinstance(it, MM) else (it,)):
            k = _constant(x)
            if k is None:
                flat.append(x)
            else:
                c *= k
    if c != 1:
        flat.insert(0, Num(c))
    if not flat:
        return Num(1)
    if len(flat) == 1:
        return flat[0]
    return MM(tuple(flat), all(is_scalar(x) for x in flat) if scalar is None else scalar)


def plus(terms):
    terms = [t for t in terms if t is not None]
    if not terms:
        return None
    if len(terms) == 1:
        return terms[0]
    items = []
    for t in terms:
        if isinstance(t, Plus):
            items.extend(t.items)
        else:
            items.append((1, t))
    return Plus(tuple(items), all(is_scalar(t) for _, t in items))


def vjp_forms(prog: Program, g, targets, own: object | None = None) -> dict:
    """target leaf extra -> form of its adjoint, given the form ``g`` of the result's adjoint.

    ``own`` is the equation's own quantity (a grammar Ref or Name) so that a function applied at
    the top prints its derivative through the output (tanh' = 1 − h ⊙ h)."""
    ins_list = prog.instrs
    adj: list = [None] * len(ins_list)
    adj[-1] = [g]
    out: dict = {}
    last = len(ins_list) - 1
    for k in range(last, -1, -1):
        if adj[k] is None:
            continue
        gk = plus(adj[k])
        ins = ins_list[k]
        if ins.op == "leaf":
            if ins.extra in targets:
                out.setdefault(ins.extra, []).append(gk)
            continue
        args = [ins_list[j] for j in ins.args]
        subs = [Sub(a.node, a.shape == (1, 1)) for a in args]
        for r, ga in zip(ins.args, _rule(ins, args, subs, gk, own if k == last else None)):
            if ga is not None:
                adj[r] = (adj[r] or []) + [ga]
    return {k: plus(v) for k, v in out.items()}


def _rule(ins, args, subs, g, own) -> list:
    op = ins.op
    sc = ins.shape == (1, 1)
    if op == "neg":
        return [neg(g)]
    if op == "T":
        return [Tr(g, sc)]
    if op in "+-":
        outs = [g, g if op == "+" else neg(g)]
        return [_spread_back(o, a) for o, a in zip(outs, args)]
    if op == "*" or (op == "matmul" and (args[0].shape == (1, 1) or args[1].shape == (1, 1))):
        return [_spread_back(_times(g, subs[1]), args[0]),
                _spread_back(_times(g, subs[0]), args[1])]
    if op == "/":
        num, den = _constant(g), _constant(subs[1])
        first = Num(num / den) if num is not None and den is not None else Quot(g, subs[1], sc)
        return [_spread_back(first, args[0]),
                _spread_back(neg(Quot(_times(g, Sub(ins.node, sc)), subs[1], sc)), args[1])]
    if op == "pow":
        p = ins.extra
        base = subs[0] if p == 2 else Sub(ex.Bin("**", ins.node.left, ex.Num(p - 1)),
                                          subs[0].scalar)
        return [_times(g, _times(Num(p), base))]
    if op == "matmul":
        return [mm(g, _tr(subs[1])), mm(_tr(subs[0]), g)]
    if op == "call":  # a function: its table entry writes the form
        return ins.extra.back_form(_KIT, ins.node, subs, g, own)
    if op == "sumt":
        return [g] * len(args)
    if op == "entry":  # only the entry picked receives the adjoint: g e_i
        return [_times(g, Unit(ins.node.indices))] + [None] * (len(args) - 1)
    return [None] * len(args)


def _times(g, f):
    """g (an adjoint) times f (a local factor): a plain product when one is a scalar, the
    scalar and numbers first, the adjoint last; else entry by entry."""
    if g == Num(1):
        return f
    if isinstance(g, Num):
        return mm(g, f)
    if isinstance(g, MM) and g.items[-1] == Ones():
        # a scalar spread over the entries, then taken entry by entry: a scalar multiple
        return _times(mm(*g.items[:-1]), f)
    if isinstance(g, Plus) and len(g.items) == 1 and g.items[0][0] < 0:
        return neg(_times(g.items[0][1], f))
    if is_scalar(f) and is_scalar(g):
        return mm(f, g)
    if is_scalar(f) or is_scalar(g):
        return mm(f, g) if is_scalar(f) else mm(g, f)
    return had(g, f)


def _spread_back(g, arg):
    """The adjoint of an operand that was a scalar spread over a vector: the sum of entries."""
    if arg.shape == (1, 1) and not is_scalar(g):
        return mm(Tr(Ones(), False), g, scalar=True)
    return g


def jacobian_forms(prog: Program, target, own: object | None = None):
    """The Jacobian ∂result/∂target as a product-and-sum form, or None when it does not depend
    on it (forward mode over the same program)."""
    ins_list = prog.instrs
    jac: list = [None] * len(ins_list)
    last = len(ins_list) - 1
    for k, ins in enumerate(ins_list):
        if ins.op == "leaf":
            jac[k] = Num(1) if ins.extra == target else None
            continue
        if ins.op == "num":
            continue
        args = [ins_list[j] for j in ins.args]
        subs = [Sub(a.node, a.shape == (1, 1)) for a in args]
        js = [jac[j] for j in ins.args]
        if all(j is None for j in js):
            continue
        sc = ins.shape == (1, 1)
        op = ins.op
        if op == "neg":
            jac[k] = neg(js[0])
        elif op in "+-":
            jac[k] = plus([js[0], None if js[1] is None else
                           (js[1] if op == "+" else neg(js[1]))])
        elif op == "*":
            terms = []
            if js[0] is not None:
                terms.append(mm(_diag_or(subs[1]), js[0]))
            if js[1] is not None:
                terms.append(mm(_diag_or(subs[0]), js[1]))
            jac[k] = plus(terms)
        elif op == "matmul":
            terms = []
            if js[1] is not None:
                terms.append(mm(subs[0], js[1], scalar=sc))
            if js[0] is not None:
                return None  # by a matrix: a three-index array, not shown as a form
            jac[k] = plus(terms)
        elif op == "call":
            if ins.extra.jac_form is None:
                return None  # no form for this function's Jacobian
            jac[k] = ins.extra.jac_form(_KIT, ins.node, subs, js,
                                        own if k == last else None)
        elif op == "pow":
            p = ins.extra
            base = subs[0] if p == 2 else Sub(ex.Bin("**", ins.node.left, ex.Num(p - 1)),
                                              subs[0].scalar)
            jac[k] = mm(_diag_or(mm(Num(p), base)), js[0])
        else:
            return None
    return jac[last]


def _tr(sub: Sub):
    """The transpose of a subexpression; (Aᵀ)ᵀ is A."""
    if isinstance(sub.node, ex.Transpose):
        return Sub(sub.node.arg, sub.scalar)
    return Tr(sub, sub.scalar)


def _diag_or(f):
    return f if is_scalar(f) else Diag(f)


#: The form builders a table entry (:mod:`derive.ops`) writes its forms with.
_KIT = SimpleNamespace(Sub=Sub, Prime=Prime, SoftJac=SoftJac, Quot=Quot, Ones=Ones, mm=mm,
                       times=_times, diag_or=_diag_or, is_scalar=is_scalar,
                       LogSoftJac=LogSoftJac, MaxStep=MaxStep, Count=Count, Entry=Entry,
                       plus=plus, spread=lambda g, scalar: _spread_scalar(g, scalar))


def _spread_scalar(g, scalar: bool):
    """The adjoint of an operand that is a scalar (``scalar``) spread over a vector."""
    if scalar and not is_scalar(g):
        return mm(Tr(Ones(), False), g, scalar=True)
    return g
