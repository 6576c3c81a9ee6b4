"""The engine for vectors and matrices: the same pipeline as the scalar engine, over tensors.

Each equation is compiled once into a program with checked shapes; the forward pass runs it at
every step; the backward pass runs its vector-Jacobian products in reverse topological order,
so cost stays linear in T.  The steps shown (adjoint equations in matrix form, per-step
tables, local Jacobians) come from the same programs and the same numbers as the answer.
"""

from __future__ import annotations

from dataclasses import dataclass

import mpmath
import sympy

from ..lang import expr as ex
from . import forms as fm
from ..errors import ExprError
from ..lang.to_sympy import sym
from . import general
from .graph import Graph, _toposort, loss_symbol
from .numbers import DIGITS, simplify
from ..lang.loader import Equation, Question
from ..ops import HARDMAX_WORDS, KINK_WORDS
from .program import Program, compile_expr
from ..solution import (Additive, Answer, GeneralFormula, Note, Partial, QuestionSolution,
                       Solution, VBackward, VChain,
                       VForward, VResult, VTable, MAX_MATRIX_SHOWN, shown_rows)
from .tensor import (EXACT, FAST, Domain, LazyMatrix, Tensor, check_finite, elementwise,
                     from_value, hardmax, scalar, shape_text, sum_tensors, value_shape,
                     zeros)

#: Above this many entry operations (or this many with only rational arithmetic) the numbers
#: are carried as 50-digit floats rather than exact sympy numbers.
EXACT_COST = 4000
RATIONAL_COST = 40000
MAX_PRODUCTS = 5_000_000
DETAIL_MAX_T = 4
CHAIN_MAX = 6
MAX_TERMS_SHOWN = 12
ROOT = "__root"  # the question's expression as a pseudo-equation (never printed)



@dataclass(frozen=True)
class VectorInfo:
    """What the renderer needs beyond the steps: shapes and the programs' subexpressions."""

    shapes: dict  # id(grammar node) -> shape, for every compiled subexpression
    quantity_shapes: tuple  # (display key, shape) in file order
    exact: bool


def is_vector_problem(graph: Graph) -> bool:
    return any(isinstance(v, tuple) for v in graph.given.values())


def solve(graph: Graph, gradients: bool = False) -> Solution:
    """Solve a vector problem; ``gradients`` as in :func:`derive.engine.solve` (scalar nodes)."""
    with mpmath.workdps(DIGITS + 5):
        ev = VEval(graph)
        questions = tuple(_question(ev, q) for q in graph.problem.questions)
        loss, grads = None, {}
        if gradients:
            loss = loss_symbol(graph)
            if loss is not None and ev.values[loss].is_scalar:
                adj = ev.backward({loss: scalar(ev.D.num(1))})
                grads = {s: ev.shown(t) for s, t in adj.items()
                         if s in graph.nodes and t.is_scalar}
    info = VectorInfo(ev.node_shapes, ev.quantity_shapes(), ev.D.exact)
    return Solution(graph.problem, graph, _Shown(ev), questions, info, loss=loss,
                    gradients=grads)


class _Shown(dict):
    """symbol -> value as shown (a sympy number or matrix), converted on first use."""

    def __init__(self, ev: "VEval") -> None:
        super().__init__()
        self.ev = ev

    def __missing__(self, key):
        t = self.ev.value(key)
        v = self.ev.shown(t)
        self[key] = v
        return v

    def get(self, key, default=None):
        try:
            return self[key]
        except KeyError:
            return default


def key_sym(key) -> sympy.Symbol:
    name, step = key
    return sym(name) if step is None else sym(f"{name}[{step}]")


