"""Grammar trees as sympy expressions over one real symbol per quantity name (``h[1]``,
``W_h``); the exact value of a given made of numbers and functions."""

from __future__ import annotations

import sympy

from ..errors import ExprError
from ..ops import FUNCTIONS
from . import expr as ex

_SYMBOLS: dict[str, sympy.Symbol] = {}


def sym(name: str) -> sympy.Symbol:
    """The one real sympy symbol for a quantity name such as ``W_h`` or ``h[1]``."""
    s = _SYMBOLS.get(name)
    if s is None:
        s = _SYMBOLS[name] = sympy.Symbol(name, real=True)
    return s


def split_name(s: sympy.Symbol) -> tuple[str, str | None]:
    """``h[t-1]`` -> ("h", "t-1"); ``W`` -> ("W", None)."""
    n = s.name
    if n.endswith("]") and "[" in n:
        base, idx = n[:-1].split("[", 1)
        return base, idx
    return n, None


class EntryOf(sympy.Function):
    """An entry in the scalar view of an equation: ``EntryOf(p[t], c[t])``, ``EntryOf(W, 1, 2)``
    (1-based); its numbers come from the numeric core, never from this symbol."""

    nargs = (2, 3)

    @classmethod
    def eval(cls, base, *idx):
        # a vector or matrix with its values put in: the entry itself (ranges are checked
        # by the numeric core first)
        if isinstance(base, sympy.MatrixBase) and all(i.is_Integer for i in idx):
            rows, cols = base.shape
            if len(idx) == 1 and 1 in (rows, cols) and 1 <= idx[0] <= rows * cols:
                return base[int(idx[0]) - 1]
            if len(idx) == 2 and 1 <= idx[0] <= rows and 1 <= idx[1] <= cols:
                return base[int(idx[0]) - 1, int(idx[1]) - 1]
        return None

    def _eval_is_real(self):
        return True

    def _latex(self, printer, exp=None):
        values = getattr(printer, "values", None)  # the numbers-put-in mode of our printer
        v = values.get(self.args[0]) if values else None
        if isinstance(v, sympy.MatrixBase) and self.func(v, *self.args[1:]) != self:
            tex = printer._print(self.func(v, *self.args[1:]))
            tex = rf"\left({tex}\right)"  # a number put in, as every value is shown
            return tex if exp is None else rf"{tex}^{{{exp}}}"
        base = printer._print(self.args[0])
        sub = ",".join(printer._print(a) for a in self.args[1:])
        tex = f"{base}_{{{sub}}}" if len(base) == 1 and base.isalpha() else \
            rf"\left({base}\right)_{{{sub}}}"
        return tex if exp is None else rf"{tex}^{{{exp}}}"


def build(e: ex.Expr, resolve, expand_sum=None) -> sympy.Expr:
    """The sympy expression of a grammar tree; ``resolve`` maps Name/Ref nodes to sympy and
    ``expand_sum(body, mean=False)`` gives a sum (or mean) over t of ``body``."""
    def go(n):
        if isinstance(n, ex.Num):
            return n.value
        if isinstance(n, (ex.Name, ex.Ref)):
            return resolve(n)
        if isinstance(n, ex.Entry):
            return EntryOf(go(n.base), *(go(i) for i in n.indices))
        if isinstance(n, ex.Neg):
            return -go(n.arg)
        if isinstance(n, ex.Transpose):
            return go(n.arg)  # scalars: the transpose is the value itself
        if isinstance(n, ex.Bin):
            a, b = go(n.left), go(n.right)
            if n.op == "+":
                return a + b
            if n.op == "-":
                return a - b
            if n.op in ("*", "@"):
                return a * b
            if n.op == "/":
                if b == 0:
                    raise ExprError("division by zero")
                return a / b
            return a ** b
        if isinstance(n, ex.Call):
            if n.func in ex.OVER_T:
                if expand_sum is not None and ex.uses_t(n.args[0]):
                    if n.func == "mean":
                        return expand_sum(n.args[0], mean=True)
                    return expand_sum(n.args[0])
                if ex.uses_t(n.args[0]):
                    raise ExprError(f"{n.func} over t needs 'steps'")
                return go(n.args[0])  # of a scalar: its one entry
            if n.func == "d":
                raise ExprError("d(of, wrt) may only stand alone in a question's find")
            return FUNCTIONS[n.func].exact(*(go(a) for a in n.args))
        raise TypeError(n)
    return go(e)


def constant(e: ex.Expr) -> sympy.Expr:
    """The exact value of a given (numbers and functions only, no names)."""
    def no_names(n):
        raise ExprError(f"a given value may not refer to {ex.to_text(n)}")
    v = build(e, no_names)
    check_finite(v)
    return v


def check_finite(v: sympy.Expr) -> None:
    if v.is_Rational or v.is_Float:
        return
    if v.has(sympy.zoo, sympy.nan, sympy.oo, sympy.I):
        raise ExprError("the value is not a finite real number (division by zero or log of a "
                        "non-positive number?)")


