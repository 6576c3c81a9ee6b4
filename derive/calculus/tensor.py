"""Vectors and matrices: shapes, entries in one number domain, and each operation's forward rule
with its vector-Jacobian product (the backward rule).

A :class:`Tensor` is rows × cols (a vector is a column, n × 1; a scalar is 1 × 1).  Entries live
in one :class:`Domain`: :data:`EXACT` (sympy numbers, kept exact while small, as the scalar
engine does) or :data:`FAST` (mpmath numbers at 50 digits, for large problems).  The grammar's
functions (their values, derivatives and domains) are entries of the table in :mod:`derive.ops`,
which a domain evaluates through :meth:`Domain.func`.
"""

from __future__ import annotations


import mpmath
import sympy
from mpmath.libmp import from_man_exp as _from_man_exp, from_rational as _from_rational, \
    fzero as _FZERO

from ..errors import ExprError
from .numbers import DIGITS, MAX_MAGNITUDE, NOT_REAL, settle, to_mpf
from ..ops import X, Op, shape_text  # noqa: F401  (shape_text: shapes named one way)


class Domain:
    """Arithmetic on entries.  Subclasses: exact sympy numbers, or 50-digit mpmath floats."""

    exact: bool

    def num(self, r): raise NotImplementedError
    def add(self, a, b): raise NotImplementedError
    def mul(self, a, b): raise NotImplementedError
    def dot(self, xs, ys): raise NotImplementedError
    def func(self, op: Op, x, prime=False):
        """f(x), or f'(x) with ``prime``, of an elementwise table entry at one entry x."""
        raise NotImplementedError
    def to_sympy(self, v) -> sympy.Expr: raise NotImplementedError

    def sub(self, a, b):
        return self.add(a, self.mul(self.num(-1), b))

    def neg(self, a):
        return self.mul(self.num(-1), a)

    def div(self, a, b):
        if b == 0:
            raise ExprError("division by zero")
        return self._div(a, b)

    def power(self, a, p: sympy.Rational):
        if a == 0 and p < 0:
            raise ExprError("division by zero (0 to a negative power)")
        if not p.is_Integer and self.sign(a) < 0:
            raise ExprError("a negative number to a fractional power")
        return self._pow(a, p)

    def sign(self, v) -> int:
        """-1, 0 or 1; an ExprError when the entry is symbolic."""
        raise NotImplementedError


class _Exact(Domain):
    exact = True

    def num(self, r):
        return sympy.Integer(r) if isinstance(r, int) else r

    def _settle(self, v):
        return settle(v)

    def add(self, a, b):
        return self._settle(a + b)

    def mul(self, a, b):
        return self._settle(a * b)

    def _div(self, a, b):
        return self._settle(a / b)

    def _pow(self, a, p):
        return self._settle(a ** p)

    def dot(self, xs, ys):
        return self._settle(sympy.Add(*[x * y for x, y in zip(xs, ys)]))

    def func(self, op, x, prime=False):
        check = op.domain
        if check is not None and x.is_number and not check[0](x):
            raise ExprError(f"{check[1]} is not defined at {_short(x)}")
        v = op.derivative.xreplace({X: x}) if prime else op.exact(x)
        return self._settle(v)

    def sign(self, v):
        if not v.is_number:
            raise ExprError("hardmax and relu need numbers here, not symbols")
        return int(sympy.sign(v.evalf(30) if not v.is_Rational else v))

    def to_sympy(self, v):
        return v


#: The integers the rules ask for most (1 - y², -g), as mpmath numbers made once (exact at
#: every precision; mpmath numbers are immutable).
_SMALL = {k: mpmath.mpf(k) for k in (-1, 0, 1, 2)}


