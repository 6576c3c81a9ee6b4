"""Unrolling: the problem's equations become a graph of named quantities (``h[1]``, ``L``).

Each node keeps its own symbol, its equation instantiated at its step, and its direct
dependencies, so the engine can take local partials and run the backward recursion in time
linear in T.  Every ``name[t]`` equation is turned into one sympy *template* over slot symbols
(``h[t-1]``) and differentiated once; each step reuses the template by substitution.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import sympy

from ..lang import expr as ex
from ..errors import ExprError, unknown_name
from ..lang.loader import Equation, Problem
from ..lang.to_sympy import build, split_name, sym

class _Partials(dict):
    """slot -> the template's partial by that slot, taken the first time it is asked for: only
    the partials a solution shows are ever differentiated by sympy (the numbers come from the
    numeric core), so a loss summed over T steps costs nothing per step here."""

    def __init__(self, template: "Template") -> None:
        super().__init__()
        self.template = template
        self._terms: dict | None = None

    def __missing__(self, slot):
        tm = self.template
        if tm.sums is not None:
            v = self[slot] = tm.sums.partial(slot)
            return v
        if self._terms is None:
            self._terms = {w: [] for w in tm.slot_order}
            for term in (tm.expr.args if tm.expr.is_Add else (tm.expr,)):
                for s in term.free_symbols:
                    if s in self._terms:
                        self._terms[s].append(term)
        raw = sympy.Add(*[sympy.diff(term, slot) for term in self._terms[slot]])
        # Writing tanh(z)' as 1 - h_t**2 (not 1 - tanh(z)**2) is how textbooks name it.
        back = {tm.expr: tm.self_slot} if not tm.expr.is_Atom else {}
        v = self[slot] = sympy.factor_terms(raw.xreplace(back))
        return v


@dataclass
class Node:
    """A quantity defined by an equation: ``h[2]`` or ``L``."""

    symbol: sympy.Symbol
    name: str
    step: int | None
    equation: Equation
    order: int
    template: "Template"
    slots: dict  # slot symbol -> concrete symbol (indexed equations); identity for plain ones
    deps: tuple = ()  # what its program reads (the numbers' truth)
    shown_deps: tuple = ()  # what its sympy template reads (sympy may cancel a use)

    @property
    def expr(self) -> sympy.Expr:
        """The equation with the step's own quantities, e.g. ``W_h*h[1] + W_x*x[2]``."""
        return self.template.expr.xreplace(self.slots)

    def slot_of(self, dep: sympy.Symbol) -> sympy.Symbol:
        """The template slot that stands for a direct dependency."""
        by_dep = self.__dict__.get("_by_dep")
        if by_dep is None:
            by_dep = self.__dict__["_by_dep"] = {c: sl for sl, c in self.slots.items()}
        return by_dep[dep]

    def partial(self, dep: sympy.Symbol) -> sympy.Expr:
        """The local partial of this node by a direct dependency, in named quantities."""
        return self.template.partials[self.slot_of(dep)].xreplace(self.slots)


class Template:
    """An equation as one sympy expression over slot symbols, with its partials by each slot.

    A plain equation that sums an expression over t (``L: sum((v*h[t] - y[t])**2)``) keeps
    ``sums`` instead of T terms of sympy: its expression is built only if something asks for
    it, and the partial by one slot is taken from the terms that hold that slot."""

    def __init__(self, expr, self_slot, slot_order, sums: "LazySums | None" = None) -> None:
        self._expr, self.self_slot, self.slot_order, self.sums = expr, self_slot, slot_order, sums

    @property
    def expr(self) -> sympy.Expr:
        if self._expr is None:
            self._expr = self.sums.build()
        return self._expr

    @functools.cached_property
    def partials(self) -> _Partials:
        """slot -> ∂expr/∂slot in named quantities, at a general step."""
        return _Partials(self)


