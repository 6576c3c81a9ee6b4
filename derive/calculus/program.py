"""An equation compiled for vectors: a straight-line program of tensor operations with shapes,
run forward at a step and differentiated backward (vector-Jacobian products) at that step.

Compiling checks every shape once per equation; a mismatch is an :class:`ExprError` naming
both operands and their shapes.  Leaves are references to quantities: ``("t", name, k)`` is
``name[t+k]``, ``("n", name, k)`` the fixed step k, ``("p", name, None)`` a plain name.
"""

from __future__ import annotations

from dataclasses import dataclass

import sympy

from ..lang import expr as ex
from ..errors import ExprError
from ..ops import FUNCTIONS
from .tensor import (Domain, Tensor, broadcast_shape, elementwise, matmul, matmul_shape, scalar,
                     shape_text, total)


@dataclass(frozen=True)
class Instr:
    op: str
    args: tuple  # register numbers
    extra: object  # leaf key, constant, table entry (op "call") or exponent
    shape: tuple
    node: object  # the grammar node it came from (for words and forms)


class Program:
    """Instructions in evaluation order; the last one is the result.

    ``back`` (grading only, :mod:`derive.grade.catalog`): instruction index -> a backward rule
    ``rule(D, ins, operands, out, g) -> adjoints`` used there instead of the true one, to
    re-solve as a student with a wrong local derivative would."""

    def __init__(self, instrs: list, back: dict | None = None) -> None:
        self.instrs = tuple(instrs)
        self._leaf_extras = tuple(i.extra for i in self.instrs if i.op == "leaf")
        self.back = back or {}

    @property
    def shape(self) -> tuple:
        return self.instrs[-1].shape

    def leaf_keys(self, t: int | None) -> list:
        """(name, step) of each leaf at step t, in instruction order (repeats kept)."""
        return [resolve(e, t) for e in self._leaf_extras]

    def run(self, D: Domain, t: int | None, get) -> list:
        """Register values at step t; ``get(key)`` gives a leaf's Tensor."""
        return self.run_leaves(D, [get(k) for k in self.leaf_keys(t)])

    def run_leaves(self, D: Domain, leaves: list) -> list:
        """Register values, given each leaf's Tensor in leaf order."""
        regs: list = []
        it = iter(leaves)
        for ins in self.instrs:
            op = ins.op
            if op == "leaf":
                regs.append(next(it))
            else:
                regs.append(_FORWARD[op](D, ins, [regs[k] for k in ins.args]))
        return regs

    def vjp(self, D: Domain, regs: list, g: Tensor, t: int | None) -> dict:
        """key -> adjoint contribution of this program's leaves, given the adjoint g of the
        result (summed over repeated uses of a leaf)."""
        return self.vjp_leaves(D, regs, g, self.leaf_keys(t))

    def vjp_leaves(self, D: Domain, regs: list, g: Tensor, labels, wanted=None) -> dict:
        """label -> adjoint contribution, where ``labels`` names each leaf in leaf order
        (repeated labels are summed).  ``wanted`` (optional): the labels whose adjoints are
        asked for; operands that lead to none of them get no adjoint at all."""
        instrs = self.instrs
        live = None if wanted is None else self._live(tuple(x in wanted for x in labels))
        adj: list = [None] * len(instrs)
        adj[-1] = g
        out: dict = {}
        leaf_at = len(labels)
        for k in range(len(instrs) - 1, -1, -1):
            ins = instrs[k]
            op = ins.op
            if op == "leaf":
                leaf_at -= 1
                gk = adj[k]
                if gk is not None:
                    key = labels[leaf_at]
                    out[key] = gk if key not in out else elementwise(D, D.add, out[key], gk)
                continue
            gk = adj[k]
            if gk is None or op == "num":
                continue
            args = ins.args
            need = None if live is None else tuple(live[j] for j in args)
            if need is not None and not any(need):
                continue
            if k in self.back:
                grads = self.back[k](D, ins, [regs[j] for j in args], regs[k], gk)
            else:
                grads = _backward(D, ins, [regs[j] for j in args], regs[k], gk) \
                    if need is None else _backward(D, ins, [regs[j] for j in args], regs[k],
                                                   gk, need)
            for r, ga in zip(args, grads):
                if ga is None or (live is not None and not live[r]):
                    continue
                adj[r] = ga if adj[r] is None else elementwise(D, D.add, adj[r], ga)
        return out

    def _live(self, wanted_leaves: tuple) -> tuple:
        """Per register: whether it leads to a wanted leaf (cached per pattern of leaves)."""
        cache = self.__dict__.setdefault("_live_cache", {})
        live = cache.get(wanted_leaves)
        if live is None:
            out, at = [], 0
            for ins in self.instrs:
                if ins.op == "leaf":
                    out.append(wanted_leaves[at])
                    at += 1
                else:
                    out.append(any(out[j] for j in ins.args))
            live = cache[wanted_leaves] = tuple(out)
        return live