class _Fast(Domain):
    exact = False

    def num(self, r):
        if isinstance(r, mpmath.mpf):
            return r
        if isinstance(r, int):
            v = _SMALL.get(r)
            return v if v is not None else mpmath.mpf(r)
        if r.is_Rational:  # a given's decimal: p/q rounded once, as to_mpf rounds it
            p, q = int(r.p), int(r.q)
            prec, rnd = mpmath.mp._prec_rounding
            if p.bit_length() <= prec:
                return mpmath.mp.make_mpf(_from_rational(p, q, prec, rnd))
            return to_mpf(r)
        if not r.is_number:
            raise ExprError("symbolic values need the exact engine")
        if r.is_Float:
            return to_mpf(r)
        # settle refuses a given past 1e300 before evalf would spend minutes on it
        settle(r)
        return to_mpf(sympy.Float(r.evalf(DIGITS + 5), DIGITS + 5))

    def add(self, a, b):
        return a + b

    def mul(self, a, b):
        return a * b

    def sub(self, a, b):
        return a - b

    def neg(self, a):
        return -a

    def _div(self, a, b):
        return a / b

    def _pow(self, a, p):
        return a ** (int(p) if p.is_Integer else to_mpf(p))

    def dot(self, xs, ys):
        return mpmath.fdot(xs, ys)

    def func(self, op, x, prime=False):
        try:
            r = (op.mp_prime if prime else op.mp)(x)
        except (ValueError, ZeroDivisionError) as e:
            raise ExprError(str(e) if "not defined" in str(e) else NOT_REAL) from None
        if isinstance(r, mpmath.mpc) or not mpmath.isfinite(r):
            raise ExprError(NOT_REAL)
        return r

    def sign(self, v):
        return (v > 0) - (v < 0)

    def to_sympy(self, v):
        return sympy.Float(v, DIGITS)


_MPF = mpmath.mpf
_ONE = sympy.Integer(1)
_INTS: dict = {}  # the small integers rules use (1, -1, 2), made once


class _Mixed(Domain):
    """Exact sympy numbers (and symbols) while a value is small; once :func:`settle` turns it
    into a 50-digit float it is carried as an mpmath number, so long sequences never do sympy
    arithmetic on floats.  ``to_sympy`` shows a carried float as a 50-digit sympy Float, the
    same number ``settle`` would have kept."""

    exact = True

    def num(self, r):
        if type(r) is int:
            v = _INTS.get(r)
            if v is None:
                v = _INTS[r] = sympy.Integer(r)
            return v
        return r

    @staticmethod
    def _settle(v):
        v = settle(v)
        return to_mpf(v) if v.is_Float else v

    @staticmethod
    def _lift(v):
        """v as an mpmath number, or None when it holds a symbol."""
        if type(v) is _MPF:
            return v
        prec = mpmath.mp.prec
        cache = _LIFTED.get(prec)
        if cache is None:
            cache = _LIFTED[prec] = {}
        # keyed by identity (hashing a sympy number costs more than the arithmetic); the
        # entry holds the number itself, so its id cannot be reused while it is cached
        e = cache.get(id(v))
        if e is not None and e[0] is v:
            return e[1]
        if len(cache) > 100000:
            cache.clear()
        r = _lifted(v)
        cache[id(v)] = (v, r)
        return r

    def _exact_or_lifted(self, a, b, fast, exact):
        # the common case first: a float times a given already lifted at this precision
        cache = _LIFTED.get(mpmath.mp.prec)
        if cache is not None:
            if type(a) is _MPF:
                e = cache.get(id(b))
                if e is not None and e[0] is b and e[1] is not None:
                    return _bounded(fast(a, e[1]))
            else:
                e = cache.get(id(a))
                if e is not None and e[0] is a and e[1] is not None and type(b) is _MPF:
                    return _bounded(fast(e[1], b))
        x, y = self._lift(a), self._lift(b)
        if x is not None and y is not None:
            return _bounded(fast(x, y))
        return self._settle(exact(self.to_sympy(a), self.to_sympy(b)))

    # The hot path of long sequences: both operands already 50-digit floats.
    def add(self, a, b):
        if type(a) is _MPF and type(b) is _MPF:
            return _bounded(a + b)
        if type(a) is _MPF or type(b) is _MPF:
            return self._exact_or_lifted(a, b, _ADD, _ADD)
        return self._settle(a + b)

    def sub(self, a, b):
        if type(a) is _MPF and type(b) is _MPF:
            return _bounded(a - b)
        if type(a) is _MPF or type(b) is _MPF:
            return self._exact_or_lifted(a, b, _SUB, _SUB)
        return self._settle(a - b)

    def mul(self, a, b):
        if type(a) is _MPF and type(b) is _MPF:
            return _bounded(a * b)
        if type(a) is _MPF or type(b) is _MPF:
            return self._exact_or_lifted(a, b, _MUL, _MUL)
        return self._settle(a * b)

    def _div(self, a, b):
        if type(a) is _MPF or type(b) is _MPF:
            return self._exact_or_lifted(a, b, _DIV, _DIV)
        return self._settle(a / b)

    def _pow(self, a, p):
        if isinstance(a, mpmath.mpf):
            return _bounded(a ** (int(p) if p.is_Integer else to_mpf(p)))
        return self._settle(a ** p)

    def dot(self, xs, ys):
        if all(y is _ONE for y in ys) and all(type(v) is _MPF for v in xs):
            return _bounded(mpmath.fsum(xs))  # a sum of many steps' terms
        if any(isinstance(v, mpmath.mpf) for v in xs) or \
                any(isinstance(v, mpmath.mpf) for v in ys):
            lx, ly = [self._lift(v) for v in xs], [self._lift(v) for v in ys]
            if None not in lx and None not in ly:
                return _bounded(mpmath.fdot(lx, ly))
            xs, ys = [self.to_sympy(v) for v in xs], [self.to_sympy(v) for v in ys]
        return self._settle(sympy.Add(*[x * y for x, y in zip(xs, ys)]))

    def func(self, op, x, prime=False):
        if type(x) is _MPF:
            return FAST.func(op, x, prime)
        v = EXACT.func(op, x, prime)
        return to_mpf(v) if v.is_Float else v

    def sign(self, v):
        if isinstance(v, mpmath.mpf):
            return (v > 0) - (v < 0)
        return EXACT.sign(v)

    def to_sympy(self, v):
        return sympy.Float(v, DIGITS) if isinstance(v, mpmath.mpf) else v


