"""The number domain every value lives in: exact while small, 50 significant digits past
that, never larger than 1e300, always real.  ``settle`` is the one place that decides."""

from __future__ import annotations

from fractions import Fraction
from functools import lru_cache

import mpmath
import sympy

from ..errors import ExprError
from ..lang.to_sympy import check_finite
from ..ops import relu, sigmoid, step

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
    if not v.free_symbols and _beyond_max(v):
        raise ExprError(TOO_LARGE)
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
    try:
        approx = v.evalf(DIGITS)
    except OverflowError:  # mpmath at an argument such as exp(1e20): a value past 1e300 inside
        raise ExprError(TOO_LARGE) from None
    if not approx.is_Float:
        raise ExprError(NOT_REAL)
    return settle(sympy.Float(approx, DIGITS))


NOT_REAL = ("the value is not a finite real number (division by zero, or log or sqrt of a "
             "negative number?)")
TOO_LARGE = "the value is larger than 1e300"


#: Past this, exp's argument reduction would need more bits than memory holds (exp(1e20) has
#: a 1e20-bit exponent), while the magnitude is already settled: e**(2**20) is far past 1e300.
_HUGE_ARG = mpmath.mpf(2) ** 20


def _exp(x):
    if x > _HUGE_ARG:
        return mpmath.inf
    return mpmath.mpf(0) if x < -_HUGE_ARG else mpmath.exp(x)


def _tanh(x):
    return mpmath.sign(x) if abs(x) > _HUGE_ARG else mpmath.tanh(x)


def _sigmoid(x):
    return 1 / (1 + _exp(-x))


_BOUND_FUNCS = {
    sympy.exp: _exp, sympy.tanh: _tanh, sigmoid: _sigmoid, sympy.log: mpmath.log,
    sympy.Abs: abs, sympy.sign: mpmath.sign, relu: lambda x: max(x, mpmath.mpf(0)),
    step: lambda x: mpmath.mpf(1) if x > 0 else mpmath.mpf(0),
}


def _approx(e: sympy.Basic):
    """e in mpmath at the working precision, with exp and tanh of astronomically large
    arguments taken at their limits so that nothing here can take long; None when e holds
    something this does not know."""
    if e.is_Rational:
        return mpmath.mpf(int(e.p)) / int(e.q)
    if e.is_Float:
        return mpmath.mpf(e._mpf_)
    if e.is_NumberSymbol:
        return mpmath.mpf(e.evalf(30)._mpf_)
    args = [_approx(a) for a in e.args]
    if any(a is None for a in args):
        return None
    if e.is_Add:
        return mpmath.fsum(args)
    if e.is_Mul:
        return mpmath.fprod(args)
    if e.is_Pow:
        base, p = args
        if base == 0:
            return mpmath.inf if p < 0 else mpmath.mpf(0 if p > 0 else 1)
        return base ** p
    f = _BOUND_FUNCS.get(e.func)
    return f(*args) if f is not None and len(args) == 1 else None


@lru_cache(maxsize=4096)
def _beyond_max(v: sympy.Expr) -> bool:
    """Whether the exact number v is larger than 1e300, decided in microseconds.  Sympy's
    evalf of exp(99999999999999999999 exp(99999999999999999999)) runs for minutes; a 64-bit
    bound decides such values at once.  A bound past 1e300 is confirmed at 1100 bits, so
    that a cancellation to 0 at 64 bits (1/(tanh(50) - 1)) is not taken for a huge value:
    what still cancels at 1100 bits has a reciprocal past 1e300 anyway."""
    for prec in (64, 1100):
        try:
            with mpmath.workprec(prec):
                r = _approx(v)
                if r is None or isinstance(r, mpmath.mpc):
                    return False
                if mpmath.isfinite(r) and abs(r) <= MAX_MAGNITUDE:
                    return False
        except (ValueError, ZeroDivisionError, OverflowError, TypeError):
            return False
    return True


def _nesting(e: sympy.Basic) -> int:
    """How deeply function applications nest in e (tanh(3/2) is 1, tanh(tanh(1)) is 2)."""
    if e.is_Atom:
        return 0
    inner = max(_nesting(a) for a in e.args)
    return inner + 1 if isinstance(e, sympy.Function) else inner


def is_numeric(v) -> bool:
    return isinstance(v, sympy.Basic) and not v.free_symbols


#: factor, cancel and expand see exp(3) and exp(1/100000) as powers of one generator,
#: exp(1/100000)**300000, and their time grows with that degree.
MAX_EXP_DEGREE = 100


def _exp_degree(v: sympy.Expr) -> int:
    """The largest power of exp(1/q) (q the common denominator of the rational factors in exp's
    arguments) that a polynomial view of v has."""
    coeffs = [e.args[0].as_coeff_Mul()[0] for e in v.atoms(sympy.exp)]
    coeffs = [c for c in coeffs if c.is_Rational]
    if not coeffs:
        return 0
    q = sympy.ilcm(*(int(c.q) for c in coeffs)) if len(coeffs) > 1 else int(coeffs[0].q)
    return max(abs(int(c.p)) * (q // int(c.q)) for c in coeffs)


def simplify(v: sympy.Expr) -> sympy.Expr:
    """An exact answer in its shortest form (factored, cancelled, expanded or over one
    denominator); numbers, floats and large trees are left as they are."""
    if v.is_Rational or v.has(sympy.Float) or tree_size(v) > 200 or not isinstance(
            v, sympy.Expr) or (not v.free_symbols and not v.has(sympy.exp)) or \
            _exp_degree(v) > MAX_EXP_DEGREE:
        return v
    cands = [v]
    for f in (sympy.factor, sympy.cancel, sympy.expand):
        try:
            cands.append(f(v))
        except Exception:  # sympy raises a zoo of errors on exotic input; keep the original
            pass
    return min(cands, key=lambda e: (sympy.count_ops(e), len(str(e))))




def as_sympy(x) -> sympy.Expr:
    """An engine value (a sympy number, a Python int, Fraction or float) as sympy, never by
    parsing text: a string is refused, so no author text can reach sympy's parser here."""
    if isinstance(x, sympy.Basic):
        return x
    if isinstance(x, bool) or isinstance(x, str):
        raise TypeError(f"not an engine number: {x!r}")
    if isinstance(x, int):
        return sympy.Integer(x)
    if isinstance(x, Fraction):
        return sympy.Rational(x.numerator, x.denominator)
    if isinstance(x, float):
        return sympy.Float(x)
    raise TypeError(f"not an engine number: {x!r}")


def decimal_places(q: int) -> int | None:
    """The places after the point of p/q in decimals when it terminates (q = 2^a 5^b, q > 0):
    max(a, b); None when it repeats."""
    twos = fives = 0
    while q % 2 == 0:
        q //= 2
        twos += 1
    while q % 5 == 0:
        q //= 5
        fives += 1
    return max(twos, fives) if q == 1 else None
