"""The matrix narrator: the steps of a problem with vectors or matrices, in matrix form.

Every number comes from the numeric core (:mod:`.core`) through the question handler
(:mod:`.questions`); this module writes the backward equations in matrix form from the same
compiled programs (adjoint rows, W_hhᵀ diag(1 − h ⊙ h) δ), the per-step tables, the chain of
local Jacobians and the additive paths of gated updates.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import sympy

from ..errors import ExprError
from ..lang import expr as ex
from ..lang.loader import Equation, Question
from ..lang.to_sympy import sym
from ..ops import FUNCTIONS
from ..solution import (Additive, Answer, BackwardRef, ForwardRef, GeneralFormula, Note, Partial,
                        QuestionSolution, Solution, VBackward, VChain, VForward, VResult, VTable,
                        VTruncated, shown_rows)
from . import forms as fm
from .core import Core, ShownValues, key_sym
from .program import compile_expr, whole_index
from .tensor import Tensor, elementwise, scalar as scalar_tensor

CHAIN_MAX = 6
MAX_TERMS_SHOWN = 12
ROOT = "__root"  # the question's expression as a pseudo-equation (never printed)



@dataclass(frozen=True)
class VectorInfo:
    """What the renderer needs beyond the steps: shapes and the programs' subexpressions."""

    shapes: dict  # id(grammar node) -> shape, for every compiled subexpression
    quantity_shapes: tuple  # (display key, shape) in file order
    exact: bool
    classes: tuple = ()  # (given name, n): class numbers that pick one of n entries


def solution(core: Core, questions: tuple, loss, grads: dict, forward=None) -> Solution:
    """The Solution of a problem with vectors or matrices, its values shown on first use;
    ``forward`` (rows, table) is its one forward pass."""
    info = VectorInfo(core.node_shapes, core.quantity_shapes(), core.D.exact,
                      tuple(sorted(core.classes.items())))
    questions, backward = shared_backward(questions)
    return Solution(core.p, core.g, ShownValues(core), questions, info, loss=loss,
                    gradients=grads, forward=tuple(forward_step(forward)), backward=backward)


def shared_backward(questions: tuple) -> tuple[tuple, tuple]:
    """The backward pass of each loss that two or more gradient questions differentiate, taken
    out of those questions to be shown once: (questions, passes).  A pass is a VBackward of
    the union of the questions' adjoint rows (no parameter rule) and a VTable of the union of
    their adjoint columns; each question keeps a BackwardRef, its parameter's rule, its step
    terms and the result.  The rows and columns of one loss are the same in every question
    that has them (an adjoint sums over every equation between the parameter and the loss),
    so the union loses nothing; when they are not, the questions keep their own."""
    by_loss: dict = {}
    for qi, qs in enumerate(questions):
        for st in qs.steps:
            if isinstance(st, VBackward) and st.rows:
                by_loss.setdefault(_loss_key(st.lhs), []).append(qi)
    hoisted: dict = {}
    passes = []
    for key, qis in by_loss.items():
        if len(qis) < 2:
            continue
        backs = [next(st for st in questions[qi].steps if isinstance(st, VBackward))
                 for qi in qis]
        tables = [st for qi in qis for st in questions[qi].steps if isinstance(st, VTable)]
        rows = _union([b.rows for b in backs], lambda r: (r[0], r[2]))
        cols = _union([tuple(c for c in t.columns if c[0] == "adj") for t in tables],
                      lambda c: c[1])
        steps = {t.steps for t in tables}
        if rows is None or cols is None or len(steps) > 1:
            continue
        first = backs[0]
        one = [VBackward(first.lhs, tuple(rows), None, first.root)]
        if cols and steps:
            one.append(VTable(tuple(cols), steps.pop()))
        passes.append(tuple(one))
        hoisted.update(dict.fromkeys(qis))
    if not passes:
        return questions, ()
    return tuple(_referring(qs) if qi in hoisted else qs
                 for qi, qs in enumerate(questions)), tuple(passes)