class LazySums:
    """A plain equation whose sums over t are built term by term only when needed.

    ``resolver(only)`` builds the equation's sympy form, each sum over t restricted to the
    steps in ``only`` (None: all steps); ``steps_of(slot)`` are the steps whose term reads a
    slot (None: every step); ``linear``: every sum enters the equation linearly, so the
    partial by a slot needs only the terms that read it."""

    def __init__(self, resolver, steps_of, linear: bool) -> None:
        self.resolver, self.steps_of, self.linear = resolver, steps_of, linear

    def build(self) -> sympy.Expr:
        return self.resolver(None)

    def partial(self, slot) -> sympy.Expr:
        steps = self.steps_of(slot) if self.linear else None
        e = self.resolver(steps)
        return sympy.factor_terms(sympy.diff(e, slot))


@dataclass
class Graph:
    """The unrolled problem: nodes in a topological order, leaves, given values."""

    problem: Problem
    T: int | None
    nodes: dict  # symbol -> Node, topologically ordered
    leaves: tuple  # symbols that no equation defines (givens and free symbols)
    given: dict  # leaf symbol -> exact value
    indexed_names: frozenset
    recurrent: frozenset  # the states: indexed quantities read at an earlier step (h[t-1])
    # or, for a backward recurrence, at a later one (hb[t+1])
    backward: frozenset = frozenset()  # the states of backward recurrences (run from T to 1)

    def reach(self, wrt, shown: bool = False) -> set:
        """wrt and every node that depends on it (through what the programs read, or with
        ``shown`` through what the sympy templates read)."""
        out = {wrt}
        for s, n in self.nodes.items():
            if any(d in out for d in (n.shown_deps if shown else n.deps)):
                out.add(s)
        return out

    def backward_between(self, roots, wrt) -> tuple:
        """The backward recurrences whose states lie on a path from wrt to the roots, in file
        order (their backward pass runs forward in t)."""
        if not self.backward:
            return ()
        on_path = set(self.ancestors(roots)) & self.reach(wrt)
        names = {self.nodes[s].name for s in on_path if s in self.nodes}
        return tuple(eq.name for eq in self.problem.equations
                     if eq.indexed and eq.name in names and eq.name in self.backward)

    def ancestors(self, targets) -> tuple:
        """Nodes needed to compute the targets (themselves included), in topological order."""
        key = (frozenset(targets), id(self.nodes))  # the core may put the nodes in new order
        memo = self.__dict__.setdefault("_ancestors_memo", {})
        if key not in memo:
            memo[key] = self._ancestors(targets)
        return memo[key]

    def _ancestors(self, targets) -> tuple:
        need = set()
        stack = [t for t in targets if t in self.nodes]
        while stack:
            s = stack.pop()
            if s in need:
                continue
            need.add(s)
            stack.extend(d for d in self.nodes[s].deps if d in self.nodes)
        return tuple(s for s in self.nodes if s in need)

    def local_partial(self, of, dep) -> sympy.Expr:
        """∂of/∂dep in named quantities: a node's own rule, or sympy's for a question's
        expression."""
        node = self.nodes.get(of)
        return node.partial(dep) if node is not None else sympy.diff(of, dep)

    def resolve_find(self, e: ex.Expr, key: str, t: int | None = None) -> sympy.Expr:
        """A question's expression over the graph's symbols (any quantity may be named);
        ``t`` binds the index of a loss term taken out of a sum over t."""
        r = _Resolver(self.problem, self.T, None, self.nodes, self.indexed_names,
                      self.plain_names, key, self.given_names)
        r.backward = self.backward
        r.t_value = t
        return r.build(e)

    @property
    def plain_names(self) -> frozenset:
        return frozenset(eq.name for eq in self.problem.equations if not eq.indexed)

    @property
    def given_names(self) -> dict:
        return {g.name: g for g in self.problem.given}


