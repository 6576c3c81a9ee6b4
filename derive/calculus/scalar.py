"""The engine: forward values, the backward recursion over local partials, and the derivation steps.

``solve(problem)`` returns a :class:`~derive.solution.Solution`.  Every number shown in a step is
read from the same caches (forward values, local partial values, adjoints) the answer is built from.
Cost is linear in T: each node is visited once forward and once backward, and each equation is
differentiated once, as a template.
"""

from __future__ import annotations

import heapq

import mpmath

import sympy

from ..lang import expr as ex
from ..errors import ExprError, SpecError
from ..lang.to_sympy import build, split_name, sym
from . import general
from .graph import Graph, loss_symbol
from .numbers import (DIGITS, MAX_MAGNITUDE, NOT_REAL, TOO_LARGE, is_numeric,
                      settle, simplify, tree_size, to_mpf)
from ..lang.loader import Problem, Question
from ..ops import FUNCTIONS, KINK_WORDS, RULE_OF_CLASS, relu
from ..solution import (Additive, Answer, Chain, Delta, Evaluate, ForwardTable, ForwardValues,
                       GeneralFormula, GradientSum,
                       Note, One, Partial, Prod, QuestionSolution, Recurrence, Result, Rules,
                       Solution, Split, StepTable, Sum, prod, total)

EXPANDED_MAX_T = 4
EXPANDED_MAX_FACTORS = 40
FORWARD_DETAIL_MAX_T = 4
SYMBOLIC_EXACT_CAP = 400


class _TooLong(Exception):
    pass


def solve_graph(graph: Graph, gradients: bool = False) -> Solution:
    """Solve every question of a scalar problem (raises SpecError for numeric defects).

    ``gradients``: also the gradient of the loss (the last plain quantity) by every node, for
    the graph figure."""
    ev = Evaluator(graph)
    questions = tuple(_solve_question(ev, q) for q in graph.problem.questions)
    loss, grads = None, {}
    if gradients:
        loss = loss_symbol(graph)
        if loss is not None and is_numeric(ev.values[loss]):
            grads = {s: v for s, v in ev.backward(loss).items()
                     if s in graph.nodes and is_numeric(v)}
    return Solution(graph.problem, graph, ev.values, questions, loss=loss, gradients=grads)


def _numeric(template, which, env: dict):
    """The value by 50-digit mpmath when the inputs are numbers and one is already a float
    (the exact path would only be converted back); None otherwise."""
    if not env or not all(v.is_Number for v in env.values()) or \
            not any(v.is_Float for v in env.values()):
        return None
    with mpmath.workdps(DIGITS + 5):
        args = [to_mpf(env.get(slot, sympy.Integer(0)))
                for slot in template.slot_order + (template.self_slot,)]
        try:
            r = template.numeric(which)(*args)
        except (ZeroDivisionError, ValueError) as e:
            raise ExprError(str(e) if "not defined" in str(e) else NOT_REAL) from None
        if isinstance(r, mpmath.mpc) or not mpmath.isfinite(r):
            raise ExprError(NOT_REAL)
        if abs(r) > MAX_MAGNITUDE:
            raise ExprError(TOO_LARGE)
        return sympy.Float(mpmath.mpf(r), DIGITS)


class _Symbolic(Exception):
    pass


