"""Sweeps: a question with ``over: k`` asks for its ``find`` at every k of a range, as a list.

Every number comes from the numeric core.  When the differentiated quantity does not depend on
k (``d(h[T], h[k])``, ``d(L, h[k])``) the whole list comes from one backward pass per entry of
that quantity (one for a scalar), read off at every k: linear in T, never one derivation per
k.  Otherwise (``d(h[k+1], h[k])``, ``truncate``) each k is differentiated on its own, still
through the core's backward pass.  A vector or matrix answer is listed as its norm (Euclidean,
or the largest singular value).  The derivation is written out for one representative k, and
the bound (γ‖W‖)^(gap) of the state's recurrence is computed for the plot beside the values.
"""

from __future__ import annotations

import dataclasses

import mpmath
import sympy

from ..errors import ExprError
from ..lang import expr as ex
from ..lang.loader import Question
from ..lang.to_sympy import split_name, sym
from ..solution import (Answer, Note, Partial, QuestionSolution, Sweep, SweepBound,
                        SweepTarget)
from . import forms as fm
from . import general
from .core import Core
from .numbers import DIGITS, to_mpf
from .program import compile_expr
from .tensor import Tensor

#: The representative derivation is written for the k whose chain has this many factors.
REPRESENTATIVE_GAP = 2


def solve(core: Core, q: Question, key: str) -> QuestionSolution:
    """The list of ``q.find`` over ``q.over`` with its table, representative derivation and
    bound; a k for which a quantity does not exist is an error at ``over``."""
    from . import questions as qu  # the handler imports this module; its helpers are shared

    var, lo, hi = q.over
    ks = tuple(range(lo, hi + 1))
    finds = {k: ex.bind_sweep(q.find, k) for k in ks}
    for k in ks:
        _check_exists(core, q, var, k, finds[k])
    derivative = isinstance(q.find, ex.Call) and q.find.func == "d"
    symbolic = not _numeric_problem(core)
    # one entry of a gradient (d(L, h[k][2])): each k through the handler, which picks it
    by_entry = derivative and isinstance(q.find.args[1], ex.Entry)
    if symbolic or by_entry:
        # a symbolic answer by a quantity keeps it as the variable: each k on its own
        answers = {k: qu._question(core, _at(q, k, finds[k])).answer for k in ks}
        tensors = None
    else:
        tensors = _tensors(core, q, key, finds, derivative)
        answers = None
    norm = _norm_kind(tensors[ks[0]].shape) if tensors else ""
    entries = {k: answers[k] if answers else _entry(core, tensors[k]) for k in ks}
    values = tuple(entries[k].expr for k in ks)
    exact = tuple(entries[k].exact for k in ks)
    floats = [entries[k].value for k in ks]
    answer = Answer(values, exact if any(x is not None for x in exact) else None,
                    floats if all(isinstance(v, float) for v in floats) else None)
    target = SweepTarget(_inner(core, q.find), var, lo, hi, norm)

    steps: list = []
    rep = _representative(core, q, ks, derivative) if not (symbolic or by_entry) else None
    if rep is not None:
        sub = qu._question(core, _at(q, rep, finds[rep], core.T, keep_form=True))
        if sub.answer.value is not None and not _same(core, sub.answer.value, tensors[rep]):
            raise RuntimeError(f"internal inconsistency: the derivation at k = {rep} and the "
                               "sweep disagree")
        steps.append(Note(f"The derivation for one value, ${var} = {rep}$ (every other "
                          f"${var}$ follows the same steps):"))
        steps.extend(sub.steps)
    bound, why = (None, "") if symbolic or by_entry else \
        _bound(core, q, ks, finds, values, derivative)
    steps.append(Sweep(target, ks, values, rep, bound, why))
    return QuestionSolution(q, target, tuple(steps), answer)