class VEval:
    """Compiled programs, forward values and the backward pass of one vector problem."""

    def __init__(self, g: Graph) -> None:
        self.g = g
        self.p = g.problem
        self.T = g.T
        self.node_shapes: dict = {}
        self.shape_by_name: dict = {}
        self.programs: dict = {}
        self.general: dict = {}
        self.leaf_cache: dict = {}
        self.ties: list = []
        self.kinks: list = []
        self._compile()
        self.D: Domain = self._domain()
        self.values: dict = {}
        self.regs: dict = {}
        self._forward()

    # -- shapes and programs ------------------------------------------------------------------
    def _given_shape(self, name, step):
        s = key_sym((name, step))
        if s in self.g.given:
            return value_shape(self.g.given[s])
        return None

    def _compile(self) -> None:
        p = self.p
        indexed = {eq.name for eq in p.equations if eq.indexed}
        initial = {}
        for gv in p.given:
            if gv.name in indexed and gv.index is not None:
                try:
                    initial.setdefault(gv.name, (value_shape(gv.value), gv))
                except ExprError as e:
                    raise p.error(str(e), f"given.{gv.name}[{gv.index}]") from None
        assumed: dict = {}
        for gv in p.given:
            try:
                if gv.index is None and gv.name not in indexed and \
                        isinstance(gv.value, tuple) and key_sym((gv.name, 1)) in self.g.given:
                    shapes = {value_shape(v) for v in gv.value}
                    if len(shapes) > 1:
                        raise ExprError("every step needs a value of the same shape")
                else:
                    value_shape(gv.value)
            except ExprError as e:
                key = f"given.{gv.name}" + (f"[{gv.index}]" if gv.index is not None else "")
                raise p.error(str(e), key) from None

        def shape_of(extra):
            kind, name, k = extra
            if kind == "p":
                if name in self.shape_by_name:
                    return self.shape_by_name[name]
                return self._given_shape(name, None) or (1, 1)
            if name in indexed:
                if name in self.shape_by_name:
                    return self.shape_by_name[name]
                shp = initial[name][0] if name in initial else (1, 1)
                assumed.setdefault(name, shp)
                return shp
            step = k if kind == "n" else 1
            return self._given_shape(name, step) or (1, 1)

        self.shape_of = shape_of
        for eq in p.equations:
            key = f"equations.{eq.key}"
            try:
                prog = compile_expr(eq.expr, shape_of, self.T, in_step=eq.indexed)
                sums: list = []
                general = compile_expr(eq.expr, shape_of, self.T, sums=sums) \
                    if not eq.indexed else prog
            except ExprError as e:
                raise p.error(str(e), key) from None
            shape = prog.shape
            if eq.indexed:
                want = assumed.get(eq.name) or (initial[eq.name][0] if eq.name in initial
                                                else None)
                if want is not None and want != shape:
                    src = initial.get(eq.name)
                    where = f"{eq.name}[{src[1].index}]" if src else f"{eq.name}[t-1]"
                    raise p.error(f"{eq.name}[t] is {shape_text(shape)} but {where} is "
                                  f"{shape_text(want)}", key)
            self.shape_by_name[eq.name] = shape
            self.programs[eq.key] = prog
            self.general[eq.key] = (general, tuple(sums))
            for prg in (prog, general) + tuple(sums):
                for ins in prg.instrs:
                    self.node_shapes[id(ins.node)] = ins.shape
        # dependencies from the programs (sympy's scalar view may have simplified some away)
        for s, node in self.g.nodes.items():
            prog = self.programs[node.equation.key]
            node.deps = tuple(dict.fromkeys(key_sym(k) for k in prog.leaf_keys(node.step)))
        self.g.nodes = _toposort(self.p, self.g.nodes)
        for position, node in enumerate(self.g.nodes.values()):
            node.order = position
        self.order = tuple(self.g.nodes)

    def quantity_shapes(self) -> tuple:
        out = []
        for eq in self.p.equations:
            out.append((f"{eq.name}[t]" if eq.indexed else eq.name, self.shape_by_name[eq.name]))
        seen = set()
        for gv in self.p.given:
            if gv.name in seen:
                continue
            seen.add(gv.name)
            if gv.index is not None:
                out.append((f"{gv.name}[{gv.index}]", value_shape(gv.value)))
            elif key_sym((gv.name, 1)) in self.g.given and gv.name not in self.shape_by_name \
                    and isinstance(gv.value, tuple):
                out.append((f"{gv.name}[t]", value_shape(gv.value[0])))
            else:
                out.append((gv.name, value_shape(gv.value)))
        return tuple(out)

    def _domain(self) -> Domain:
        """Exact sympy numbers while the problem is small, else 50-digit floats; refuses a
        problem whose forward pass alone needs more than MAX_PRODUCTS multiplications."""
        cost, products, transcendental = 0, 0, False
        for node in self.g.nodes.values():
            prog = self.programs[node.equation.key]
            for ins in prog.instrs:
                entries = ins.shape[0] * ins.shape[1]
                if ins.op == "matmul":
                    cost += entries * 8
                    products += entries * prog.instrs[ins.args[0]].shape[1]
                else:
                    cost += entries
                    products += entries
                transcendental |= ins.op in ("f", "softmax")
        if products > MAX_PRODUCTS:
            raise self.p.error(f"the forward pass alone needs about {products / 1e6:.0f} million "
                               f"multiplications; derive's limit is {MAX_PRODUCTS // 10**6} "
                               "million (hidden size squared times steps, roughly)",
                               "equations")
        symbolic = any(s not in self.g.given for s in self.g.leaves)
        if symbolic or cost <= EXACT_COST or (not transcendental and cost <= RATIONAL_COST):
            return EXACT
        return FAST

    # -- forward --------------------------------------------------------------------------------
    def leaf(self, key) -> Tensor:
        s = key_sym(key)
        v = self.values.get(s)
        if v is not None:
            return v
        t = self.leaf_cache.get(s)
        if t is None:
            if s in self.g.given:
                t = from_value(self.g.given[s], self.D)
            elif self.D.exact:
                t = scalar(s)
            else:
                raise ExprError(f"{s.name} has no value")
            self.leaf_cache[s] = t
        return t

    def value(self, s) -> Tensor:
        if s in self.values:
            return self.values[s]
        return self.leaf((s.name, None) if "[" not in s.name else
                         (s.name.split("[")[0], int(s.name[:-1].split("[")[1])))

    def _forward(self) -> None:
        for s, node in self.g.nodes.items():
            prog = self.programs[node.equation.key]
            try:
                regs = prog.run(self.D, node.step, self.leaf)
                check_finite(self.D, regs[-1])
            except ExprError as e:
                raise self.p.error(str(e), f"equations.{node.equation.key}") from None
            for k, ins in enumerate(prog.instrs):
                if ins.op == "hardmax" and hardmax(self.D, regs[ins.args[0]])[1]:
                    self.ties.append(s)
                if ins.op == "f" and ins.extra in ("relu", "abs") and \
                        any(x == 0 for x in regs[ins.args[0]].data):
                    self.kinks.append((s, ins.extra))
            self.values[s] = regs[-1]
            self.regs[s] = regs

    def shown(self, t: Tensor, full: bool = False):
        """A tensor as sympy: a number, or an immutable matrix (a LazyMatrix when it is too
        large to print whole, unless ``full``)."""
        conv = self.D.to_sympy
        if t.is_scalar:
            return conv(t.data[0])
        if not full and (t.rows > MAX_MATRIX_SHOWN or t.cols > MAX_MATRIX_SHOWN):
            return LazyMatrix(t, conv)
        return sympy.ImmutableMatrix(t.rows, t.cols, [conv(x) for x in t.data])

    # -- backward -------------------------------------------------------------------------------
    def backward(self, adj: dict, bound: int | None = None, edges: dict | None = None) -> dict:
        """Adjoints from seeds ``adj`` (symbol -> Tensor, modified in place) through every node
        in reverse topological order; nodes at steps <= bound get none (truncated BPTT)."""
        D = self.D
        nodes = self.g.nodes
        # leaves (parameters, inputs) collect their terms and are summed once at the end
        pending: dict = {d: [v] for d, v in adj.items() if d not in nodes}
        for s in reversed(self.order):
            a = adj.get(s)
            if a is None:
                continue
            node = nodes[s]
            prog = self.programs[node.equation.key]
            for key, c in prog.vjp(D, self.regs[s], a, node.step).items():
                d = key_sym(key)
                dn = nodes.get(d)
                if dn is None:
                    pending.setdefault(d, []).append(c)
                elif bound is not None and dn.step is not None and dn.step <= bound:
                    continue
                else:
                    adj[d] = c if d not in adj else elementwise(D, D.add, adj[d], c)
                if edges is not None:
                    edges[(d, s)] = c
        for d, terms in pending.items():
            adj[d] = sum_tensors(D, terms)
        return adj

    def seed(self, prog: Program, t, g: Tensor) -> dict:
        """Adjoints of the quantities a question's expression reads, given its adjoint g."""
        regs = prog.run(self.D, t, self.leaf)
        return {key_sym(k): v for k, v in prog.vjp(self.D, regs, g, t).items()}

    def compile_find(self, e: ex.Expr, key: str, t: int | None = None,
                     sums: list | None = None) -> Program:
        def shape_of(extra):
            kind, name, k = extra
            s = key_sym((name, None if kind == "p" else k))
            if s in self.g.nodes:
                return self.values[s].shape
            if s in self.g.given:
                return value_shape(self.g.given[s])
            if kind == "p" and name in self.shape_by_name:
                return self.shape_by_name[name]
            known = {n.name for eq in self.p.equations for n in ex.walk(eq.expr)
                     if isinstance(n, (ex.Name, ex.Ref))}
            if name not in known and name not in self.shape_by_name:
                raise ExprError(f"unknown name {name}")
            if kind != "p" and name in self.shape_by_name:
                if k < 1 or (self.T is not None and k > self.T):
                    raise ExprError(f"{name}[{k}] is outside the steps 1..{self.T}")
            return (1, 1)
        try:
            prog = compile_expr(e, shape_of, self.T, t, sums=sums)
        except ExprError as err:
            raise self.p.error(str(err), key) from None
        for ins in prog.instrs:
            self.node_shapes[id(ins.node)] = ins.shape
        return prog


