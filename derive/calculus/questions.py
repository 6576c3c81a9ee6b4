"""The one question handler: every question of every problem goes through here.

It dispatches by question kind (conceptual, value, gradient, Jacobian), resolves ``wrt``,
computes every number once on the numeric core (:class:`.core.Core`): the forward values,
the backward pass, the loss split and truncation, and decides what is said the same way for
all problems: the forward rows and when they become a table, the truncation note, the
conventions at kinks and ties, the additive paths of gated updates and the general T-step
formula.  Two narrators then write the steps from those numbers: :mod:`.scalar` (the chain
rule path by path, or the δ recursion) and :mod:`.vector` (matrix forms).
"""

from __future__ import annotations

import gc
from dataclasses import dataclass

import mpmath
import sympy

from ..errors import ExprError, unknown_name
from ..lang import expr as ex
from ..lang.loader import Problem, Question
from ..lang.to_sympy import split_name, sym
from ..ops import FUNCTIONS
from ..solution import ForwardRef, Note, Partial, QuestionSolution, Solution, VResult
from . import general, scalar, vector
from .core import NO_ALTERATION, Alteration, Core, key_sym
from .graph import loss_symbol, unroll
from .numbers import DIGITS
from .program import Program, check_entry, compile_expr, whole_index
from .tensor import Tensor, elementwise, scalar as scalar_tensor, zeros

#: Forward values are listed one by one, with their numbers put in, unless there are more
#: than FORWARD_LIST_ROWS of them, or more than FORWARD_SHORT_ROWS over more than
#: FORWARD_LIST_T steps: then they are a table.
FORWARD_LIST_T = 4
FORWARD_SHORT_ROWS = 12
FORWARD_LIST_ROWS = 16


def truncation_words(K: int) -> str:
    return (f"Truncated BPTT with $K = {K}$: each loss term is back-propagated through at "
            f"most {K} step{'s' if K > 1 else ''} (its own step "
            f"{'only' if K == 1 else 'and the ones before'}); paths through earlier states "
            "are dropped.")


@dataclass
class Gradient:
    """The numbers of ``d(of, wrt)`` for a scalar ``of``, computed once for either narrator.

    ``adj`` (symbol -> Tensor) and ``edges`` ((dep, consumer) -> Tensor) come from the one
    untruncated backward pass (None when truncated); ``seeds`` are the adjoints read off the
    question's own expression; ``parts`` holds, when truncated, one (term, t, horizon,
    Tensor or None) per additive loss term."""

    of: ex.Expr
    of_prog: Program
    wrt: sympy.Symbol
    shape: tuple
    answer: Tensor
    adj: dict | None
    edges: dict | None
    seeds: dict
    parts: tuple | None


def solve(problem: Problem, gradients: bool = False) -> Solution:
    """Solve every question of a validated problem (raises SpecError for numeric defects).

    ``gradients``: also the gradient of the loss (the last plain quantity) by every scalar
    node, for the graph figure."""
    previous = gc.get_threshold()
    gc.set_threshold(*GC_THRESHOLD)
    try:
        return _solve(problem, gradients)
    finally:
        gc.set_threshold(*previous)


#: A long sequence allocates some hundred thousand objects that live until the end; with
#: Python's default thresholds the cyclic collector passes over them again and again (a
#: third of the time at T = 10000) and finds nothing, so it runs a hundred times less often.
GC_THRESHOLD = (100_000, 50, 100)


def _solve(problem: Problem, gradients: bool) -> Solution:
    graph = unroll(problem)
    with mpmath.workdps(DIGITS + 5):
        core = Core(graph)
        questions = tuple(_question(core, q) for q in problem.questions)
        loss, grads = None, {}
        if gradients:
            loss = loss_symbol(graph)
            if loss is not None and core.values[loss].is_scalar and \
                    _numeric(core.values[loss].data[0]):
                adj = core.backward({loss: scalar_tensor(core.D.num(1))})
                grads = {s: core.shown(t) for s, t in adj.items()
                         if s in graph.nodes and t.is_scalar and _numeric(t.data[0])}
        narrator = scalar if core.scalars else vector
        return narrator.solution(core, questions, loss, grads, problem_forward(core, questions))


def gradable(problem: Problem) -> tuple:
    """The questions with one numeric answer that grading compares: values and derivatives
    (not conceptual, model or sweep questions), in file order."""
    out = []
    for q in problem.questions:
        if q.find is None or q.over is not None:
            continue
        if problem.arch is not None:
            from ..model import solve as model_solve
            if model_solve.handles(problem, q):
                continue
        out.append(q)
    return tuple(out)