def _at(q: Question, k: int, find, T: int | None = None, keep_form: bool = False) -> Question:
    """The question at one k (no sweep), with ``T`` written as its number (h[12], so that the
    derivation names the steps); the representative is written out path by path where it is
    short enough."""
    # (truncated chains keep the handler's own choice of form)
    form = q.form if q.form != "auto" or not keep_form or q.truncate else "expanded"
    if T is not None:
        find = _fixed(find, T)
    return dataclasses.replace(q, find=find, find_text=ex.to_text(find), over=None, form=form)


def _fixed(e: ex.Expr, T: int) -> ex.Expr:
    """``h[T-1]`` as ``h[11]`` when T = 12."""
    if isinstance(e, ex.Ref) and e.index.kind == "T":
        return ex.Ref(e.name, ex.Index("n", T + e.index.value))
    if isinstance(e, (ex.Neg, ex.Transpose)):
        return type(e)(_fixed(e.arg, T))
    if isinstance(e, ex.Bin):
        return ex.Bin(e.op, _fixed(e.left, T), _fixed(e.right, T))
    if isinstance(e, ex.Call):
        return ex.Call(e.func, tuple(_fixed(a, T) for a in e.args))
    return e


def _numeric_problem(core: Core) -> bool:
    return not any(s not in core.g.given for s in core.g.leaves)


def _steps_of(core: Core, name: str) -> list:
    steps = {n.step for n in core.g.nodes.values() if n.name == name and n.step is not None}
    for s in list(core.g.given) + list(core.g.leaves):
        base, idx = split_name(s)
        if base == name and idx is not None and idx.lstrip("-").isdigit():
            steps.add(int(idx))
    return sorted(steps)


def _check_exists(core: Core, q: Question, var: str, k: int, find) -> None:
    """Every quantity the find reads at this k must exist (as a step, a given or a start)."""
    g = core.g
    for n in ex.walk(q.find):
        if not (isinstance(n, ex.Ref) and n.index.kind == "k"):
            continue
        step = k + n.index.value
        s = sym(f"{n.name}[{step}]")
        if s in g.nodes or s in g.given or s in core.leaf_set:
            continue
        have = _steps_of(core, n.name)
        where = (f"{n.name} exists at steps {_ranges(have)}" if have else
                 f"{n.name} is not a quantity with steps")
        raise core.p.error(f"over: at {var} = {k}, {n.name}[{n.index.text()}] is "
                           f"{n.name}[{step}], which does not exist ({where}); narrow the "
                           f"range, as in over: {{{var}: [a, b]}}", f"questions.{q.id}.over")


def _ranges(steps: list) -> str:
    out, start = [], None
    for i, s in enumerate(steps):
        if start is None:
            start = s
        if i + 1 == len(steps) or steps[i + 1] != s + 1:
            out.append(str(start) if start == s else f"{start}..{s}")
            start = None
    return ", ".join(out)


# ---- the numbers ---------------------------------------------------------------------------------

def _tensors(core: Core, q: Question, key: str, finds: dict, derivative: bool) -> dict:
    """k -> the answer's tensor (the gradient's shape, or the Jacobian)."""
    from . import questions as qu

    D = core.D
    if not derivative:
        return {k: core.compile_find(f, key).run(D, None, core.leaf)[-1]
                for k, f in finds.items()}
    of_e = q.find.args[0]
    wrts = {k: qu._wrt_symbol(core, f.args[1]) for k, f in finds.items()}
    if ex.uses_sweep(of_e) or q.truncate is not None:
        return {k: _one(core, q, key, f, wrts[k]) for k, f in finds.items()}
    # the differentiated quantity is the same at every k: one backward pass per entry of it
    of_prog = core.compile_find(of_e, key)
    of_val = of_prog.run(D, None, core.leaf)[-1]
    first = next(iter(wrts.values()))
    wshape = core.value(first).shape
    _check_shapes(of_val, wshape)
    wanted = core.node_set | frozenset(wrts.values())
    n_out = len(of_val.data)
    rows: dict = {k: [] for k in finds}
    for i in range(n_out):
        e_i = Tensor(of_val.rows, of_val.cols,
                     [D.num(1) if j == i else D.num(0) for j in range(n_out)])
        adj = core.backward(dict(core.seed(of_prog, None, e_i)), None, None, wanted)
        for k, w in wrts.items():
            g = adj.get(w)
            size = len(core.value(w).data)
            rows[k].append(list(g.data) if g is not None else [D.num(0)] * size)
    out = {}
    for k, w in wrts.items():
        ws = core.value(w).shape
        if of_val.is_scalar:
            out[k] = Tensor(ws[0], ws[1], rows[k][0])
        else:
            shape = (n_out, ws[0] * ws[1]) if ws != (1, 1) else of_val.shape
            out[k] = Tensor(shape[0], shape[1], [x for r in rows[k] for x in r])
    return out


