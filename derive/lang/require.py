"""The conditions of a ``require:`` block (classroom spec, "Variants"), parsed, never evaluated.

A condition is a comparison ``a OP b`` (``< <= > >= == !=``, chained as in ``0 < L < 100``) of
expressions of the ``find`` grammar, or ``integer(e)``.  Inside a side, ``d(of, wrt)`` may stand
under ``abs``, a sign or arithmetic with numbers (``abs(d(L, W_h)) >= 1``); every other part is
handed whole to :func:`expr.parse`, so the whitelist of the grammar is the one used for ``find``.
Evaluation needs the numeric core and lives in :mod:`derive.variants.require`.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass

from . import expr as ex
from ..errors import ExprError

OPS = {ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">=", ast.Eq: "==", ast.NotEq: "!="}
_ARITH = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/"}


@dataclass(frozen=True)
class Side:
    """One side of a condition: ``kind`` is ``find`` (``expr``: an expression of the find
    grammar, ``d(...)`` included), ``abs`` or ``neg`` (``args``: one Side), or ``+ - * /``
    (``args``: two Sides)."""

    kind: str
    expr: ex.Expr | None = None
    args: tuple = ()

    def finds(self):
        """The find expressions this side reads, left to right."""
        if self.kind == "find":
            yield self.expr
        for a in self.args:
            yield from a.finds()


@dataclass(frozen=True)
class Condition:
    """``integer(sides[0])`` when ``ops`` is ``("integer",)``; else the chain
    ``sides[0] ops[0] sides[1] ops[1] sides[2] ...``."""

    text: str
    ops: tuple
    sides: tuple
    line: int | None = None


def parse_condition(text: str) -> Condition:
    """One ``require`` entry; ExprError names what does not parse or is not allowed."""
    if not isinstance(text, str) or not text.strip():
        raise ExprError("a condition is a comparison such as d(L, W_h) != 0 or integer(L)")
    src = text.strip()
    if len(src) > ex.MAX_CHARS:
        raise ExprError(f"condition is longer than {ex.MAX_CHARS} characters")
    try:
        tree = ast.parse(src, mode="eval")
    except (SyntaxError, ValueError) as e:
        raise ExprError(f"invalid condition: {getattr(e, 'msg', str(e))}") from None
    except (RecursionError, MemoryError):
        raise ExprError("condition is too deeply nested") from None
    if sum(1 for _ in ast.walk(tree)) > ex.MAX_NODES:
        raise ExprError(f"condition has more than {ex.MAX_NODES} parts")
    body = tree.body
    if isinstance(body, ast.Call) and isinstance(body.func, ast.Name) and \
            body.func.id == "integer":
        if len(body.args) != 1 or body.keywords:
            raise ExprError("integer takes one argument: integer(d(L, W_h))")
        return Condition(src, ("integer",), (_side(src, body.args[0]),))
    if isinstance(body, ast.Compare):
        ops = []
        for op in body.ops:
            if type(op) not in OPS:
                raise ExprError(f"{type(op).__name__} is not a comparison of require "
                                "(use < <= > >= == !=)")
            ops.append(OPS[type(op)])
        sides = (_side(src, body.left),) + tuple(_side(src, c) for c in body.comparators)
        return Condition(src, tuple(ops), sides)
    raise ExprError("a condition is a comparison (< <= > >= == !=) of two expressions, or "
                    "integer(e), as in d(L, W_h) != 0")


def _has_d(node: ast.AST) -> bool:
    return any(isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id == "d"
               for n in ast.walk(node))


def _side(src: str, node: ast.AST) -> Side:
    if not _has_d(node):
        return Side("find", _parse(src, node))
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
        if node.func.id == "d":
            return Side("find", _parse(src, node, allow_d=True))
        if node.func.id == "abs" and len(node.args) == 1 and not node.keywords:
            return Side("abs", args=(_side(src, node.args[0]),))
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        inner = _side(src, node.operand)
        return inner if isinstance(node.op, ast.UAdd) else Side("neg", args=(inner,))
    if isinstance(node, ast.BinOp) and type(node.op) in _ARITH:
        return Side(_ARITH[type(node.op)], args=(_side(src, node.left), _side(src, node.right)))
    raise ExprError("in a condition, d(of, wrt) may stand alone, under abs(...), a sign or "
                    "+ - * / (as in abs(d(L, W_h)) >= 1)")


def _parse(src: str, node: ast.AST, allow_d: bool = False) -> ex.Expr:
    part = ast.get_source_segment(src, node)
    if part is None:
        raise ExprError("invalid condition")
    return ex.parse(part, allow_t=False, allow_d=allow_d)