_LIFTED: dict = {}  # precision -> id -> (exact sympy number, mpmath number): givens recur


def _ADD(x, y):
    return x + y


def _SUB(x, y):
    return x - y


def _MUL(x, y):
    return x * y


def _DIV(x, y):
    return x / y


def _lifted(v):
    """An exact sympy number as an mpmath number at the working precision, or None when it
    holds a symbol."""
    if v.is_Rational or v.is_Float:
        return to_mpf(v)
    if v.free_symbols:
        return None
    return to_mpf(sympy.Float(v.evalf(DIGITS + 5), DIGITS + 5))


def _bounded(r):
    """r, when it is finite and at most 1e300 in size (read off its binary exponent)."""
    _, man, exp, bc = r._mpf_
    if not man:
        if exp or bc:  # inf and nan are the mantissa-free values other than 0
            raise ExprError(NOT_REAL)
        return r
    if exp + bc > 996 and abs(r) > MAX_MAGNITUDE:
        raise ExprError("the value is larger than 1e300")
    return r


EXACT = _Exact()
FAST = _Fast()
MIXED = _Mixed()


def _short(x) -> str:
    return str(x) if x.is_Rational else mpmath.nstr(to_mpf(sympy.Float(x.evalf(20))), 6)


class Tensor:
    """rows × cols entries, row-major; treat as immutable."""

    __slots__ = ("rows", "cols", "data")

    def __init__(self, rows: int, cols: int, data: list) -> None:
        self.rows, self.cols, self.data = rows, cols, data

    @property
    def shape(self) -> tuple[int, int]:
        return (self.rows, self.cols)

    @property
    def is_scalar(self) -> bool:
        return self.rows == 1 and self.cols == 1

    def at(self, i: int, j: int = 0):
        return self.data[i * self.cols + j]

    def row(self, i: int) -> list:
        return self.data[i * self.cols:(i + 1) * self.cols]

    def col(self, j: int) -> list:
        return self.data[j::self.cols]

    def transpose(self) -> "Tensor":
        if isinstance(self, Outer):
            return Outer(self.D, self.v, self.u)
        if self.rows == 1 or self.cols == 1:
            return Tensor(self.cols, self.rows, self.data)
        if isinstance(self, Transposed):
            return self.src
        return Transposed(self)

    def map(self, f) -> "Tensor":
        if self.rows == 1 == self.cols:
            return Tensor(1, 1, [f(self.data[0])])
        return Tensor(self.rows, self.cols, [f(x) for x in self.data])

    def like(self, data: list, shape: tuple | None = None) -> "Tensor":
        """A plain tensor of this shape (or of ``shape``) with entries ``data``."""
        r, c = shape or (self.rows, self.cols)
        return Tensor(r, c, data)