def _check_domain(node, values: dict, T: int | None) -> None:
    """Evaluate the equation as the author wrote it (not sympy's simplified form) in real
    mpmath arithmetic, so that log(-2) or exp(log(x)) at x < 0 is an error even where sympy
    would simplify it to something real."""
    step = node.step

    def value(sym_):
        v = values.get(sym_, sym_)
        if not isinstance(v, sympy.Basic) or not v.is_Number:
            raise _Symbolic
        return to_mpf(v)

    def at(index, t):
        return {"t": t, "T": T, "n": 0}[index.kind] + index.value if index.kind != "n" \
            else index.value

    def go(e, t):
        if isinstance(e, ex.Num):
            return to_mpf(e.value)
        if isinstance(e, ex.Name):
            return value(sym(e.name))
        if isinstance(e, ex.Ref):
            return value(sym(f"{e.name}[{at(e.index, t)}]"))
        if isinstance(e, ex.Neg):
            return -go(e.arg, t)
        if isinstance(e, ex.Transpose):
            return go(e.arg, t)
        if isinstance(e, ex.Bin):
            a, b = go(e.left, t), go(e.right, t)
            if e.op == "/" and b == 0:
                raise ExprError("division by zero")
            if e.op == "**" and a < 0 and b != int(b):
                raise ExprError(f"a negative number to a fractional power ({mpmath.nstr(a, 6)}"
                                f"**{mpmath.nstr(b, 6)})")
            if e.op == "**" and a == 0 and b < 0:
                raise ExprError("division by zero (0 to a negative power)")
            return {"+": a + b, "-": a - b, "*": a * b, "@": a * b}.get(e.op) if e.op in "+-*@" \
                else (a / b if e.op == "/" else a ** b)
        if isinstance(e, ex.Call):
            if e.func == "sum" and ex.uses_t(e.args[0]) and t is None:
                return mpmath.fsum(go(e.args[0], k) for k in range(1, (T or 0) + 1))
            return FUNCTIONS[e.func].mp(*(go(a, t) for a in e.args))
        raise TypeError(e)

    try:
        with mpmath.workdps(30):
            r = go(node.equation.expr, step)
    except _Symbolic:
        return
    except (ValueError, ZeroDivisionError, OverflowError) as err:
        msg = str(err)
        raise ExprError(msg if "not defined" in msg else NOT_REAL) from None
    if isinstance(r, mpmath.mpc):
        raise ExprError(NOT_REAL)


class Evaluator:
    """Forward values and cached local partial values over one graph."""

    def __init__(self, graph: Graph, override: dict | None = None) -> None:
        self.g = graph
        self.values = self.forward(override or {})
        self._partials: dict = {}
        self._horizon: dict = {}

    def fail(self, err: ExprError, node) -> SpecError:
        return self.g.problem.error(str(err), f"equations.{node.equation.key}")

    def forward(self, override: dict) -> dict:
        values: dict = dict(self.g.given)
        for leaf in self.g.leaves:
            values.setdefault(leaf, leaf)
        for s, node in self.g.nodes.items():
            if s in override:
                values[s] = override[s]
                continue
            env = {slot: values[c] for slot, c in node.slots.items() if c != s}
            try:
                _check_domain(node, values, self.g.T)
                fast = _numeric(node.template, None, env)
                values[s] = fast if fast is not None else \
                    settle(node.template.expr.xreplace(env), s)
            except ExprError as e:
                raise self.fail(e, node) from None
        return values

    def partial_value(self, of, dep) -> sympy.Expr:
        key = (of, dep)
        v = self._partials.get(key)
        if v is None:
            node = self.g.nodes.get(of)
            try:
                if node is not None:
                    slot = node.slot_of(dep)
                    pexpr = node.template.partials[slot]
                    env = {fs: self.values[node.slots[fs]] for fs in pexpr.free_symbols}
                    v = _numeric(node.template, slot, env)
                    if v is None:
                        v = settle(pexpr.xreplace(env))
                else:
                    v = settle(self.g.local_partial(of, dep).xreplace(self.values))
            except ExprError as e:
                if node is None:
                    raise
                raise self.fail(e, node) from None
            self._partials[key] = v
        return v

    def deps(self, of) -> tuple:
        node = self.g.nodes.get(of)
        if node is not None:
            return node.deps
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
            hs = [self.horizon(d) for d in node.deps if d in self.g.nodes]
            hs = [x for x in hs if x is not None]
            h = max(hs) if hs else None
        self._horizon[s] = h
        return h

    def backward(self, root, bound: int | None = None, edges: dict | None = None) -> dict:
        """Adjoints ∂root/∂s for every symbol s reached; nodes at steps <= bound get none
        (truncated BPTT).  ``edges`` (optional) collects each (dep, consumer) contribution."""
        adj: dict = {}
        heap: list = []
        order = {s: n.order for s, n in self.g.nodes.items()}

        def add(d, v, consumer):
            if edges is not None:
                edges[(d, consumer)] = v
            if d in adj:
                adj[d] = settle(adj[d] + v)
            else:
                adj[d] = v
                if d in order:
                    heapq.heappush(heap, (-order[d], d.name, d))

        def blocked(d):
            if bound is None:
                return False
            node = self.g.nodes.get(d)
            return node is not None and node.step is not None and node.step <= bound

        if root in self.g.nodes:
            adj[root] = sympy.Integer(1)
            heapq.heappush(heap, (-order[root], root.name, root))
        else:
            for d in self.deps(root):
                if not blocked(d):
                    add(d, self.partial_value(root, d), root)
        while heap:
            _, _, s = heapq.heappop(heap)
            a = adj[s]
            if a == 0:
                continue
            for d in self.g.nodes[s].deps:
                if blocked(d):
                    continue
                add(d, settle(a * self.partial_value(s, d)), s)
        return adj