def _check_shapes(of_val: Tensor, wshape) -> None:
    if of_val.is_scalar:
        return
    if wshape != (1, 1) and wshape[1] != 1 and wshape[0] != 1:
        raise ExprError("d(vector, matrix) would be an array with three indices; ask for the "
                        "derivative of a scalar (a loss, or one entry through sum or dot)")
    if of_val.rows != 1 and of_val.cols != 1 and wshape != (1, 1):
        raise ExprError("d(matrix, ...) is only defined here by a scalar")


def _one(core: Core, q: Question, key: str, find, wrt) -> Tensor:
    """The answer's tensor at one k, differentiated on its own."""
    from . import questions as qu

    D = core.D
    of_e = find.args[0]
    of_prog = core.compile_find(of_e, key)
    of_val = of_prog.run(D, None, core.leaf)[-1]
    wshape = core.value(wrt).shape
    _check_shapes(of_val, wshape)
    if of_val.is_scalar:
        g = qu._gradient(core, key, of_e, of_prog, wrt, wshape, q.truncate).answer
        return Tensor(wshape[0], wshape[1], list(g.data))
    if q.truncate is not None:
        raise ExprError("truncate goes with the derivative of a scalar loss")
    n_out = len(of_val.data)
    rows = []
    for i in range(n_out):
        e_i = Tensor(of_val.rows, of_val.cols,
                     [D.num(1) if j == i else D.num(0) for j in range(n_out)])
        adj = core.backward(dict(core.seed(of_prog, None, e_i)), None, None,
                            core.wanted(wrt))
        g = adj.get(wrt)
        rows.append(list(g.data) if g is not None else [D.num(0)] * (wshape[0] * wshape[1]))
    shape = (n_out, wshape[0] * wshape[1]) if wshape != (1, 1) else of_val.shape
    return Tensor(shape[0], shape[1], [x for r in rows for x in r])


def _norm_kind(shape) -> str:
    if shape == (1, 1):
        return ""
    return "euclidean" if 1 in shape else "spectral"


def _mpf(x) -> mpmath.mpf:
    if x.is_Float or x.is_Rational:
        return to_mpf(x)
    return to_mpf(sympy.N(x, DIGITS + 5))


def _entry(core: Core, t: Tensor) -> Answer:
    """One entry of the list: the answer itself (a scalar), else its norm (exact when the
    entries are rational and it is a vector's, else 50 digits)."""
    if t.is_scalar:
        v = core.D.to_sympy(t.data[0])
        if v.is_Float:  # a 50-digit number needs no simplifying (thousands of them, at large T)
            return Answer(v, None, float(v))
        return core.answer(t)
    vals = [core.D.to_sympy(x) for x in t.data]
    if 1 in t.shape and all(v.is_Rational for v in vals):
        n = sympy.sqrt(sympy.Add(*[v * v for v in vals]))
        return Answer(n, n, float(n))
    with mpmath.workdps(DIGITS + 5):
        if 1 in t.shape:
            n = mpmath.sqrt(mpmath.fsum(_mpf(v) ** 2 for v in vals))
        else:
            m = mpmath.matrix(t.rows, t.cols)
            for i in range(t.rows):
                for j in range(t.cols):
                    m[i, j] = _mpf(vals[i * t.cols + j])
            n = max(mpmath.svd_r(m, compute_uv=False))
        f = sympy.Float(n, DIGITS)
    return Answer(f, None, float(f))