# ---- questions ----------------------------------------------------------------------------------

def _question(ev: VEval, q: Question) -> QuestionSolution:
    if q.find is None:
        return QuestionSolution(q, None, (Note(q.answer),) if q.answer else (), None)
    key = f"questions.{q.id}.find"
    try:
        if isinstance(q.find, ex.Call) and q.find.func == "d":
            return _derivative(ev, q, key)
        return _value(ev, q, key)
    except ExprError as e:
        raise ev.p.error(str(e), key) from None


def _answer(ev: VEval, t: Tensor, shape=None) -> Answer:
    shape = shape or t.shape
    t = Tensor(shape[0], shape[1], t.data)
    if not ev.D.exact:
        fl = [float(x) for x in t.data]
        value = fl[0] if t.is_scalar else fl if t.cols == 1 else \
            [fl[i * t.cols:(i + 1) * t.cols] for i in range(t.rows)]
        return Answer(ev.shown(t), None, value)
    v = ev.shown(t, full=True)
    v = v.applyfunc(simplify) if isinstance(v, sympy.MatrixBase) else simplify(v)
    entries = [v] if not isinstance(v, sympy.MatrixBase) else list(v)
    numeric = all(x.is_number for x in entries)
    exact = v if all(not x.has(sympy.Float) for x in entries) else None
    value = None
    if numeric:
        fl = [float(x) for x in entries]
        if t.is_scalar:
            value = fl[0]
        elif t.cols == 1:
            value = fl
        else:
            value = [fl[i * t.cols:(i + 1) * t.cols] for i in range(t.rows)]
    return Answer(v, exact, value)


