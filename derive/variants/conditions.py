"""``require:`` conditions evaluated on a problem's exact answers, in the one engine.

Each find of a condition is solved as a question of the problem (``d(L, W_h)`` by the same
derivative code as a question's), and its exact answer is compared exactly: rationals as
rationals, closed forms such as ``tanh(3/2)`` by their sign at 60 digits.  A condition on a
vector or matrix holds when it holds for every entry: ``d(L, W) != 0`` keeps a draw only when
no entry of the gradient is zero, ``integer(d(L, W))`` when every entry is a whole number.
"""

from __future__ import annotations

import dataclasses

import mpmath
import sympy

from ..calculus.numbers import as_sympy
from ..errors import ExprError, SpecError
from ..lang import expr as ex
from ..lang.loader import Problem, Question
from ..lang.require import Condition, Side

#: Digits at which a difference that is not rational is taken as zero (below 10^-50).
SIGN_DIGITS = 60


def check(problem: Problem, conditions: tuple | None = None,
          base=None) -> Condition | None:
    """The first of ``conditions`` (default: the problem's ``require``) that does not hold for
    ``problem``'s givens, or None when all hold (and its forward pass can be computed).
    SpecError (key ``require[i]``) when a condition cannot be evaluated, or when the problem
    itself cannot be solved.  ``base``: the graph of the same problem unrolled with other
    givens of the same shapes, reused (:func:`rebind`)."""
    from ..calculus import questions as q_mod
    from ..calculus.core import Core
    from ..calculus.graph import unroll
    from ..calculus.numbers import DIGITS

    conditions = problem.require if conditions is None else conditions
    # also without conditions: a draw must leave the problem solvable
    graph = unroll(problem) if base is None else rebind(base, problem)
    with mpmath.workdps(DIGITS + 5):
        core = Core(graph)
        cache: dict = {}
        for i, c in enumerate(conditions, start=1):
            key = f"require[{i}]"
            try:
                values = [_side(q_mod, core, s, cache, key) for s in c.sides]
                ok = _holds(c, values)
            except ExprError as e:
                raise SpecError(str(e), file=problem.file, key=key, line=c.line) from None
            except SpecError as e:
                if e.key and e.key.startswith("questions._r"):
                    raise SpecError(e.message, file=problem.file, key=key, line=c.line) from None
                raise
            if not ok:
                return c
    return None


def rebind(base, problem: Problem):
    """The unrolled graph ``base`` with ``problem``'s given values, which have the shapes of
    the values ``base`` was unrolled with: the nodes, programs' sources and symbolic partials
    do not depend on the values (the engine builds several cores on one graph too), so only
    the leaf values and the problem change; each leaf as :func:`graph.unroll` names it."""
    from ..lang.to_sympy import sym

    given = dict(base.given)
    for g in problem.given:
        if g.index is not None:
            given[sym(f"{g.name}[{g.index}]")] = g.value
        elif isinstance(g.value, tuple) and sym(g.name) not in base.given:
            for k, v in enumerate(g.value, start=1):  # a sequence: one leaf per step
                given[sym(f"{g.name}[{k}]")] = v
        else:
            given[sym(g.name)] = g.value
    if set(given) != set(base.given):
        raise ValueError("rebind: the givens name other leaves than the base graph's")
    return dataclasses.replace(base, problem=problem, given=given)


def _side(q_mod, core, side: Side, cache: dict, key: str) -> tuple:
    """(shape, flat tuple of exact entries) of one side."""
    if side.kind == "find":
        text = ex.to_text(side.expr)
        if text not in cache:
            qid = f"_r{len(cache) + 1}"
            # solved as a question whose errors check() reports under require[i]
            q = Question(qid, "", side.expr, text, None, "", "auto", None)
            a = _fast(q_mod, core, q) or q_mod._question(core, q).answer
            if a is None:
                raise ExprError(f"{text} has no value to compare")
            v = a.exact if a.exact is not None else a.expr
            cache[text] = _flat(v, text)
        return cache[text]
    args = [_side(q_mod, core, a, cache, key) for a in side.args]
    if side.kind == "abs":
        shape, xs = args[0]
        return shape, tuple(abs(x) for x in xs)
    if side.kind == "neg":
        shape, xs = args[0]
        return shape, tuple(-x for x in xs)
    (sa, xa), (sb, xb) = args
    shape, xa, xb = _broadcast(sa, xa, sb, xb)
    op = side.kind
    out = []
    for a, b in zip(xa, xb):
        if op == "/" and b == 0:
            raise ExprError("division by zero in a condition")
        out.append(a + b if op == "+" else a - b if op == "-" else a * b if op == "*" else a / b)
    return shape, tuple(out)


