"""The scalar narrator: the chain rule written out path by path (short sequences) or as the
backward recursion δ_t with its table (long ones), from the numbers of the numeric core.

Every number shown is read from :class:`~derive.calculus.core.Core` (forward values, the
local partials of each node's program, the adjoints of the one backward pass); sympy is used
only for what is shown: each equation's template and its local partials at a general step.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import sympy

from ..errors import ExprError
from ..lang import expr as ex
from ..lang.loader import Question
from ..lang.to_sympy import build, split_name, sym
from ..ops import RULE_OF_CLASS
from ..solution import (Additive, Answer, BackwardRun, Chain, Delta, Evaluate, ForwardTable,
                        ForwardValues, GeneralFormula, GradientSum, Note, One, Partial, Prod,
                        QuestionSolution, Recurrence, Result, Rules, Solution, Split,
                        StepTable, Sum, prod, total)
from . import general as gen
from .core import Core, ShownValues
from .numbers import is_numeric, settle
from .tensor import elementwise

EXPANDED_MAX_T = 4
EXPANDED_MAX_FACTORS = 40


class _TooLong(Exception):
    pass


def solution(core: Core, questions: tuple, loss, grads: dict) -> Solution:
    """The Solution of a scalar problem."""
    return Solution(core.p, core.g, Evaluator.of(core).values, questions, loss=loss,
                    gradients=grads)


class _Shown(dict):
    """A mapping onto the core's tensors that shows each as sympy when first read (a long
    sequence's table prints 16 of its T rows)."""

    def __init__(self, core: Core, tensors: dict) -> None:
        super().__init__()
        self.core = core
        self.tensors = tensors

    def __missing__(self, key):
        v = self[key] = self.core.shown(self.tensors[key])
        return v

    def __contains__(self, key) -> bool:
        return key in self.tensors

    def __iter__(self):
        return iter(self.tensors)

    def __len__(self) -> int:
        return len(self.tensors)

    def get(self, key, default=None):
        return self[key] if key in self.tensors else default

    def keys(self):
        return self.tensors.keys()

    def items(self):
        return ((k, self[k]) for k in self.tensors)

    def values(self):
        return (self[k] for k in self.tensors)


class Evaluator:
    """The scalar narrator's view of the numeric core: forward values, local partial values and
    adjoints as sympy numbers (or expressions), every one computed by :class:`Core`."""

    def __init__(self, core: Core) -> None:
        self.g = core.g
        self.core = core
        self.values = ShownValues(core)
        self._partials: dict = {}
        self._horizon: dict = {}

    @staticmethod
    def of(core: Core) -> "Evaluator":
        """The one view of a core (its caches are shared by every question)."""
        ev = core.views.get("scalar")
        if ev is None:
            ev = core.views["scalar"] = Evaluator(core)
        return ev

    def partial_value(self, of, dep) -> sympy.Expr:
        key = (of, dep)
        v = self._partials.get(key)
        if v is None:
            if of in self.g.nodes:
                t = self.core.partial(of, dep)
                v = sympy.Integer(0) if t is None else self.core.shown(t)
            else:
                # a question's own expression, such as y[2] - yhat[2]: small, taken by sympy
                v = settle(self.substitute(self.g.local_partial(of, dep)))
            self._partials[key] = v
        return v

    @functools.cached_property
    def indexed_bases(self) -> dict:
        """name -> the leaves of that name read at fixed steps (x -> {x[1], ...}), for every
        name used with a step index."""
        out: dict = {}
        for n in self.g.nodes.values():
            if n.step is not None:
                out.setdefault(n.name, set())
        leaves = frozenset(self.g.leaves)
        for s in list(self.g.leaves) + list(self.g.given):
            base, idx = split_name(s)
            if idx is not None and idx.lstrip("-").isdigit():
                out.setdefault(base, set())
                if s in leaves:
                    out[base].add(s)
        return out

    @functools.cached_property
    def consumers(self) -> dict:
        """symbol -> the nodes whose template reads it directly, in topological order."""
        out: dict = {}
        for n in self.g.nodes.values():
            for d in n.shown_deps:
                out.setdefault(d, []).append(n.symbol)
        return {k: tuple(v) for k, v in out.items()}

    def substitute(self, e: sympy.Expr) -> sympy.Expr:
        """e with every quantity replaced by its forward value."""
        return e.xreplace({s: self.values[s] for s in e.free_symbols if s in self.values})

    def deps(self, of) -> tuple:
        node = self.g.nodes.get(of)
        if node is not None:
            return node.shown_deps
        return tuple(sorted(of.free_symbols, key=lambda s: s.name))

    def horizon(self, s) -> int | None:
        """The last step a quantity depends on (its own step for indexed ones)."""
        if s in self._horizon:
            return self._horizon[s]
        node = self.g.nodes.get(s)
        if node is None:
            h = None
            if not isinstance(s, sympy.Symbol):
                hs = [self.horizon(d) for d in self.deps(s)]
                hs = [x for x in hs if x is not None]
                h = max(hs) if hs else None
        elif node.step is not None:
            h = node.step
        else:
            hs = [self.horizon(d) for d in node.shown_deps if d in self.g.nodes]
            hs = [x for x in hs if x is not None]
            h = max(hs) if hs else None
        self._horizon[s] = h
        return h