class _Resolver:
    """Name resolution for one equation (or a question, ``eq`` None) with its scope rules."""

    def __init__(self, problem, T, eq, nodes, indexed, plain, key, given_names, position=None):
        self.problem, self.T, self.eq, self.nodes = problem, T, eq, nodes
        self.indexed, self.plain, self.key = indexed, plain, key
        self.given_names = given_names
        self.position = position  # index of eq in the file, for the "above" rule
        self.t_value = None  # bound while expanding sum over t
        self.only = None  # the steps a sum over t is restricted to (None: all)
        self.slots: dict = {}
        self.backward: frozenset = frozenset()  # states that may be read past T (hb[T+1])

    def fail(self, msg):
        raise ExprError(msg)

    def build(self, e: ex.Expr) -> sympy.Expr:
        return build(e, self.resolve, self.expand_sum)

    def expand_sum(self, body: ex.Expr, mean: bool = False) -> sympy.Expr:
        """The sum over t of body (divided by T for a mean), restricted to ``only``."""
        if self.T is None:
            self.fail(f"{'mean' if mean else 'sum'} over t needs 'steps'")
        if self.eq is not None and self.eq.indexed:
            # t is already bound inside name[t]: the sum is over the entries at step t
            return build(body, self.resolve, self.expand_sum)
        steps = range(1, self.T + 1) if self.only is None else self.only
        terms = []
        for t in steps:
            self.t_value = t
            terms.append(self.build(body))
        self.t_value = None
        return sympy.Add(*terms) / self.T if mean else sympy.Add(*terms)

    def defined_above(self, name: str, indexed: bool) -> bool:
        if self.eq is None:
            return True
        for i, eq in enumerate(self.problem.equations):
            if eq.name == name and eq.indexed == indexed:
                return i < self.position
        return False

    def resolve(self, n) -> sympy.Expr:
        if isinstance(n, ex.Name):
            name = n.name
            if name == "T":
                if self.T is None:
                    self.fail("T needs 'steps'")
                return sym("T")  # a leaf whose given value is the number of steps
            if name in self.plain:
                if not self.defined_above(name, False):
                    where = "itself" if self.eq is not None and self.eq.name == name \
                        and not self.eq.indexed else f"{name}, which is defined below"
                    self.fail(f"refers to {where} (equations may only use those above them)")
                return sym(name)
            if name in self.indexed:
                self.fail(f"{name} is defined for every step: write {name}[t] or {name}[k]")
            g = self.given_names.get(name)
            if self.eq is None and g is None and name not in self.free_names():
                self.fail(unknown_name(name, self.known_names()))
            return sym(name)
        # Ref
        name, idx = n.name, n.index
        if idx.kind == "t":
            if self.t_value is not None:
                step = self.t_value + idx.value
            elif self.eq is not None and self.eq.indexed:
                if name in self.indexed:
                    if idx.value == 0 and (name == self.eq.name or
                                           not self.defined_above(name, True)):
                        what = "itself" if name == self.eq.name else f"{name}[t], defined below"
                        self.fail(f"refers to {what} (equations may only use those above them)")
                slot = sym(f"{name}[{idx.text()}]")
                self.slots[slot] = idx.value
                return slot
            else:
                self.fail("t is only defined inside name[t] equations and sum(...)")
        elif idx.kind == "T":
            if self.T is None:
                self.fail("T needs 'steps'")
            step = self.T + idx.value
        else:
            step = idx.value
        if name in self.indexed:
            if self.T is not None and step > self.T and name not in self.backward:
                self.fail(f"{name}[{step}] is beyond the last step T = {self.T}"
                          + (f" ({name} runs forward, from {name}[0]; only a backward "
                             f"recurrence, whose {name}[t] reads {name}[t+1], starts at "
                             "T+1)" if step == self.T + 1 else ""))
            if step >= 1 and self.eq is not None and self.eq.indexed is False and \
                    not self.defined_above(name, True):
                self.fail(f"refers to {name}[{step}], which is defined below")
            return sym(f"{name}[{step}]")
        if name in self.plain:
            self.fail(f"{name} has no time index")
        g = self.given_names.get(name)
        if g is not None and g.index is None and not isinstance(g.value, tuple):
            self.fail(f"{name} is given as one number but used with an index")
        if step < 0:
            self.fail(f"{name}[{step}] is before the first step")
        if self.eq is None and g is None and name not in self.free_indexed_names():
            self.fail(unknown_name(name, self.known_names()))
        return sym(f"{name}[{step}]")

    def known_names(self) -> set:
        return self.free_names() | self.free_indexed_names() | set(self.given_names) | \
            set(self.plain) | set(self.indexed)

    def free_names(self):
        return {n.name for eq in self.problem.equations for n in ex.walk(eq.expr)
                if isinstance(n, ex.Name)}

    def free_indexed_names(self):
        return {n.name for eq in self.problem.equations for n in ex.walk(eq.expr)
                if isinstance(n, ex.Ref)}


