"""LaTeX for our notation: sympy's LatexPrinter with only what we need overridden.

Quantities print as ``h_{1}``, ``\\hat{y}_{2}``, ``W_{hh}``; partials as Leibniz fractions;
chain trees keep the order in which the chain rule is written; in *values* mode each quantity
prints as its number, in parentheses where a product needs them (``2(4 - 5)(2)(1)``).
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import re

import sympy
from sympy.printing.latex import LatexPrinter
from sympy.printing.str import StrPrinter

from ..lang.to_sympy import split_name
from ..ops import FUNCTIONS
from ..lang import expr as ex
from ..calculus import forms as fm
from ..calculus.numbers import decimal_places
from ..solution import (MAX_MATRIX_SHOWN, Delta, One,
                        Partial, Sum)

#: Significant digits of a rounded number (and the rule's limits below), as the note says.
ROUND_DIGITS = 4
#: An exact decimal has at most this many significant digits (one fewer than a rounded one).
EXACT_DIGITS = ROUND_DIGITS - 1
#: A fraction stays exact when its numerator and denominator each have at most 3 digits.
FRACTION_LIMIT = 1000
#: An integer stays exact, in plain digits, below a million.
INTEGER_LIMIT = 10 ** 6

#: The rule, said once near the top of a solution that rounds a number.
NUMBERS_NOTE = ("Numbers: integers, fractions and decimals of up to three significant digits "
                "are exact; a decimal with four significant digits (such as 62.47, 1.250 or "
                "$1.235 \\times 10^{6}$) is rounded. The answer key and derive's JSON output "
                "keep every answer exact.")

_ROUNDING: contextvars.ContextVar = contextvars.ContextVar("rounding", default=None)


@contextlib.contextmanager
def watch_rounding():
    """Within the block, a list that gets an entry each time a number is shown rounded
    (the view asks it whether its solution needs the note on numbers)."""
    seen: list = []
    outer = _ROUNDING.get()
    token = _ROUNDING.set(seen)
    try:
        yield seen
    finally:
        _ROUNDING.reset(token)
        if outer is not None:
            outer.extend(seen)


def format_number(v: sympy.Expr) -> str | None:
    r"""A number as shown, by the number rule (said once in a solution that rounds):

    - an integer below a million in absolute value: its digits (``8``, ``-120000``);
    - a terminating decimal with at most 3 significant digits: the decimal (``0.1``, ``-2.5``,
      ``0.0625``; below 10^-4 or from 10^6 on in scientific form, ``2.5 \times 10^{-7}``);
    - any other fraction whose numerator and denominator have at most 3 digits each:
      the fraction (``\frac{1}{3}``, ``\frac{125}{256}``);
    - anything else (longer fractions and integers, irrational numbers): rounded to 4
      significant digits, trailing zeros kept (:func:`rounded`), so a reader can tell a
      rounded decimal (4 digits) from an exact one (at most 3).

    None for what is not a number."""
    exact = exact_form(v)
    if exact is not None:
        return exact
    if v.is_number:
        return rounded(v)
    return None


def exact_form(v: sympy.Expr) -> str | None:
    """The number's exact form by the number rule, or None when the rule rounds it (or it is
    not a rational number)."""
    if not v.is_Rational:
        return None
    p, q = int(v.p), int(v.q)
    sign = "-" if p < 0 else ""
    p = abs(p)
    if q == 1 and p < INTEGER_LIMIT:
        return sign + str(p)
    dec = _short_decimal(p, q)
    if dec is not None:
        return sign + dec
    if p < FRACTION_LIMIT and q < FRACTION_LIMIT:
        return f"{sign}\\frac{{{p}}}{{{q}}}"
    return None


def formula_number(v: sympy.Expr) -> str | None:
    """A constant inside a formula (an equation, a local derivative): exact, since a formula
    states it rather than a value it takes; as the number rule has it when the rule keeps it
    exact, else an integer's digits, a terminating decimal of up to 6 places (as an author
    writes 0.12345), or the fraction."""
    exact = exact_form(v)
    if exact is not None or not v.is_Rational:
        return exact if exact is not None else format_number(v)
    p, q = int(v.p), int(v.q)
    if q == 1:
        return str(p)
    dec = _decimal(p, q)
    if dec is not None:
        return dec
    return ("-" if p < 0 else "") + f"\\frac{{{abs(p)}}}{{{q}}}"


def _decimal(p: int, q: int) -> str | None:
    digits = 0
    while 10 ** digits % q:
        digits += 1
        if digits > 6:
            return None
    scaled = abs(p) * (10 ** digits // q)
    s = str(scaled).rjust(digits + 1, "0")
    s = s[:-digits] + "." + s[-digits:]
    return ("-" if p < 0 else "") + s


def _short_decimal(p: int, q: int) -> str | None:
    """p/q (p >= 0) as a decimal when it terminates within EXACT_DIGITS significant digits."""
    places = decimal_places(q)  # p/q = digits / 10^places
    if places is None:
        return None
    digits = p * (10 ** places) // q
    while digits and digits % 10 == 0:
        digits //= 10
        places -= 1
    if len(str(digits)) > EXACT_DIGITS:
        return None
    return _place(str(digits), len(str(digits)) - 1 - places)


def _place(digits: str, exp: int) -> str:
    r"""The significant ``digits`` (no sign) of a number whose leading digit is at 10^exp:
    plain between 10^-4 and 10^6 (10^3 for a rounded number, whose 4 digits must not read as
    an integer), else ``d.dd \times 10^{exp}``."""
    rounded_digits = len(digits) == ROUND_DIGITS
    if -4 <= exp < (3 if rounded_digits else 6):
        if exp < 0:
            return "0." + "0" * (-exp - 1) + digits
        whole, frac = digits[:exp + 1].ljust(exp + 1, "0"), digits[exp + 1:]
        return whole + ("." + frac if frac else "")
    mant = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
    return f"{mant} \\times 10^{{{exp}}}"


def rounded(v: sympy.Expr) -> str:
    r"""``v`` rounded to 4 significant digits (half away from zero), trailing zeros kept
    (``62.47``, ``1.250``, ``0.0001234``); from 1000 on and below 10^-4 in scientific form
    (``1.235 \times 10^{6}``), at any magnitude.  Zero is ``0``."""
    seen = _ROUNDING.get()
    if v.is_Rational:
        r = v
    elif v.is_Float:
        r = sympy.Rational(v)
    else:
        r = sympy.Rational(sympy.N(v, 30))
    p, q = int(r.p), int(r.q)
    if p == 0:
        return "0"
    if seen is not None:
        seen.append(v)
    sign = "-" if p < 0 else ""
    p = abs(p)
    exp = len(str(p)) - len(str(q))  # the leading digit's power of ten, or one more

    def at_least(e):  # p/q >= 10^e
        return p >= q * 10 ** e if e >= 0 else p * 10 ** -e >= q

    while not at_least(exp):
        exp -= 1
    while at_least(exp + 1):
        exp += 1
    shift = ROUND_DIGITS - 1 - exp  # n = p/q * 10^shift, rounded half up
    num, den = (p * 10 ** shift, q) if shift >= 0 else (p, q * 10 ** -shift)
    n = (2 * num + den) // (2 * den)
    if n == 10 ** ROUND_DIGITS:
        n, exp = 10 ** (ROUND_DIGITS - 1), exp + 1
    return sign + _place(str(n), exp)


@functools.lru_cache(maxsize=4096)  # render time: sympy's latex() of a bare name is slow
def _name_latex(base: str) -> str:
    return sympy.latex(sympy.Symbol(base))


def symbol_latex(name: str, names: dict) -> str:
    """LaTeX of a quantity name such as ``yhat[t-1]`` (``names``: the problem's display names)."""
    m = re.fullmatch(r"(.+)\[\[([\d,]+)\]\]", name)
    if m:
        # one entry asked for: W_hh[[1,2]] is (W_hh)_{1,2}, v[[2]] is v_2, h[1][[2]] is (h_1)_2
        inner = symbol_latex(m.group(1), names)
        idx = m.group(2)
        if re.fullmatch(r"[A-Za-z]", inner):
            return f"{inner}_{{{idx}}}"
        return rf"\left({inner}\right)_{{{idx}}}"
    if re.fullmatch(r"[A-Za-z][A-Za-z0-9_]*\[-?\d+\](\[\d+\])+", name):
        # an entry of a quantity's value: h[3][1] is (h_3)_1
        head, entries = name.split("]", 1)
        inner = symbol_latex(head + "]", names)
        return rf"\left({inner}\right)_{{{entries[1:-1].replace('][', ',')}}}"
    base, idx = split_name(sympy.Symbol(name)) if "[" in name else (name, None)
    tex = names.get(base)
    if tex is None:
        if base.endswith("hat") and len(base) > 3:
            tex = r"\hat{%s}" % _name_latex(base[:-3])
        else:
            tex = _name_latex(base)
    if idx is None:
        return tex
    idx = idx.replace("-", " - ").replace("+", " + ")
    m = re.fullmatch(r"(.*)_\{([^{}]*)\}", tex)
    if m and "\\" not in m.group(2):
        return f"{m.group(1)}_{{{m.group(2)}, {idx}}}"
    if "_" in tex:
        return f"{{{tex}}}_{{{idx}}}"
    return f"{tex}_{{{idx}}}"


class DerivePrinter(LatexPrinter):
    """Our notation; ``values`` (symbol -> number) switches on the numbers-put-in mode."""

    def __init__(self, names: dict | None = None, values: dict | None = None,
                 rename: dict | None = None, single_delta: bool = True) -> None:
        super().__init__({"order": "none", "mul_symbol": None})
        self.names = names or {}
        self.values = values
        self.rename = rename or {}
        self.single_delta = single_delta
        self._formula = False  # printing an expression with symbols: its constants are exact

    def doprint(self, expr) -> str:
        """LaTeX of ``expr``: a number by the number rule; in an expression with symbols (a
        formula) the constants stay exact, and only the values put in go by the rule."""
        outer = self._formula
        self._formula = isinstance(expr, sympy.Basic) and bool(expr.free_symbols)
        try:
            return super().doprint(expr)
        finally:
            self._formula = outer

    # -- quantities --------------------------------------------------------------------------
    def _value_of(self, expr):
        if self.values is None:
            return None
        v = self.values.get(expr)
        if v is None or v == expr or not v.is_number:
            return None
        return v

    def _print_Symbol(self, expr, style="plain"):
        v = self._value_of(expr)
        if v is not None:
            s = format_number(v)
            return rf"\left({s}\right)" if s.startswith("-") else s
        return symbol_latex(self.rename.get(expr, expr).name, self.names)

    def _print_Mul(self, expr):
        coeff, rest = expr.as_coeff_Mul()
        if not self._formula and coeff.is_Rational and rest != 1 and \
                exact_form(abs(coeff)) is None:
            # a coefficient the number rule rounds prints as its decimal, not inside sympy's
            # \frac{8187543 x}{131072}
            body = self._print(rest)
            if rest.is_Add or (self._value_of(rest) is not None
                               and not body.startswith(r"\left(")):
                body = rf"\left({body}\right)"
            return ("-" if coeff < 0 else "") + rounded(abs(coeff)) + " " + body
        if self.values is None or not any(self._value_of(s) is not None
                                          for s in expr.free_symbols):
            return super()._print_Mul(expr)
        num, den = sympy.fraction(expr, exact=True)
        if den != 1:
            return rf"\frac{{{self._print(num)}}}{{{self._print(den)}}}"
        coeff, factors = expr.as_coeff_mul()
        parts = []
        sign = ""
        if coeff < 0:
            sign, coeff = "-", -coeff
        if coeff != 1:
            parts.append(formula_number(coeff))  # a constant of the formula
        for f in factors:
            s = self._print(f)
            if f.is_Add or (f.is_Symbol and self._value_of(f) is not None
                            and not s.startswith(r"\left(")):
                s = rf"\left({s}\right)"
            parts.append(s)
        return sign + " ".join(parts)

    def _print_Pow(self, expr):
        b = expr.base
        if self.values is not None and b.is_Symbol and self._value_of(b) is not None:
            base = self._print(b)
            if not re.fullmatch(r"\d+", base) and not base.startswith(r"\left("):
                base = rf"\left({base}\right)"  # (0.5)^{2}, (1.235 \times 10^{6})^{2}
            return f"{base}^{{{self._print(expr.exp)}}}"
        return super()._print_Pow(expr)

    def _print_Add(self, expr, order=None):
        # Fixed term order: sympy's canonical order, positive terms first (h_t v - y_t).
        terms = sorted(expr.args, key=lambda t: t.could_extract_minus_sign())
        tex = ""
        for i, term in enumerate(terms):
            if i and term.could_extract_minus_sign():
                tex += " - "
                term = -term
            elif i:
                tex += " + "
            term_tex = self._print(term)
            if self._needs_add_brackets(term):
                term_tex = rf"\left({term_tex}\right)"
            tex += term_tex
        return tex

    # our own functions (sigmoid, relu, ...) print themselves: derive.ops gives them _latex

    def _print_Float(self, expr):
        return rounded(expr)

    def _print_MatrixBase(self, expr):
        return matrix_latex(expr, self._print)

    _print_ImmutableMatrix = _print_Matrix = _print_ImmutableDenseMatrix = _print_MatrixBase

    def _print_Rational(self, expr):
        return formula_number(expr) if self._formula else format_number(expr)

    _print_Integer = _print_Rational

    # -- chain trees -------------------------------------------------------------------------
    def partial(self, p: Partial) -> str:
        wrt = self._print_Symbol(p.wrt) if self.values is None else \
            DerivePrinter(self.names, None, self.rename)._print_Symbol(p.wrt)
        plain = DerivePrinter(self.names, None, self.rename)
        if isinstance(p.of, sympy.Symbol):
            return rf"\frac{{\partial {plain._print_Symbol(p.of)}}}{{\partial {wrt}}}"
        return rf"\frac{{\partial}}{{\partial {wrt}}}\left({plain.doprint(p.of)}\right)"

    def delta(self, d: Delta) -> str:
        s = self.rename.get(d.of, d.of)
        base, idx = split_name(s)
        idx = (idx or "").replace("-", " - ").replace("+", " + ")
        if self.single_delta:
            return rf"\delta_{{{idx}}}"
        return rf"\delta^{{({symbol_latex(base, self.names)})}}_{{{idx}}}"


_NUMBERISH = re.compile(r"^(\\left\()?-?[0-9.]|^-?\\frac\{\d")


def tree_latex(tree, leaf, mode: str) -> str:
    """LaTeX of a chain tree; ``leaf(node) -> (latex, kind)`` prints Partial/Delta/One leaves.

    ``kind`` is "atom" for something that never needs parentheses, "sum" for a sum, "number"
    for a bare number, "product" otherwise.  In a product, sums are parenthesised, and so are
    numbers (always in values mode, as in ``2(4 - 5)(2)(1)``, else after the first factor).
    """
    def show(t) -> tuple[str, str]:
        if isinstance(t, (Partial, Delta, One)):
            return leaf(t)
        if isinstance(t, Sum):
            return " + ".join(show(x)[0] for x in t.items).replace("+ -", "- "), "sum"
        parts = []
        for i, x in enumerate(t.items):
            s, k = show(x)
            wrap = k == "sum" or (mode == "values" and k == "number") or (
                i > 0 and (k == "number" or _NUMBERISH.match(s) or s.startswith("-")))
            if wrap and (k == "sum" or not s.startswith(r"\left(")):
                s = rf"\left({s}\right)"
            parts.append(s)
        return (r" \cdot " if mode == "leibniz" else " ").join(parts), "product"

    return show(tree)[0]


class ExactStr(StrPrinter):
    """The exact answer as text sympy can parse back, in the problem's own names; our own
    functions (derive.ops) say how they are written (``_exact_text``)."""

    def _print_Function(self, expr):
        text = getattr(expr, "_exact_text", None)
        return text(self) if text is not None else super()._print_Function(expr)


def exact_text(v: sympy.Expr) -> str:
    """Text sympy parses back; a vector as ``[a, b]``, a matrix as a list of rows."""
    if isinstance(v, sympy.MatrixBase):
        if v.cols == 1:
            return "[" + ", ".join(exact_text(x) for x in v) + "]"
        return "[" + ", ".join("[" + ", ".join(exact_text(x) for x in v.row(i)) + "]"
                               for i in range(v.rows)) + "]"
    return ExactStr({"order": "none"}).doprint(v)


def matrix_latex(m, entry, compact: bool = False, number=format_number) -> str:
    """A bmatrix; a column vector as a transposed row when ``compact`` (table cells); more
    than 8 rows or columns show the first 3 and last 2 with dots.  ``number`` shows a number
    entry (:func:`formula_number` for the author's givens, which are never rounded)."""
    def num(x):
        if not x.is_number:
            return entry(x)
        s = number(x)
        # a matrix sets its entries in text style: a fraction there is as large as in a display
        return s.replace(r"\frac", r"\dfrac", 1) if s.lstrip("-").startswith(r"\frac") else s

    def pick(n):
        if n <= MAX_MATRIX_SHOWN:
            return list(range(n))
        return [0, 1, 2, None, n - 2, n - 1]

    if compact and m.cols == 1:
        cells = [r"\cdots" if i is None else num(m[i, 0]) for i in pick(m.rows)]
        return r"\begin{bmatrix} " + " & ".join(cells) + r" \end{bmatrix}^\top"
    rows = []
    for i in pick(m.rows):
        if i is None:
            rows.append(" & ".join(r"\vdots" if j is not None else r"\ddots"
                                   for j in pick(m.cols)))
            continue
        rows.append(" & ".join(r"\cdots" if j is None else num(m[i, j]) for j in pick(m.cols)))
    # LaTeX spaces matrix rows by a strut, so full-size fractions overlap without more room
    sep = r" \\[1em] " if any(r"\dfrac" in r for r in rows) else r" \\ "
    return r"\begin{bmatrix} " + sep.join(rows) + r" \end{bmatrix}"


__all__ = ["DerivePrinter", "format_number", "exact_form", "formula_number", "rounded",
           "watch_rounding", "symbol_latex", "tree_latex", "exact_text"]


# ---- grammar trees and matrix-calculus forms (vector problems) ---------------------------------

def _number_precedence(s: str) -> int:
    """A shown number's precedence in :class:`ExprLatex`: a negative one is a sum's, one in
    scientific form (2.5 \\times 10^{-7}) a product's, any other an atom's."""
    return 1 if s.startswith("-") else 2 if r"\times" in s else 4


class ExprLatex:
    """A grammar tree as LaTeX, with shapes: ``*`` of two vectors is ⊙, ``@`` a plain product.

    Indices print at a general step shifted by ``shift`` (``h_{t+1}``), or at the step ``at``
    when given; ``T`` is the number of steps."""

    def __init__(self, names: dict, shapes: dict, shift: int = 0, at: int | None = None,
                 T: int | None = None, in_step: bool = True, base: str = "t",
                 picks: dict | None = None) -> None:
        self.names, self.shapes, self.shift, self.at, self.T = names, shapes, shift, at, T
        self.in_step, self.base = in_step, base
        self.picks = picks  # name at a step ("c[2]") -> its whole number, printed in its place

    def moved(self, by: int) -> "ExprLatex":
        return ExprLatex(self.names, self.shapes, self.shift + by,
                         None if self.at is None else self.at + by, self.T, self.in_step,
                         self.base, self.picks)

    def at_step(self, step: int) -> "ExprLatex":
        return ExprLatex(self.names, self.shapes, 0, step, self.T, self.in_step, self.base)

    def at_last(self) -> "ExprLatex":
        return ExprLatex(self.names, self.shapes, self.shift, self.at, self.T, self.in_step,
                         "T", self.picks)

    def entry(self, e) -> str:
        """``(p_t)_{c_t}``, ``(W_{hh})_{1,2}``; a one-letter plain name as ``v_{2}``,
        ``W_{2,1}``; with ``picks``, a given index prints as its number."""
        def idx(i):
            if self.picks is not None and isinstance(i, (ex.Name, ex.Ref)):
                key = i.name if isinstance(i, ex.Name) else \
                    f"{i.name}[{self.index(i.index).replace(' ', '')}]"
                v = self.picks.get(key)
                if v is not None:
                    return str(v)
            return self.doprint(i)

        base = self._p(e.base)[0]
        sub = ",".join(idx(i) for i in e.indices)
        if re.fullmatch(r"[A-Za-z]", base):
            return f"{base}_{{{sub}}}"
        return rf"\left({base}\right)_{{{sub}}}"

    def scalar(self, n) -> bool:
        s = self.shapes.get(id(n))
        if s is not None:
            return s == (1, 1)
        if isinstance(n, ex.Num):
            return True
        if isinstance(n, (ex.Neg, ex.Transpose)):
            return self.scalar(n.arg)
        if isinstance(n, ex.Bin):
            return self.scalar(n.left) and self.scalar(n.right)
        if isinstance(n, ex.Call):
            op = FUNCTIONS.get(n.func)
            return (op is not None and op.scalar_out) or all(self.scalar(a) for a in n.args)
        return True

    def index(self, idx) -> str:
        k = idx.value
        if idx.kind == "n":
            return str(k)
        if idx.kind == "k":  # a sweep's index
            return idx.text().replace("+", " + ").replace("-", " - ")
        if idx.kind == "T":
            if self.T is not None and (self.at is not None or k):
                return str(self.T + k)
            return "T" if not k else f"T{k:+d}".replace("+", " + ").replace("-", " - ")
        k += self.shift
        if self.at is not None:
            return str(self.at + idx.value)
        b = self.base
        return b if not k else f"{b}{k:+d}".replace("+", " + ").replace("-", " - ")

    def quantity(self, name: str, idx) -> str:
        if idx is None:
            return symbol_latex(name, self.names)
        return symbol_latex(f"{name}[{self.index(idx).replace(' ', '')}]", self.names)

    def doprint(self, e) -> str:
        return self._p(e)[0]

    def _p(self, e) -> tuple[str, int]:
        """(latex, precedence): 1 sum, 2 product, 3 power, 4 atom."""
        if isinstance(e, ex.Num):
            s = formula_number(e.value)
            return s, _number_precedence(s)
        if isinstance(e, ex.Name):
            return self.quantity(e.name, None), 4
        if isinstance(e, ex.Ref):
            return self.quantity(e.name, e.index), 4
        if isinstance(e, ex.Entry):
            return self.entry(e), 4
        if isinstance(e, ex.Neg):
            return "-" + self._wrap(e.arg, 2), 1
        if isinstance(e, ex.Transpose):
            return self._wrap(e.arg, 4) + r"^{\top}", 3
        if isinstance(e, ex.Bin):
            if e.op in "+-":
                right = self._wrap(e.right, 2 if e.op == "-" else 1)
                return f"{self._p(e.left)[0]} {e.op} {right}", 1
            if e.op == "*" or e.op == "@":
                had = self._had(e)
                # the bracket rule (see _entrywise below): ⊙ of a matrix product, or a matrix
                # product of a ⊙, is bracketed
                left, right = (rf"\left({self.doprint(x)}\right)" if (
                    self._had(x) if e.op == "@" else had and self._matmul(x))
                    else self._wrap(x, 2) for x in (e.left, e.right))
                sep = r" \odot " if had else (r" \cdot " if right[:1].isdigit() else " ")
                return left + sep + right, 2
            if e.op == "/":
                if self.scalar(e.right) and self.scalar(e.left):
                    return rf"\frac{{{self.doprint(e.left)}}}{{{self.doprint(e.right)}}}", 4
                return self._wrap(e.left, 2) + r" \oslash " + self._wrap(e.right, 3), 2
            return f"{self._wrap(e.left, 4)}^{{{self.doprint(e.right)}}}", 3
        if isinstance(e, ex.Call):
            f, args = e.func, e.args
            if f == "sum" and ex.uses_t(args[0]) and not self.in_step:
                return r"\sum_{t=1}^{T} " + self._wrap(args[0], 2), 2  # the sum over steps
            if f == "mean" and ex.uses_t(args[0]) and not self.in_step:
                return r"\frac{1}{T} \sum_{t=1}^{T} " + self._wrap(args[0], 2), 2
            return FUNCTIONS[f].latex(self, args)  # its table entry prints a function
        raise TypeError(e)

    def _had(self, e) -> bool:
        """``e`` is an entry-by-entry product of two vectors or matrices."""
        return isinstance(e, ex.Bin) and e.op == "*" and not self.scalar(e.left) and \
            not self.scalar(e.right)

    def _matmul(self, e) -> bool:
        """``e`` is a matrix product of two vectors or matrices."""
        return isinstance(e, ex.Bin) and e.op == "@" and not self.scalar(e.left) and \
            not self.scalar(e.right)

    def _wrap(self, e, prec: int) -> str:
        s, p = self._p(e)
        return rf"\left({s}\right)" if p < prec else s

    wrap = _wrap


class FormLatex:
    """Matrix-calculus forms (:mod:`derive.forms`) as LaTeX; ``root`` is the differentiated
    quantity's LaTeX (L)."""

    def __init__(self, ex_printer: ExprLatex, root: str) -> None:
        self.e, self.root = ex_printer, root

    def doprint(self, f) -> str:
        return self._p(f)[0]

    def adj(self, name: str, idx) -> str:
        return rf"\frac{{\partial {self.root}}}{{\partial {self.e.quantity(name, idx)}}}"

    def _p(self, f) -> tuple[str, int]:
        if isinstance(f, fm.Sub):
            return self.e._p(f.node)
        if isinstance(f, fm.Adj):
            return self.adj(f.name, f.index), 4
        if isinstance(f, fm.Num):
            s = formula_number(sympy.Rational(f.value))
            return s, _number_precedence(s)
        if isinstance(f, fm.Ones):
            return r"\mathbf{1}", 4
        if isinstance(f, fm.Shift):
            return FormLatex(self.e.moved(f.by), self.root)._p(f.form)
        if isinstance(f, fm.AtT):
            return FormLatex(self.e.at_last(), self.root)._p(f.form)
        if isinstance(f, fm.AtStep):
            return FormLatex(self.e.at_step(f.step), self.root)._p(f.form)
        if isinstance(f, fm.Prime):
            op = FUNCTIONS[f.func]
            if f.out is not None and op.prime_by_output is not None:
                o = self.e.doprint(f.out.node)
                return op.prime_by_output[1 if f.scalar else 0].format(o=o), 1
            return op.prime_latex(self.e.doprint(f.arg.node), f.scalar)
        if isinstance(f, fm.SoftJac):
            s = self.e.doprint(f.s.node)
            return rf"\left(\operatorname{{diag}}\left({s}\right) - {s}\, {s}^{{\top}}\right)", 4
        if isinstance(f, fm.LogSoftJac):
            sm = rf"\operatorname{{softmax}}\left({self.e.doprint(f.v.node)}\right)"
            if f.v.scalar:
                return "0", 4  # the softmax of one entry is 1: I - 1 1 = 0
            jac = (rf"I - {sm}\, \mathbf{{1}}^{{\top}}" if f.transposed else
                   rf"I - \mathbf{{1}}\, {sm}^{{\top}}")
            return rf"\left({jac}\right)", 4
        if isinstance(f, fm.MaxStep):
            a, b = self.e.doprint(f.a.node), self.e.doprint(f.b.node)
            return (rf"\mathbf{{1}}\left[{a} > {b}\right] + \tfrac{{1}}{{2}}\,"
                    rf"\mathbf{{1}}\left[{a} = {b}\right]"), 1
        if isinstance(f, fm.Count):
            shape = self.e.shapes.get(id(f.sub.node), (1, 1))
            return str(shape[0] * shape[1]), 4
        if isinstance(f, fm.Entry):
            return rf"\left({self.doprint(f.form)}\right)_{{{f.i}}}", 4
        if isinstance(f, fm.Unit):
            e = [rf"\mathbf{{e}}_{{{self.e.doprint(i)}}}" for i in f.indices]
            return (e[0], 4) if len(e) == 1 else (rf"{e[0]} {e[1]}^{{\top}}", 2)
        if isinstance(f, fm.Diag):
            return rf"\operatorname{{diag}}\left({self.doprint(f.arg)}\right)", 4
        if isinstance(f, fm.Tr):
            return self._wrap(f.arg, 4) + r"^{\top}", 3
        if isinstance(f, fm.Had):
            sep = " " if f.scalar else r" \odot "
            return sep.join(rf"\left({self.doprint(x)}\right)"
                            if not f.scalar and _matrix_product(x) else self._wrap(x, 2)
                            for x in f.items), 2
        if isinstance(f, fm.Quot):
            if f.scalar:
                return rf"\frac{{{self.doprint(f.num)}}}{{{self.doprint(f.den)}}}", 4
            num = rf"\left({self.doprint(f.num)}\right)" if _matrix_product(f.num) else \
                self._wrap(f.num, 2)
            return num + r" \oslash " + self._wrap(f.den, 3), 2
        if isinstance(f, fm.MM):
            parts = []
            for x in f.items:
                if isinstance(x, fm.Had) and len(x.items) == 2 and not x.scalar and \
                        isinstance(x.items[1], (fm.Prime,)):
                    # W^T (g ⊙ f') is written W^T diag(f') g, the textbook form
                    parts.append(rf"\operatorname{{diag}}\left({self.doprint(x.items[1])}"
                                 rf"\right) {self._wrap(x.items[0], 2)}")
                    continue
                if _entrywise(x) and _matrix_product(f):
                    parts.append(rf"\left({self.doprint(x)}\right)")  # the bracket rule
                    continue
                parts.append(self._wrap(x, 2))
            out = []
            for i, ptxt in enumerate(parts):
                if i and (ptxt[:1].isdigit() or ptxt.startswith("-")):
                    ptxt = rf"\left({ptxt}\right)" if ptxt.startswith("-") else ptxt
                    out.append(r"\cdot " + ptxt if ptxt[:1].isdigit() else ptxt)
                else:
                    out.append(ptxt)
            return " ".join(out), 2
        if isinstance(f, fm.Plus):
            if len(f.items) == 1 and f.items[0][0] < 0:
                return "-" + self._wrap(f.items[0][1], 2), 2
            s = ""
            for i, (sign, x) in enumerate(f.items):
                txt, p = self._p(x)
                if sign < 0:
                    txt = self._wrap(x, 2)
                    s += ("- " if not i else " - ") + txt
                else:
                    s += ("" if not i else " + ") + txt
            return s, 1
        raise TypeError(f)

    def _wrap(self, f, prec: int) -> str:
        s, p = self._p(f)
        return rf"\left({s}\right)" if p < prec else s


# The bracket rule: a matrix product and an entry-by-entry product (⊙, ⊘) bind alike in print,
# so where one is an operand of the other it is bracketed and the formula reads as computed:
# Wᵀ (δ ⊙ f' ⊙ r), never Wᵀ δ ⊙ f' ⊙ r (which reads (Wᵀ δ) ⊙ f' ⊙ r).  A scalar factor
# commutes with both and needs no bracket (2 h ⊙ r).

def _entrywise(f) -> bool:
    """An entry-by-entry product or quotient of vectors or matrices."""
    return isinstance(f, (fm.Had, fm.Quot)) and not f.scalar


def _matrix_product(f) -> bool:
    """A matrix product of two or more factors that are not scalars."""
    return isinstance(f, fm.MM) and sum(not fm.is_scalar(x) for x in f.items) >= 2