# ---- the narrator's hooks (called by the question handler) ------------------------------------

def _forward_step(ev: "Evaluator", fwd, detailed: bool) -> list:
    if fwd is None:
        return []
    rows, table = fwd
    if table:
        nodes = ev.g.nodes
        names = tuple(dict.fromkeys(nodes[s].name for s in rows if nodes[s].step))
        steps = tuple(sorted({nodes[s].step for s in rows if nodes[s].step}))
        plain = tuple(s for s in rows if nodes[s].step is None)
        return [ForwardTable(names, steps, plain)]
    return [ForwardValues(rows, detailed)]


def value(core: Core, q: Question, key: str, fwd, notes: list, ans: Answer) -> QuestionSolution:
    ev = Evaluator.of(core)
    target = core.g.resolve_find(q.find, key)
    steps = _forward_step(ev, fwd, detailed=True)
    if not (target.is_Symbol and target in core.g.nodes) or target in core.g.given:
        steps.append(Evaluate(target))
    return QuestionSolution(q, target, tuple(steps + notes), ans)


def target(core: Core, of_e: ex.Expr, wrt) -> Partial:
    return Partial(core.g.resolve_find(of_e, ""), wrt)


def gradient(core: Core, q: Question, key: str, grad, target: Partial, ans: Answer,
             opening: list, extra: list, additive: list) -> list:
    """The steps of d(of, wrt): expanded path by path, or the backward recursion."""
    ev = Evaluator.of(core)
    g = ev.g
    lhs = target
    of, wrt = target.of, target.wrt
    fwd, notes = opening
    steps = _forward_step(ev, fwd, detailed=False) + notes + extra
    answer = ans.expr
    terms, split = ((of,), False) if of == wrt else _root_terms(ev, of)
    bounds = {t: None for t in terms}
    if grad.parts is None:
        adj = _Shown(core, grad.adj)
        edges = _Shown(core, grad.edges)
        if of not in g.nodes:
            for d, v in grad.seeds.items():
                edges.tensors[(d, of)] = v
        parts = None
    else:
        adj = edges = None
        if of != wrt:
            terms = tuple(g.resolve_find(e, key, t) for e, t, _, _ in grad.parts)
            split = split or len(terms) > 1
            bounds = {term: h - q.truncate
                      for term, (_, _, h, _) in zip(terms, grad.parts)}
        parts = tuple(core.shown(p) if p is not None else sympy.Integer(0)
                      for _, _, _, p in grad.parts)
    use_recursive = False
    if q.form != "expanded" and g.recurrent and g.T and g.T >= 3:
        use_recursive = q.form == "recursive" or g.T > EXPANDED_MAX_T
    trees = None
    if not use_recursive:
        reach = ev.g.reach(wrt, shown=True)
        try:
            trees = tuple(_paths(ev, t, wrt, reach, bounds[t]) for t in terms)
        except _TooLong:
            if g.recurrent and g.T and g.T >= 3:
                use_recursive = True
            else:
                raise ExprError("the chain rule is too long to write out; "
                                "ask for form: recursive") from None
    if use_recursive:
        steps.extend(_recursive_steps(ev, lhs, of, wrt, terms, (adj, edges, parts), answer))
    else:
        roots = [of] if of in g.nodes else sorted(of.free_symbols, key=lambda s: s.name)
        crossed = g.backward_between(roots, wrt)
        if crossed:
            steps.append(BackwardRun(crossed))
        steps.extend(_expanded_steps(ev, lhs, terms, split, trees, answer))
    return steps + additive


def additive(core: Core, eq, term) -> Additive:
    """The additive path of ``term`` with its coefficient, such as 1 - z_t."""
    e = build(term, _general_symbol)
    return Additive(eq.name, term, sympy.factor_terms(sympy.diff(e, sym(f"{eq.name}[t-1]"))))