# ---- questions --------------------------------------------------------------------------------

def _solve_question(ev: Evaluator, q: Question) -> QuestionSolution:
    g = ev.g
    key = f"questions.{q.id}.find"
    if q.find is None:
        return QuestionSolution(q, None, (Note(q.answer),) if q.answer else (), None)
    try:
        if isinstance(q.find, ex.Call) and q.find.func == "d":
            of = g.resolve_find(q.find.args[0], key)
            wrt = g.resolve_find(q.find.args[1], key)
            if not isinstance(wrt, sympy.Symbol):
                raise ExprError("d(of, wrt): wrt must be one quantity, a given or a parameter")
            return _derivative(ev, q, of, wrt)
        target = g.resolve_find(q.find, key)
        return _value(ev, q, target)
    except ExprError as e:
        raise g.problem.error(str(e), key) from None


def _answer(v: sympy.Expr) -> Answer:
    value = None
    exact = v
    if is_numeric(v):
        value = float(v)
        if v.has(sympy.Float):
            exact = None
    else:
        exact = v if tree_size(v) <= SYMBOLIC_EXACT_CAP else None
    return Answer(v, exact, value)


def _ancestors(ev: Evaluator, targets) -> tuple:
    return ev.g.ancestors(targets)


def _forward_step(ev: Evaluator, targets, detailed: bool):
    rows = _ancestors(ev, targets)
    if not rows:
        return None
    T = ev.g.T or 0
    if T > FORWARD_DETAIL_MAX_T and len(rows) > 12:
        names = tuple(dict.fromkeys(ev.g.nodes[s].name for s in rows if ev.g.nodes[s].step))
        steps = tuple(sorted({ev.g.nodes[s].step for s in rows if ev.g.nodes[s].step}))
        plain = tuple(s for s in rows if ev.g.nodes[s].step is None)
        return ForwardTable(names, steps, plain)
    return ForwardValues(rows, detailed)


def _value(ev: Evaluator, q: Question, target: sympy.Expr) -> QuestionSolution:
    steps = []
    fwd = _forward_step(ev, target.free_symbols, detailed=True)
    if fwd is not None:
        steps.append(fwd)
    v = settle(target.xreplace(ev.values))
    if not (target.is_Symbol and target in ev.g.nodes) or target in ev.g.given:
        steps.append(Evaluate(target))
    ans = _answer(simplify(v))
    return QuestionSolution(q, target, tuple(steps), ans)


def _root_terms(ev: Evaluator, of) -> tuple[tuple, bool]:
    """The loss terms: L = L_1 + ... + L_T is split into its terms when each is a quantity."""
    nodes = ev.g.nodes
    expr = nodes[of].expr if of in nodes and nodes[of].step is None else of
    if expr.is_Add and all(a in nodes for a in expr.args):
        return tuple(sorted(expr.args, key=lambda s: nodes[s].order)), True
    return (of,), False


def _reach(ev: Evaluator, wrt) -> set:
    reach = {wrt}
    for s, n in ev.g.nodes.items():
        if any(d in reach for d in n.deps):
            reach.add(s)
    return reach


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
            items.append(prod(Partial(n, d), go(d)))
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