def answers(problem: Problem) -> dict | None:
    """id -> {find, exact, value} of every question, as ``render.answers`` of the solved
    problem gives them, computed on the numeric core without writing the steps (for a batch
    that renders nothing); None for a problem with a model: or encoding: block."""
    from ..calculus import questions as q_mod
    from ..calculus.core import Core
    from ..calculus.graph import unroll
    from ..calculus.numbers import DIGITS
    from ..output.render import _exact_json

    if problem.arch is not None:
        return None
    out = {}
    with mpmath.workdps(DIGITS + 5):
        core = Core(unroll(problem))
        for q in problem.questions:
            if q.find is None:
                continue
            try:
                a = None if q.over is not None else _fast(q_mod, core, q)
            except ExprError as e:
                raise problem.error(str(e), f"questions.{q.id}.find") from None
            if a is None:
                a = q_mod._question(core, q).answer
            out[q.id] = {"find": q.find_text, "exact": _exact_json(a.exact), "value": a.value}
    return out


def _fast(q_mod, core, q):
    """The exact answer of a plain value or a full gradient of a scalar, from the numeric core
    alone (what the question handler computes before its narrator writes the steps), or None
    for the other kinds, which go through the handler itself."""
    key = f"questions.{q.id}.find"
    e = q.find
    if not (isinstance(e, ex.Call) and e.func == "d"):
        prog = core.compile_find(e, key)
        return core.answer(prog.run(core.D, None, core.leaf)[-1])
    of_e, wrt_e = e.args
    if isinstance(wrt_e, ex.Entry):
        return None
    wrt = q_mod._wrt_symbol(core, wrt_e)
    if wrt in core.g.nodes and core.scalars and not q_mod._numeric(core.values[wrt].data[0]):
        return None
    of_prog = core.compile_find(of_e, key)
    if not of_prog.run(core.D, None, core.leaf)[-1].is_scalar:
        return None
    wshape = core.value(wrt).shape
    if q.truncate is not None and core.g.backward_between(
            [q_mod.key_sym(k) for k in of_prog.leaf_keys(None)], wrt):
        return None  # the handler says why truncation is not defined here
    grad = q_mod._gradient(core, key, of_e, of_prog, wrt, wshape, q.truncate)
    return core.answer(grad.answer, wshape)


def _flat(v, text: str) -> tuple:
    if isinstance(v, sympy.MatrixBase):
        entries = tuple(v)
        shape = v.shape
    elif isinstance(v, tuple):
        raise ExprError(f"{text} is a sweep; a condition compares one value")
    else:
        entries, shape = (v,), ()
    for x in entries:
        if not isinstance(x, sympy.Basic) or x.free_symbols:
            raise ExprError(f"{text} is not a number (the problem keeps symbols), so a condition "
                            "cannot compare it")
    return shape, entries


def _broadcast(sa, xa, sb, xb):
    if sa == sb:
        return sa, xa, xb
    if len(xa) == 1:
        return sb, xa * len(xb), xb
    if len(xb) == 1:
        return sa, xa, xb * len(xa)
    raise ExprError(f"the two sides have different shapes ({_shape(sa)} and {_shape(sb)})")


def _shape(s) -> str:
    return " x ".join(map(str, s)) if s else "a number"


def _holds(c: Condition, values: list) -> bool:
    if c.ops == ("integer",):
        return all(_integer(x) for x in values[0][1])
    for op, (sa, xa), (sb, xb) in zip(c.ops, values, values[1:]):
        _, xa, xb = _broadcast(sa, xa, sb, xb)
        if not all(_compare(op, a, b) for a, b in zip(xa, xb)):
            return False
    return True


def _integer(x) -> bool:
    x = as_sympy(x)
    if x.is_Rational:
        return x.q == 1
    return x.is_integer is True


def _sign(d) -> int:
    """The sign of an exact difference: rationals exactly, other closed forms at 60 digits."""
    d = as_sympy(d)
    if d.is_Rational:
        return int(bool(d > 0)) - int(bool(d < 0))
    v = sympy.N(d, SIGN_DIGITS)
    if not v.is_real:
        raise ExprError(f"{d} is not a real number")
    if abs(v) < sympy.Float(10) ** -(SIGN_DIGITS - 10):
        return 0
    return 1 if v > 0 else -1


def _compare(op: str, a, b) -> bool:
    s = _sign(a - b)
    return {"<": s < 0, "<=": s <= 0, ">": s > 0, ">=": s >= 0, "==": s == 0, "!=": s != 0}[op]