def unroll(problem: Problem) -> Graph:
    """Build the graph of a problem; raises SpecError for unknown names, cycles, bad givens."""
    T = problem.steps
    indexed = frozenset(eq.name for eq in problem.equations if eq.indexed)
    plain = frozenset(eq.name for eq in problem.equations if not eq.indexed)
    given_names = {}
    for g in problem.given:
        if g.name in given_names and (given_names[g.name].index is None or g.index is None):
            raise problem.error("given twice", f"given.{g.name}")
        given_names.setdefault(g.name, g)
    templates: dict[int, Template] = {}
    nodes: dict = {}
    backward = directions(problem)
    recurrent = set(backward)
    order = 0
    for i, eq in enumerate(problem.equations):
        key = f"equations.{eq.key}"
        r = _Resolver(problem, T, eq, nodes, indexed, plain, key, given_names, i)
        r.backward = backward
        self_slot = sym(f"{eq.name}[t]") if eq.indexed else sym(eq.name)
        try:
            lazy = _lazy_sums(problem, T, eq, nodes, indexed, plain, key, given_names, i,
                              backward)
            if lazy is None:
                tmpl_expr = r.build(eq.expr)
                check_finite_template(tmpl_expr)
                slot_order = tuple(sorted(tmpl_expr.free_symbols, key=lambda s: s.name))
                tmpl = Template(tmpl_expr, self_slot, slot_order)
            else:
                sums, slot_order = lazy
                tmpl = Template(None, self_slot, slot_order, sums)
        except ExprError as e:
            raise problem.error(str(e), key) from None
        templates[i] = tmpl
        if eq.indexed:
            for slot, off in r.slots.items():
                base = split_name(slot)[0]
                if off < 0 and base in indexed:
                    recurrent.add(base)  # a state: read at an earlier step
                if off > 0 and base in indexed and base not in backward:
                    raise problem.error(
                        f"{eq.name}[t] reads {base}[{slot.name.split('[')[1][:-1]}], a later "
                        f"step, but {base} is no backward recurrence (one whose {base}[t] "
                        f"reads {base}[t+1]): {base}[T+{off}] does not exist", key)
            # per slot: its base name and step offset (None: the same symbol at every step)
            shifts = [(s, split_name(s)[0], r.slots[s]) if s in r.slots else (s, None, 0)
                      for s in slot_order]
            for t in range(1, T + 1):
                slots = {s: (s if base is None else sym(f"{base}[{t + off}]"))
                         for s, base, off in shifts}
                node = Node(sym(f"{eq.name}[{t}]"), eq.name, t, eq, order, tmpl, slots)
                node.deps = node.shown_deps = tuple(slots[s] for s in slot_order)
                slots[self_slot] = node.symbol
                nodes[node.symbol] = node
                order += 1
        else:
            slots = {s: s for s in slot_order}
            node = Node(sym(eq.name), eq.name, None, eq, order, tmpl, slots)
            node.deps = node.shown_deps = slot_order
            slots[self_slot] = node.symbol
            nodes[node.symbol] = node
            order += 1

    # Givens: check each is used as written, then expand lists over steps.
    # From the equations as written: sympy may simplify a use away (softmax of a scalar is 1).
    # Questions count as uses too (a weight vector in d(dot(e, c), q)).
    exprs = [eq.expr for eq in problem.equations] + [q.find for q in problem.questions
                                                     if q.find is not None]
    used_plain = {n.name for e in exprs for n in ex.walk(e) if isinstance(n, ex.Name)}
    used_indexed = {n.name for e in exprs for n in ex.walk(e) if isinstance(n, ex.Ref)}
    _misspelt(problem, indexed | plain, given_names)
    given: dict = {}
    for g in problem.given:
        key = f"given.{g.name}" if g.index is None else f"given.{g.name}[{g.index}]"
        if g.index is not None and T and g.index > T and \
                f"given.{g.name}[T+{g.index - T}]" in problem.lines:
            key = f"given.{g.name}[T+{g.index - T}]"  # as the author wrote it
        if g.name in plain:
            raise problem.error(f"{g.name} is defined by an equation and cannot be given", key)
        if g.name in indexed and (g.index is None or (g.index >= 1 and T and g.index <= T)):
            raise problem.error(f"{g.name}[t] is defined by an equation; only steps before the "
                                "first (as h[0]) can be given", key)
        if g.name not in used_plain and g.name not in used_indexed:
            raise problem.error(f"{g.name} is given but no equation uses it", key)
        if g.index is not None:
            if g.name in indexed and not _start_is_read(problem, g.name, g.index, exprs):
                raise problem.error(_unread_start(g.name, g.index, T, backward), key)
            given[sym(f"{g.name}[{g.index}]")] = g.value
        elif isinstance(g.value, tuple) and g.name in used_indexed:
            if g.name in used_plain:
                raise problem.error(f"{g.name} is used both with and without a time index",
                                    key)
            uses_t = any(isinstance(n, ex.Ref) and n.name == g.name and n.index.kind == "t"
                         for eq in problem.equations for n in ex.walk(eq.expr))
            if T is not None and uses_t and len(g.value) != T:
                raise problem.error(f"{g.name} has {len(g.value)} values but steps is {T}", key)
            for k, v in enumerate(g.value, start=1):
                given[sym(f"{g.name}[{k}]")] = v
        else:
            if g.name in used_indexed:
                raise problem.error(f"{g.name} is used with an index: give a list, one value "
                                    "per step", key)
            given[sym(g.name)] = g.value
    if T is not None and "T" in used_plain:
        given[sym("T")] = sympy.Integer(T)  # T is the number of steps wherever it is read
    leaves = set()
    for n in nodes.values():
        for d in n.deps:
            if d not in nodes:
                base, idx = split_name(d)
                if idx is not None and base in given_names and d not in given and \
                        isinstance(given_names[base].value, tuple):
                    eqkey = f"equations.{n.equation.key}"
                    raise problem.error(f"{d.name} is not given ({base} has "
                                        f"{len(given_names[base].value)} values)", eqkey)
                leaves.add(d)
    ordered = toposort(problem, nodes)
    for position, node in enumerate(ordered.values()):
        node.order = position  # the backward pass pops nodes in reverse topological order
    return Graph(problem, T, ordered, tuple(sorted(leaves, key=sort_key)), given, indexed,
                 frozenset(recurrent), backward)


