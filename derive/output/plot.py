"""The plot of a sweep: the list's values (or norms) against k on a log scale, with the bound
drawn beside them.  One layout (:class:`Plot`, in axis units: k across, log10 up), printed as
TikZ for LaTeX (plain TikZ, no pgfplots) and as SVG beside the Markdown, so both show the same
picture; every coordinate is rounded to fixed decimals, so the bytes are deterministic.

Zero values have no place on a log scale: they are left out and listed (``omitted``).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import mpmath
import sympy

from ..calculus.numbers import to_mpf

#: Marks on the points while there are at most this many of them (past that, a line only).
MAX_MARKS = 60
MAX_Y_TICKS = 8
MAX_X_TICKS = 12
#: Unlabelled gridlines at 2..9 × 10^e while the plot spans at most this many decades.
MINOR_DECADES = 3


@dataclass(frozen=True)
class Series:
    label: str  # LaTeX (math, without $)
    points: tuple  # (k, log10 of the value)
    dashed: bool


@dataclass(frozen=True)
class Plot:
    x_range: tuple  # (first k, last k)
    y_range: tuple  # (lowest decade, highest decade)
    x_ticks: tuple
    y_ticks: tuple  # decades
    series: tuple
    x_label: str  # LaTeX
    omitted: tuple  # the k whose value is 0
    minor: tuple = ()  # log10 of 2..9 × 10^e gridlines, when the plot spans few decades


def _log10(v) -> float | None:
    """log10 |v| of a sympy number (50 digits in, a float out), None at 0."""
    if v == 0:
        return None
    x = to_mpf(v) if (v.is_Float or v.is_Rational) else to_mpf(sympy.N(v, 30))
    f = abs(float(x))
    if 1e-300 < f < 1e300:
        return math.log10(f)
    with mpmath.workdps(30):  # past float's range (an exploding bound, say)
        return float(mpmath.log10(abs(x)))


def build(ks, values, value_label: str, var_tex: str, bound=None,
          bound_label: str = "") -> Plot | None:
    """The plot of ``values`` (sympy numbers, one per k) and of ``bound`` (per k a number or
    None); None when no value can be drawn (all are 0)."""
    pts = tuple((k, _log10(v)) for k, v in zip(ks, values))
    omitted = tuple(k for k, y in pts if y is None)
    drawn = tuple((k, y) for k, y in pts if y is not None)
    if not drawn:
        return None
    series = [Series(value_label, drawn, False)]
    if bound is not None:
        bpts = tuple((k, _log10(b)) for k, b in zip(ks, bound) if b is not None)
        bpts = tuple(p for p in bpts if p[1] is not None)
        if bpts:
            series.append(Series(bound_label, bpts, True))
    ys = [y for s in series for _, y in s.points]
    lo, hi = math.floor(min(ys) + 1e-9), math.ceil(max(ys) - 1e-9)
    if hi <= lo:
        lo, hi = lo - 1, lo + 1
    step = max(1, math.ceil((hi - lo) / MAX_Y_TICKS))
    if (hi - lo) % step:  # a tick at both ends
        lo -= step - (hi - lo) % step
    y_ticks = tuple(range(lo, hi + 1, step))
    minor = tuple(e + math.log10(m) for e in range(lo, hi) for m in range(2, 10)) \
        if hi - lo <= MINOR_DECADES else ()
    first, last = ks[0], ks[-1]
    if first == last:
        first, last = first - 1, last + 1
    span = last - first
    xs = next(s for s in (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 20000)
              if span / s <= MAX_X_TICKS)
    x_ticks = tuple(x for x in range(first - first % xs, last + 1, xs) if x >= first)
    return Plot((first, last), (lo, hi), x_ticks, y_ticks, tuple(series), var_tex, omitted,
                minor)


# ---- printers ------------------------------------------------------------------------------------

WIDTH_CM, HEIGHT_CM = 11.0, 6.0


def _unit(p: Plot, k, y) -> tuple[float, float]:
    """A point in [0, 1] × [0, 1] of the plotting area."""
    (x0, x1), (y0, y1) = p.x_range, p.y_range
    return (k - x0) / (x1 - x0), (y - y0) / (y1 - y0)


def _decade(e: int) -> str:
    return "1" if e == 0 else "10" if e == 1 else f"10^{{{e}}}"


def tikz(p: Plot) -> str:
    """A tikzpicture, 11 cm by 6 cm of plotting area, with its legend under the axis."""
    W, H = WIDTH_CM, HEIGHT_CM
    out = [r"\begin{tikzpicture}[font=\small]"]
    for y in p.minor:
        _, v = _unit(p, p.x_range[0], y)
        out.append(rf"\draw[gray!12] (0,{v * H:.3f}) -- ({W:.3f},{v * H:.3f});")
    for e in p.y_ticks:
        _, v = _unit(p, p.x_range[0], e)
        out.append(rf"\draw[gray!30] (0,{v * H:.3f}) -- ({W:.3f},{v * H:.3f});")
        out.append(rf"\node[left] at (0,{v * H:.3f}) {{${_decade(e)}$}};")
    for x in p.x_ticks:
        u, _ = _unit(p, x, p.y_range[0])
        out.append(rf"\draw[gray!60] ({u * W:.3f},0) -- ({u * W:.3f},-0.1);")
        out.append(rf"\node[below] at ({u * W:.3f},-0.1) {{${x}$}};")
    out.append(rf"\draw[gray!70!black] (0,0) rectangle ({W:.3f},{H:.3f});")
    out.append(rf"\node[below] at ({W / 2:.3f},-0.6) {{${p.x_label}$}};")
    styles = (r"blue!70!black, thick", r"red!70!black, thick, dashed")
    for s in p.series:
        style = styles[s.dashed]
        coords = [f"({_unit(p, k, y)[0] * W:.3f},{_unit(p, k, y)[1] * H:.3f})"
                  for k, y in s.points]
        if len(coords) > 1:
            lines = [" -- ".join(coords[i:i + 6]) for i in range(0, len(coords), 6)]
            out.append(rf"\draw[{style}] " + "\n  -- ".join(lines) + ";")
        if not s.dashed and len(coords) <= MAX_MARKS or len(coords) == 1:
            color = style.split(",")[0]
            out.extend(rf"\fill[{color}] {c} circle (1.6pt);" for c in coords)
    for i, s in enumerate(p.series):
        y = -1.3 - 0.55 * i
        out.append(rf"\draw[{styles[s.dashed]}] (0.2,{y:.2f}) -- (1.2,{y:.2f});")
        out.append(rf"\node[right] at (1.3,{y:.2f}) {{${s.label}$}};")
    out.append(r"\end{tikzpicture}")
    return "\n".join(out)


def svg(p: Plot, plain) -> str:
    """The same plot as SVG (560 pixels of plotting area across); ``plain`` turns LaTeX into
    Unicode text."""
    W, H, left, top = 560, 300, 70, 20
    bottom = 50 + 24 * len(p.series)
    total_w, total_h = left + W + 30, top + H + bottom

    def at(k, y):
        u, v = _unit(p, k, y)
        return left + u * W, top + (1 - v) * H

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{total_w}" height="{total_h}" '
           f'viewBox="0 0 {total_w} {total_h}" font-family="serif" font-size="14">',
           '<rect width="100%" height="100%" fill="white"/>']
    for m in p.minor:
        _, y = at(p.x_range[0], m)
        out.append(f'<line x1="{left}" y1="{y:.1f}" x2="{left + W}" y2="{y:.1f}" '
                   'stroke="#f0f0f0"/>')
    for e in p.y_ticks:
        _, y = at(p.x_range[0], e)
        out.append(f'<line x1="{left}" y1="{y:.1f}" x2="{left + W}" y2="{y:.1f}" '
                   'stroke="#ddd"/>')
        out.append(f'<text x="{left - 6}" y="{y + 5:.1f}" text-anchor="end">'
                   f'{_sup(e)}</text>')
    for x in p.x_ticks:
        px, _ = at(x, p.y_range[0])
        out.append(f'<line x1="{px:.1f}" y1="{top + H}" x2="{px:.1f}" y2="{top + H + 5}" '
                   'stroke="#888"/>')
        out.append(f'<text x="{px:.1f}" y="{top + H + 20}" text-anchor="middle">{x}</text>')
    out.append(f'<rect x="{left}" y="{top}" width="{W}" height="{H}" fill="none" '
               'stroke="#555"/>')
    out.append(f'<text x="{left + W / 2:.1f}" y="{top + H + 40}" text-anchor="middle" '
               f'font-style="italic">{_svg_text(p.x_label, plain)}</text>')
    colors = ("#1f3f99", "#b22222")
    for s in p.series:
        c = colors[s.dashed]
        pts = [at(k, y) for k, y in s.points]
        dash = ' stroke-dasharray="7 4"' if s.dashed else ""
        if len(pts) > 1:
            path = " ".join(f"{x:.1f},{y:.1f}" for x, y in pts)
            out.append(f'<polyline points="{path}" fill="none" stroke="{c}" '
                       f'stroke-width="2"{dash}/>')
        if not s.dashed and len(pts) <= MAX_MARKS or len(pts) == 1:
            out.extend(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{c}"/>' for x, y in pts)
    for i, s in enumerate(p.series):
        y = top + H + 64 + 24 * i
        dash = ' stroke-dasharray="7 4"' if s.dashed else ""
        out.append(f'<line x1="{left + 10}" y1="{y - 5}" x2="{left + 50}" y2="{y - 5}" '
                   f'stroke="{colors[s.dashed]}" stroke-width="2"{dash}/>')
        out.append(f'<text x="{left + 58}" y="{y}">{_svg_text(s.label, plain)}</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


_MARK = {"^": "\ue000", "_": "\ue001"}
_END = "\ue002"


def _svg_text(tex: str, plain) -> str:
    """LaTeX math as SVG text: Unicode from ``plain``, with sub- and superscripts raised and
    lowered by tspans (dy, which every viewer honours)."""
    tex = re.sub(r"(\\[lr][vV]ert)\s+", r"\1{}", re.sub(r"\s+((?:\\right)?\\r[vV]ert)", r"\1",
                                                          tex))
    while True:
        new = re.sub(r"([\^_])\{([^{}]*)\}", lambda m: _MARK[m.group(1)] + m.group(2) + _END,
                     tex)
        new = re.sub(r"([\^_])([A-Za-z0-9])", lambda m: _MARK[m.group(1)] + m.group(2) + _END,
                     new)
        if new == tex:
            break
        tex = new
    text = _esc(plain(tex))
    out, shift, depth = [], 0, 0
    for part in re.split(f"([{_MARK['^']}{_MARK['_']}{_END}])", text):
        if part == _MARK["^"] or part == _MARK["_"]:
            dy = -5 if part == _MARK["^"] else 4
            out.append(f'<tspan dy="{dy}" font-size="10">')
            shift, depth = shift + dy, depth + 1
        elif part == _END:
            out.append("</tspan>")
            depth -= 1
        elif part:
            if shift and not depth:  # back to the baseline after a script
                out.append(f'<tspan dy="{-shift}">{part}</tspan>')
                shift = 0
            else:
                out.append(part)
    return "".join(out)


_SUP = str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹")


def _sup(e: int) -> str:
    return "1" if e == 0 else "10" if e == 1 else "10" + str(e).translate(_SUP)


def _esc(s: str) -> str:
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