def _ancestors(ev: VEval, roots) -> tuple:
    return ev.g.ancestors(roots)


def _forward_step(ev: VEval, roots) -> VForward | None:
    rows = _ancestors(ev, roots)
    if not rows:
        return None
    table = (ev.T or 0) > DETAIL_MAX_T or len(rows) > 16
    return VForward(rows, table)


def _value(ev: VEval, q: Question, key: str) -> QuestionSolution:
    prog = ev.compile_find(q.find, key)
    regs = prog.run(ev.D, None, ev.leaf)
    roots = [key_sym(k) for k in prog.leaf_keys(None)]
    steps = []
    fwd = _forward_step(ev, roots)
    if fwd is not None:
        steps.append(fwd)
    target = q.find
    ans = _answer(ev, regs[-1])
    steps.extend(_tie_notes(ev, roots))
    return QuestionSolution(q, target, tuple(steps), ans)


def _tie_notes(ev: VEval, roots, derivative: bool = False) -> list:
    """Conventions at points where a function is not differentiable, stated, never silent."""
    anc = set(_ancestors(ev, roots))
    notes = []
    tied = [s for s in ev.ties if s in anc]
    if tied:
        names = ", ".join(s.name for s in tied)
        notes.append(Note("hardmax has a tie for the largest entry at " + names + "; as the "
                          "problem format says, the first largest entry is taken."))
    if derivative:
        if any(ins.op == "hardmax" for s in anc
               for ins in ev.programs[ev.g.nodes[s].equation.key].instrs):
            notes.append(Note(HARDMAX_WORDS))
        for f in sorted({f for s, f in ev.kinks if s in anc}):
            notes.append(Note(KINK_WORDS.format(f=f)))
    return notes