def resolve(extra, t):
    kind, name, k = extra
    if kind == "t":
        return (name, t + k)
    if kind == "n":
        return (name, k)
    return (name, None)


# ---- compiling ------------------------------------------------------------------------------

def compile_expr(e: ex.Expr, shape_of, T: int | None, t: int | None = None,
                 sums: list | None = None, in_step: bool = False) -> Program:
    """The program of one expression; ``shape_of(leaf_extra)`` gives each leaf's shape.

    ``t`` binds the index of a loss term taken out of a sum.  With ``sums`` (a list), a sum over
    t is not expanded: its body is compiled once, at a general t, appended to ``sums``, and
    stands in the program as the leaf ``("S", i, None)`` (for writing the rule at step t).
    ``in_step`` (a name[t] equation, where t is bound): every sum is over entries."""
    instrs: list = []

    def emit(op, args, extra, shape, node):
        instrs.append(Instr(op, tuple(args), extra, shape, node))
        return len(instrs) - 1

    def shp(r):
        return instrs[r].shape

    def go(n, tb):
        if isinstance(n, ex.Num):
            return emit("num", (), n.value, (1, 1), n)
        if isinstance(n, ex.Name):
            extra = ("p", n.name, None)
            return emit("leaf", (), extra, shape_of(extra), n)
        if isinstance(n, ex.Ref):
            idx = n.index
            if idx.kind == "t":
                extra = ("t", n.name, idx.value) if tb is None else ("n", n.name, tb + idx.value)
            elif idx.kind == "T":
                extra = ("n", n.name, T + idx.value)
            else:
                extra = ("n", n.name, idx.value)
            return emit("leaf", (), extra, shape_of(extra), n)
        if isinstance(n, ex.Entry):
            b = go(n.base, tb)
            check_entry(n, shp(b))
            consts, args = [], [b]
            for i in n.indices:
                if isinstance(i, ex.Num):
                    consts.append(int(i.value))
                    continue
                r = go(i, tb)
                if shp(r) != (1, 1):
                    raise ExprError(f"{ex.to_text(n)}: the entry index {ex.to_text(i)} must be "
                                    f"one whole number, not {shape_text(shp(r))}")
                consts.append(None)
                args.append(r)
            return emit("entry", args, tuple(consts), (1, 1), n)
        if isinstance(n, ex.Neg):
            a = go(n.arg, tb)
            return emit("neg", (a,), None, shp(a), n)
        if isinstance(n, ex.Transpose):
            a = go(n.arg, tb)
            r, c = shp(a)
            return emit("T", (a,), None, (c, r), n)
        if isinstance(n, ex.Bin):
            a, b = go(n.left, tb), go(n.right, tb)
            texts = (ex.to_text(n.left), ex.to_text(n.right))
            if n.op == "**":
                p = ex.constant_value(n.right)
                if p is None or shp(b) != (1, 1):
                    raise ExprError("an exponent must be a number")
                return emit("pow", (a,), p, shp(a), n)
            if n.op == "@":
                return emit("matmul", (a, b), None, matmul_shape(shp(a), shp(b), texts), n)
            return emit(n.op, (a, b), None, broadcast_shape(n.op, shp(a), shp(b), texts), n)
        if isinstance(n, ex.Call):
            f = n.func
            if f in ex.OVER_T and ex.uses_t(n.args[0]) and not in_step:
                if T is None:
                    raise ExprError(f"{f} over t needs 'steps'")
                if tb is not None:
                    raise ExprError(f"a {f} over t cannot stand inside another")
                if sums is not None:
                    body = compile_expr(n.args[0], shape_of, T)
                    sums.append(body)
                    r = emit("leaf", (), ("S", len(sums) - 1, None), body.shape, n)
                else:
                    terms = [go(n.args[0], s) for s in range(1, T + 1)]
                    r = emit("sumt", terms, None, shp(terms[0]), n)
                if f == "mean":  # the sum over t divided by T
                    k = emit("num", (), sympy.Integer(T), (1, 1), ex.Num(sympy.Integer(T)))
                    r = emit("/", (r, k), None, shp(r), n)
                return r
            args = [go(a, tb) for a in n.args]
            op = FUNCTIONS.get(f)  # every function is one "call", run through its table entry
            if op is None:
                raise ExprError("d(of, wrt) may only stand alone in a question's find")
            shape = op.shape(tuple(shp(a) for a in args), tuple(ex.to_text(a) for a in n.args))
            return emit("call", args, op, shape, n)
        raise TypeError(n)

    go(e, t)
    return Program(instrs)