def _loss_key(p: Partial):
    return p.of if isinstance(p.of, sympy.Basic) else repr(p.of)


def _union(lists, key) -> list | None:
    """The items of the lists in one order that keeps each list's order, or None when two
    items with one key differ."""
    out: list = []
    seen: dict = {}
    for items in lists:
        at = -1
        for it in items:
            k = key(it)
            if k in seen:
                if seen[k] != it:
                    return None
                at = out.index(it)
                continue
            seen[k] = it
            out.insert(at + 1, it)
            at += 1
    return out


def _referring(qs: QuestionSolution) -> QuestionSolution:
    """A question whose adjoints are shown in the problem's backward pass: a reference to it,
    then its own rule, step terms and result (the step terms are listed once, in the table)."""
    listed = any(isinstance(st, VResult) and st.kind == "steps" and st.terms
                 for st in qs.steps)
    steps = []
    summed = False
    for st in qs.steps:
        if isinstance(st, VBackward) and st.rows:
            names = dict.fromkeys(r[0].name for r in st.rows
                                  if isinstance(r[0], fm.Adj) and r[1] != fm.Num(1))
            steps.append(BackwardRef(st.lhs, tuple(
                next(r[0] for r in st.rows if isinstance(r[0], fm.Adj) and r[0].name == n)
                for n in names)))
            if st.param is not None:
                steps.append(VBackward(st.lhs, (), st.param, st.root))
        elif isinstance(st, VTable):
            own = tuple(c for c in st.columns if c[0] != "adj")
            if own and not listed:  # more steps than a sum shows: the table lists the terms
                steps.append(VTable(own, st.steps))
                summed = True
        elif isinstance(st, VResult) and st.kind == "steps" and summed:
            steps.append(VResult(st.lhs, (), st.answer, "table"))
        else:
            steps.append(st)
    return replace(qs, steps=tuple(steps))


def forward_step(fwd) -> list:
    """A reference to the problem's forward pass (a ForwardRef), or that pass: (rows, table)."""
    if fwd is None:
        return []
    return [fwd] if isinstance(fwd, ForwardRef) else [VForward(*fwd)]


def value(core: Core, q: Question, key: str, fwd, notes: list, ans: Answer) -> QuestionSolution:
    own = _of_symbol(q.find)
    if isinstance(fwd, ForwardRef) and own in core.g.nodes:
        # its own line, the rest read from the forward pass
        steps = ([ForwardRef(fwd.rows, own)] if len(fwd.rows) > 1 else []) + \
            [VForward((own,), False)]
    else:
        steps = forward_step(fwd)
    return QuestionSolution(q, q.find, tuple(steps + notes), ans)


def target(core: Core, of_e: ex.Expr, wrt) -> Partial:
    return Partial(_of_symbol(of_e), wrt)


def _of_symbol(e: ex.Expr):
    if isinstance(e, ex.Name):
        return sym(e.name)
    if isinstance(e, ex.Ref) and e.index.kind == "n":
        return sym(f"{e.name}[{e.index.value}]")
    return e  # an expression: printed as written


def gradient(core: Core, q: Question, key: str, grad, target: Partial, ans: Answer,
             opening: list, extra: list, additive: list) -> list:
    """The steps of the gradient of a scalar by a quantity, in matrix form."""
    fwd, notes = opening
    steps = forward_step(fwd) + notes + extra
    if grad.parts is None:
        steps.extend(_backward_steps(core, grad, target, ans, additive))
    else:
        steps.extend(_truncated_steps(core, q.truncate, grad, target, ans))
    return steps