def _opening(ev: VEval, of_prog: Program) -> tuple[list, list]:
    """The first steps of a derivative (forward values, conventions) and the quantities the
    differentiated expression reads."""
    roots = [key_sym(k) for k in of_prog.leaf_keys(None)]
    steps: list = []
    fwd = _forward_step(ev, roots)
    if fwd is not None:
        steps.append(fwd)
    steps.extend(_tie_notes(ev, roots, derivative=True))
    return steps, roots


def _wrt_symbol(ev: VEval, e: ex.Expr) -> sympy.Symbol:
    if isinstance(e, ex.Name):
        s = sym(e.name)
    elif isinstance(e, ex.Ref):
        step = e.index.value if e.index.kind == "n" else (ev.T or 0) + e.index.value
        if e.index.kind == "t":
            raise ExprError("wrt must be one quantity, a given or a parameter")
        s = sym(f"{e.name}[{step}]")
    else:
        raise ExprError("d(of, wrt): wrt must be one quantity, a given or a parameter")
    if s not in ev.g.nodes and s not in ev.g.given and s not in ev.g.leaves:
        raise ExprError(f"{s.name} does not appear in any equation")
    return s


def _derivative(ev: VEval, q: Question, key: str) -> QuestionSolution:
    of_e, wrt_e = q.find.args
    wrt = _wrt_symbol(ev, wrt_e)
    of_prog = ev.compile_find(of_e, key)
    of_val = of_prog.run(ev.D, None, ev.leaf)[-1]
    wshape = ev.value(wrt).shape
    target = Partial(_of_symbol(of_e), wrt)
    if of_val.is_scalar:
        return _gradient(ev, q, key, of_e, of_prog, wrt, wshape, target)
    if wshape != (1, 1) and wshape[1] != 1 and wshape[0] != 1:
        raise ExprError("d(vector, matrix) would be an array with three indices; ask for "
                        "the derivative of a scalar (a loss, or one entry through sum or dot)")
    if of_val.rows != 1 and of_val.cols != 1 and wshape != (1, 1):
        raise ExprError("d(matrix, ...) is only defined here by a scalar")
    if q.truncate is not None:
        raise ExprError("truncate goes with the derivative of a scalar loss")
    return _jacobian(ev, q, of_e, of_prog, of_val, wrt, wshape, target)