def _same(core: Core, value, t: Tensor) -> bool:
    """The representative's answer and the sweep's tensor at that k agree (one engine)."""
    def flat(v):
        return [x for item in v for x in flat(item)] if isinstance(v, list) else [v]
    a = flat(value)
    b = [float(sympy.N(core.D.to_sympy(x), 20)) for x in t.data]  # numbers, never text
    return len(a) == len(b) and all(abs(x - y) <= 1e-12 * max(1.0, abs(y))
                                    for x, y in zip(a, b))


# ---- what is shown -------------------------------------------------------------------------------

def _symbol(e: ex.Expr, T: int | None):
    """A quantity of the find as a symbol with the sweep index in it (``h[k]``, ``h[T]``)."""
    if isinstance(e, ex.Name):
        return sym(e.name)
    if isinstance(e, ex.Ref):
        return sym(f"{e.name}[{e.index.text()}]")
    if isinstance(e, ex.Entry) and all(isinstance(i, ex.Num) for i in e.indices):
        base = _symbol(e.base, T)  # one entry: h[k][[2]], printed (h_k)_2
        return None if base is None else \
            sym(f"{base.name}[[{','.join(str(int(i.value)) for i in e.indices)}]]")
    return None


def _inner(core: Core, find: ex.Expr):
    if isinstance(find, ex.Call) and find.func == "d":
        of, wrt = find.args
        s = _symbol(of, core.T)
        return Partial(s if s is not None else of, _symbol(wrt, core.T))
    return find


def _step(e: ex.Expr, k: int, T: int) -> int | None:
    """The step of a quantity of the find at k (T for a plain quantity such as L)."""
    if isinstance(e, ex.Name):
        return T
    if isinstance(e, ex.Ref):
        i = e.index
        return k + i.value if i.kind == "k" else T + i.value if i.kind == "T" else i.value
    return None


def _representative(core: Core, q: Question, ks: tuple, derivative: bool) -> int | None:
    """The k whose derivation is written out: the one with REPRESENTATIVE_GAP factors between
    the two quantities (or the nearest), for a derivative."""
    if not derivative:
        return None
    of, wrt = q.find.args
    T = core.T or 0

    def gap(k):
        a, b = _step(of, k, T), _step(wrt, k, T)
        return None if a is None or b is None else a - b
    known = [k for k in ks if gap(k) is not None]
    if not known:
        return ks[-1]
    return min(known, key=lambda k: (abs(gap(k) - REPRESENTATIVE_GAP), -k))