def _general_symbol(n):
    return sym(n.name) if isinstance(n, ex.Name) else sym(f"{n.name}[{n.index.text()}]")


def general(core: Core, target: Partial, eq, inlined, prog, wrt, act, weight, norm):
    """The T-step formula with the local factors of the state's own equation."""
    e = build(inlined, _general_symbol)
    prev = sym(f"{eq.name}[t-1]")
    if prev not in e.free_symbols or wrt not in e.free_symbols:
        return Note(gen.NEEDS)
    back = {e: sym(f"{eq.name}[t]")} if not e.is_Atom else {}

    def partial(by, letter):
        d = sympy.factor_terms(sympy.diff(e, by).xreplace(back))
        return d.xreplace({s: sym(s.name.replace("[t", f"[{letter}"))
                           for s in d.free_symbols if "[t" in s.name})

    return GeneralFormula(target, eq.name, partial(prev, "j"), partial(wrt, "k"), act, weight,
                          norm)


def _root_terms(ev: Evaluator, of) -> tuple[tuple, bool]:
    """The loss terms: L = L_1 + ... + L_T is split into its terms when each is a quantity."""
    nodes = ev.g.nodes
    node = nodes.get(of)
    if node is not None and node.template.sums is not None:
        return (of,), False  # a sum of expressions: its terms are not quantities
    if node is not None and node.step is None:
        # read off the template: its slots stand for the quantities (no T-term substitution)
        tmpl = node.template.expr
        args = tuple(node.slots.get(a) for a in tmpl.args) if tmpl.is_Add else ()
    else:
        args = of.args if of.is_Add else ()
    if args and all(a in nodes for a in args):
        return tuple(sorted(args, key=lambda s: nodes[s].order)), True
    return (of,), False


def _dep_order(ev: Evaluator, deps) -> tuple:
    nodes = ev.g.nodes
    leaves = [d for d in deps if d not in nodes]
    inner = sorted((d for d in deps if d in nodes),
                   key=lambda d: (-(nodes[d].step or 0), -nodes[d].order))
    return tuple(leaves) + tuple(inner)


def _paths(ev: Evaluator, top, wrt, reach, bound):
    """The chain rule over all paths from ``top`` down to ``wrt``, factored as it is written."""
    memo: dict = {}
    count = [0]

    def go(n):
        if n == wrt:
            return One()
        if n in memo:
            return memo[n]
        items = []
        for d in _dep_order(ev, ev.deps(n)):
            if d not in reach:
                continue
            node = ev.g.nodes.get(d)
            if bound is not None and node is not None and node.step is not None \
                    and node.step <= bound:
                continue
            count[0] += 1
            if count[0] > EXPANDED_MAX_FACTORS:
                raise _TooLong
            below = go(d)
            if below is None:
                continue  # every path on from d is cut by the truncation
            items.append(prod(Partial(n, d), below))
        memo[n] = total(items)
        return memo[n]

    return go(top)


def evaluate_tree(ev: Evaluator, tree, deltas: dict | None = None) -> sympy.Expr:
    """The value of a chain tree from the engine's cached local partials."""
    if tree is None:
        return sympy.Integer(0)
    if isinstance(tree, One):
        return sympy.Integer(1)
    if isinstance(tree, Partial):
        return ev.partial_value(tree.of, tree.wrt)
    if isinstance(tree, Delta):
        return deltas[tree.of]
    vals = [evaluate_tree(ev, t, deltas) for t in tree.items]
    return sympy.Add(*vals) if isinstance(tree, Sum) else sympy.Mul(*vals)


def _functions_used(ev: Evaluator) -> tuple:
    found = set()
    stated = frozenset(RULE_OF_CLASS.values())
    for n in {id(n.template): n for n in ev.g.nodes.values()}.values():
        if n.template.sums is not None:  # read off the equation, without its T terms
            found.update(m.func for m in ex.walk(n.equation.expr)
                         if isinstance(m, ex.Call) and m.func in stated)
            continue
        for cls, name in RULE_OF_CLASS.items():
            if n.template.expr.has(cls):
                found.add(name)
    return tuple(sorted(found))