def scalar(v) -> Tensor:
    return Tensor(1, 1, [v])


def from_value(v, domain: Domain) -> Tensor:
    """A given's exact value (a number, a tuple = column vector, a tuple of tuples = matrix)."""
    if not isinstance(v, tuple):
        return scalar(domain.num(v))
    if all(not isinstance(x, tuple) for x in v):
        return Tensor(len(v), 1, [domain.num(x) for x in v])
    if any(not isinstance(x, tuple) for x in v) or len({len(x) for x in v}) != 1:
        raise ExprError("a matrix is a list of rows of equal length")
    if any(isinstance(y, tuple) for x in v for y in x):
        raise ExprError("values nest at most as a matrix (a list of rows)")
    return Tensor(len(v), len(v[0]), [domain.num(y) for x in v for y in x])


def value_shape(v) -> tuple[int, int]:
    if not isinstance(v, tuple):
        return (1, 1)
    if all(not isinstance(x, tuple) for x in v):
        return (len(v), 1)
    if any(not isinstance(x, tuple) for x in v) or len({len(x) for x in v}) != 1:
        raise ExprError("a matrix is a list of rows of equal length")
    if any(isinstance(y, tuple) for x in v for y in x):
        raise ExprError("values nest at most as a matrix (a list of rows)")
    return (len(v), len(v[0]))


def zeros(shape, domain: Domain) -> Tensor:
    z = domain.num(0)
    return Tensor(shape[0], shape[1], [z] * (shape[0] * shape[1]))


# ---- forward rules and their shapes ---------------------------------------------------------

def broadcast_shape(op: str, a, b, texts) -> tuple[int, int]:
    """The shape of an elementwise ``a op b`` (equal shapes, or one side a scalar)."""
    if a == b or b == (1, 1):
        return a
    if a == (1, 1):
        return b
    raise ExprError(f"shapes do not match in {texts[0]} {op} {texts[1]}: "
                    f"{shape_text(a)} and {shape_text(b)}")


def matmul_shape(a, b, texts) -> tuple[int, int]:
    if a == (1, 1):
        return b
    if b == (1, 1):
        return a
    if a[1] != b[0]:
        raise ExprError(f"shapes do not match in {texts[0]} @ {texts[1]}: "
                        f"{shape_text(a)} @ {shape_text(b)} (inner sizes {a[1]} and {b[0]})")
    return (a[0], b[1])


def elementwise(D: Domain, f, a: Tensor, b: Tensor) -> Tensor:
    if a.rows == a.cols == b.rows == b.cols == 1:
        return Tensor(1, 1, [f(a.data[0], b.data[0])])
    if a.shape == b.shape:
        return Tensor(a.rows, a.cols, [f(x, y) for x, y in zip(a.data, b.data)])
    if b.is_scalar:
        y = b.data[0]
        return Tensor(a.rows, a.cols, [f(x, y) for x in a.data])
    x = a.data[0]
    return Tensor(b.rows, b.cols, [f(x, y) for y in b.data])


class Outer(Tensor):
    """u vᵀ, with entries computed when asked: a parameter's gradient is a sum of these over
    the steps, which :func:`sum_tensors` takes as U Vᵀ without forming each term."""

    __slots__ = ("u", "v", "D", "_data")

    def __init__(self, D: Domain, u: list, v: list) -> None:
        self.rows, self.cols, self.u, self.v, self.D, self._data = len(u), len(v), u, v, D, None

    @property
    def data(self) -> list:
        if self._data is None:
            mul = self.D.mul
            self._data = [mul(x, y) for x in self.u for y in self.v]
        return self._data

    def at(self, i: int, j: int = 0):
        return self.D.mul(self.u[i], self.v[j])