def directions(problem: Problem) -> frozenset:
    """The states of backward recurrences: the names in a cycle of ``[t]`` equations that
    reads later steps (``hb[t]`` reading ``hb[t+1]``, directly or through other quantities).

    A cycle that reads both earlier and later steps is an error naming its quantities: a
    recurrence runs forward in t or backward, never both."""
    indexed = [eq for eq in problem.equations if eq.indexed]
    names = {eq.name for eq in indexed}
    edges: dict = {eq.name: [] for eq in indexed}  # reader -> (read name, offset)
    for eq in indexed:
        for n in ex.walk(eq.expr):
            if isinstance(n, ex.Ref) and n.index.kind == "t" and n.name in names:
                edges[eq.name].append((n.name, n.index.value))
    backward: set = set()
    for comp in _components([eq.name for eq in indexed], edges):
        inner = [(a, b, k) for a in comp for b, k in edges[a] if b in comp]
        if len(comp) == 1 and not any(k for _, _, k in inner):
            continue
        earlier = sorted({(a, b, k) for a, b, k in inner if k < 0})
        later = sorted({(a, b, k) for a, b, k in inner if k > 0})
        if earlier and later:
            a, b, k = later[0]
            a2, b2, k2 = earlier[0]
            eq = next(e for e in indexed if e.name == a)
            if len(comp) == 1:
                msg = (f"{a}[t] reads both {a}[t{k2:+d}] and {a}[t{k:+d}]: a recurrence runs "
                       f"forward (reading {a}[t-1]) or backward (reading {a}[t+1]), not both")
            else:
                who = ", ".join(sorted(comp))
                msg = (f"{who} read each other at both earlier and later steps ({b}[t{k:+d}] "
                       f"in {a}[t], {b2}[t{k2:+d}] in {a2}[t]): a recurrence runs forward or "
                       "backward, not both")
            raise problem.error(msg, f"equations.{eq.key}")
        if later:
            backward.update(comp)
    return frozenset(backward)


