"""LaTeX for our notation: sympy's LatexPrinter with only what we need overridden.

Quantities print as ``h_{1}``, ``\\hat{y}_{2}``, ``W_{hh}``; partials as Leibniz fractions;
chain trees keep the order in which the chain rule is written; in *values* mode each quantity
prints as its number, in parentheses where a product needs them (``2(4 - 5)(2)(1)``).
"""

from __future__ import annotations

import re

import sympy
from sympy.printing.latex import LatexPrinter
from sympy.printing.str import StrPrinter

from .graph import split_name
from .ops import relu, sigmoid, step
from .solution import Delta, One, Partial, Sum

ROUND_DIGITS = 4


def format_number(v: sympy.Expr) -> str | None:
    """A number as shown: integers plainly, short terminating decimals as decimals (0.1),
    other rationals as fractions, anything else rounded to 4 significant digits."""
    if v.is_Integer:
        return str(v)
    if v.is_Rational:
        p, q = int(v.p), int(v.q)
        q2 = q
        for f in (2, 5):
            while q2 % f == 0:
                q2 //= f
        if q2 == 1:
            s = _decimal(p, q)
            if s is not None:
                return s
        sign = "-" if p < 0 else ""
        return f"{sign}\\frac{{{abs(p)}}}{{{q}}}"
    if v.is_number:
        return rounded(v)
    return None


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


def rounded(v: sympy.Expr) -> str:
    """4 significant digits; tiny and huge numbers in scientific form."""
    x = float(v) if v.is_Float else float(sympy.N(v, 30))
    if x == 0:
        return "0"
    s = f"{x:.{ROUND_DIGITS}g}"
    if "e" in s:
        mant, exp = s.split("e")
        return f"{mant} \\times 10^{{{int(exp)}}}"
    return s


def symbol_latex(name: str, names: dict) -> str:
    """LaTeX of a quantity name such as ``yhat[t-1]`` (``names``: the problem's display names)."""
    base, idx = split_name(sympy.Symbol(name)) if "[" in name else (name, None)
    tex = names.get(base)
    if tex is None:
        if base.endswith("hat") and len(base) > 3:
            tex = r"\hat{%s}" % sympy.latex(sympy.Symbol(base[:-3]))
        else:
            tex = sympy.latex(sympy.Symbol(base))
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
            parts.append(format_number(coeff))
        for f in factors:
            s = self._print(f)
            if f.is_Add or (f.is_Symbol and self._value_of(f) is not None
                            and not s.startswith(r"\left(")):
                s = rf"\left({s}\right)"
            parts.append(s)
        return sign + " ".join(parts)

    def _print_Pow(self, expr):
        b = expr.base
        if self.values is not None and b.is_Symbol and self._value_of(b) is not None \
                and not self._value_of(b).is_Integer:
            base = self._print(b)
            if not base.startswith(r"\left("):
                base = rf"\left({base}\right)"
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

    # -- our functions -----------------------------------------------------------------------
    def _print_sigmoid(self, expr, exp=None):
        s = rf"\sigma\left({self._print(expr.args[0])}\right)"
        return s if exp is None else rf"\sigma^{{{exp}}}\left({self._print(expr.args[0])}\right)"

    def _print_relu(self, expr, exp=None):
        s = rf"\operatorname{{relu}}\left({self._print(expr.args[0])}\right)"
        return s if exp is None else rf"{s}^{{{exp}}}"

    def _print_step(self, expr, exp=None):
        s = rf"\mathbb{{1}}\left[{self._print(expr.args[0])} > 0\right]"
        return s if exp is None else rf"{s}^{{{exp}}}"

    def _print_Float(self, expr):
        return rounded(expr)

    def _print_Rational(self, expr):
        return format_number(expr)

    def _print_Integer(self, expr):
        return str(expr)

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
    """The exact answer as text sympy can parse back, in the problem's own names."""

    def _print_sigmoid(self, expr):
        return f"1/(1 + exp(-({self._print(expr.args[0])})))"

    def _print_relu(self, expr):
        return f"Max({self._print(expr.args[0])}, 0)"

    def _print_step(self, expr):
        return f"Heaviside({self._print(expr.args[0])}, 0)"


def exact_text(v: sympy.Expr) -> str:
    return ExactStr({"order": "none"}).doprint(v)


__all__ = ["DerivePrinter", "format_number", "rounded", "symbol_latex", "tree_latex",
           "exact_text", "sigmoid", "relu", "step"]