def _truncated_steps(ev: Core, K: int, grad, target: Partial, ans: Answer) -> list:
    """The backward equations and the per-step formula (those of the full gradient), the
    steps each loss term keeps with its truncated gradient, then their sum."""
    seeds = ev.seed(grad.of_prog, None, scalar_tensor(ev.D.num(1)))
    edges: dict = {}
    adj = ev.backward(dict(seeds), None, edges, ev.wanted(grad.wrt))
    full = replace(grad, adj=adj, edges=edges, seeds=seeds, parts=None)
    formula = [st for st in _backward_steps(ev, full, target, ans, [])
               if isinstance(st, VBackward)]
    T = ev.T or 0
    terms = tuple(ev.shown(p) if p is not None else sympy.Integer(0)
                  for _, _, _, p in grad.parts)
    kept = tuple((term, t, max(1, horizon - K + 1), min(horizon, T), v)
                 for (term, t, horizon, _), v in zip(grad.parts, terms))
    # the table lists each loss term's part; the sum of that column is the answer
    return formula + [VTruncated(target, K, kept), VResult(target, (), ans.expr, "terms")]


def additive(core: Core, eq, term) -> Additive | None:
    """The additive path of ``term`` (a share of eq's update that carries h[t-1]) with its
    Jacobian as a form, such as diag(f_t)."""
    prog = compile_expr(term, core.shape_of, core.T, in_step=True)
    for ins in prog.instrs:
        core.node_shapes[id(ins.node)] = ins.shape
    form = fm.jacobian_forms(prog, ("t", eq.name, -1))
    return Additive(eq.name, term, form) if form is not None else None


def general(core: Core, target: Partial, eq, inlined, prog, wrt, act, weight, norm):
    local = fm.jacobian_forms(prog, ("t", eq.name, -1), _own(eq))
    return GeneralFormula(target, eq.name, local, None, act, weight, norm)


# ---- the backward steps --------------------------------------------------------------------------

def _ancestors(ev: Core, roots) -> tuple:
    return ev.g.ancestors(roots)


def _relevant(ev: Core, roots, wrt) -> tuple:
    """Equation names on a path from the question's quantities down to wrt, loss side first."""
    anc = set(_ancestors(ev, roots))
    reach = ev.g.reach(wrt)
    names = {ev.g.nodes[s].equation.key for s in anc & reach}
    return tuple(eq for eq in reversed(ev.p.equations) if eq.key in names)


def _consumers(ev: Core, eqs, name: str):
    """(consumer equation, leaf extra) for each use of ``name`` in the given equations."""
    out = []
    for eq in eqs:
        prog, sums = ev.general[eq.key]
        seen = set()
        for ins in prog.instrs:
            if ins.op == "leaf" and ins.extra[1] == name and ins.extra not in seen:
                seen.add(ins.extra)
                out.append((eq, ins.extra, None))
        for i, body in enumerate(sums):
            for ins in body.instrs:
                if ins.op == "leaf" and ins.extra[1] == name and (i, ins.extra) not in seen:
                    seen.add((i, ins.extra))
                    out.append((eq, ins.extra, i))
    return out


def _own(eq):
    return ex.Ref(eq.name, ex.Index("t", 0)) if eq.indexed else ex.Name(eq.name)


def _term_form(ev: Core, eq, extra, sum_i, root_eq=None, ones=()):
    """The form of one use's share of an adjoint; ``ones`` are quantities whose adjoint is 1
    (the root, and L_t when L = Σ_t L_t)."""
    prog, sums = ev.general[eq.key]
    scalar_out = prog.shape == (1, 1)
    g = fm.Num(1) if eq is root_eq or eq.name in ones else \
        fm.Adj(eq.name, ex.Index("t", 0) if eq.indexed else None, scalar_out)
    if sum_i is None:
        return fm.vjp_forms(prog, g, {extra}, _own(eq)).get(extra)
    gs = fm.vjp_forms(prog, g, {("S", sum_i, None)}, _own(eq)).get(("S", sum_i, None))
    if gs is None:
        return None
    return fm.vjp_forms(sums[sum_i], gs, {extra}, None).get(extra)