def _components(order: list, edges: dict) -> list:
    """Strongly connected components of the name graph (Tarjan), in a fixed order."""
    index: dict = {}
    low: dict = {}
    stack: list = []
    on: set = set()
    out: list = []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w, _ in edges[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = set()
            while True:
                w = stack.pop()
                on.discard(w)
                comp.add(w)
                if w == v:
                    break
            out.append(frozenset(comp))

    for v in order:
        if v not in index:
            visit(v)
    return out


def _start_is_read(problem: Problem, name: str, step: int, exprs) -> bool:
    """Whether some equation or question reads ``name`` at ``step`` (a start before step 1
    or after T): at a fixed step, or as name[t+k] for some t in 1..T."""
    T = problem.steps or 0
    for e in exprs:
        for n in ex.walk(e):
            if isinstance(n, ex.Ref) and n.name == name:
                k = n.index
                if k.kind == "t" and 1 <= step - k.value <= T:
                    return True
                if (k.kind == "T" and T + k.value == step) or (k.kind == "n" and k.value == step):
                    return True
    return False


def _unread_start(name: str, step: int, T, backward) -> str:
    """Why a given start of a state is refused: nothing reads it."""
    where = f"{name}[{step}]" if T is None or step <= T else \
        f"{name}[T+{step - T}] (= {name}[{step}])"
    if name in backward and step < 1:
        return (f"{where} is given but nothing reads it: {name}[t] reads {name}[t+1], so {name} "
                f"runs backward from {name}[T+1]; give that start instead")
    if name not in backward and T is not None and step > T:
        return (f"{where} is given but nothing reads it: {name} runs forward from {name}[0] "
                f"(only a backward recurrence, whose {name}[t] reads {name}[t+1], starts at "
                "T+1)")
    return f"{where} is given but no equation reads it"


def _misspelt(problem: Problem, defined: frozenset, given_names: dict) -> None:
    """A name an equation reads that nothing defines or gives, close to a given name that no
    equation reads, is a misspelling ("did you mean W_hh?"), reported where it is used rather
    than as an unused given.  (A free name far from every given stays a symbol.)"""
    read = {n.name for eq in problem.equations for n in ex.walk(eq.expr)
            if isinstance(n, (ex.Name, ex.Ref))}
    unused = sorted(n for n in given_names if n not in read)
    if not unused:
        return
    for eq in problem.equations:
        for n in ex.walk(eq.expr):
            if isinstance(n, (ex.Name, ex.Ref)) and n.name not in defined and \
                    n.name not in given_names and n.name != "T":
                message = unknown_name(n.name, unused)
                if "did you mean" in message:
                    raise problem.error(message, f"equations.{eq.key}")


def _lazy_sums(problem, T, eq, nodes, indexed, plain, key, given_names, position,
               backward=frozenset()):
    """(LazySums, slot order) for a plain equation that sums an expression over t, or None.

    The names it reads are found from the grammar tree without building T terms; the first
    and the last step's terms are built once, so a bad reference is still an error here."""
    if eq.indexed or T is None:
        return None
    sums = [n for n in ex.walk(eq.expr) if isinstance(n, ex.Call) and n.func in ex.OVER_T
            and ex.uses_t(n.args[0])]
    if not sums or all(isinstance(n.args[0], ex.Ref) for n in sums):
        return None  # L = L_1 + ... + L_T is cheap and reads well as it is

    def resolver(only):
        r = _Resolver(problem, T, eq, nodes, indexed, plain, key, given_names, position)
        r.backward = backward
        r.only = only
        return r.build(eq.expr)

    e = resolver(sorted({1, T}))
    check_finite_template(e)
    found: set = set()
    reads: dict = {}  # slot -> steps whose term reads it (None: every step)
    for n in ex.walk(eq.expr):
        if isinstance(n, ex.Name):
            found.add(sym(n.name))
        elif isinstance(n, ex.Ref) and n.index.kind == "T":
            found.add(sym(f"{n.name}[{T + n.index.value}]"))
        elif isinstance(n, ex.Ref) and n.index.kind == "n":
            found.add(sym(f"{n.name}[{n.index.value}]"))
        elif isinstance(n, ex.Ref):
            for t in range(1, T + 1):
                s = sym(f"{n.name}[{t + n.index.value}]")
                found.add(s)
                reads.setdefault(s, set()).add(t)
    # sympy may drop a name the equation multiplies by 0; keep only what the terms read
    found = {s for s in found if s in e.free_symbols or s in reads}
    slot_order = tuple(sorted(found, key=lambda s: s.name))
    linear = all(_enters_linearly(eq.expr, n) for n in sums)
    return LazySums(resolver, lambda slot: sorted(reads[slot]) if slot in reads else None,
                    linear), slot_order


def _enters_linearly(e: ex.Expr, target) -> bool:
    """Whether ``target`` (a node of e) enters e linearly: only through +, -, and products or
    quotients by factors that hold no sum over t."""
    if e is target:
        return True

    def holds(n):
        return any(m is target for m in ex.walk(n))

    if isinstance(e, ex.Neg):
        return _enters_linearly(e.arg, target)
    if isinstance(e, ex.Bin) and e.op in "+-":
        return all(_enters_linearly(x, target) for x in (e.left, e.right) if holds(x))
    if isinstance(e, ex.Bin) and e.op in "*/":
        a, b = (e.left, e.right)
        if holds(a) and not holds(b) and not _has_sum(b):
            return _enters_linearly(a, target)
        if e.op == "*" and holds(b) and not holds(a) and not _has_sum(a):
            return _enters_linearly(b, target)
        return False
    return not holds(e)


def _has_sum(e) -> bool:
    return any(isinstance(n, ex.Call) and n.func in ex.OVER_T for n in ex.walk(e))


def check_finite_template(e: sympy.Expr) -> None:
    if e.has(sympy.zoo, sympy.nan, sympy.oo):
        raise ExprError("the expression is not finite (division by zero?)")


def sort_key(s: sympy.Symbol):
    base, idx = split_name(s)
    return (base, int(idx) if idx and idx.lstrip("-").isdigit() else -1, s.name)


def toposort(problem: Problem, nodes: dict) -> dict:
    """Dependencies first; otherwise step by step, in file order within a step."""
    eq_pos = {id(eq): i for i, eq in enumerate(problem.equations)}
    last = (problem.steps or 0) + 1

    def visit_key(s):
        n = nodes[s]
        return (n.step if n.step is not None else last, eq_pos[id(n.equation)])

    state: dict = {}
    out: dict = {}
    for root in sorted(nodes, key=visit_key):
        if root in state:
            continue
        stack = [(root, iter(nodes[root].deps))]
        state[root] = 1
        while stack:
            cur, it = stack[-1]
            nxt = None
            for d in it:
                if d in nodes:
                    st = state.get(d)
                    if st == 1:
                        cyc = [s.name for s, _ in stack]
                        cyc = cyc[cyc.index(d.name):] + [d.name]
                        raise problem.error("cycle: " + " -> ".join(reversed(cyc)),
                                            f"equations.{nodes[cur].equation.key}")
                    if st is None:
                        nxt = d
                        break
            if nxt is None:
                state[cur] = 2
                out[cur] = nodes[cur]
                stack.pop()
            else:
                state[nxt] = 1
                stack.append((nxt, iter(nodes[nxt].deps)))
    return out


def loss_symbol(graph: Graph):
    """The loss the figure's gradients are taken of: the last plain equation, if any."""
    plain = [eq for eq in graph.problem.equations if not eq.indexed]
    return sym(plain[-1].name) if plain else None