def numeric_answers(graph, alteration: Alteration = NO_ALTERATION) -> dict:
    """question id -> exact answer (a sympy number or Matrix; a 17-digit Float when the
    problem is carried at 50 digits; None when it has no number) of every gradable question,
    computed on the numeric core alone: no narration, no sympy partials.  With an
    ``alteration`` the core re-solves as a student with that slip would (grading); the graph
    (from :func:`.graph.unroll`) is shared and left unchanged.  Raises SpecError for a
    problem defect, ExprError when the alteration does not fit the problem."""
    return numeric_solution(graph, alteration)[0]


def numeric_solution(graph, alteration: Alteration = NO_ALTERATION, values=()) -> tuple:
    """(:func:`numeric_answers`, symbol -> forward value as shown, of each of ``values``)."""
    previous = gc.get_threshold()
    gc.set_threshold(*GC_THRESHOLD)
    try:
        with mpmath.workdps(DIGITS + 5):
            core = Core(graph, alteration=alteration)
            out = {}
            for q in gradable(graph.problem):
                key = f"questions.{q.id}.find"
                try:
                    t = _numeric_answer(core, q, key)
                except ExprError as e:
                    raise core.p.error(str(e), key) from None
                ans = core.answer(t) if t is not None else None
                out[q.id] = ans.exact if ans is not None and ans.value is not None and \
                    ans.exact is not None else (_exact_of(ans) if ans is not None else None)
            return out, {s: core.shown(core.value(s)) for s in values}
    finally:
        gc.set_threshold(*previous)


def _exact_of(ans):
    """The answer as an exact sympy number (or Matrix) from its float value when it has no
    exact form (a 50-digit problem), None when it has no number."""
    if ans.value is None:
        return None
    v = ans.value
    if isinstance(v, list):
        rows = v if isinstance(v[0], list) else [[x] for x in v]
        return sympy.ImmutableMatrix([[sympy.Float(x, 17) for x in r] for r in rows])
    return sympy.Float(v, 17)


def _numeric_answer(core: Core, q: Question, key: str) -> Tensor | None:
    """The answer of one value or derivative question as a Tensor of its shape (None when it
    is symbolic), as :func:`_value` and :func:`_derivative` compute it."""
    if not (isinstance(q.find, ex.Call) and q.find.func == "d"):
        prog = core.compile_find(q.find, key)
        return prog.run(core.D, None, core.leaf)[-1]
    of_e, wrt_e = q.find.args
    pick = None
    if isinstance(wrt_e, ex.Entry):
        wrt_e, pick = wrt_e.base, wrt_e
    wrt = _wrt_symbol(core, wrt_e)
    if wrt in core.g.nodes and core.scalars and not _numeric(core.values[wrt].data[0]):
        return None
    of_prog = core.compile_find(of_e, key)
    of_val = of_prog.run(core.D, None, core.leaf)[-1]
    wshape = core.value(wrt).shape
    D = core.D
    if not of_val.is_scalar:
        if q.truncate is not None:
            raise ExprError("truncate goes with the derivative of a scalar loss")
        n = len(of_val.data)
        pos = _entry_position(core, pick, wshape, key)[0] if pick is not None else None
        rows = []
        for k in range(n):
            e_k = Tensor(of_val.rows, of_val.cols, [D.num(1) if m == k else D.num(0)
                                                    for m in range(n)])
            g = core.backward(core.seed(of_prog, None, e_k)).get(wrt)
            if pos is not None:
                rows.append([g.at(*pos) if g is not None else D.num(0)])
            else:
                rows.append(g.data if g is not None else [D.num(0)] * (wshape[0] * wshape[1]))
        if pos is not None:
            return Tensor(of_val.rows, of_val.cols, [r[0] for r in rows])
        shape = (n, wshape[0] * wshape[1]) if wshape != (1, 1) else of_val.shape
        return Tensor(shape[0], shape[1], [x for r in rows for x in r])
    grad = _gradient(core, key, of_e, of_prog, wrt, wshape, q.truncate)
    g = Tensor(wshape[0], wshape[1], grad.answer.data)
    if pick is not None:
        (i, j), _ = _entry_position(core, pick, wshape, key)
        return scalar_tensor(g.at(i, j))
    return g


def _numeric(v) -> bool:
    return not isinstance(v, sympy.Basic) or not v.free_symbols