def _of_symbol(e: ex.Expr):
    if isinstance(e, ex.Name):
        return sym(e.name)
    if isinstance(e, ex.Ref) and e.index.kind == "n":
        return sym(f"{e.name}[{e.index.value}]")
    return e  # an expression: printed as written


def _grad(ev: VEval, of_prog: Program, t=None, bound=None, edges=None) -> tuple[dict, dict]:
    """(adjoints of everything reached, the seeds read off the question's expression)."""
    seeds = ev.seed(of_prog, t, scalar(ev.D.num(1)))
    adj = ev.backward(dict(seeds), bound, edges)
    return adj, seeds


def _gradient(ev, q, key, of_e, of_prog, wrt, wshape, target) -> QuestionSolution:
    D = ev.D
    edges: dict = {}
    if q.truncate is None:
        adj, seeds = _grad(ev, of_prog, edges=edges)
        g = adj.get(wrt)
        per_term = None
    else:
        plain = {e.name: e.expr for e in ev.p.equations if not e.indexed}
        g, per_term, adj = None, [], {}
        for term, t, horizon in ex.loss_terms(of_e, plain, ev.T):
            prog = ev.compile_find(term, key, t)
            a, _ = _grad(ev, prog, t=t, bound=horizon - q.truncate)
            part = a.get(wrt)
            per_term.append((t, part))
            if part is not None:
                g = part if g is None else elementwise(D, D.add, g, part)
        seeds = {}
    if g is None:
        g = zeros(wshape, D)
    ans = _answer(ev, g, wshape)
    steps, roots = _opening(ev, of_prog)
    if q.form == "general":
        steps.append(_general_formula(ev, target, wrt))
    if q.truncate is None:
        steps.extend(_backward_steps(ev, of_e, of_prog, wrt, adj, seeds, edges, target, ans))
    else:
        steps.append(Note(f"Truncated BPTT with $K = {q.truncate}$: each loss term is "
                          f"back-propagated through at most {q.truncate} step"
                          f"{'s' if q.truncate > 1 else ''} (its own step counts as one)."))
        terms = tuple((t, ev.shown(p) if p is not None else sympy.Integer(0))
                      for t, p in per_term)
        steps.append(VResult(target, tuple(v for _, v in terms), ans.expr, "terms"))
    return QuestionSolution(q, target, tuple(steps), ans)


# ---- the backward steps --------------------------------------------------------------------------

def _reach(ev: VEval, wrt) -> set:
    """wrt and every node that depends on it."""
    reach = {wrt}
    for s in ev.order:
        if any(d in reach for d in ev.g.nodes[s].deps):
            reach.add(s)
    return reach


def _relevant(ev: VEval, roots, wrt) -> tuple:
    """Equation names on a path from the question's quantities down to wrt, loss side first."""
    anc = set(_ancestors(ev, roots))
    reach = _reach(ev, wrt)
    names = {ev.g.nodes[s].equation.key for s in anc & reach}
    return tuple(eq for eq in reversed(ev.p.equations) if eq.key in names)


def _consumers(ev: VEval, eqs, name: str):
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


def _term_form(ev: VEval, eq, extra, sum_i, root_eq=None, ones=()):
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


