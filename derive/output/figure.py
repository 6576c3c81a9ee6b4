"""The unrolled computational graph of a time-indexed problem, drawn from its equations: one
layout (:class:`Figure`), printed as TikZ for LaTeX and as SVG beside the Markdown.

Columns are steps 0..T (the first three and the last when T > 6), each laid out alike: the
per-step inputs (x_t) at the bottom, each indexed quantity on a level above what it reads at
its own step, the quantities of a level side by side (:func:`step_layout`); plain quantities
(L) stand to the right.  An edge carries the parameter that multiplies its source (W_hh on
h_{t−1} → h_t), its label placed on the edge.  Positions are in slots (x) and levels (y);
``Figure.ux``/``uy`` give their size in cm, and node boxes their size in cm, so that TikZ and
SVG draw the same picture.  For T ≤ 4 and scalar values, nodes show their forward values.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import sympy

from ..lang import expr as ex
from ..lang.to_sympy import sym
from .printing import format_number, rounded, symbol_latex

MAX_FULL_T = 6
VALUES_MAX_T = 4
MIN_ANGLE = math.radians(10)  # edges leaving one node at least this far apart
CLEAR = 0.3  # cm: boxes stay this far apart, and edges half as far from a box


@dataclass(frozen=True)
class FNode:
    key: tuple  # (name, step or None)
    x: float  # in slots (a step's column is one slot wide or more)
    y: float  # in levels
    label: str  # LaTeX
    value: str  # LaTeX of the forward value, or ""
    grad: str = ""  # LaTeX of ∂loss/∂node, or "" (the figure's gradient option)
    w: float = 0.0  # box size in cm (at least the text's)
    h: float = 0.0


@dataclass(frozen=True)
class FEdge:
    src: tuple
    dst: tuple
    label: str  # LaTeX of the parameter on the edge, or ""
    at: tuple = ()  # (x, y) in slots and levels: where the label sits, on the edge itself
    bend: bool = False  # an arc over its row (h[t-2] -> h[t] passes over h[t-1])


@dataclass(frozen=True)
class Figure:
    nodes: tuple
    edges: tuple
    dots: tuple  # (x, y) positions of "…" between shown steps
    width: float
    height: float
    ux: float = 2.2  # cm per slot
    uy: float = 1.45  # cm per level


def build(sol, values: bool = True) -> Figure | None:
    """The figure of a solved problem, or None for a static graph (no steps); ``values``
    False leaves the forward values off the nodes (a question sheet).

    Layout: each step's quantities stand on levels by what they read at their own step (the
    inputs x_t at the bottom, a quantity one level above the highest of its sources), and the
    quantities of one level side by side (:func:`step_layout`), so that gates reading the same
    inputs fan out and every edge is seen; each step repeats that layout one column to the
    right.  A quantity in an edge's way is moved aside, half a slot at a time, while
    that leaves fewer boxes met or crossed (:func:`_in_the_way`), and each label sits on its
    own edge where it covers no node and no other label (:func:`_place_labels`)."""
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
    inputs = _inputs(indexed, given_steps)
    rows = inputs + [eq.name for eq in indexed]
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
    # beside forward states a backward one stands a level higher: both recurrences run along
    # their own level (W_f from h_t to h_{t+1}, W_b from hb_{t+1} to hb_t), never through
    # each other's boxes
    raised = tuple(sorted(sol.graph.backward)) if lag else ()

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

    keys: list = []
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
            keys.append((name, t))
    present = set(keys)
    edges: list = []
    for eq in indexed:
        for t in middle:
            for ref, param in _sources(eq.expr, p):
                if ref.index.kind != "t":
                    continue
                src = (ref.name, t + ref.index.value)
                if src in present:
                    edges.append(FEdge(src, (eq.name, t), param))
    for eq in plain:
        key = (eq.name, None)
        keys.append(key)
        present.add(key)
        for ref, param in _sources(eq.expr, p):
            srcs = [(ref.name, t) for t in middle] if ref.index.kind == "t" else \
                [(ref.name, T + ref.index.value if ref.index.kind == "T" else ref.index.value)]
            for src in srcs:
                if src in present:
                    edges.append(FEdge(src, key, param))
        for n in ex.walk(eq.expr):
            if isinstance(n, ex.Name) and (n.name, None) in present:
                edges.append(FEdge((n.name, None), key, ""))
    # an edge within a row that skips a step (h[t-2] -> h[t]) is an arc over the step between
    edges = [FEdge(e.src, e.dst, e.label, (), True) if e.src[0] == e.dst[0] and
             None not in (e.src[1], e.dst[1]) and abs(e.dst[1] - e.src[1]) >= 2 else e
             for e in edges]
    unique = tuple(dict.fromkeys(edges))
    arcs = tuple(e for e in unique if e.bend)
    unique = tuple(e for e in unique if not e.bend)  # the layout checks the straight ones

    texts = {k: (symbol_latex(k[0] if k[1] is None else f"{k[0]}[{k[1]}]", names),
                 value_of(k), grad_of(k)) for k in keys}
    lines = 1 + any(v for _, v, _ in texts.values()) + any(g for _, _, g in texts.values())
    uy = {1: 1.45, 2: 1.75, 3: 2.05}[lines]
    sizes = {k: _box(*texts[k]) for k in keys}
    pinned: dict = {}  # name -> offset a quantity was moved to; (None,) -> plain ones raised

    def arrange(pinned):
        template = step_layout(indexed, inputs, pinned, raised)
        top = max(level for _, level in template.values())
        lo = min(off for off, _ in template.values())
        levels = [lv for _, lv in template.values()]
        fanned = len(set(levels)) < len(levels)
        # one slot between steps; half a slot more where a step fans out
        span = max(off for off, _ in template.values()) - lo + (1.5 if fanned else 1)
        pos = {k: (col_of[k[1]] * span + template[k[0]][0] - lo, template[k[0]][1])
               for k in keys if k[1] is not None}
        right = max(x for x, _ in pos.values()) + 1
        for i, eq in enumerate(plain):
            pos[(eq.name, None)] = (right, top + 1 + pinned.get((None,), 0) - i)
        width = (right if plain else max(x for x, _ in pos.values())) + 1
        ux = round(min(2.2, 15.0 / max(width, 1)), 2)
        return template, lo, span, pos, width, ux

    def tries_for(movable, template):
        out = []
        for k in sorted(movable, key=lambda k: k[1] is not None):
            if k[1] is None:
                out.append({**pinned, (None,): pinned.get((None,), 0) + 0.5})
            else:
                off = template[k[0]][0]
                out += [{**pinned, k[0]: off + d} for d in (0.5, -0.5, 1, -1, 1.5, -1.5)]
        return out

    best = arrange(pinned)
    score = _problems(best[3], sizes, unique, best[5], uy)
    for _ in range(12):  # a few moves suffice for every cell we know
        if not score:
            break
        template, pos, ux = best[0], best[3], best[5]
        problems = list(_in_the_way(pos, sizes, unique, ux, uy))
        # the nodes that could mend the first problem, the plain quantities first (a step's
        # own layout is kept where raising them is enough); then those of every problem
        least = None
        for movable in (dict.fromkeys(problems[0]),
                        dict.fromkeys(k for pr in problems[1:] for k in pr)):
            for t in tries_for(movable, template):
                cand = arrange(t)
                # fewest problems; of those, the shortest edges (the most compact figure)
                n = (_problems(cand[3], sizes, unique, cand[5], uy),
                     round(_length(cand[3], unique, cand[5], uy), 6))
                if least is None or n < least[0]:
                    least = (n, t, cand)
                if (None,) in t and t[(None,)] != pinned.get((None,)) and n[0] < score:
                    break  # raising the plain quantities helps: a step's layout stays
            if least[0][0] < score:
                break
        if least[0][0] >= score:
            break
        (score, _), pinned, best = least
    template, lo, span, pos, width, ux = best
    at = _place_labels(pos, sizes, unique, ux, uy)
    nodes = tuple(FNode(k, pos[k][0], pos[k][1], *texts[k], *sizes[k]) for k in keys)
    edges_out = tuple(FEdge(e.src, e.dst, e.label, at.get(i, ())) for i, e in enumerate(unique))
    for e in arcs:
        a = (pos[e.src][0] * ux, pos[e.src][1] * uy)
        b = (pos[e.dst][0] * ux, pos[e.dst][1] * uy)
        p0, p1, p2, p3 = arc(a, b, sizes[e.src], sizes[e.dst])
        mid = [(p0[i] + 3 * p1[i] + 3 * p2[i] + p3[i]) / 8 for i in (0, 1)]
        edges_out += (FEdge(e.src, e.dst, e.label, (round(mid[0] / ux, 3),
                                                    round(mid[1] / uy, 3)), True),)
    mid = (col_of[3] + 1) * span + (max(off for off, _ in template.values()) - lo) / 2 \
        if T > MAX_FULL_T else 0
    dots = tuple((mid, level) for level in sorted({template[n][1] for n in rows})) \
        if T > MAX_FULL_T else ()
    ys = [y for _, y in pos.values()]
    return Figure(nodes, edges_out, dots, width, max(ys) - min(ys) + 1, ux, uy)


def _inputs(indexed, given_steps) -> list:
    """The per-step givens that feed the recurrence (x_t), in order of first use: those a state
    reads at its own step, directly or through other quantities of that step.  Targets (y_t),
    read only on the way to a loss, are left out to keep the figure readable."""
    by_name = {eq.name: eq for eq in indexed}
    states = [eq.name for eq in indexed if any(
        isinstance(n, ex.Ref) and n.name == eq.name and n.index.kind == "t" and n.index.value
        for n in ex.walk(eq.expr))]
    core, todo = set(), list(states)
    while todo:
        name = todo.pop()
        if name in core:
            continue
        core.add(name)
        todo.extend(n.name for n in ex.walk(by_name[name].expr) if isinstance(n, ex.Ref)
                    and n.index.kind == "t" and n.index.value == 0 and n.name in by_name)
    if not core and indexed:
        core = {indexed[0].name}
    return list(dict.fromkeys(n.name for eq in indexed if eq.name in core
                              for n in ex.walk(eq.expr)
                              if isinstance(n, ex.Ref) and n.name in given_steps))


def step_layout(indexed, inputs, pinned=None, raised=()) -> dict:
    """name -> [offset in slots, level] of one step's quantities.  Inputs stand on level 0 and
    a quantity one level above the highest quantity it reads at its own step; the quantities
    of a level stand side by side, one slot apart, in the order of where their nearest sources
    (those on the highest level) stand, then in file order; a level's only quantity stands
    above its nearest sources, so that the longer edges come in from the side.  ``pinned``
    names offsets to keep (quantities moved out of an edge's way); the levels above follow.
    ``raised`` quantities stand one level higher than their sources alone would put them."""
    same_step = {eq.name: [n.name for n in ex.walk(eq.expr) if isinstance(n, ex.Ref)
                           and n.index.kind == "t" and n.index.value == 0]
                 for eq in indexed}
    level: dict = {n: 0 for n in inputs}

    def level_of(name, seen=()):
        if name not in level:
            srcs = [s for s in same_step.get(name, ()) if s in level or s in same_step]
            level[name] = 1 + max((level_of(s, seen + (name,)) for s in srcs
                                   if s not in seen + (name,)), default=0) + (name in raised)
        return level[name]

    for eq in indexed:
        level_of(eq.name)
    order = list(inputs) + [eq.name for eq in indexed]
    out: dict = {}
    for lv in sorted(set(level.values())):
        members = [n for n in order if level[n] == lv]
        bary = {}
        for n in members:
            srcs = [s for s in same_step.get(n, ()) if s in out]
            near = max((out[s][1] for s in srcs), default=0)
            xs = [out[s][0] for s in srcs if out[s][1] == near]
            bary[n] = sum(xs) / len(xs) if xs else 0.0
        members.sort(key=lambda n: (bary[n], order.index(n)))
        if len(members) == 1:
            out[members[0]] = [round(bary[members[0]] * 4) / 4, lv]
        else:
            mid = round(sum(bary.values()) / len(members) * 2) / 2
            for i, n in enumerate(members):
                out[n] = [mid + i - (len(members) - 1) / 2, lv]
        for n in members:
            if pinned and n in pinned:
                out[n][0] = pinned[n]
    return out


def _tex_width(s: str, char: float) -> float:
    """A generous estimate of the width (cm) of a short LaTeX text whose characters are about
    ``char`` cm wide; sub- and superscripts count two thirds."""
    s = re.sub(r"\\(?:hat|tilde|bar|vec|mathbf|mathrm|mathit|boldsymbol|operatorname|left|"
               r"right|color)\b|\{red!65!black\}", "", s)
    s = re.sub(r"\\[A-Za-z]+", "x", s)
    small, depth, in_script = 0.0, 0, []
    big = 0.0
    i = 0
    while i < len(s):
        ch = s[i]
        if ch in "_^":
            if i + 1 < len(s) and s[i + 1] == "{":
                in_script.append(depth + 1)
                depth += 1
                i += 2
                continue
            small += 1
            i += 2
            continue
        if ch == "{":
            depth += 1
        elif ch == "}":
            if in_script and in_script[-1] == depth:
                in_script.pop()
            depth -= 1
        elif ch != " ":
            if in_script:
                small += 1
            else:
                big += 1
        i += 1
    return (big + small * 2 / 3) * char


def _box(label: str, value: str, grad: str) -> tuple:
    """(width, height) in cm of a node's box: the TikZ node is given at least this size, so
    the layout's checks hold on the page."""
    w = max(_tex_width(label, 0.22), _tex_width(value, 0.14), _tex_width(grad, 0.14))
    return round(max(0.7, w + 0.3), 2), {1: 0.6, 2: 0.9, 3: 1.2}[1 + bool(value) + bool(grad)]


def _label_box(label: str) -> tuple:
    return _tex_width(label, 0.19) + 0.12, 0.34


def _overlap(a, b, margin=0.0) -> bool:
    """Boxes (cx, cy, w, h) in cm overlap (``margin`` around each)."""
    return (abs(a[0] - b[0]) < (a[2] + b[2]) / 2 + margin and
            abs(a[1] - b[1]) < (a[3] + b[3]) / 2 + margin)


BEND = math.radians(35)


def arc(a, b, box_a, box_b) -> tuple:
    """The cubic Bézier (four points, cm) of TikZ's ``to[bend left=35]`` from the box centred
    on a to the box centred on b: it leaves each box at 35° to the chord."""
    dx, dy = b[0] - a[0], b[1] - a[1]
    d = math.hypot(dx, dy)
    ux_, uy_ = dx / d, dy / d
    co, si = math.cos(BEND), math.sin(BEND)
    out_a = (ux_ * co - uy_ * si, uy_ * co + ux_ * si)  # the chord turned 35° to the left
    in_b = (-ux_ * co - uy_ * si, -uy_ * co + ux_ * si)  # and back into b from the same side

    def border(c, box, u):
        k = min(box[0] / 2 / abs(u[0]) if u[0] else 1e9,
                box[1] / 2 / abs(u[1]) if u[1] else 1e9)
        return c[0] + u[0] * k, c[1] + u[1] * k

    p0, p3 = border(a, box_a, out_a), border(b, box_b, in_b)
    c = 0.3915 * math.hypot(p3[0] - p0[0], p3[1] - p0[1])
    return (p0, (p0[0] + c * out_a[0], p0[1] + c * out_a[1]),
            (p3[0] + c * in_b[0], p3[1] + c * in_b[1]), p3)


def _clip(p1, p2, box2):
    """The point where the segment p1→p2 (cm) leaves the box centred on p2, seen from p1."""
    dx, dy = p2[0] - p1[0], p2[1] - p1[1]
    k = min(box2[0] / 2 / abs(dx) if dx else 1e9, box2[1] / 2 / abs(dy) if dy else 1e9)
    return p2[0] - dx * k, p2[1] - dy * k


def segment(pos, sizes, e, ux, uy):
    """The visible part of an edge (cm), from the border of its source's box to its target's."""
    a = (pos[e.src][0] * ux, pos[e.src][1] * uy)
    b = (pos[e.dst][0] * ux, pos[e.dst][1] * uy)
    return _clip(b, a, sizes[e.src]), _clip(a, b, sizes[e.dst])


def crosses(seg, box) -> bool:
    """The segment ((x1, y1), (x2, y2)) meets the box (cx, cy, w, h) (all in cm)."""
    (x1, y1), (x2, y2) = seg
    cx, cy, w, h = box
    t0, t1 = 0.0, 1.0
    for p, q in ((-(x2 - x1), x1 - (cx - w / 2)), (x2 - x1, (cx + w / 2) - x1),
                 (-(y2 - y1), y1 - (cy - h / 2)), (y2 - y1, (cy + h / 2) - y1)):
        if p == 0:
            if q < 0:
                return False
            continue
        r = q / p
        if p < 0:
            t0 = max(t0, r)
        else:
            t1 = min(t1, r)
        if t0 > t1:
            return False
    return True


def _in_the_way(pos, sizes, edges, ux, uy):
    """One tuple per problem, in a fixed order, of the nodes that could move to mend it: two
    boxes that meet (or come closer than CLEAR), and a box an edge crosses (other than the
    edge's own ends) with that edge's ends."""
    keys = list(pos)
    box = {k: (pos[k][0] * ux, pos[k][1] * uy, sizes[k][0] + CLEAR, sizes[k][1] + CLEAR)
           for k in keys}
    for i, a in enumerate(keys):
        for b in keys[i + 1:]:
            if _overlap(box[a], box[b]):
                yield (b, a)
    segs = [segment(pos, sizes, e, ux, uy) for e in edges]
    for e, seg in zip(edges, segs):
        (x1, y1), (x2, y2) = seg
        left, right, low, high = min(x1, x2), max(x1, x2), min(y1, y2), max(y1, y2)
        for k in keys:
            cx, cy, w, h = box[k]
            if cx + w / 2 < left or cx - w / 2 > right or cy + h / 2 < low or \
                    cy - h / 2 > high:
                continue  # far from the edge: the cheap test first
            if k not in (e.src, e.dst) and crosses(seg, box[k]):
                yield (k, e.dst, e.src)
    away: dict = {}  # node -> [(angle of an edge leaving it, the edge's other end)]
    for e in edges:
        (x1, y1), (x2, y2) = pos[e.src], pos[e.dst]
        a = math.atan2((y2 - y1) * uy, (x2 - x1) * ux)
        away.setdefault(e.src, []).append((a, e.dst))
        away.setdefault(e.dst, []).append((a + math.pi if a <= 0 else a - math.pi, e.src))
    for k in keys:
        ends = away.get(k, [])
        for i, (a, p) in enumerate(ends):
            for b, q in ends[i + 1:]:
                d = abs(a - b) % (2 * math.pi)
                if p != q and min(d, 2 * math.pi - d) < MIN_ANGLE:
                    yield (p, q)  # two edges of k would run together out of it


def _problems(pos, sizes, edges, ux, uy) -> int:
    return sum(1 for _ in _in_the_way(pos, sizes, edges, ux, uy))


def _length(pos, edges, ux, uy) -> float:
    """The edges' total length in cm."""
    return sum(math.hypot((pos[e.dst][0] - pos[e.src][0]) * ux,
                          (pos[e.dst][1] - pos[e.src][1]) * uy) for e in edges)


def _place_labels(pos, sizes, edges, ux, uy) -> dict:
    """edge index -> (x, y) of its label (slots, levels): the first point along the edge, from
    the middle outwards, where the label covers no node and no label placed before it."""
    nodes = [(x * ux, y * uy, *sizes[k]) for k, (x, y) in pos.items()]
    segs = [segment(pos, sizes, e, ux, uy) for e in edges]
    placed: list = []
    out = {}
    for i, e in enumerate(edges):
        if not e.label:
            continue
        (x1, y1), (x2, y2) = segs[i]
        w, h = _label_box(e.label)
        best = None
        for f in (0.5, 0.4, 0.6, 0.3, 0.7, 0.2, 0.8, 0.35, 0.65, 0.25, 0.75):
            box = (x1 + (x2 - x1) * f, y1 + (y2 - y1) * f, w, h)
            # a node or a label covered is worst; another edge under the label is next
            bad = sum(_overlap(box, n, 0.08) for n in nodes) * 4 + \
                sum(_overlap(box, b, 0.12) for b in placed) * 4 + \
                sum(crosses(sg, box) for j, sg in enumerate(segs) if j != i)
            if best is None or bad < best[0]:
                best = (bad, box)
            if bad == 0:
                break
        placed.append(best[1])
        out[i] = (round(best[1][0] / ux, 3), round(best[1][1] / uy, 3))
    return out


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
    """A tikzpicture that fits the text width; each node's box has the size the layout
    assumed, and each label stands where the layout put it (on its edge)."""
    lines = [rf"\begin{{tikzpicture}}[x={fig.ux:.2f}cm, y={fig.uy:.2f}cm, "
             r"q/.style={draw, rounded corners=2pt, align=center, inner sep=2.5pt, "
             r"font=\small, fill=white}, "
             r"e/.style={-{Stealth[length=1.6mm]}, semithick, gray!70!black}, "
             r"p/.style={font=\scriptsize, fill=white, inner sep=1pt}]"]
    for n in fig.nodes:
        text = f"${n.label}$" + (rf"\\ \scriptsize ${n.value}$" if n.value else "") + (
            rf"\\ \scriptsize\color{{red!65!black}}${n.grad}$" if n.grad else "")
        lines.append(rf"\node[q, minimum width={n.w:g}cm, minimum height={n.h:g}cm] "
                     rf"({_id(n.key)}) at ({n.x:g},{n.y:g}) {{{text}}};")
    for x, y in fig.dots:
        lines.append(rf"\node at ({x:g},{y:g}) {{$\cdots$}};")
    for e in fig.edges:
        path = "to[bend left=35]" if e.bend else "--"
        lines.append(rf"\draw[e] ({_id(e.src)}) {path} ({_id(e.dst)});")
    for e in fig.edges:  # after every line, so that no line runs over a label
        if e.label:
            lines.append(rf"\node[p] at ({e.at[0]:g},{e.at[1]:g}) {{${e.label}$}};")
    lines.append(r"\end{tikzpicture}")
    return "\n".join(lines)


PX = 50  # SVG pixels per cm of the layout


def svg(fig: Figure, plain) -> str:
    """The same figure as SVG, at the layout's proportions; ``plain`` turns LaTeX into
    Unicode text."""
    pad = 20
    xs = [(n.x * fig.ux - n.w / 2, n.x * fig.ux + n.w / 2) for n in fig.nodes]
    ys = [(n.y * fig.uy - n.h / 2, n.y * fig.uy + n.h / 2) for n in fig.nodes]
    x0, x1 = min(a for a, _ in xs), max(b for _, b in xs)
    y0, y1 = min(a for a, _ in ys), max(b for _, b in ys)
    W = int((x1 - x0) * PX + 2 * pad)
    H = int((y1 - y0) * PX + 2 * pad)

    def pos(x, y):  # layout units to pixels
        return pad + (x * fig.ux - x0) * PX, pad + (y1 - y * fig.uy) * PX

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" '
           f'viewBox="0 0 {W} {H}" font-family="serif" font-size="15">',
           '<defs><marker id="a" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" '
           'markerHeight="7" orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z" '
           'fill="#444"/></marker></defs>', '<rect width="100%" height="100%" fill="white"/>']
    where = {n.key: pos(n.x, n.y) for n in fig.nodes}
    size = {n.key: (n.w * PX, n.h * PX) for n in fig.nodes}
    for e in fig.edges:
        a, b = where[e.src], where[e.dst]
        if e.bend:  # the same arc as TikZ's (pixels run down: the curve is mirrored in y)
            flip = [(x, -y) for x, y in arc((a[0], -a[1]), (b[0], -b[1]), size[e.src],
                                            size[e.dst])]
            (x0_, y0_), (x1_, y1_), (x2_, y2_), (x3_, y3_) = [(x, -y) for x, y in flip]
            out.append(f'<path d="M {x0_:.1f} {y0_:.1f} C {x1_:.1f} {y1_:.1f} {x2_:.1f} '
                       f'{y2_:.1f} {x3_:.1f} {y3_:.1f}" fill="none" stroke="#444" '
                       'stroke-width="1.3" marker-end="url(#a)"/>')
            continue
        (sx1, sy1), (ex2, ey2) = _clip(b, a, size[e.src]), _clip(a, b, size[e.dst])
        out.append(f'<line x1="{sx1:.1f}" y1="{sy1:.1f}" x2="{ex2:.1f}" y2="{ey2:.1f}" '
                   'stroke="#444" stroke-width="1.3" marker-end="url(#a)"/>')
    for e in fig.edges:
        if e.label:
            mx, my = pos(*e.at)
            lw, lh = (v * PX for v in _label_box(e.label))
            out.append(f'<rect x="{mx - lw / 2:.1f}" y="{my - lh / 2:.1f}" width="{lw:.1f}" '
                       f'height="{lh:.1f}" fill="white"/>')
            out.append(f'<text x="{mx:.1f}" y="{my + 4:.1f}" text-anchor="middle" '
                       f'font-size="12" fill="#222">{_sub(plain(e.label), 12)}</text>')
    for n in fig.nodes:
        x, y = where[n.key]
        bw, bh = size[n.key][0] / 2, size[n.key][1] / 2
        out.append(f'<rect x="{x - bw:.1f}" y="{y - bh:.1f}" width="{2 * bw:.1f}" '
                   f'height="{2 * bh:.1f}" rx="4" fill="white" stroke="#222"/>')
        if n.grad:
            out.append(f'<text x="{x:.1f}" y="{y - 8:.1f}" text-anchor="middle">'
                       f'{_sub(plain(n.label))}</text>')
            out.append(f'<text x="{x:.1f}" y="{y + 7:.1f}" text-anchor="middle" '
                       f'font-size="11">{_esc(plain(n.value))}</text>')
            out.append(f'<text x="{x:.1f}" y="{y + 20:.1f}" text-anchor="middle" '
                       f'font-size="11" fill="#a00">{_esc(plain(n.grad))}</text>')
        elif n.value:
            out.append(f'<text x="{x:.1f}" y="{y - 2:.1f}" text-anchor="middle">'
                       f'{_sub(plain(n.label))}</text>')
            out.append(f'<text x="{x:.1f}" y="{y + 14:.1f}" text-anchor="middle" '
                       f'font-size="12">{_esc(plain(n.value))}</text>')
        else:
            out.append(f'<text x="{x:.1f}" y="{y + 5:.1f}" text-anchor="middle">'
                       f'{_sub(plain(n.label))}</text>')
    for x, y in fig.dots:
        px, py = pos(x, y)
        out.append(f'<text x="{px:.1f}" y="{py + 5:.1f}" text-anchor="middle">…</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


def _sub(s: str, size: int = 15) -> str:
    """Plain text with its subscript (h_1, W_hh) set lower and smaller, escaped for SVG;
    ``size`` is the text's font size in pixels."""
    head, sep, tail = s.partition("_")
    if not sep or not head or not tail:
        return _esc(s)
    return f'{_esc(head)}<tspan dy="{size // 4}" font-size="{size * 3 // 4}">{_esc(tail)}</tspan>'



def _esc(s: str) -> str:
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
