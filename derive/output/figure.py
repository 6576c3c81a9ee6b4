"""The unrolled computational graph of a time-indexed problem, drawn from its equations: one
layout (:class:`Figure`), printed as TikZ for LaTeX and as SVG beside the Markdown.

Columns are steps 0..T (the first three and the last when T > 6); rows are the per-step inputs
(x_t) and the indexed quantities in file order (h_t, ŷ_t, L_t); plain quantities (L) stand to
the right.  An edge carries the parameter that multiplies its source (W_hh on h_{t−1} → h_t).
For T ≤ 4 and scalar values, nodes show their forward values.
"""

from __future__ import annotations

from dataclasses import dataclass

import sympy

from ..lang import expr as ex
from ..lang.to_sympy import sym
from .printing import format_number, rounded, symbol_latex

MAX_FULL_T = 6
VALUES_MAX_T = 4


@dataclass(frozen=True)
class FNode:
    key: tuple  # (name, step or None)
    x: float
    y: float
    label: str  # LaTeX
    value: str  # LaTeX of the forward value, or ""
    grad: str = ""  # LaTeX of ∂loss/∂node, or "" (the figure's gradient option)


@dataclass(frozen=True)
class FEdge:
    src: tuple
    dst: tuple
    label: str  # LaTeX of the parameter on the edge, or ""
    pos: float = 0.5  # where along the edge its label sits
    bend: bool = False  # an arc above its row (h[t-2] -> h[t] passes over h[t-1])


@dataclass(frozen=True)
class Figure:
    nodes: tuple
    edges: tuple
    dots: tuple  # (x, y) positions of "…" between shown steps
    width: float
    height: float


def build(sol, values: bool = True) -> Figure | None:
    """The figure of a solved problem, or None for a static graph (no steps); ``values``
    False leaves the forward values off the nodes (a question sheet)."""
    p = sol.problem
    T = p.steps
    if not T:
        return None
    names = dict(p.symbols)
    indexed = [eq for eq in p.equations if eq.indexed]
    plain = [eq for eq in p.equations if not eq.indexed]
    index_names = {eq.name for eq in indexed}
    given_steps = {g.name for g in p.given if g.index is None and isinstance(g.value, tuple)
                   and sym(f"{g.name}[1]") in sol.graph.given}
    first_uses = [n.name for eq in indexed for n in ex.walk(eq.expr)
                  if isinstance(n, ex.Ref) and n.name in given_steps]
    # inputs: per-step givens read by the first indexed equation (targets y_t are left out)
    inputs = list(dict.fromkeys(n for n in first_uses
                                if any(isinstance(m, ex.Ref) and m.name == n
                                       for m in ex.walk(indexed[0].expr))))
    rows = inputs + [eq.name for eq in indexed]
    row_of = {n: i for i, n in enumerate(rows)}
    # starts before step 1 (h[0], and h[-1] for a lag of two) on the left, those of backward
    # recurrences after T (hb[T+1]) on the right
    reads = [n.index.value for eq in indexed for n in ex.walk(eq.expr)
             if isinstance(n, ex.Ref) and n.name in index_names and n.index.kind == "t"]
    lag = max([-k for k in reads if k < 0], default=0)
    lead = max([k for k in reads if k > 0], default=0) if sol.graph.backward else 0
    middle = list(range(1, T + 1)) if T <= MAX_FULL_T else [1, 2, 3, T]
    first = 1 if lead and not lag else min(0, 1 - lag)  # a backward run alone needs no step 0
    steps = list(range(first, 1)) + middle + list(range(T + 1, T + 1 + lead))
    col_of: dict = {}
    for t in steps:  # one column per step, and one for the dots after step 3 of a long run
        col_of[t] = len(col_of) + (1 if T > MAX_FULL_T and t > 3 else 0)
    show_values = values and T <= VALUES_MAX_T

    # A backward state's row stands half a column to the right when forward states are drawn
    # too, so the edges from a forward state up to the outputs pass between its nodes.
    shift = {n: 0.5 for n in rows if n in sol.graph.backward} if lag else {}
    nodes: dict = {}

    def value_of(key):
        if not show_values:
            return ""
        s = sym(key[0] if key[1] is None else f"{key[0]}[{key[1]}]")
        v = sol.values.get(s) if s in sol.graph.nodes else sol.graph.given.get(s)
        if isinstance(v, sympy.Basic) and v.is_number:
            return format_number(v) or rounded(v)
        return ""

    def grad_of(key):
        if not show_values or not sol.gradients:
            return ""
        g = sol.gradients.get(sym(key[0] if key[1] is None else f"{key[0]}[{key[1]}]"))
        if isinstance(g, sympy.Basic) and g.is_number:
            return format_number(g) or rounded(g)
        return ""

    def add(key, x, y):
        if key not in nodes:
            name, step = key
            label = symbol_latex(name if step is None else f"{name}[{step}]", names)
            nodes[key] = FNode(key, x, y, label, value_of(key), grad_of(key))

    for name in rows:
        for t in steps:
            if t == 0 and name not in index_names:
                continue
            if t == 0 and not any(isinstance(n, ex.Ref) and n.name == name and
                                  n.index.kind == "t" and n.index.value < 0
                                  for eq in indexed for n in ex.walk(eq.expr)):
                continue  # only states have a step 0
            if not 0 <= t <= T and sym(f"{name}[{t}]") not in sol.graph.leaves:
                continue  # only a start that some step reads
            add((name, t), col_of[t] + shift.get(name, 0), row_of[name])
    top = len(rows) - 1
    edges: list = []
    for eq in indexed:
        for t in middle:
            for ref, param in _sources(eq.expr, p):
                if ref.index.kind != "t":
                    continue
                src = (ref.name, t + ref.index.value)
                if src in nodes:
                    edges.append(FEdge(src, (eq.name, t), param))
    if shift:
        # an edge that skips a row keeps its label half a row from one end, clear of the
        # labels of the row it passes
        y = {k: n.y for k, n in nodes.items()}
        edges = [FEdge(e.src, e.dst, e.label,
                       (1 - 0.5 / abs(y[e.dst] - y[e.src]) if e.dst[0] in shift else
                        0.5 / abs(y[e.dst] - y[e.src])))
                 if abs(y[e.dst] - y[e.src]) >= 2 else e for e in edges]
    at = {k: (n.x, n.y) for k, n in nodes.items()}
    edges = [FEdge(e.src, e.dst, e.label, e.pos, True)
             if at[e.src][1] == at[e.dst][1] and abs(at[e.dst][0] - at[e.src][0]) > 1.5 else e
             for e in edges]
    right = max(col_of.values()) + 1 + max(shift.values(), default=0)
    for i, eq in enumerate(plain):
        key = (eq.name, None)
        add(key, right, top + 0.8 - i)  # above the last row, so edges from every step fan in
        for ref, param in _sources(eq.expr, p):
            srcs = [(ref.name, t) for t in middle] if ref.index.kind == "t" else \
                [(ref.name, T + ref.index.value if ref.index.kind == "T" else ref.index.value)]
            for src in srcs:
                if src in nodes:
                    edges.append(FEdge(src, key, param))
        for n in ex.walk(eq.expr):
            if isinstance(n, ex.Name) and (n.name, None) in nodes:
                edges.append(FEdge((n.name, None), key, ""))
    dots = tuple((col_of[3] + 1.0, row_of[n]) for n in rows) if T > MAX_FULL_T else ()
    unique = tuple(dict.fromkeys(edges))
    return Figure(tuple(nodes.values()), unique, dots, right + (1 if plain else 0),
                  len(rows) + (0.8 if plain else 0))