def _derivative(ev: Evaluator, q: Question, of, wrt) -> QuestionSolution:
    g = ev.g
    if not (wrt in g.nodes or wrt in g.leaves or wrt in g.given):
        raise ExprError(f"{wrt.name} does not appear in any equation")
    # A symbolic answer by a quantity keeps that quantity as the variable.
    if wrt in g.nodes and not is_numeric(ev.values[wrt]):
        ev = Evaluator(g, {wrt: wrt})
    lhs = Partial(of, wrt)
    terms, split = ((of,), False) if of == wrt else _root_terms(ev, of)
    K = q.truncate
    if K is not None:
        # Truncation acts on each additive loss term, named or not.
        body = g.nodes[of].expr if of in g.nodes and g.nodes[of].step is None else of
        if body.is_Add and not split and of != wrt:
            terms = tuple(sorted(body.args, key=lambda a: (ev.horizon(a) or 0, str(a))))
            split = True
    bounds = {}
    for t in terms:
        h = ev.horizon(t)
        bounds[t] = (h - K) if (K is not None and h is not None) else None

    # The answer: one backward pass (one per loss term when truncated).
    edges: dict = {}
    if K is None:
        adj = ev.backward(of, None, edges)
        answer = adj.get(wrt, sympy.Integer(0))
        parts = None
    else:
        adj = None
        parts = tuple(ev.backward(t, bounds[t]).get(wrt, sympy.Integer(0)) for t in terms)
        answer = settle(sympy.Add(*parts))
    answer = simplify(answer)

    steps: list = []
    fwd = _forward_step(ev, ({of} if of in g.nodes else of.free_symbols), detailed=False)
    if fwd is not None:
        steps.append(fwd)
    if K is not None:
        steps.append(Note(f"Truncated BPTT with $K = {K}$: each loss term is back-propagated "
                          f"through at most {K} step{'s' if K > 1 else ''} (its own step "
                          f"{'only' if K == 1 else 'and the ones before'}); paths through "
                          "earlier states are dropped."))
    if q.form == "general":
        steps.append(_general_formula(ev, lhs, wrt))
    form = q.form
    use_recursive = False
    if form != "expanded" and g.recurrent and g.T and g.T >= 3:
        use_recursive = form == "recursive" or g.T > EXPANDED_MAX_T
    trees = None
    if not use_recursive:
        reach = _reach(ev, wrt)
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
        steps.extend(_expanded_steps(ev, lhs, terms, split, trees, answer))
    steps.extend(_additive_paths(ev, of, wrt))
    steps.extend(_kinks(ev, of))
    return QuestionSolution(q, lhs, tuple(steps), _answer(answer))


def _kinks(ev: Evaluator, of) -> list:
    """A note for each function evaluated exactly at a point where it has no derivative."""
    found = set()
    kinked: dict = {}  # template -> its relu/abs applications (most templates have none)
    for s in _ancestors(ev, {of} if of in ev.g.nodes else of.free_symbols):
        node = ev.g.nodes[s]
        fs = kinked.get(id(node.template))
        if fs is None:
            fs = kinked[id(node.template)] = tuple(node.template.expr.atoms(relu, sympy.Abs))
        for f in fs:
            if f.args[0].xreplace(node.slots).xreplace(ev.values) == 0:
                found.add("relu" if isinstance(f, relu) else "abs")
    return [Note(KINK_WORDS.format(f=f)) for f in sorted(found)]


def _general_formula(ev: Evaluator, lhs: Partial, wrt):
    """The T-step formula for a parameter of the single recurrence, or a Note saying why not."""
    g = ev.g
    states = [eq for eq in g.problem.equations if eq.indexed and eq.name in g.recurrent]
    if len(states) != 1:
        return Note(general.NEEDS)
    eq = states[0]
    inlined = general.inline(g.problem, eq.name)
    e = build(inlined, lambda n: sym(n.name) if isinstance(n, ex.Name)
              else sym(f"{n.name}[{n.index.text()}]"))
    prev = sym(f"{eq.name}[t-1]")
    if prev not in e.free_symbols or wrt not in e.free_symbols:
        return Note(general.NEEDS)
    back = {e: sym(f"{eq.name}[t]")} if not e.is_Atom else {}

    def partial(by, letter):
        d = sympy.factor_terms(sympy.diff(e, by).xreplace(back))
        return d.xreplace({s: sym(s.name.replace("[t", f"[{letter}"))
                           for s in d.free_symbols if "[t" in s.name})

    act, weight = general.recurrent_weight(eq.name, inlined)
    value = g.given.get(sym(weight)) if weight else None
    return GeneralFormula(lhs, eq.name, partial(prev, "j"), partial(wrt, "k"), act, weight,
                          general.norm(value))


