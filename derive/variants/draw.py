"""Draws of a ``vary:`` block: seeds, values, ids and the manifest's number format.

Draw j of a run with seed S uses its own generator, seeded with :func:`draw_seed` (S, j), so
any draw can be made again from the seed the manifest records.  Integers below a bound come
from ``getrandbits`` by rejection, which Python keeps the same across versions (``choice`` and
``randrange`` have changed before).
"""

from __future__ import annotations

import hashlib
import random
from fractions import Fraction

import sympy

from ..calculus.numbers import decimal_places
from ..errors import ExprError
from ..lang import expr as ex
from ..lang.to_sympy import constant


def draw_seed(seed: int, j: int) -> int:
    """The seed of draw j (0-based) of a run with seed ``seed``: 32 bits of a SHA-256."""
    h = hashlib.sha256(f"derive variants {seed} {j}".encode()).hexdigest()
    return int(h[:8], 16)


def _below(rng: random.Random, n: int) -> int:
    if n <= 1:
        return 0
    bits = (n - 1).bit_length()
    while True:
        r = rng.getrandbits(bits)
        if r < n:
            return r


def _shape(v) -> tuple:
    return (len(v),) + _shape(v[0]) if isinstance(v, tuple) else ()


def _fill(shape: tuple, pick):
    if not shape:
        return pick()
    return tuple(_fill(shape[1:], pick) for _ in range(shape[0]))


def draw(problem, seed: int) -> dict:
    """vary key -> drawn exact value (the given's shape kept), from the generator ``seed``."""
    rng = random.Random(seed)
    given = {(g.name, g.index): g.value for g in problem.given}
    out = {}
    for v in problem.vary:
        if v.kind == "choice" and v.whole:
            out[v.key] = v.options[_below(rng, v.size)]
            continue
        shape = _shape(given[(v.name, v.index)])
        out[v.key] = _fill(shape, lambda: v.value(_below(rng, v.size)))
    return out


def space(problem) -> int:
    """How many different draws the vary block can make."""
    given = {(g.name, g.index): g.value for g in problem.given}
    n = 1
    for v in problem.vary:
        entries = 1
        if not (v.kind == "choice" and v.whole):
            for d in _shape(given[(v.name, v.index)]):
                entries *= d
        n *= v.size ** entries
    return n


def number_text(x) -> str:
    """An exact number as text derive reads back: ``8``, ``-0.75``, ``1/3``."""
    f = Fraction(int(x.p), int(x.q)) if hasattr(x, "p") else Fraction(x)
    if f.denominator == 1:
        return str(f.numerator)
    places = decimal_places(f.denominator)
    if places is None:
        return f"{f.numerator}/{f.denominator}"
    digits = str(abs(f.numerator) * 10 ** places // f.denominator).rjust(places + 1, "0")
    return ("-" if f < 0 else "") + digits[:-places] + "." + digits[-places:]


def value_text(v) -> str:
    """A drawn value in YAML flow style: ``3``, ``[1, 2]``, ``[[0.5, 1/3], [1, 2]]``."""
    if isinstance(v, tuple):
        return "[" + ", ".join(value_text(x) for x in v) + "]"
    return number_text(v)


def variant_id(given: dict) -> str:
    """8 hex digits of a SHA-256 of the drawn values: equal values give equal ids."""
    text = "\n".join(f"{k}={value_text(v)}" for k, v in given.items())
    return hashlib.sha256(text.encode()).hexdigest()[:8]


class Decimal(str):
    """A decimal written as a YAML number with exactly these digits (no float rounding)."""


def manifest_value(v):
    """A drawn value as the manifest writes it: an int, a decimal (read by YAML as a float
    with at most 15 significant digits, so it reads back exactly) or the text ``p/q``."""
    if isinstance(v, tuple):
        return [manifest_value(x) for x in v]
    t = number_text(v)
    if "/" in t:
        return t
    if "." not in t:
        return int(t)
    if len(t.strip("-").replace(".", "").lstrip("0")) <= 15:
        return Decimal(t)
    return t


def plain_value(v):
    """A drawn value as the manifest reads back (:func:`manifest_value` with its decimals as
    Python floats): what ``Variant.given`` holds."""
    if isinstance(v, tuple):
        return [plain_value(x) for x in v]
    m = manifest_value(v)
    return float(m) if isinstance(m, Decimal) else m


def exact(value, what: str = "value"):
    """An exact value from a manifest or from Python: int, decimal text or float (its shortest
    repr, as YAML wrote it), ``p/q`` or an expression of numbers, sympy numbers, lists."""
    if isinstance(value, (list, tuple)):
        if not value:
            raise ExprError(f"{what}: empty list")
        return tuple(exact(x, what) for x in value)
    if isinstance(value, bool):
        raise ExprError(f"{what}: expected a number, got {value}")
    if isinstance(value, sympy.Basic):
        v = value
    elif isinstance(value, int):
        v = sympy.Integer(value)
    elif isinstance(value, float):
        v = ex.parse_number(repr(value))
    elif isinstance(value, str):
        try:
            v = ex.parse_number(value)
        except ExprError:
            v = constant(ex.parse(value, allow_t=False))
    else:
        raise ExprError(f"{what}: expected a number, got {type(value).__name__}")
    if not getattr(v, "is_Rational", False):
        raise ExprError(f"{what}: {value} is not a rational number")
    return v