def _rules(ev: Evaluator, trees) -> Rules:
    """The local derivatives in the trees, once each, at a general step."""
    seen: dict = {}

    def visit(tr):
        if isinstance(tr, Partial):
            node = ev.g.nodes.get(tr.of)
            if node is None:
                return
            slot = node.slot_of(tr.wrt)
            base, idx = split_name(slot)
            if node.step is None and idx is not None and idx.isdigit():
                # ∂L/∂h_2 and ∂L/∂h_5 of a sum over t are one rule at a general step t
                key = (node.equation.key, base)
                if key not in seen:
                    ren = _general(ev, int(idx))
                    seen[key] = (Partial(node.symbol, ren.get(slot, slot)),
                                 node.template.partials[slot].xreplace(ren))
                return
            key = (node.equation.key, slot)
            if key not in seen:
                seen[key] = (Partial(node.template.self_slot, slot), node.template.partials[slot])
        elif isinstance(tr, (Sum, Prod)):
            for t in tr.items:
                visit(t)

    for tr in trees:
        visit(tr)
    return Rules(tuple(seen.values()), _functions_used(ev))


def _expanded_steps(ev, lhs, terms, split, trees, answer) -> list:
    steps: list = []
    if lhs.of == lhs.wrt:
        return [Note("A quantity's derivative by itself is 1."), Result(lhs, (), answer)]
    nonzero = tuple(tr for tr in trees if tr is not None)
    if nonzero:
        rules = _rules(ev, nonzero)
        if rules.partials:
            steps.append(rules)
    if split and nonzero:
        # only the loss terms that depend on the variable
        steps.append(Split(lhs, tuple(Partial(t, lhs.wrt)
                                      for t, tr in zip(terms, trees) if tr is not None)))
    if not nonzero:
        steps.append(Note("No path leads from the variable to the result: the derivative "
                          "is 0."))
        steps.append(Result(lhs, (), answer))
        return steps
    tree = total(nonzero) if len(nonzero) > 1 else nonzero[0]
    steps.append(Chain(lhs, tree, "leibniz"))
    steps.append(Chain(lhs, tree, "local"))
    if is_numeric(answer):
        steps.append(Chain(lhs, tree, "values"))
    term_values = tuple(settle(evaluate_tree(ev, t)) for t in nonzero)
    check = settle(sympy.Add(*term_values))
    _agree(check, answer)
    steps.append(Result(lhs, term_values if len(term_values) > 1 else (), answer))
    return steps


def _agree(a, b) -> None:
    """The shown terms and the backward pass must give the same number (one engine)."""
    if not (is_numeric(a) and is_numeric(b)):
        return
    d = abs(sympy.N(a - b, 40))
    if d > sympy.Float("1e-30") * (1 + abs(sympy.N(b, 40))):
        raise RuntimeError(f"internal inconsistency: shown terms give {a}, backward pass {b}")


# ---- the recursive form -----------------------------------------------------------------------

def _general(ev: Evaluator, t0: int, label: str = "t") -> dict:
    """Renames every quantity at step t0 + k to the general ``name[t+k]`` (or T+k)."""
    g = ev.g
    known = ev.indexed_bases
    out = {}
    for base in known:
        for k in range(-3, 4):
            s = sym(f"{base}[{t0 + k}]")
            if s in g.nodes or s in g.given or s in known[base]:
                out[s] = sym(f"{base}[{label}{'' if k == 0 else f'{k:+d}'}]")
    return out


