"""The one numeric core: every problem, scalar or not, compiled once per equation into a
straight-line program (:mod:`.program`) and run forward at every step and backward
(vector-Jacobian products, reverse topological order, linear in T) over one number domain:
exact while small, 50 digits past that (:data:`.tensor.MIXED`), or 50-digit floats from the
start for large vector problems (:data:`.tensor.FAST`).  A scalar is the 1×1 case.

Both narrators (:mod:`.scalar`, :mod:`.vector`) read every number they show from here.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import sympy

from ..errors import ExprError, SpecError, unknown_name
from ..lang import expr as ex
from ..lang.to_sympy import sym
from ..solution import MAX_MATRIX_SHOWN, Answer
from .graph import Graph, toposort
from .numbers import settle, simplify, tree_size
from .program import Program, compile_expr
from .tensor import (FAST, MIXED, Domain, LazyMatrix, Tensor, check_finite, elementwise,
                     from_value, scalar, shape_text, sum_tensors, value_shape)
from ..ops import hardmax

#: Above this many entry operations (or this many with only rational arithmetic) the numbers
#: are carried as 50-digit floats rather than exact sympy numbers.
EXACT_COST = 4000
RATIONAL_COST = 40000
MAX_PRODUCTS = 5_000_000
#: A symbolic answer larger than this many tree nodes has no exact text in the JSON.
SYMBOLIC_EXACT_CAP = 400


@dataclass(frozen=True)
class Alteration:
    """A change made inside the engine to re-solve a problem as a student with a known slip
    would have (grading builds these, :mod:`derive.grade.catalog`); the empty one changes
    nothing.  Each field is a tuple of pairs or triples, so alterations compose by
    concatenation (a pair of mistakes).

    ``exprs``: (node symbol, grammar expression) the node computes instead of its equation
    (a term dropped at that step).  ``rules``: (node symbol, grammar node, rule) the backward
    rule of the instructions compiled from that grammar node in the node's program (a local
    derivative left out or wrong).  ``back_leaves``: (node symbol, read, instead) the node's
    local derivatives read ``instead``'s value where its equation reads ``read`` (h_t for
    h_{t-1} in ∂h_t/∂W); its forward value stays.  ``given``: (given symbol, value) givens
    replaced (a matrix transposed).  ``cut``: (dependency, node) edges the backward pass does
    not take (a path left out).  ``fixed``: (node symbol, value) forward values replaced (a
    student's own earlier answer, carried forward); ``adjoints``: (node symbol, value) the
    adjoint a backward pass reaches a node with, replaced (a student's own ∂L/∂h_1 carried
    into ∂L/∂W)."""

    exprs: tuple = ()
    rules: tuple = ()
    back_leaves: tuple = ()
    given: tuple = ()
    cut: tuple = ()
    fixed: tuple = ()
    adjoints: tuple = ()

    def __add__(self, other: "Alteration") -> "Alteration":
        return Alteration(*(getattr(self, f) + getattr(other, f) for f in _ALTERATION_FIELDS))


_ALTERATION_FIELDS = ("exprs", "rules", "back_leaves", "given", "cut", "fixed", "adjoints")
NO_ALTERATION = Alteration()


class ShownValues(dict):
    """symbol -> forward value as shown (a sympy number or matrix), read from the core on
    first use; a leaf with no value is itself (a symbol).  Every quantity of the graph is
    ``in`` it, read or not yet."""

    def __init__(self, core: "Core") -> None:
        super().__init__()
        self.core = core

    def __missing__(self, key):
        try:
            t = self.core.value(key)
        except (ExprError, ValueError, IndexError):
            raise KeyError(key) from None
        v = self[key] = self.core.shown(t)
        return v

    def __contains__(self, key) -> bool:
        if dict.__contains__(self, key):
            return True
        g = self.core.g
        return key in g.nodes or key in g.given or key in self.core.leaf_set

    def get(self, key, default=None):
        try:
            return self[key] if key in self else default
        except KeyError:
            return default


@functools.lru_cache(maxsize=None)
def key_sym(key) -> sympy.Symbol:
    """The symbol of a program leaf's (name, step): ``h[3]`` or ``W``."""
    name, step = key
    return sym(name) if step is None else sym(f"{name}[{step}]")


class Core:
    """Compiled programs, forward values and the backward pass of one vector problem."""

    def __init__(self, g: Graph, override: frozenset = frozenset(),
                 alteration: Alteration = NO_ALTERATION) -> None:
        """``override``: quantities whose forward value is their own symbol (a symbolic
        answer by a quantity keeps that quantity as the variable).  ``alteration``: a
        student's slip applied (grading only; the graph itself is left as it is)."""
        self.g = g
        self.override = override
        self.alt = alteration
        self.given = g.given if not alteration.given else {**g.given, **dict(alteration.given)}
        self.node_programs: dict = {}  # node -> its program where an alteration changes it
        self.back_regs: dict = {}  # node -> registers its local derivatives read (back_leaves)
        self.cut = frozenset(alteration.cut)
        self.views: dict = {}  # narrators' caches over this core
        self._partials: dict = {}
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
                hint = self._start_hint(eq, shape_of, assumed, initial) if eq.indexed else None
                if hint is not None:
                    raise p.error(*hint) from None
                raise p.error(str(e), key) from None
            shape = prog.shape
            if eq.indexed:
                _no_sum_of_a_scalar(p, eq, prog, key)
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
        self._check_classes()
        if self.alt is not NO_ALTERATION:
            self._alter_programs()
        # dependencies from the programs (sympy's scalar view may have simplified some away)
        self.leaf_syms: dict = {}  # node -> the symbol of each leaf of its program, in order
        reorder = False
        for s, node in self.g.nodes.items():
            prog = self.program_of(s)
            syms = self.leaf_syms[s] = tuple(key_sym(k) for k in prog.leaf_keys(node.step))
            if self.alt is not NO_ALTERATION:
                continue  # an altered core reads the graph; the true dependencies stay
            node.deps = tuple(dict.fromkeys(syms))
            reorder = reorder or not set(node.deps) <= set(node.shown_deps)
        if reorder:  # a program reads what sympy cancelled: order by what the programs read
            self.g.nodes = toposort(self.p, self.g.nodes)
        for position, node in enumerate(self.g.nodes.values()):
            node.order = position
        self.order = tuple(self.g.nodes)

    def program_of(self, s) -> Program:
        """The program node ``s`` runs (its equation's, unless an alteration changes it)."""
        prog = self.node_programs.get(s)
        return prog if prog is not None else self.programs[self.g.nodes[s].equation.key]

    def _alter_programs(self) -> None:
        """The programs of the nodes an alteration changes (an ExprError when a changed
        expression does not fit the node's shape)."""
        for s, e in self.alt.exprs:
            node = self.g.nodes[s]
            prog = compile_expr(e, self.shape_of, self.T, in_step=node.equation.indexed)
            if prog.shape != self.shape_by_name[node.name]:
                raise ExprError(f"{s.name} would change shape")
            self.node_programs[s] = prog
        for s, gnode, rule in self.alt.rules:
            prog = self.program_of(s)
            back = dict(prog.back)
            back.update({k: rule for k, ins in enumerate(prog.instrs) if ins.node is gnode})
            self.node_programs[s] = Program(prog.instrs, back)

    def _check_classes(self) -> None:
        """A given read as an entry index (a class number, c in p[t][c[t]]) holds whole numbers
        from 1 to the number of entries it picks from, at every step; else an error naming
        the given."""
        givens = {g.name: g for g in self.p.given if g.index is None}
        self.classes: dict = {}  # given name -> the number of entries its values pick from
        for prog in self.programs.values():
            for ins in prog.instrs:
                if ins.op != "entry":
                    continue
                base = prog.instrs[ins.args[0]].shape
                sizes = (base[0] * base[1],) if 1 in base else base
                for i, size in zip(ins.node.indices, sizes):
                    g = givens.get(getattr(i, "name", None))
                    if g is None:
                        continue
                    self.classes[g.name] = min(size, self.classes.get(g.name, size))
                    values = g.value if isinstance(g.value, tuple) else (g.value,)
                    for k, v in enumerate(values, start=1):
                        if isinstance(v, tuple) or not v.is_Integer or not 1 <= v <= size:
                            at = f"{g.name}[{k}]" if isinstance(g.value, tuple) else g.name
                            shown = "a list" if isinstance(v, tuple) else str(v)
                            raise self.p.error(
                                f"{at} is {shown}, but {ex.to_text(ins.node)} needs a whole "
                                f"number from 1 to {size} (a class number)", f"given.{g.name}")

    def _start_hint(self, eq, shape_of, assumed, initial) -> tuple | None:
        """(message, key) when a ``[t]`` equation's shapes fail because of a state's start: a
        state read at an earlier step takes the shape of its given start (1×1 when none is
        given); if a column vector for that state makes the equation consistent, say which
        start to give and how."""
        read = sorted({n.name for n in ex.walk(eq.expr) if isinstance(n, ex.Ref) and
                       n.index.kind == "t" and n.index.value < 0 and assumed.get(n.name) == (1, 1)})
        sizes = sorted({n for v in self.g.given.values() for n in value_shape(v) if n > 1})
        for name in read:
            for n in sizes:
                def trial(extra, n=n, name=name):
                    return (n, 1) if extra[1] == name and extra[0] != "p" else shape_of(extra)
                try:
                    shape = compile_expr(eq.expr, trial, self.T, in_step=True).shape
                except ExprError:
                    continue
                if name == eq.name and shape != (n, 1):
                    continue
                start = initial.get(name)
                if start is not None:
                    what = f"{name}[{start[1].index}]"
                    return (f"{name}[t] is a vector of {n}, so {what} must be given as a vector "
                            f"of {n}, not a number", f"given.{what}")
                first = min(1 + m.index.value for m in ex.walk(eq.expr)
                            if isinstance(m, ex.Ref) and m.name == name and m.index.kind == "t")
                return (f"{name}[t] is a vector of {n}: give its start {name}[{first}] as a "
                        f"vector of {n} (it is not given)", f"equations.{eq.key}")
        return None

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
                transcendental |= ins.op == "call" and ins.extra.transcendental
        if products > MAX_PRODUCTS:
            raise self.p.error(f"the forward pass alone needs about {products / 1e6:.0f} million "
                               f"multiplications; derive's limit is {MAX_PRODUCTS // 10**6} "
                               "million (hidden size squared times steps, roughly)",
                               "equations")
        symbolic = any(s not in self.g.given for s in self.g.leaves)
        # a vector given that only a question reads still makes the problem a vector one
        scalars = all(ins.shape == (1, 1) for prog in self.programs.values()
                      for ins in prog.instrs) and \
            not any(isinstance(v, tuple) for v in self.g.given.values())
        self.scalars = scalars
        if scalars or symbolic or cost <= EXACT_COST or (not transcendental and cost <= RATIONAL_COST):
            return MIXED
        return FAST

    # -- forward --------------------------------------------------------------------------------
    def leaf(self, key) -> Tensor:
        return self.leaf_of(key_sym(key))

    def leaf_of(self, s) -> Tensor:
        """The value of a quantity a program reads: a node's, a given's, or a free symbol."""
        v = self.values.get(s)
        if v is not None:
            return v
        t = self.leaf_cache.get(s)
        if t is None:
            if s in self.given:
                t = from_value(self.given[s], self.D)
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
        # the calls with a convention to state (hardmax's ties; relu's, abs's and max's kinks)
        watched = {key: tuple(ins for ins in prog.instrs if ins.op == "call" and
                              (ins.extra.name == "hardmax" or ins.extra.kink))
                   for key, prog in self.programs.items()}
        fixed = dict(self.alt.fixed)
        back_leaves: dict = {}
        for s, read, instead in self.alt.back_leaves:
            back_leaves.setdefault(s, []).append((read, instead))
        for s, node in self.g.nodes.items():
            prog = self.program_of(s)
            try:
                regs = prog.run_leaves(self.D, [self.leaf_of(d) for d in self.leaf_syms[s]])
                check_finite(self.D, regs[-1])
            except ExprError as e:
                raise self.p.error(str(e), f"equations.{node.equation.key}") from None
            for ins in watched[node.equation.key] if s not in self.node_programs else ():
                if ins.extra.name == "hardmax" and hardmax(self.D, regs[ins.args[0]])[1]:
                    self.ties.append(s)
                if ins.extra.kink and ins.extra.at_kink(self.D, [regs[a] for a in ins.args]):
                    self.kinks.append((s, ins.extra.name))
            out = regs[-1]
            if s in fixed:
                out = from_value(fixed[s], self.D)
            elif s in self.override:
                out = scalar(s)
            elif self.scalars and isinstance(out.data[0], sympy.Basic) \
                    and out.data[0].free_symbols:
                # a long symbolic value keeps the quantity's own name (h[3]), as by hand
                out = scalar(settle(out.data[0], s))
            elif not out.is_scalar and node.step is not None and self.D.exact and \
                    any(isinstance(x, sympy.Basic) and x.free_symbols for x in out.data):
                # so does each entry of a symbolic vector: (h_3)_1, never an ever-growing tree
                out = out.like([settle(x, _entry(s, out, k)) if isinstance(x, sympy.Basic)
                                and x.free_symbols else x for k, x in enumerate(out.data)])
            if out is not regs[-1]:
                regs = regs[:-1] + [out]
            self.values[s] = out
            self.regs[s] = regs
        for s, swaps in back_leaves.items():
            prog = self.program_of(s)
            swap = dict(swaps)
            other = prog.run_leaves(self.D, [self.leaf_of(swap.get(d, d))
                                             for d in self.leaf_syms[s]])
            self.back_regs[s] = other[:-1] + [self.regs[s][-1]]

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
    def backward(self, adj: dict, bound: int | None = None, edges: dict | None = None,
                 wanted: set | None = None) -> dict:
        """Adjoints from seeds ``adj`` (symbol -> Tensor, modified in place) through every node
        in reverse topological order; nodes at steps <= bound get none (truncated BPTT).
        ``wanted`` (optional): only quantities in it get adjoints (the variable and the
        nodes that depend on it are all a derivative needs)."""
        D = self.D
        nodes = self.g.nodes
        if bound is not None:  # a seed at a truncated step is as constant as any node there
            for d in [d for d in adj if d in nodes and (nodes[d].step or bound + 1) <= bound]:
                del adj[d]
        # leaves (parameters, inputs) collect their terms and are summed once at the end
        pending: dict = {d: [v] for d, v in adj.items() if d not in nodes}
        fixed = {s: from_value(v, D) for s, v in self.alt.adjoints}
        for s in reversed(self.order):
            a = adj.get(s)
            if a is None:
                continue
            if s in fixed:
                a = adj[s] = fixed[s]
            prog = self.program_of(s)
            regs = self.back_regs.get(s) or self.regs[s]
            for d, c in prog.vjp_leaves(D, regs, a, self.leaf_syms[s], wanted).items():
                if self.cut and (d, s) in self.cut:
                    continue
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

    @functools.cached_property
    def leaf_set(self) -> frozenset:
        """The graph's leaves, for membership tests (a long sequence has thousands)."""
        return frozenset(self.g.leaves)

    def wanted(self, wrt) -> frozenset:
        """The quantities a derivative by ``wrt`` needs adjoints of: every node, and wrt."""
        return self.node_set | {wrt}

    @functools.cached_property
    def node_set(self) -> frozenset:
        return frozenset(self.g.nodes)

    def partials(self, s) -> dict:
        """symbol -> the local partial ∂s/∂d (a Tensor) of a scalar node by each quantity it
        reads directly, from its program's backward rules at its own step."""
        out = self._partials.get(s)
        if out is None:
            node = self.g.nodes[s]
            prog = self.program_of(s)
            try:
                out = prog.vjp_leaves(self.D, self.back_regs.get(s) or self.regs[s],
                                      scalar(self.D.num(1)), self.leaf_syms[s])
            except ExprError as e:
                raise self.p.error(str(e), f"equations.{node.equation.key}") from None
            self._partials[s] = out
        return out

    def partial(self, s, dep) -> Tensor | None:
        """∂s/∂dep of a scalar node (None: s does not read dep).  A partial that is not a
        finite number (sqrt's at 0) is an error only when it is asked for: a derivative whose
        paths avoid it (PyTorch's too) needs only the others."""
        try:
            return self.partials(s).get(dep)
        except SpecError:
            node = self.g.nodes[s]
            prog = self.program_of(s)
            try:
                return prog.vjp_leaves(self.D, self.back_regs.get(s) or self.regs[s],
                                       scalar(self.D.num(1)),
                                       self.leaf_syms[s], frozenset((dep,))).get(dep)
            except ExprError as e:
                raise self.p.error(str(e), f"equations.{node.equation.key}") from None

    def seed(self, prog: Program, t, g: Tensor) -> dict:
        """Adjoints of the quantities a question's expression reads, given its adjoint g."""
        regs = prog.run(self.D, t, self.leaf)
        return {key_sym(k): v for k, v in prog.vjp(self.D, regs, g, t).items()}

    def compile_find(self, e: ex.Expr, key: str, t: int | None = None,
                     sums: list | None = None) -> Program:
        def shape_of(extra):
            kind, name, k = extra
            if kind == "t":  # at a general step: the body of a sum or mean over t
                if name in self.shape_by_name:
                    return self.shape_by_name[name]
                return self._given_shape(name, 1) or (1, 1)
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
                raise ExprError(unknown_name(name, known | set(self.shape_by_name) |
                                             {g.name for g in self.p.given}))
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

    def answer(self, t: Tensor, shape=None) -> Answer:
        """The answer as shown (sympy), its exact form when it has one, and its float value."""
        shape = shape or t.shape
        t = Tensor(shape[0], shape[1], t.data)
        if not self.D.exact:
            fl = [float(x) for x in t.data]
            return Answer(self.shown(t), None, _nest(fl, t))
        v = self.shown(t, full=True)
        v = v.applyfunc(simplify) if isinstance(v, sympy.MatrixBase) else simplify(v)
        entries = [v] if not isinstance(v, sympy.MatrixBase) else list(v)
        numeric = all(x.is_number for x in entries)
        exact = v if all(not x.has(sympy.Float) for x in entries) else None
        if exact is not None and not numeric and \
                any(tree_size(x) > SYMBOLIC_EXACT_CAP for x in entries):
            exact = None
        value = _nest([float(x) for x in entries], t) if numeric else None
        return Answer(v, exact, value)


def _no_sum_of_a_scalar(p, eq, prog: Program, key: str) -> None:
    """Inside a name[t] equation sum and mean run over the entries of a vector: of a scalar
    that reads a step they give the scalar itself.  That is harmless where the sum is the
    term itself (L[t]: sum((yhat[t] - y[t])**2) with one output), but as a normaliser (a
    divisor, or inside a function: exp(e[t]) / sum(exp(e[t])), log(sum(exp(e[t])))) the
    author meant a sum over the steps, and it would silently give 1: refused."""
    exposed = set()

    def reach(n):  # the nodes reached from the top through +, -, and products
        exposed.add(id(n))
        if isinstance(n, ex.Neg):
            reach(n.arg)
        elif isinstance(n, ex.Bin) and n.op in "+-*@":
            reach(n.left)
            reach(n.right)
        elif isinstance(n, ex.Bin) and n.op == "/":
            reach(n.left)

    reach(eq.expr)
    for ins in prog.instrs:
        if ins.op == "call" and ins.extra.name in ex.OVER_T and id(ins.node) not in exposed \
                and prog.instrs[ins.args[0]].shape == (1, 1) and ex.uses_t(ins.node.args[0]):
            f, arg = ins.extra.name, ex.to_text(ins.node.args[0])
            raise p.error(f"{f}(...) inside {eq.key} is over the entries of a vector, and {arg} "
                          f"is a scalar: for a {f} over steps define a plain equation such as "
                          f"Z: {f}({arg}), or use stack(...)", key)


def _entry(s, t: Tensor, k: int):
    """The symbol of entry k (row-major) of quantity s's value: ``h[3][1]``, ``W[2][1][2]``."""
    i, j = divmod(k, t.cols)
    return sym(f"{s.name}[{i + 1}]" if t.cols == 1 else f"{s.name}[{i + 1}][{j + 1}]")


def _nest(fl: list, t: Tensor):
    if t.is_scalar:
        return fl[0]
    if t.cols == 1:
        return fl
    return [fl[i * t.cols:(i + 1) * t.cols] for i in range(t.rows)]