def _adjoint_rows(ev: Core, relevant, root_eq, wrt, adj) -> list:
    """(lhs, rhs, when) rows of the backward equations, loss side first."""
    rows = []
    users = tuple(relevant)
    T = ev.T
    ones: set = set()
    for eq in relevant:
        if eq is root_eq:
            continue
        general, at_T, extra_rows = [], [], []
        ahead = False  # a use at an earlier step (hb[t+1] read at t): a backward recurrence
        for ceq, extra, sum_i in _consumers(ev, users, eq.name):
            f = _term_form(ev, ceq, extra, sum_i, root_eq, ones)
            if f is None:
                continue
            kind, _, k = extra
            if kind == "t":
                ahead = ahead or k > 0
                f = fm.Shift(f, -k, fm.is_scalar(f)) if k else f
                general.append(f)
                if k == 0:
                    at_T.append(f)
            elif kind == "n" and eq.indexed:
                extra_rows.append((k, f))
            else:
                general.append(f)
                at_T.append(f)
        lhs = fm.Adj(eq.name, ex.Index("t", 0) if eq.indexed else None,
                     ev.shape_by_name[eq.name] == (1, 1))
        if eq.indexed and not general and extra_rows:
            # read only at fixed steps (softmax(stack(e[1], e[2], e[3]))): one row per step
            at: dict = {}
            for k, f in extra_rows:
                at.setdefault(k, []).append(f)
            rows.extend((fm.Adj(eq.name, ex.Index("n", k), lhs.scalar), fm.plus(at[k]), "")
                        for k in sorted(at))
            continue
        fixed_T = [f for k, f in extra_rows if k == T]
        if eq.indexed and ahead and eq.name in ev.g.backward:
            # its adjoints run forward in t: they start at t = 1, which no earlier step reads
            fixed_1 = [f for k, f in extra_rows if k == 1]
            rows.append((lhs, fm.plus(general), "t > 1" if T and T > 1 else ""))
            rows.append((fm.Adj(eq.name, ex.Index("n", 1), lhs.scalar),
                         fm.plus([fm.AtStep(f, 1, fm.is_scalar(f)) for f in at_T] + fixed_1),
                         "1"))
            extra_rows = [(k, f) for k, f in extra_rows if k != 1]
        elif eq.indexed and (len(at_T) != len(general) or fixed_T):
            rows.append((lhs, fm.plus(general), "t < T" if T and T > 1 else ""))
            rows.append((fm.Adj(eq.name, ex.Index("T", 0), lhs.scalar),
                         fm.plus([fm.AtT(f, fm.is_scalar(f)) for f in at_T] + fixed_T),
                         "T"))
        else:
            rhs = fm.plus(general)
            rows.append((lhs, rhs, ""))
            if rhs == fm.Num(1):
                ones.add(eq.name)
        ce = _softmax_ce(ev, eq, users, adj) or _log_softmax_ce(ev, eq, users, adj, ones)
        if ce is not None:
            rows.append(ce)
        for k, f in extra_rows:
            if k != T:
                rows.append((fm.Adj(eq.name, ex.Index("n", k), lhs.scalar), f, f"plus at {k}"))
    return rows


def _cross_entropy_target(e: ex.Expr, s_name: str | None, log_s=None):
    """y when e is -sum(y[t] * log(s[t])) (either order) or -dot(y[t], log(s[t])), else None;
    ``log_s`` stands for log(s[t]) when given (log_softmax(z[t]))."""
    if not isinstance(e, ex.Neg) or not isinstance(e.arg, ex.Call):
        return None
    inner = e.arg
    if log_s is None:
        log_s = ex.Call("log", (ex.Ref(s_name, ex.Index("t", 0)),))
    if inner.func == "sum" and isinstance(inner.args[0], ex.Bin) and inner.args[0].op == "*":
        a, b = inner.args[0].left, inner.args[0].right
    elif inner.func == "dot":
        a, b = inner.args
    else:
        return None
    for y, lg in ((a, b), (b, a)):
        if lg == log_s and isinstance(y, ex.Ref) and y.index == ex.Index("t", 0):
            return y
    return None