class Transposed(Tensor):
    """Aᵀ of a matrix A, with its entries reordered only when asked: a product with it reads
    A's own exact integer form (:func:`_exact_form`), kept from one step to the next."""

    __slots__ = ("src", "_data")

    def __init__(self, src: Tensor) -> None:
        self.rows, self.cols, self.src, self._data = src.cols, src.rows, src, None

    @property
    def data(self) -> list:
        if self._data is None:
            s = self.src
            d, c = s.data, s.cols
            self._data = [d[i * c + j] for j in range(c) for i in range(s.rows)]
        return self._data


#: Past this spread of binary exponents among one operand's entries (bits, from the lowest bit
#: of the smallest entry to the highest of the largest) a product is taken sum by sum with
#: mpmath.fdot instead of as one integer matrix product, whose integers would grow with it.
_MAX_SPREAD = 1200
#: A matrix operand's integer form is kept, keyed by the id of its entries list, which is kept
#: with it so that the id is not reused (a weight matrix is read at every step), up to this
#: many matrices.
_KEEP = 256
_EXACT_FORMS: dict = {}  # id(entries) -> [entries, form, form of the transpose]


def _scaled(data: list):
    """Entries (50-digit mpmath numbers) as (integers m, e) with entry = m·2^e each, exactly;
    None when an entry is not a finite mpmath number or the exponents spread too far."""
    try:
        ts = [x._mpf_ for x in data]
    except AttributeError:
        return None
    lo = hi = None
    for s, m, e, bc in ts:
        if not m:
            if e:  # inf or nan
                return None
            continue
        if lo is None:
            lo, hi = e, e + bc
        else:
            if e < lo:
                lo = e
            if e + bc > hi:
                hi = e + bc
    if lo is None:
        return [0] * len(ts), 0
    if hi - lo > _MAX_SPREAD:
        return None
    return [(-(m << (e - lo)) if s else m << (e - lo)) if m else 0 for s, m, e, bc in ts], lo


def _exact_form(t: Tensor):
    """t as (an integer matrix M, e) with t = M·2^e exactly (python-flint's fmpz_mat), or
    None (see :func:`_scaled`); kept for matrices, and for Aᵀ read off A's."""
    if isinstance(t, Transposed):
        src = t.src
        if src.rows > 1 and src.cols > 1:
            kept = _kept_form(src)
            if kept[2] is None and kept[1] is not None:
                kept[2] = (kept[1][0].transpose(), kept[1][1])
            return kept[2]
    if t.rows > 1 and t.cols > 1:
        return _kept_form(t)[1]
    return _integer_form(t)


def _kept_form(t: Tensor) -> list:
    """[entries, t's integer form, its transpose's (once asked)], kept by entries list."""
    data = t.data
    kept = _EXACT_FORMS.get(id(data))
    if kept is None or kept[0] is not data:
        if len(_EXACT_FORMS) >= _KEEP:
            _EXACT_FORMS.clear()
        kept = _EXACT_FORMS[id(data)] = [data, _integer_form(t), None]
    return kept


def _integer_form(t: Tensor):
    sc = _scaled(t.data)
    if sc is None:
        return None
    import flint  # only large problems need it (its import is 0.05 s)
    return flint.fmpz_mat(t.rows, t.cols, sc[0]), sc[1]


def _rounded(m, e: int) -> list:
    """The entries of the integer matrix m times 2^e, each rounded once to the working
    precision: the same numbers as mpmath.fdot of each row and column (the exact sum, rounded
    to nearest)."""
    prec, rnd = mpmath.mp._prec_rounding
    make = mpmath.mp.make_mpf
    if rnd != "n":
        return [make(_from_man_exp(int(v), e, prec, rnd)) for v in m.entries()]
    return [make(_nearest(int(v), e, prec)) for v in m.entries()]


def _nearest(man: int, exp: int, prec: int) -> tuple:
    """man·2^exp rounded to prec bits, to nearest (ties to even), as a normalized mpmath
    tuple: what mpmath's from_man_exp(man, exp, prec, "n") gives, without its generality."""
    if not man:
        return _FZERO
    sign = 0
    if man < 0:
        sign, man = 1, -man
    bc = man.bit_length()
    n = bc - prec
    if n > 0:
        t = man >> (n - 1)
        if t & 1 and (t & 2 or man & ((1 << (n - 1)) - 1)):
            man = (t >> 1) + 1
        else:
            man = t >> 1
        exp += n
        bc = prec
    tz = (man & -man).bit_length() - 1  # trailing zero bits
    if tz:
        man >>= tz
        exp += tz
        bc -= tz
    if man == 1:  # a carry that made a power of two
        bc = 1
    return (sign, man, exp, bc)