def check_entry(n: ex.Entry, shape: tuple) -> None:
    """Refuse an entry that does not fit its quantity's shape: a scalar subscripted, too many
    or too few subscripts, a whole-number index outside 1..n."""
    what = ex.to_text(n.base)
    rows, cols = shape
    k = len(n.indices)
    if shape == (1, 1):
        raise ExprError(f"{ex.to_text(n)}: {what} is a scalar, it has no entries to pick")
    if rows == 1 or cols == 1:
        if k != 1:
            raise ExprError(f"{ex.to_text(n)}: too many subscripts, {what} is a vector of "
                            f"{rows * cols} entries (pick one as {what}[i])")
        sizes = (rows * cols,)
    else:
        if k != 2:
            raise ExprError(f"{ex.to_text(n)}: {what} is a {rows}×{cols} matrix, pick an entry "
                            f"as {what}[i][j]" if k < 2 else
                            f"{ex.to_text(n)}: too many subscripts, {what} is a {rows}×{cols} "
                            "matrix")
        sizes = (rows, cols)
    words = ("entries",) if len(sizes) == 1 else ("rows", "columns")
    for i, size, word in zip(n.indices, sizes, words):
        if isinstance(i, ex.Num) and not 1 <= i.value <= size:
            raise ExprError(f"{ex.to_text(n)}: entry {i.value} is out of range, {what} has "
                            f"{size} {word} (they count from 1)")


def whole_index(D: Domain, x, size: int, text: str) -> int:
    """A given entry index as an int in 1..size (a class number); ExprError otherwise."""
    v = D.to_sympy(x)
    if not v.is_number:
        raise ExprError(f"the entry index {text} has no value")
    if v != int(v) or not 1 <= int(v) <= size:
        raise ExprError(f"the entry index {text} is {v}, not a whole number from 1 to {size}")
    return int(v)


def _entry_position(D: Domain, ins: Instr, a: list) -> tuple:
    """(row, column), 0-based, of the entry an "entry" instruction picks at this step."""
    base = a[0]
    at = iter(a[1:])
    sizes = (base.rows * base.cols,) if base.rows == 1 or base.cols == 1 else base.shape
    idx = []
    for c, size, node in zip(ins.extra, sizes, ins.node.indices):
        idx.append(c if c is not None else
                   whole_index(D, next(at).data[0], size, ex.to_text(node)))
    if len(idx) == 2:
        return idx[0] - 1, idx[1] - 1
    return (idx[0] - 1, 0) if base.cols == 1 else (0, idx[0] - 1)


