"""The number domain every value lives in: exact while small, 50 significant digits past
that, never larger than 1e300, always real.  ``settle`` is the one place that decides."""

from __future__ import annotations

import mpmath
import sympy

from ..errors import ExprError
from ..lang.to_sympy import check_finite

#: Above this many tree nodes an exact value is carried as a 50-digit float (numbers) or as the
#: quantity's own name (symbols), so values never grow with T.
SIZE_CAP = 40
DIGITS = 50


MAX_MAGNITUDE = mpmath.mpf(10) ** 300


def to_mpf(v: sympy.Expr) -> mpmath.mpf:
    """A sympy Float or Rational as an mpmath number, without loss."""
    return mpmath.mpf(v._mpf_) if v.is_Float else mpmath.mpf(int(v.p)) / int(v.q)


def tree_size(e: sympy.Basic) -> int:
    return sum(1 for _ in sympy.preorder_traversal(e))


def settle(v: sympy.Expr, name: sympy.Symbol | None = None) -> sympy.Expr:
    """Keep a value exact while it is small; past SIZE_CAP carry a 50-digit float (numbers) or,
    for a forward value, the quantity's own ``name`` (symbols), so nothing grows with T."""
    if v.is_Rational:
        if int(v.p).bit_length() - int(v.q).bit_length() > 996:
            raise ExprError(TOO_LARGE)
        if max(int(v.p).bit_length(), int(v.q).bit_length()) > 3000:
            return sympy.Float(v, DIGITS)  # exact digits past a thousand help nobody
        return v
    if v.is_Float:
        if abs(v) > MAX_MAGNITUDE:
            raise ExprError(TOO_LARGE)
        return v
    if v.is_Symbol:
        return v
    check_finite(v)
    if v.free_symbols:
        # A symbolic forward value is written out while it reads well; past that the
        # quantity keeps its own name (h[3]), as a hand-written solution does.
        if name is None or (tree_size(v) <= SIZE_CAP and _nesting(v) == 0):
            return v
        return name
    # An exact number is kept while it is small and has no function inside a function:
    # sympy's evaluation of nested transcendental constants is slow and its closed form unread.
    if not v.has(sympy.Float) and tree_size(v) <= SIZE_CAP and _nesting(v) <= 1:
        return v
    approx = v.evalf(DIGITS)
    if not approx.is_Float:
        raise ExprError(NOT_REAL)
    return settle(sympy.Float(approx, DIGITS))


NOT_REAL = ("the value is not a finite real number (division by zero, or log or sqrt of a "
             "negative number?)")
TOO_LARGE = "the value is larger than 1e300"


def _nesting(e: sympy.Basic) -> int:
    """How deeply function applications nest in e (tanh(3/2) is 1, tanh(tanh(1)) is 2)."""
    if e.is_Atom:
        return 0
    inner = max(_nesting(a) for a in e.args)
    return inner + 1 if isinstance(e, sympy.Function) else inner


def is_numeric(v) -> bool:
    return isinstance(v, sympy.Basic) and not v.free_symbols


def simplify(v: sympy.Expr) -> sympy.Expr:
    """An exact answer in its shortest form (factored, cancelled, expanded or over one
    denominator); numbers, floats and large trees are left as they are."""
    if v.is_Rational or v.has(sympy.Float) or tree_size(v) > 200 or not isinstance(
            v, sympy.Expr) or (not v.free_symbols and not v.has(sympy.exp)):
        return v
    cands = [v]
    for f in (sympy.factor, sympy.cancel, sympy.expand):
        try:
            cands.append(f(v))
        except Exception:  # sympy raises a zoo of errors on exotic input; keep the original
            pass
    return min(cands, key=lambda e: (sympy.count_ops(e), len(str(e))))