def _adjoint_rows(ev: VEval, relevant, root_eq, wrt, adj) -> list:
    """(lhs, rhs, when) rows of the backward equations, loss side first."""
    rows = []
    users = tuple(relevant)
    T = ev.T
    ones: set = set()
    for eq in relevant:
        if eq is root_eq:
            continue
        general, at_T, extra_rows = [], [], []
        for ceq, extra, sum_i in _consumers(ev, users, eq.name):
            f = _term_form(ev, ceq, extra, sum_i, root_eq, ones)
            if f is None:
                continue
            kind, _, k = extra
            if kind == "t":
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
        fixed_T = [f for k, f in extra_rows if k == T]
        if eq.indexed and (len(at_T) != len(general) or fixed_T):
            rows.append((lhs, fm.plus(general), "t < T" if T and T > 1 else ""))
            rows.append((fm.Adj(eq.name, ex.Index("T", 0), lhs.scalar),
                         fm.plus([fm.AtT(f, fm.is_scalar(f)) for f in at_T] + fixed_T),
                         "T"))
        else:
            rhs = fm.plus(general)
            rows.append((lhs, rhs, ""))
            if rhs == fm.Num(1):
                ones.add(eq.name)
        ce = _softmax_ce(ev, eq, users, adj)
        if ce is not None:
            rows.append(ce)
        for k, f in extra_rows:
            if k != T:
                rows.append((fm.Adj(eq.name, ex.Index("n", k), lhs.scalar), f, f"plus at {k}"))
    return rows


def _cross_entropy_target(e: ex.Expr, s_name: str):
    """y when e is -sum(y[t] * log(s[t])) (either order) or -dot(y[t], log(s[t])), else None."""
    if not isinstance(e, ex.Neg) or not isinstance(e.arg, ex.Call):
        return None
    inner = e.arg
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


def _softmax_ce(ev: VEval, eq, users, adj):
    """The row ∂L/∂o_t = ŷ_t − y_t when o feeds only ŷ = softmax(o) and ŷ only the
    cross-entropy −Σ y log ŷ with targets summing to 1 — checked against the numbers."""
    if not eq.indexed:
        return None
    cons = _consumers(ev, users, eq.name)
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
        return None
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


def _nonzero(x: sympy.Expr) -> bool:
    """A number beyond rounding, or a symbolic expression that sympy has not cancelled to 0."""
    return abs(float(x)) > 1e-30 if x.is_number else x != 0


def _param_form(ev: VEval, relevant, wrt, root_eq):
    """∂root/∂wrt for a parameter: the terms of each equation that reads it."""
    name = wrt.name
    per_step, plain = [], []
    for ceq, extra, sum_i in _consumers(ev, relevant, name):
        f = _term_form(ev, ceq, extra, sum_i, root_eq)
        if f is None:
            continue
        (per_step if ceq.indexed or sum_i is not None else plain).append(f)
    return fm.plus(per_step), fm.plus(plain)


def _backward_steps(ev, of_e, of_prog, wrt, adj, seeds, edges, target, ans) -> list:
    D = ev.D
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
            f = _term_form(ev, ceq, extra, sum_i, root_eq)
            if f is not None and extra[0] == "t":
                terms.append(fm.Shift(f, -extra[2], fm.is_scalar(f)))
        param = (fm.plus(terms), None, step)
    steps.append(VBackward(target, tuple(rows), param, root_eq.name if root_eq else None))
    steps.extend(_additive_paths(ev, roots, wrt))
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

def _jacobian(ev, q, of_e, of_prog, of_val, wrt, wshape, target) -> QuestionSolution:
    D = ev.D
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
    ans = _answer(ev, jac)
    steps, roots = _opening(ev, of_prog)
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