def _bound(core: Core, q: Question, ks, finds, values, derivative) -> tuple:
    """The bound beside the values, or (None, why not)."""
    if not derivative:
        return None, "the list holds values, not derivatives"
    if q.truncate is not None:
        return None, ("with truncate each loss term reaches back at most "
                      f"{q.truncate} step{'s' if q.truncate > 1 else ''}, so no geometric bound "
                      "over the gap applies")
    states = [eq for eq in core.p.equations if eq.indexed and eq.name in core.g.recurrent]
    if len(states) != 1:
        return None, ("the bound $(\\gamma \\lVert W \\rVert)^{T-k}$ is read off a single "
                      "recurrence $h_t = f(W h_{t-1} + \\dots)$; this problem has "
                      + ("none" if not states else "several"))
    eq = states[0]
    inlined = general.inline(core.p, eq.name)
    act, weight = general.recurrent_weight(eq.name, inlined)
    if weight is None:
        return None, (f"the update of ${eq.name}$ does not have the form $f(W {eq.name}_{{t-1}}"
                      " + \\dots)$ the bound is read from")
    wnorm = general.norm(core.g.given.get(sym(weight)))
    if wnorm is None:
        return None, f"${weight}$ has no numbers, so the bound has none either"
    of, wrt = q.find.args
    if not (isinstance(wrt, ex.Ref) and wrt.name == eq.name) or \
            not ex.uses_sweep(wrt) and not ex.uses_sweep(of):
        return None, (f"the bound is about $\\partial {eq.name}_a / \\partial {eq.name}_b$; "
                      "this question differentiates by another quantity")
    T = core.T or 0
    gaps = tuple(_step(of, k, T) - _step(wrt, k, T) if _step(of, k, T) is not None else None
                 for k in ks)
    if any(g is None for g in gaps):
        return None, "the question's expression has no step to count the gap from"
    gm = general.gamma(act)
    rate = gm * wnorm
    exact = isinstance(of, ex.Ref) and of.name == eq.name
    if exact:
        anchor_k = None
        anchor_value, anchor_gap = sympy.Integer(1), 0
    else:
        usable = [(g, k) for g, k, v in zip(gaps, ks, values) if g >= 0 and v != 0]
        if not usable:
            return None, "every value is 0, so there is nothing to draw it beside"
        anchor_gap, anchor_k = min(usable)
        anchor_value = abs(values[ks.index(anchor_k)])
    per_k = tuple(None if g < 0 else _power(anchor_value, rate, g - anchor_gap) for g in gaps)
    local = _local(core, eq, inlined)
    if anchor_k is None and 0 in gaps:
        anchor_k = ks[gaps.index(0)]
    a, b = _index_sym(of, q.over[0]), _index_sym(wrt, q.over[0])
    return SweepBound(eq.name, act, gm, weight, wnorm, local, a - b, (b + 1, a), gaps,
                      anchor_k, anchor_value,
                      _inner(core, finds[anchor_k]) if anchor_k is not None else None,
                      exact, per_k), ""


#: The bound stays exact (a rational) up to this power; past it, 50 digits (and never an
#: error: a bound may lie far beyond 1e300 when it explodes).
EXACT_POWER = 64


def _power(c: sympy.Expr, rate: sympy.Expr, n: int) -> sympy.Expr:
    """c · rate^n, exact for small powers of rationals, else a 50-digit float."""
    if n <= EXACT_POWER and c.is_Rational and rate.is_Rational:
        return c * rate ** n
    with mpmath.workdps(DIGITS + 5):
        return sympy.Float(_mpf(c) * mpmath.power(_mpf(rate), n), DIGITS)


def _index_sym(e: ex.Expr, var: str) -> sympy.Expr:
    """A quantity's step in T and the sweep index, for what is printed (T - k)."""
    if isinstance(e, ex.Name):
        return sympy.Symbol("T")
    i = e.index
    head = sympy.Symbol(var) if i.kind == "k" else sympy.Symbol("T") if i.kind == "T" else \
        sympy.Integer(0)
    return head + i.value


def _local(core: Core, eq, inlined):
    """∂h_j/∂h_{j−1} at a general step j: sympy for a scalar state, a form for a vector."""
    prog = compile_expr(inlined, core.shape_of, core.T, in_step=True)
    for ins in prog.instrs:
        core.node_shapes[id(ins.node)] = ins.shape
    if not core.scalars:
        return fm.jacobian_forms(prog, ("t", eq.name, -1), ex.Ref(eq.name, ex.Index("t", 0)))
    from .scalar import _general_symbol
    from ..lang.to_sympy import build
    e = build(inlined, _general_symbol)
    back = {e: sym(f"{eq.name}[t]")} if not e.is_Atom else {}
    d = sympy.factor_terms(sympy.diff(e, sym(f"{eq.name}[t-1]")).xreplace(back))
    return d.xreplace({s: sym(s.name.replace("[t", "[j")) for s in d.free_symbols
                       if "[t" in s.name})