def _softmax_ce(ev: Core, eq, users, adj):
    """The row ∂L/∂o_t = ŷ_t − y_t when o feeds only ŷ = softmax(o) and ŷ only the
    cross-entropy −Σ y log ŷ with targets summing to 1 — checked against the numbers."""
    cons = _consumers(ev, users, eq.name)
    if not eq.indexed:  # a many-to-one read-out: p = softmax(z), L = -log(p[c])
        if len(cons) != 1 or cons[0][1] != ("p", eq.name, None) or cons[0][0].indexed or \
                cons[0][0].expr != ex.Call("softmax", (ex.Name(eq.name),)):
            return None
        cons2 = _consumers(ev, users, cons[0][0].name)
        if len(cons2) != 1 or cons2[0][0].indexed or cons2[0][1][0] != "p":
            return None
        return _softmax_class(ev, eq, cons[0][0], cons2[0][0].expr, adj)
    if len(cons) != 1 or cons[0][1] != ("t", eq.name, 0):
        return None
    s_eq = cons[0][0]
    if s_eq.expr != ex.Call("softmax", (ex.Ref(eq.name, ex.Index("t", 0)),)):
        return None
    cons2 = _consumers(ev, users, s_eq.name)
    if len(cons2) != 1 or not cons2[0][0].indexed:
        return None
    y = _cross_entropy_target(cons2[0][0].expr, s_eq.name)
    if y is None:
        return _softmax_class(ev, eq, s_eq, cons2[0][0].expr, adj)
    D = ev.D
    for t in range(1, (ev.T or 0) + 1):
        a = adj.get(sym(f"{eq.name}[{t}]"))
        yv = ev.leaf((y.name, t))
        if sum(yv.data) != 1:
            return None
        if a is not None:
            want = elementwise(D, D.sub, ev.values[sym(f"{s_eq.name}[{t}]")], yv)
            if any(_nonzero(D.to_sympy(D.sub(u, v))) for u, v in zip(a.data, want.data)):
                return None
    form = fm.plus([fm.Sub(ex.Ref(s_eq.name, ex.Index("t", 0)), False),
                    fm.neg(fm.Sub(y, False))])
    return (None, form, "softmax-ce")


def _log_softmax_ce(ev: Core, eq, users, adj, ones):
    """The row ∂L/∂z_t = ∂L/∂L_t (softmax(z_t) − y_t) when z feeds only the cross-entropy
    L_t = −Σ y_t ⊙ log_softmax(z_t) with targets summing to 1 — checked against the numbers."""
    if not eq.indexed:
        return None
    cons = _consumers(ev, users, eq.name)
    if len(cons) != 1 or cons[0][1] != ("t", eq.name, 0) or not cons[0][0].indexed:
        return None
    l_eq = cons[0][0]
    own = ex.Ref(eq.name, ex.Index("t", 0))
    y = _cross_entropy_target(l_eq.expr, None, ex.Call("log_softmax", (own,)))
    if y is None:
        return None
    D = ev.D
    soft = ex.Call("softmax", (own,))
    for t in range(1, (ev.T or 0) + 1):
        a = adj.get(sym(f"{eq.name}[{t}]"))
        yv = ev.leaf((y.name, t))
        if sum(yv.data) != 1:
            return None
        if a is not None:
            g = adj.get(sym(f"{l_eq.name}[{t}]"))
            s = FUNCTIONS["softmax"].forward(D, [ev.values[sym(f"{eq.name}[{t}]")]])
            want = elementwise(D, D.mul, g, elementwise(D, D.sub, s, yv))
            if any(_nonzero(D.to_sympy(D.sub(u, v))) for u, v in zip(a.data, want.data)):
                return None
    ev.node_shapes[id(soft)] = ev.shape_by_name[eq.name]
    diff = fm.plus([fm.Sub(soft, False), fm.neg(fm.Sub(y, False))])
    if l_eq.name not in ones:
        diff = fm.mm(fm.Adj(l_eq.name, ex.Index("t", 0), True), diff, scalar=False)
    return (None, diff, "log-softmax-ce")