def _entry(D: Domain, ins: Instr, a: list) -> Tensor:
    i, j = _entry_position(D, ins, a)
    return scalar(a[0].at(i, j))


# ---- forward and backward rules ------------------------------------------------------------

def _sumt(D: Domain, ins: Instr, a: list) -> Tensor:
    out = a[0]
    for x in a[1:]:
        out = elementwise(D, D.add, out, x)
    return out


#: op -> forward rule (D, instruction, operand tensors) -> result tensor.
_FORWARD = {
    "num": lambda D, ins, a: scalar(D.num(ins.extra)),
    "neg": lambda D, ins, a: a[0].map(D.neg),
    "T": lambda D, ins, a: a[0].transpose(),
    "+": lambda D, ins, a: elementwise(D, D.add, a[0], a[1]),
    "-": lambda D, ins, a: elementwise(D, D.sub, a[0], a[1]),
    "*": lambda D, ins, a: elementwise(D, D.mul, a[0], a[1]),
    "/": lambda D, ins, a: elementwise(D, D.div, a[0], a[1]),
    "pow": lambda D, ins, a: a[0].map(lambda x: D.power(x, ins.extra)),
    "matmul": lambda D, ins, a: matmul(D, a[0], a[1]),
    "call": lambda D, ins, a: ins.extra.forward(D, a),
    "sumt": _sumt,
    "entry": _entry,
}


def _forward(D: Domain, ins: Instr, a: list) -> Tensor:
    return _FORWARD[ins.op](D, ins, a)


def _reduce(D: Domain, g: Tensor, shape) -> Tensor:
    """The adjoint of an operand that was broadcast from a scalar is the sum of entries."""
    if g.rows == shape[0] and g.cols == shape[1]:
        return g
    return scalar(total(D, g))


def _backward(D: Domain, ins: Instr, a: list, out: Tensor, g: Tensor,
              need: tuple = (True, True)) -> list:
    """Adjoints of the operands of one instruction, given the adjoint g of its result;
    ``need`` says which of a binary operator's operands want one (None where not)."""
    op = ins.op
    if op == "neg":
        return [g.map(D.neg)]
    if op == "T":
        return [g.transpose()]
    if op == "+":
        return [_reduce(D, g, a[0].shape) if need[0] else None,
                _reduce(D, g, a[1].shape) if need[1] else None]
    if op == "-":
        return [_reduce(D, g, a[0].shape) if need[0] else None,
                _reduce(D, g.map(D.neg), a[1].shape) if need[1] else None]
    if op == "*":
        return [_reduce(D, elementwise(D, D.mul, g, a[1]), a[0].shape) if need[0] else None,
                _reduce(D, elementwise(D, D.mul, g, a[0]), a[1].shape) if need[1] else None]
    if op == "/":
        ga = elementwise(D, D.div, g, a[1])
        gb = elementwise(D, D.div, elementwise(D, D.mul, g, out), a[1]).map(D.neg)
        return [_reduce(D, ga, a[0].shape), _reduce(D, gb, a[1].shape)]
    if op == "pow":
        p = ins.extra
        if p == 1:
            return [g]
        coeff, lower = D.num(p), p - 1
        return [elementwise(D, D.mul, g, a[0].map(lambda x: D.mul(coeff, D.power(x, lower))))]
    if op == "matmul":
        A, B = a
        if A.is_scalar or B.is_scalar:
            return [_reduce(D, elementwise(D, D.mul, g, B), A.shape),
                    _reduce(D, elementwise(D, D.mul, g, A), B.shape)]
        return [matmul(D, g, B.transpose()), matmul(D, A.transpose(), g)]
    if op == "call":
        return ins.extra.vjp(D, a, out, g)
    if op == "sumt":
        return [g] * len(a)
    if op == "entry":  # the adjoint goes to the one entry picked; an index has none
        i, j = _entry_position(D, ins, a)
        base = a[0]
        data = [D.num(0)] * (base.rows * base.cols)
        data[i * base.cols + j] = g.data[0]
        return [Tensor(base.rows, base.cols, data)] + [None] * (len(a) - 1)
    raise TypeError(op)