def _sources(e: ex.Expr, problem):
    """(reference, parameter LaTeX) for each quantity an expression reads: the parameter is the
    plain name multiplying it (W in W @ h[t-1]), or ""."""
    params = {g.name for g in problem.given if g.index is None} | {
        n.name for eq in problem.equations for n in ex.walk(eq.expr) if isinstance(n, ex.Name)}
    params -= {eq.name for eq in problem.equations}
    names = dict(problem.symbols)
    out: dict = {}

    def go(n, factor):
        if isinstance(n, ex.Ref):
            out.setdefault(n, factor)
        elif isinstance(n, ex.Bin) and n.op in "*@":
            left_p = n.left.name if isinstance(n.left, ex.Name) and n.left.name in params \
                else None
            right_p = n.right.name if isinstance(n.right, ex.Name) and n.right.name in params \
                else None
            go(n.left, right_p or factor)
            go(n.right, left_p or factor)
        elif isinstance(n, ex.Bin):
            go(n.left, factor)
            go(n.right, factor)
        elif isinstance(n, (ex.Neg, ex.Transpose)):
            go(n.arg, factor)
        elif isinstance(n, ex.Call):
            for a in n.args:
                go(a, factor)

    go(e, None)
    return [(ref, symbol_latex(param, names) if param else "") for ref, param in out.items()]


# ---- printers -----------------------------------------------------------------------------------

def _id(key) -> str:
    name, step = key
    return f"{name}-{'p' if step is None else step}"


def tikz(fig: Figure) -> str:
    """A tikzpicture that fits the text width (columns 2.2 cm apart at most)."""
    dx = min(2.2, 15.0 / max(fig.width, 1))
    lines_per_node = 1 + any(n.value for n in fig.nodes) + any(n.grad for n in fig.nodes)
    dy = {1: 1.45, 2: 1.75, 3: 2.05}[lines_per_node]
    lines = [rf"\begin{{tikzpicture}}[x={dx:.2f}cm, y={dy:.2f}cm, "
             r"q/.style={draw, rounded corners=2pt, align=center, inner sep=2.5pt, "
             r"font=\small, fill=white}, "
             r"e/.style={-{Stealth[length=1.6mm]}, semithick, gray!70!black}, "
             r"p/.style={font=\scriptsize, fill=white, inner sep=1pt}]"]
    for n in fig.nodes:
        text = f"${n.label}$" + (rf"\\ \scriptsize ${n.value}$" if n.value else "") + (
            rf"\\ \scriptsize\color{{red!65!black}}${n.grad}$" if n.grad else "")
        lines.append(rf"\node[q] ({_id(n.key)}) at ({n.x:g},{n.y:g}) {{{text}}};")
    for x, y in fig.dots:
        lines.append(rf"\node at ({x:g},{y:g}) {{$\cdots$}};")
    for e in fig.edges:
        where = "midway" if e.pos == 0.5 else f"pos={e.pos:g}"
        label = rf" node[p, {where}] {{${e.label}$}}" if e.label else ""
        path = "to[bend left=35]" if e.bend else "--"
        lines.append(rf"\draw[e] ({_id(e.src)}) {path}{label} ({_id(e.dst)});")
    lines.append(r"\end{tikzpicture}")
    return "\n".join(lines)