def _fast_product(a: Tensor, b: Tensor):
    """a @ b over 50-digit floats as one exact integer matrix product (python-flint), rounded
    once per entry; None when either operand has no exact integer form."""
    fa = _exact_form(a)
    if fa is None:
        return None
    fb = _exact_form(b)
    if fb is None:
        return None
    return Tensor(a.rows, b.cols, _rounded(fa[0] * fb[0], fa[1] + fb[1]))


def sum_tensors(D: Domain, ts: list) -> Tensor:
    """The sum of tensors of one shape; a sum of outer products as one product U Vᵀ."""
    if len(ts) == 1:
        return ts[0]
    first = ts[0]
    if all(isinstance(t, Outer) for t in ts):
        if D is FAST:
            # U (rows × terms) times Vᵀ (terms × cols)
            r = _fast_product(Tensor(first.rows, len(ts), [t.u[i] for i in range(first.rows)
                                                            for t in ts]),
                              Tensor(len(ts), first.cols, [y for t in ts for y in t.v]))
            if r is not None:
                return r
        us = [[t.u[i] for t in ts] for i in range(first.rows)]
        vs = [[t.v[j] for t in ts] for j in range(first.cols)]
        return Tensor(first.rows, first.cols, [D.dot(u, v) for u in us for v in vs])
    ones = [D.num(1)] * len(ts)
    cols = list(zip(*(t.data for t in ts)))
    return Tensor(first.rows, first.cols, [D.dot(list(c), ones) for c in cols])


def matmul(D: Domain, a: Tensor, b: Tensor) -> Tensor:
    if a.is_scalar or b.is_scalar:
        return elementwise(D, D.mul, a, b)
    if a.cols == 1:  # an outer product: no sums to take
        return Outer(D, a.data, b.data)
    if D is FAST and a.rows * b.cols > 1 and a.rows * a.cols * b.cols >= _PRODUCT_MIN:
        r = _fast_product(a, b)
        if r is not None:
            return r
    cols = [b.col(j) for j in range(b.cols)]
    return Tensor(a.rows, b.cols, [D.dot(a.row(i), cols[j])
                                   for i in range(a.rows) for j in range(b.cols)])


#: From this many multiplications on (and more than one sum), a product over 50-digit floats
#: is one integer matrix product; below it, fdot costs less than the conversion.
_PRODUCT_MIN = 64


def total(D: Domain, a: Tensor):
    """The sum of all entries."""
    return D.dot(a.data, [D.num(1)] * len(a.data))


def check_finite(D: Domain, t: Tensor) -> None:
    """Entries must be real and below 1e300."""
    if not D.exact:
        for v in t.data:
            # below 2^996 (read off the binary exponent) an entry is below 1e300; 0, inf and
            # nan (no mantissa) and anything else are compared
            m = getattr(v, "_mpf_", None)
            if (m is None or not m[1] or m[2] + m[3] > 996) and abs(v) > MAX_MAGNITUDE:
                raise ExprError("the value is larger than 1e300")
        return
    for v in t.data:
        if isinstance(v, sympy.Basic) and v.is_number and abs(v.evalf(15)) > MAX_MAGNITUDE:
            raise ExprError("the value is larger than 1e300")


class LazyMatrix:
    """A large matrix for display: entries become sympy numbers only when printed (a 64 × 64
    gradient shows 6 × 6 of them)."""

    is_number = False

    def __init__(self, t: Tensor, conv) -> None:
        self.rows, self.cols, self._t, self._conv = t.rows, t.cols, t, conv

    @property
    def shape(self):
        return (self.rows, self.cols)

    def __getitem__(self, ij):
        i, j = ij
        return self._conv(self._t.at(i, j))

    def __eq__(self, other):
        return isinstance(other, LazyMatrix) and other._t is self._t

    __hash__ = object.__hash__