def _recursive_steps(ev, lhs, of, wrt, terms, passes, answer) -> list:
    """The backward recursion, from the pass that gave the answer: ``passes`` is (adjoints,
    edge contributions, None) or, when truncated, (None, None, per-term answers)."""
    g = ev.g
    T = g.T
    steps: list = []
    adj, edges, parts = passes
    if parts is not None:
        return steps + _truncated_table(lhs, parts, answer)

    root_set = set(terms)
    virtual = of not in g.nodes

    def consumers(s):
        own = ev.consumers.get(s, ())
        return own + (of,) if virtual and s in of.free_symbols else own

    to_root = set(root_set)
    for s in reversed(list(g.nodes)):
        if any(c in to_root for c in consumers(s)):
            to_root.add(s)
    recurrent_nodes = {s for s, n in g.nodes.items() if n.name in g.recurrent}

    def adj_tree(c):
        if c in root_set:
            return One()
        if c in recurrent_nodes:
            return Delta(c)
        items = [prod(adj_tree(c2), Partial(c2, c)) for c2 in consumers(c) if c2 in to_root]
        return total(items)

    def delta_tree(s):
        items = [prod(adj_tree(c), Partial(c, s)) for c in consumers(s) if c in to_root]
        if s in root_set:
            items.insert(0, One())
        return total(items)

    t0 = 2
    gen = _general(ev, t0)
    last = _general(ev, T, "T")
    rec_names = sorted(g.recurrent, key=lambda n: next(x.order for x in g.nodes.values()
                                                        if x.name == n))
    deltas = []
    first = []
    for name in rec_names:
        s = sym(f"{name}[{t0}]")
        # a backward recurrence's adjoints run forward in t: they start at t = 1
        start = 1 if name in g.backward else T
        if start == 1:
            first.append(len(deltas))
        s_last = sym(f"{name}[{start}]")
        deltas.append((Delta(s), delta_tree(s), Delta(s_last), delta_tree(s_last)))
    steps.append(_rules(ev, [d[1] for d in deltas] + [d[3] for d in deltas]))
    steps.append(Recurrence(tuple(deltas), T, gen, last, tuple(first)))

    rec_values = _Deltas(adj)
    columns = []
    for name in sorted({n.name for n in g.nodes.values() if n.step is not None},
                       key=lambda n: next(x.order for x in g.nodes.values() if x.name == n)):
        columns.append(("value", name, _Column(
            T, lambda t, name=name: ev.values[sym(f"{name}[{t}]")])))
    for name in rec_names:
        columns.append(("delta", name, _Column(
            T, lambda t, name=name: rec_values[sym(f"{name}[{t}]")])))

    numeric = is_numeric(answer)
    if wrt in recurrent_nodes:
        if numeric:
            steps.append(StepTable(tuple(columns), tuple(range(1, T + 1))))
        steps.append(Result(Delta(wrt), (), answer))
        return steps

    users = [c for c in consumers(wrt) if c in to_root]
    indexed_users = [c for c in users if g.nodes[c].step is not None]
    plain_users = [c for c in users if g.nodes[c].step is None]
    users_at: dict = {}
    for c in indexed_users:
        users_at.setdefault(g.nodes[c].step, []).append(c)

    def step_term(t):
        """The step-t term of the sum: every use of wrt at step t, added in the core."""
        cs = users_at.get(t)
        if not cs:
            return sympy.Integer(0)
        core, D = ev.core, ev.core.D
        acc = None
        for c in cs:
            x = edges.tensors.get((wrt, c))
            if x is not None:
                acc = x if acc is None else elementwise(D, D.add, acc, x)
        return sympy.Integer(0) if acc is None else core.shown(acc)
    general_wrt = split_name(wrt)[1] is None
    if general_wrt:
        at_t0 = [c for c in indexed_users if g.nodes[c].step == t0]
        tree = total([prod(adj_tree(c), Partial(c, wrt)) for c in at_t0])
        ptree = total([prod(adj_tree(c), Partial(c, wrt)) for c in plain_users])
        steps.append(GradientSum(lhs, tree, gen, ptree))
        contrib = _Column(T, step_term)
        columns.append(("contrib", lhs, contrib))
        if numeric:  # a table of long symbolic entries helps nobody; the recursion says it
            steps.append(StepTable(tuple(columns), tuple(range(1, T + 1))))
        shown = tuple(contrib) if T <= 10 and numeric else ()
        plain_part = [edges[(wrt, c)] for c in plain_users]
        steps.append(Result(lhs, shown + tuple(plain_part) if shown else (), answer))
    else:
        tree = total([prod(adj_tree(c), Partial(c, wrt)) for c in users])
        if numeric:
            steps.append(StepTable(tuple(columns), tuple(range(1, T + 1))))
        steps.append(Chain(lhs, tree, "leibniz"))
        steps.append(Chain(lhs, tree, "local"))
        if is_numeric(answer):
            steps.append(Chain(lhs, tree, "values", rec_values))
        steps.append(Result(lhs, (), answer))
    return steps


class _Column(Sequence):
    """One table column over steps 1..T, shown as sympy only for the rows a table prints (a
    long sequence's table shows 16 of its T rows)."""

    def __init__(self, T: int, at) -> None:
        self.T, self.at, self.cache = T, at, {}

    def __len__(self) -> int:
        return self.T

    def __getitem__(self, i):
        if isinstance(i, slice):
            return tuple(self[j] for j in range(*i.indices(self.T)))
        if not -self.T <= i < self.T:
            raise IndexError(i)
        i %= self.T
        v = self.cache.get(i)
        if v is None:
            v = self.cache[i] = self.at(i + 1)
        return v


class _Deltas(dict):
    """symbol -> δ as shown (0 where the backward pass never reached it)."""

    def __init__(self, adj) -> None:
        super().__init__()
        self.adj = adj

    def __missing__(self, key):
        v = self[key] = self.adj.get(key, sympy.Integer(0))
        return v


def _truncated_table(lhs, contrib, answer) -> list:
    steps = [StepTable((("term", lhs, contrib),), tuple(range(1, len(contrib) + 1)))]
    steps.append(Result(lhs, contrib if len(contrib) <= 10 else (), answer))
    return steps