def svg(fig: Figure, plain) -> str:
    """The same figure as SVG; ``plain`` turns LaTeX into Unicode text."""
    sx, sy, pad = 120, 80, 50
    W = int(fig.width * sx + 2 * pad)
    H = int((fig.height - 1) * sy + 2 * pad)

    def pos(x, y):
        return pad + x * sx, H - pad - y * sy

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" '
           f'viewBox="0 0 {W} {H}" font-family="serif" font-size="15">',
           '<defs><marker id="a" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" '
           'markerHeight="7" orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z" '
           'fill="#444"/></marker></defs>', '<rect width="100%" height="100%" fill="white"/>']
    where = {n.key: pos(n.x, n.y) for n in fig.nodes}
    bw, bh = 46, 20
    for e in fig.edges:
        (x1, y1), (x2, y2) = where[e.src], where[e.dst]
        if e.bend:  # an arc from the top of one box to the top of the other
            cx, cy = (x1 + x2) / 2, y1 - bh - 0.45 * sy
            out.append(f'<path d="M {x1:.1f} {y1 - bh:.1f} Q {cx:.1f} {cy:.1f} {x2:.1f} '
                       f'{y2 - bh:.1f}" fill="none" stroke="#444" stroke-width="1.3" '
                       'marker-end="url(#a)"/>')
            if e.label:
                my = (2 * (y1 - bh) + 2 * cy) / 4
                out.append(f'<text x="{cx:.1f}" y="{my - 4:.1f}" text-anchor="middle" '
                           f'font-size="12" fill="#222" paint-order="stroke" stroke="white" '
                           f'stroke-width="3">{_esc(plain(e.label))}</text>')
            continue
        # end on the box border
        dx, dy = x2 - x1, y2 - y1
        k1 = min(bw / abs(dx) if dx else 1e9, bh / abs(dy) if dy else 1e9)
        k2 = k1
        sx1, sy1 = x1 + dx * k1, y1 + dy * k1
        ex2, ey2 = x2 - dx * k2, y2 - dy * k2
        out.append(f'<line x1="{sx1:.1f}" y1="{sy1:.1f}" x2="{ex2:.1f}" y2="{ey2:.1f}" '
                   'stroke="#444" stroke-width="1.3" marker-end="url(#a)"/>')
        if e.label:
            mx, my = ((sx1 + ex2) / 2, (sy1 + ey2) / 2) if e.pos == 0.5 else \
                (sx1 + (ex2 - sx1) * e.pos, sy1 + (ey2 - sy1) * e.pos)
            out.append(f'<text x="{mx:.1f}" y="{my - 4:.1f}" text-anchor="middle" '
                       f'font-size="12" fill="#222" paint-order="stroke" stroke="white" '
                       f'stroke-width="3">{_esc(plain(e.label))}</text>')
    for n in fig.nodes:
        x, y = where[n.key]
        out.append(f'<rect x="{x - bw:.1f}" y="{y - bh:.1f}" width="{2 * bw}" '
                   f'height="{2 * bh}" rx="4" fill="white" stroke="#222"/>')
        if n.grad:
            out.append(f'<text x="{x:.1f}" y="{y - 6:.1f}" text-anchor="middle">'
                       f'{_esc(plain(n.label))}</text>')
            out.append(f'<text x="{x:.1f}" y="{y + 7:.1f}" text-anchor="middle" '
                       f'font-size="11">{_esc(plain(n.value))}</text>')
            out.append(f'<text x="{x:.1f}" y="{y + 18:.1f}" text-anchor="middle" '
                       f'font-size="11" fill="#a00">{_esc(plain(n.grad))}</text>')
        elif n.value:
            out.append(f'<text x="{x:.1f}" y="{y - 2:.1f}" text-anchor="middle">'
                       f'{_esc(plain(n.label))}</text>')
            out.append(f'<text x="{x:.1f}" y="{y + 14:.1f}" text-anchor="middle" '
                       f'font-size="12">{_esc(plain(n.value))}</text>')
        else:
            out.append(f'<text x="{x:.1f}" y="{y + 5:.1f}" text-anchor="middle">'
                       f'{_esc(plain(n.label))}</text>')
    for x, y in fig.dots:
        px, py = pos(x, y)
        out.append(f'<text x="{px:.1f}" y="{py + 5:.1f}" text-anchor="middle">…</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


def _esc(s: str) -> str:
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