def _additive_paths(ev: Evaluator, of, wrt) -> list:
    """An Additive step for each state whose update carries its previous value additively,
    when the derivative runs back through that state across steps."""
    g = ev.g
    if not g.T or g.T < 2:
        return []
    anc = set(_ancestors(ev, {of} if of in g.nodes else of.free_symbols))
    reach = _reach(ev, wrt)
    out = []
    for eq in g.problem.equations:
        if not eq.indexed or eq.name not in g.recurrent:
            continue
        crossing = [s for s in anc & reach if s in g.nodes and g.nodes[s].name == eq.name
                    and g.nodes[s].step and g.nodes[s].step >= 2 and
                    sym(f"{eq.name}[{g.nodes[s].step - 1}]") in reach]
        if not crossing:
            continue
        for term in ex.additive_terms(eq.expr, eq.name):
            e = build(term, lambda n: sym(n.name) if isinstance(n, ex.Name)
                      else sym(f"{n.name}[{n.index.text()}]"))
            coeff = sympy.factor_terms(sympy.diff(e, sym(f"{eq.name}[t-1]")))
            out.append(Additive(eq.name, term, coeff))
    return out


def _functions_used(ev: Evaluator) -> tuple:
    found = set()
    for n in {id(n.template): n for n in ev.g.nodes.values()}.values():
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
    out = {}
    for s in list(ev.g.nodes) + list(ev.g.leaves) + list(ev.g.given):
        base, idx = split_name(s)
        if idx is None or not idx.lstrip("-").isdigit() or abs(int(idx) - t0) > 3:
            continue
        k = int(idx) - t0
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
        own = g.consumers.get(s, ())
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
    for name in rec_names:
        s = sym(f"{name}[{t0}]")
        s_last = sym(f"{name}[{T}]")
        deltas.append((Delta(s), delta_tree(s), Delta(s_last), delta_tree(s_last)))
    steps.append(_rules(ev, [d[1] for d in deltas] + [d[3] for d in deltas]))
    steps.append(Recurrence(tuple(deltas), T, gen, last))

    rec_values = {s: adj.get(s, sympy.Integer(0)) for s in recurrent_nodes}
    columns = []
    for name in sorted({n.name for n in g.nodes.values() if n.step is not None},
                       key=lambda n: next(x.order for x in g.nodes.values() if x.name == n)):
        columns.append(("value", name, tuple(ev.values[sym(f"{name}[{t}]")]
                                             for t in range(1, T + 1))))
    for name in rec_names:
        columns.append(("delta", name, tuple(rec_values[sym(f"{name}[{t}]")]
                                             for t in range(1, T + 1))))

    numeric = is_numeric(answer)
    if wrt in recurrent_nodes:
        if numeric:
            steps.append(StepTable(tuple(columns), tuple(range(1, T + 1))))
        steps.append(Result(Delta(wrt), (), answer))
        return steps

    users = [c for c in consumers(wrt) if c in to_root]
    indexed_users = [c for c in users if g.nodes[c].step is not None]
    plain_users = [c for c in users if g.nodes[c].step is None]
    per_step = {}
    for c in indexed_users:
        st = g.nodes[c].step
        per_step[st] = settle(per_step.get(st, sympy.Integer(0)) + edges.get((wrt, c), 0))
    general_wrt = split_name(wrt)[1] is None
    if general_wrt:
        at_t0 = [c for c in indexed_users if g.nodes[c].step == t0]
        tree = total([prod(adj_tree(c), Partial(c, wrt)) for c in at_t0])
        ptree = total([prod(adj_tree(c), Partial(c, wrt)) for c in plain_users])
        steps.append(GradientSum(lhs, tree, gen, ptree))
        contrib = tuple(per_step.get(t, sympy.Integer(0)) for t in range(1, T + 1))
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


def _truncated_table(lhs, contrib, answer) -> list:
    steps = [StepTable((("term", lhs, contrib),), tuple(range(1, len(contrib) + 1)))]
    steps.append(Result(lhs, contrib if len(contrib) <= 10 else (), answer))
    return steps