def _question(core: Core, q: Question) -> QuestionSolution:
    if core.p.arch is not None:
        from ..model import solve as model_solve  # questions about the model: and encoding:
        if model_solve.handles(core.p, q):
            return model_solve.question(core.p, q)
    if q.find is None:
        return QuestionSolution(q, None, (Note(q.answer),) if q.answer else (), None)
    key = f"questions.{q.id}.find"
    try:
        if q.over is not None:
            from . import sweep  # it builds on this module's helpers
            return sweep.solve(core, q, key)
        if isinstance(q.find, ex.Call) and q.find.func == "d":
            return _derivative(core, q, key)
        return _value(core, q, key)
    except ExprError as e:
        raise core.p.error(str(e), key) from None


# ---- what every solution opens with ------------------------------------------------------------

def forward_rows(core: Core, roots) -> ForwardRef | None:
    """The quantities the question reads, in topological order, as a reference to the
    problem's one forward pass (None when it reads none)."""
    rows = core.g.ancestors(roots)
    return ForwardRef(rows) if rows else None


def forward_table(core: Core, n: int) -> bool:
    """Whether n forward values are shown as a table by step (long sequences, many rows)
    rather than one by one."""
    return n > FORWARD_LIST_ROWS or ((core.T or 0) > FORWARD_LIST_T and n > FORWARD_SHORT_ROWS)


def problem_forward(core: Core, questions) -> tuple[tuple, bool] | None:
    """The problem's forward pass, shown once: every quantity a question's ForwardRef names
    (topological order), and whether it is a table."""
    needed: dict = {}
    for qs in questions:
        for st in qs.steps:
            if isinstance(st, ForwardRef):
                needed.update(dict.fromkeys(st.rows))
    if not needed:
        return None
    rows = core.g.ancestors(tuple(needed))
    return rows, forward_table(core, len(rows))


def conventions(core: Core, roots, derivative: bool) -> list:
    """Conventions at points where a function is not differentiable, stated, never silent."""
    anc = set(core.g.ancestors(roots))
    notes = []
    tied = [s for s in core.ties if s in anc]
    if tied:
        notes.append(Note("hardmax has a tie for the largest entry at "
                          + ", ".join(s.name for s in tied) + "; as the problem format says, "
                          "the first largest entry is taken."))
    if derivative:
        words = {ins.extra.words for s in anc
                 for ins in core.programs[core.g.nodes[s].equation.key].instrs
                 if ins.op == "call" and ins.extra.words and not ins.extra.kink}
        notes.extend(Note(w) for w in sorted(words))
        for f in sorted({f for s, f in core.kinks if s in anc}):
            at = ", ".join(dict.fromkeys(s.name for s, g in core.kinks if g == f and s in anc))
            notes.append(Note(FUNCTIONS[f].words.replace("{at}", at)))
    return notes


# ---- value questions ------------------------------------------------------------------------------

def _value(core: Core, q: Question, key: str) -> QuestionSolution:
    prog = core.compile_find(q.find, key)
    regs = prog.run(core.D, None, core.leaf)
    roots = [key_sym(k) for k in prog.leaf_keys(None)]
    ans = core.answer(regs[-1])
    narrator = scalar if core.scalars else vector
    return narrator.value(core, q, key, forward_rows(core, roots),
                          conventions(core, roots, False), ans)


# ---- derivatives ------------------------------------------------------------------------------------

def _wrt_symbol(core: Core, e: ex.Expr) -> sympy.Symbol:
    if e == ex.Name("T"):
        raise ExprError("T is the number of steps, a constant: nothing is differentiated by it")
    if isinstance(e, ex.Name):
        s = sym(e.name)
    elif isinstance(e, ex.Ref) and e.index.kind != "t":
        step = e.index.value if e.index.kind == "n" else (core.T or 0) + e.index.value
        s = sym(f"{e.name}[{step}]")
    else:
        raise ExprError("d(of, wrt): wrt must be one quantity, a given or a parameter")
    if s not in core.g.nodes and s not in core.g.given and s not in core.g.leaves:
        known = {eq.name for eq in core.p.equations} | {g.name for g in core.p.given} | \
            {split_name(x)[0] for x in core.g.leaves}
        if e.name not in known:
            raise ExprError(unknown_name(e.name, known))
        raise ExprError(f"{s.name} does not appear in any equation")
    return s