def _softmax_class(ev: Core, eq, s_eq, loss, adj):
    """The row ∂L/∂o_t = ŷ_t − e_{c_t} when ŷ = softmax(o) feeds only −log((ŷ_t)_{c_t}), the
    cross-entropy of a class number — checked against the numbers."""
    own = ex.Ref(s_eq.name, ex.Index("t", 0)) if eq.indexed else ex.Name(s_eq.name)
    if not (isinstance(loss, ex.Neg) and isinstance(loss.arg, ex.Call) and
            loss.arg.func == "log" and isinstance(loss.arg.args[0], ex.Entry) and
            loss.arg.args[0].base == own and len(loss.arg.args[0].indices) == 1):
        return None
    idx = loss.arg.args[0].indices[0]
    D = ev.D
    for t in range(1, (ev.T or 0) + 1) if eq.indexed else (None,):
        a = adj.get(sym(eq.name if t is None else f"{eq.name}[{t}]"))
        if a is None:
            continue
        s = ev.values[sym(s_eq.name if t is None else f"{s_eq.name}[{t}]")]
        prog = compile_expr(idx, ev.shape_of, ev.T, t)
        c = whole_index(D, prog.run(D, t, ev.leaf)[-1].data[0], len(s.data), ex.to_text(idx))
        want = [D.sub(x, D.num(1)) if k == c - 1 else x for k, x in enumerate(s.data)]
        if any(_nonzero(D.to_sympy(D.sub(u, v))) for u, v in zip(a.data, want)):
            return None
    form = fm.plus([fm.Sub(own, False), fm.neg(fm.Unit((idx,)))])
    return (None, form, "softmax-ce-class")


def _nonzero(x: sympy.Expr) -> bool:
    """A number beyond rounding, or a symbolic expression that sympy has not cancelled to 0."""
    return abs(float(x)) > 1e-30 if x.is_number else x != 0


def _param_form(ev: Core, relevant, wrt, root_eq):
    """∂root/∂wrt for a parameter: the terms of each equation that reads it."""
    name = wrt.name
    per_step, plain = [], []
    for ceq, extra, sum_i in _consumers(ev, relevant, name):
        f = _term_form(ev, ceq, extra, sum_i, root_eq)
        if f is None:
            continue
        (per_step if ceq.indexed or sum_i is not None else plain).append(f)
    return fm.plus(per_step), fm.plus(plain)