def _state_chain(ev: VEval, of, wrt, answer) -> VChain | None:
    """∂h_a/∂h_b as the product of local Jacobians ∂h_t/∂h_{t-1}, when h's own equation is the
    only way from one step to the next."""
    if not isinstance(of, sympy.Symbol) or of not in ev.g.nodes or wrt not in ev.g.nodes:
        return None
    a, b = ev.g.nodes[of], ev.g.nodes[wrt]
    if a.name != b.name or a.step is None or b.step is None or not b.step < a.step:
        return None
    if a.step - b.step > CHAIN_MAX:
        return None
    eq = a.equation
    prog = ev.programs[eq.key]
    leaves = {ins.extra for ins in prog.instrs if ins.op == "leaf"}
    if ("t", eq.name, -1) not in leaves:
        return None
    for ins in prog.instrs:
        if ins.op == "leaf" and ins.extra[0] == "t" and ins.extra[1] in ev.shape_by_name \
                and ins.extra != ("t", eq.name, -1):
            return None  # another quantity of the same step or a later one: more than a chain
    form = fm.jacobian_forms(prog, ("t", eq.name, -1), _own(eq))
    if form is None:
        return None
    factors = []
    D = ev.D
    for t in range(a.step, b.step, -1):
        s = sym(f"{eq.name}[{t}]")
        out = ev.values[s]
        prev = ev.value(sym(f"{eq.name}[{t - 1}]"))
        rows = []
        for i in range(len(out.data)):
            e_i = Tensor(out.rows, out.cols, [D.num(1) if j == i else D.num(0)
                                             for j in range(len(out.data))])
            c = prog.vjp(D, ev.regs[s], e_i, t).get((eq.name, t - 1))
            rows.append(c.data if c is not None else [D.num(0)] * len(prev.data))
        m = Tensor(len(out.data), len(prev.data), [x for r in rows for x in r])
        factors.append((t, form, ev.shown(m) if not m.is_scalar else
                        sympy.ImmutableMatrix([[ev.shown(m)]])))
    return VChain(Partial(of, wrt), eq.name, tuple(factors), answer)


def _additive_paths(ev: VEval, roots, wrt) -> list:
    """An Additive step for each state whose update carries its previous value additively,
    when the derivative runs back through that state across steps."""
    if not ev.T or ev.T < 2:
        return []
    anc = set(_ancestors(ev, roots))
    reach = _reach(ev, wrt)
    out = []
    for eq in ev.p.equations:
        if not eq.indexed or eq.name not in ev.g.recurrent:
            continue
        if not any(ev.g.nodes[s].name == eq.name and (ev.g.nodes[s].step or 0) >= 2 and
                   sym(f"{eq.name}[{ev.g.nodes[s].step - 1}]") in reach
                   for s in anc & reach if s in ev.g.nodes):
            continue
        for term in ex.additive_terms(eq.expr, eq.name):
            prog = compile_expr(term, ev.shape_of, ev.T, in_step=True)
            for ins in prog.instrs:
                ev.node_shapes[id(ins.node)] = ins.shape
            form = fm.jacobian_forms(prog, ("t", eq.name, -1))
            if form is not None:
                out.append(Additive(eq.name, term, form))
    return out


def _general_formula(ev: VEval, lhs: Partial, wrt):
    """The T-step formula for a parameter of the single recurrence, or a Note saying why not."""
    states = [eq for eq in ev.p.equations if eq.indexed and eq.name in ev.g.recurrent]
    if len(states) != 1:
        return Note(general.NEEDS)
    eq = states[0]
    inlined = general.inline(ev.p, eq.name)
    prog = compile_expr(inlined, ev.shape_of, ev.T, in_step=True)
    for ins in prog.instrs:
        ev.node_shapes[id(ins.node)] = ins.shape
    leaves = {ins.extra for ins in prog.instrs if ins.op == "leaf"}
    if ("t", eq.name, -1) not in leaves or ("p", wrt.name, None) not in leaves:
        return Note(general.NEEDS)
    local = fm.jacobian_forms(prog, ("t", eq.name, -1), _own(eq))
    act, weight = general.recurrent_weight(eq.name, inlined)
    value = ev.g.given.get(sym(weight)) if weight else None
    return GeneralFormula(lhs, eq.name, local, None, act, weight, general.norm(value))