def _entry_position(core: Core, e: ex.Entry, shape: tuple, key: str) -> tuple:
    """(row, column), 0-based, of the entry ``e`` of a quantity of this shape; an index may be
    a given whole number (c[2])."""
    check_entry(e, shape)
    sizes = (shape[0] * shape[1],) if 1 in shape else shape
    idx = []
    for i, size in zip(e.indices, sizes):
        if isinstance(i, ex.Num):
            idx.append(int(i.value))
            continue
        prog = core.compile_find(i, key)
        v = prog.run(core.D, None, core.leaf)[-1]
        if not v.is_scalar:
            raise ExprError(f"the entry index {ex.to_text(i)} must be one whole number")
        idx.append(whole_index(core.D, v.data[0], size, ex.to_text(i)))
    if len(idx) == 2:
        return (idx[0] - 1, idx[1] - 1), tuple(idx)
    return ((idx[0] - 1, 0) if shape[1] == 1 else (0, idx[0] - 1)), tuple(idx)


def entry_symbol(s: sympy.Symbol, idx: tuple) -> sympy.Symbol:
    """The symbol of one entry of a quantity: ``W_hh[[1,2]]``, ``h[1][[2]]`` (printed
    (W_hh)_{1,2} and (h_1)_2)."""
    return sym(f"{s.name}[[{','.join(str(i) for i in idx)}]]")


def _derivative(core: Core, q: Question, key: str) -> QuestionSolution:
    of_e, wrt_e = q.find.args
    pick = None
    if isinstance(wrt_e, ex.Entry):  # one entry of a gradient: the gradient, then the entry
        wrt_e, pick = wrt_e.base, wrt_e
    wrt = _wrt_symbol(core, wrt_e)
    if wrt in core.g.nodes and core.scalars and not _numeric(core.values[wrt].data[0]):
        # a symbolic answer by a quantity keeps that quantity as the variable (the forward
        # pass shows the same equations: its values are symbolic either way)
        core = Core(core.g, frozenset({wrt}))
    of_prog = core.compile_find(of_e, key)
    of_val = of_prog.run(core.D, None, core.leaf)[-1]
    wshape = core.value(wrt).shape
    roots = [key_sym(k) for k in of_prog.leaf_keys(None)]
    opening = [forward_rows(core, roots), conventions(core, roots, True)]
    if pick is not None:
        pos = _entry_position(core, pick, wshape, key)
        if not of_val.is_scalar:
            return _by_one_entry(core, q, of_e, of_prog, of_val, wrt, pos, opening)
    if not of_val.is_scalar:
        if wshape != (1, 1) and wshape[1] != 1 and wshape[0] != 1:
            raise ExprError("d(vector, matrix) would be an array with three indices; ask for "
                            "the derivative of a scalar (a loss, or one entry through sum or "
                            "dot)")
        if of_val.rows != 1 and of_val.cols != 1 and wshape != (1, 1):
            raise ExprError("d(matrix, ...) is only defined here by a scalar")
        if q.truncate is not None:
            raise ExprError("truncate goes with the derivative of a scalar loss")
        return vector.jacobian(core, q, of_e, of_prog, of_val, wrt, wshape, opening)
    if q.truncate is not None:
        crossed = core.g.backward_between(roots, wrt)
        if crossed:
            name = crossed[0]
            raise core.p.error(
                f"truncate counts steps back in time, but {name} runs backward ({name}[t] "
                f"reads {name}[t+1]) and lies between {wrt.name} and the loss: truncated BPTT "
                "is defined here only for recurrences that run forward; ask for the full "
                "gradient", f"questions.{q.id}.truncate")
    grad = _gradient(core, key, of_e, of_prog, wrt, wshape, q.truncate)
    ans = core.answer(grad.answer, wshape)
    extra = []
    if q.truncate is not None:
        extra.append(Note(truncation_words(q.truncate)))
    narrator = scalar if core.scalars else vector
    target = narrator.target(core, of_e, wrt)
    if q.form == "general":
        extra.append(_general_formula(core, narrator, target, wrt))
    steps = narrator.gradient(core, q, key, grad, target, ans, opening, extra,
                              _additive_paths(core, narrator, roots, wrt))
    if pick is not None:
        (i, j), idx = pos
        one = core.answer(scalar_tensor(grad.answer.at(i, j)))
        where = (f"row {idx[0]}, column {idx[1]}" if len(idx) == 2 else f"entry {idx[0]}")
        target = Partial(target.of, entry_symbol(wrt, idx))
        steps = list(steps) + [
            Note(f"The backward pass gives the whole gradient at once; the entry asked for is "
                 f"{where} of it:"),
            VResult(target, (), one.expr, "value")]
        ans = one
    return QuestionSolution(q, target, tuple(steps), ans)