def _backward_steps(ev, grad, target, ans, additive: list) -> list:
    D = ev.D
    of_e, of_prog, wrt = grad.of, grad.of_prog, grad.wrt
    adj, seeds, edges = grad.adj, grad.seeds, grad.edges
    roots = [key_sym(k) for k in of_prog.leaf_keys(None)]
    relevant = _relevant(ev, roots, wrt)
    root_eq = None
    if isinstance(target.of, sympy.Symbol):
        root_eq = next((eq for eq in ev.p.equations if not eq.indexed and
                        sym(eq.name) == target.of), None)
    if root_eq is None:
        # the question's own expression (or a quantity at one step) is the root
        root_eq = Equation(ROOT, False, of_e, "", None)
        sums: list = []
        general = ev.compile_find(of_e, "", sums=sums)
        ev.general[root_eq.key] = (general, tuple(sums))
        relevant = (root_eq,) + relevant
    steps: list = []
    T = ev.T or 0
    rows = _adjoint_rows(ev, relevant, root_eq, wrt, adj)
    wnode = ev.g.nodes.get(wrt)
    param = None
    if wnode is None and "[" not in wrt.name:
        per_step, plain = _param_form(ev, relevant, wrt, root_eq)
        param = (per_step, plain)
    elif wnode is None:
        base, step = wrt.name[:-1].split("[")
        step = int(step)
        terms = []
        for ceq, extra, sum_i in _consumers(ev, relevant, base):
            if extra[0] == "t" and ceq.indexed and not 1 <= step - extra[2] <= T:
                continue  # no step of this equation reads it (y_0 for h_0, y_4 for hb_4)
            f = _term_form(ev, ceq, extra, sum_i, root_eq)
            if f is not None and extra[0] == "t":
                terms.append(fm.Shift(f, -extra[2], fm.is_scalar(f)))
        param = (fm.plus(terms), None, step)
    steps.append(VBackward(target, tuple(rows), param, root_eq.name if root_eq else None))
    steps.extend(additive)
    # per-step numbers
    states = [eq for eq in relevant if eq.indexed]
    T = ev.T or 0
    columns = []
    shown_steps = set(shown_rows(range(1, T + 1)))
    for eq in states:
        vals = tuple(ev.shown(adj[sym(f"{eq.name}[{t}]")])
                     if sym(f"{eq.name}[{t}]") in adj and t in shown_steps
                     else None for t in range(1, T + 1))
        if all(v == 1 for v in vals):
            continue  # ∂L/∂L_t = 1 says nothing per step
        columns.append(("adj", eq.name, vals))
    contribs = None
    if param is not None and wnode is None and "[" not in wrt.name and T:
        per = []
        for t in range(1, T + 1):
            acc = None
            for (d, s), c in edges.items():
                if d == wrt and ev.g.nodes[s].step == t:
                    acc = c if acc is None else elementwise(D, D.add, acc, c)
            per.append(acc)
        plain_acc = None
        for (d, s), c in edges.items():
            if d == wrt and ev.g.nodes[s].step is None:
                plain_acc = c if plain_acc is None else elementwise(D, D.add, plain_acc, c)
        if wrt in seeds:
            plain_acc = seeds[wrt] if plain_acc is None else elementwise(D, D.add, plain_acc,
                                                                         seeds[wrt])
        contribs = (per, plain_acc)
        if any(c is not None for c in per):  # a variable read only by plain equations: none
            columns.append(("contrib", target, tuple(ev.shown(c) if c is not None and
                                                     t in shown_steps else None
                                                     for t, c in enumerate(per, start=1))))
    if T and columns:
        steps.append(VTable(tuple(columns), tuple(range(1, T + 1))))
    if contribs is not None:
        per, plain_acc = contribs
        terms = [c for c in per if c is not None] + \
            ([plain_acc] if plain_acc is not None else [])
        terms = [ev.shown(c) for c in terms] if len(terms) <= MAX_TERMS_SHOWN else []
        steps.append(VResult(target, tuple(terms), ans.expr, "steps"))
    else:
        steps.append(VResult(target, (), ans.expr, "value"))
    return steps


# ---- Jacobians ------------------------------------------------------------------------------

def jacobian(ev, q, of_e, of_prog, of_val, wrt, wshape, opening) -> QuestionSolution:
    """∂of/∂wrt for a vector ``of``: row i from one backward pass each, shown as the chain of
    local Jacobians when a state's own equation is the only way between the two."""
    D = ev.D
    target = Partial(_of_symbol(of_e), wrt)
    n_out = len(of_val.data)
    n_in = wshape[0] * wshape[1]
    rows = []
    for i in range(n_out):
        e_i = Tensor(of_val.rows, of_val.cols,
                     [D.num(1) if j == i else D.num(0) for j in range(n_out)])
        seeds = ev.seed(of_prog, None, e_i)
        adj = ev.backward(seeds)
        g = adj.get(wrt)
        rows.append(g.data if g is not None else [D.num(0)] * n_in)
    shape = (n_out, n_in) if wshape != (1, 1) else of_val.shape
    jac = Tensor(shape[0], shape[1], [x for r in rows for x in r])
    ans = ev.answer(jac)
    fwd, notes = opening
    steps = forward_step(fwd) + notes
    chain = _state_chain(ev, target.of, wrt, ans.expr)
    if chain is not None:
        prod = chain.factors[0][2]
        for _, _, m in chain.factors[1:]:
            prod = prod * m
        if sympy.ImmutableMatrix(prod) != ans.expr and not _close(prod, ans.expr):
            raise ExprError("internal check failed: the chain of local Jacobians does not "
                            "give the Jacobian")
        steps.append(chain)
    else:
        steps.append(Note("Row $i$ of the Jacobian is the gradient of entry $i$, from one "
                          "backward pass each (rows are indexed by the entries of the "
                          "differentiated quantity)."))
        steps.append(VResult(target, (), ans.expr, "value"))
    return QuestionSolution(q, target, tuple(steps), ans)