def _by_one_entry(core: Core, q, of_e, of_prog, of_val, wrt, pos, opening) -> QuestionSolution:
    """d(vector, one entry): entry i of the answer is the picked entry of the gradient of the
    vector's entry i, one backward pass each (a column of the Jacobian by the whole quantity,
    which for a matrix would have three indices)."""
    if q.truncate is not None:
        raise ExprError("truncate goes with the derivative of a scalar loss")
    D = core.D
    (i, j), idx = pos
    n = len(of_val.data)
    out = []
    for k in range(n):
        e_k = Tensor(of_val.rows, of_val.cols, [D.num(1) if m == k else D.num(0)
                                                for m in range(n)])
        g = core.backward(core.seed(of_prog, None, e_k)).get(wrt)
        out.append(g.at(i, j) if g is not None else D.num(0))
    ans = core.answer(Tensor(of_val.rows, of_val.cols, out))
    target = Partial(vector._of_symbol(of_e), entry_symbol(wrt, idx))
    where = f"row {idx[0]}, column {idx[1]}" if len(idx) == 2 else f"entry {idx[0]}"
    fwd, notes = opening
    steps = vector.forward_step(fwd) + notes + [
        Note(f"Entry $i$ of the answer is {where} of the gradient of entry $i$ of the "
             "differentiated quantity, from one backward pass each."),
        VResult(target, (), ans.expr, "value")]
    return QuestionSolution(q, target, tuple(steps), ans)


def _gradient(core: Core, key, of_e, of_prog, wrt, wshape, K) -> Gradient:
    D = core.D
    one = scalar_tensor(D.num(1))
    # every node's adjoint is shown somewhere (δ_t at every step); of the leaves only wrt's
    wanted = core.wanted(wrt)
    if K is None:
        seeds = core.seed(of_prog, None, one)
        edges: dict = {}
        adj = core.backward(dict(seeds), None, edges, wanted)
        g = adj.get(wrt)
        parts = None
    else:
        plain = {e.name: e.expr for e in core.p.equations if not e.indexed}
        g, out, adj, edges, seeds = None, [], None, None, {}
        for term, t, horizon in ex.loss_terms(of_e, plain, core.T):
            prog = core.compile_find(term, key, t)
            a = core.backward(dict(core.seed(prog, t, one)), horizon - K, None, wanted)
            part = a.get(wrt)
            out.append((term, t, horizon, part))
            if part is not None:
                g = part if g is None else elementwise(D, D.add, g, part)
        parts = tuple(out)
    if g is None:
        g = zeros(wshape, D)
    return Gradient(of_e, of_prog, wrt, wshape, g, adj, edges, seeds, parts)


def _additive_paths(core: Core, narrator, roots, wrt) -> list:
    """An Additive step for each state whose update carries its previous value additively,
    when the derivative runs back through that state across steps."""
    g = core.g
    if not core.T or core.T < 2:
        return []
    anc = set(g.ancestors(roots))
    reached = g.reach(wrt)
    out = []
    for eq in core.p.equations:
        if not eq.indexed or eq.name not in g.recurrent:
            continue
        if not any(g.nodes[s].name == eq.name and (g.nodes[s].step or 0) >= 2 and
                   sym(f"{eq.name}[{g.nodes[s].step - 1}]") in reached
                   for s in anc & reached if s in g.nodes):
            continue
        for term in ex.additive_terms(eq.expr, eq.name):
            step = narrator.additive(core, eq, term)
            if step is not None:
                out.append(step)
    return out


def _general_formula(core: Core, narrator, target, wrt):
    """The T-step formula for a parameter of the single recurrence, or a Note saying why not."""
    states = [eq for eq in core.p.equations if eq.indexed and eq.name in core.g.recurrent]
    if len(states) != 1:
        return Note(general.NEEDS)
    eq = states[0]
    inlined = general.inline(core.p, eq.name)
    prog = compile_expr(inlined, core.shape_of, core.T, in_step=True)
    for ins in prog.instrs:
        core.node_shapes[id(ins.node)] = ins.shape
    leaves = {ins.extra for ins in prog.instrs if ins.op == "leaf"}
    if ("t", eq.name, -1) not in leaves or ("p", wrt.name, None) not in leaves:
        return Note(general.NEEDS)
    act, weight = general.recurrent_weight(eq.name, inlined)
    value = core.g.given.get(sym(weight)) if weight else None
    return narrator.general(core, target, eq, inlined, prog, wrt, act, weight,
                            general.norm(value))