def _close(a, b) -> bool:
    """Entry by entry to 1e-12; symbols (a symbolic problem) are set to fixed numbers first."""
    a, b = sympy.Matrix(a), sympy.Matrix(b)
    if a.shape != b.shape:
        return False
    syms = sorted(a.free_symbols | b.free_symbols, key=str)
    at = {s: sympy.Rational(2 * k + 3, 7 * k + 5) for k, s in enumerate(syms)}
    pairs = [(complex(x.xreplace(at).evalf(30)), complex(y.xreplace(at).evalf(30)))
             for x, y in zip(a, b)]
    return all(abs(x - y) <= 1e-12 * max(1.0, abs(y)) for x, y in pairs)


def _state_chain(ev: Core, of, wrt, answer) -> VChain | None:
    """∂h_a/∂h_b as the product of local Jacobians ∂h_t/∂h_{t-1}, when h's own equation is the
    only way from one step to the next."""
    if not isinstance(of, sympy.Symbol) or of not in ev.g.nodes or wrt not in ev.g.nodes:
        return None
    a, b = ev.g.nodes[of], ev.g.nodes[wrt]
    if a.name != b.name or a.step is None or b.step is None:
        return None
    # a backward recurrence (hb[t] reads hb[t+1]) chains from a down... to a later step b
    d = 1 if a.name in ev.g.backward else -1
    if not (b.step - a.step) * d > 0 or abs(a.step - b.step) > CHAIN_MAX:
        return None
    eq = a.equation
    prog = ev.programs[eq.key]
    leaves = {ins.extra for ins in prog.instrs if ins.op == "leaf"}
    if ("t", eq.name, d) not in leaves:
        return None
    for ins in prog.instrs:
        if ins.op == "leaf" and ins.extra[0] == "t" and ins.extra[1] in ev.shape_by_name \
                and ins.extra != ("t", eq.name, d):
            return None  # another quantity of the same step or a later one: more than a chain
    form = fm.jacobian_forms(prog, ("t", eq.name, d), _own(eq))
    if form is None:
        return None
    factors = []
    D = ev.D
    for t in range(a.step, b.step, d):
        s = sym(f"{eq.name}[{t}]")
        out = ev.values[s]
        prev = ev.value(sym(f"{eq.name}[{t + d}]"))
        rows = []
        for i in range(len(out.data)):
            e_i = Tensor(out.rows, out.cols, [D.num(1) if j == i else D.num(0)
                                             for j in range(len(out.data))])
            c = prog.vjp(D, ev.regs[s], e_i, t).get((eq.name, t + d))
            rows.append(c.data if c is not None else [D.num(0)] * len(prev.data))
        m = Tensor(len(out.data), len(prev.data), [x for r in rows for x in r])
        factors.append((t, form, ev.shown(m) if not m.is_scalar else
                        sympy.ImmutableMatrix([[ev.shown(m)]])))
    return VChain(Partial(of, wrt), eq.name, tuple(factors), answer, d,
                  _unit_steps(ev, eq, prog, range(a.step, b.step, d)))


def _unit_steps(ev: Core, eq, prog, steps) -> tuple:
    """The steps at which every kinked function of ``prog`` (relu) has f' = 1 at every entry:
    there diag(f'(·)) = I, and the local Jacobian's matrix is the weight alone."""
    kinked = [ins for ins in prog.instrs if ins.op == "call" and ins.extra.kink and
              ins.extra.arity == 1 and
              ins.extra.derivative is not None]
    if not kinked:
        return ()
    D, out = ev.D, []
    for t in steps:
        regs = ev.regs[sym(f"{eq.name}[{t}]")]
        if all(D.to_sympy(D.func(ins.extra, x, prime=True)) == 1
               for ins in kinked for x in regs[ins.args[0]].data):
            out.append(t)
    return tuple(out)
