"""What an exported question holds, whatever the learning system: the problem's statement, model,
givens and figure as HTML with MathJax math, and per numeric question its gaps (one per entry of
a vector or matrix), each with the key, its tolerance and the mistakes' answers with their
diagnosis.  ``moodle.py`` and ``qti.py`` only write this down in their formats.

Texts are author Markdown with ``$...$`` math; they become HTML with ``\\( \\)`` and ``\\[ \\]``
(math that uses a command outside the whitelist of ``output.render`` is shown literally, as in
the LaTeX output), raw HTML escaped.
"""

from __future__ import annotations

import base64
import functools
import html
import math
from dataclasses import dataclass
from decimal import Decimal

from ..grade.grade import DEFAULT_ATOL, DEFAULT_RTOL
from ..output import figure, render
from ..output.render import _MATH_RE, _safe_math

#: The tolerance of ../shared/spec/classroom.md when a problem sets none (derive grade's).
RTOL, ATOL = DEFAULT_RTOL, DEFAULT_ATOL


@dataclass(frozen=True)
class Wrong:
    """A mistake's answer for one gap: the value, its tolerance (absolute) and the feedback,
    the diagnosis sentences of every mistake that gives this value (plain text with $...$ math),
    in the order the mistakes came, joined by "Or:"."""

    value: float
    tolerance: float
    feedback: str


@dataclass(frozen=True)
class Gap:
    """One number to type: ``label`` names the entry ("" for a scalar answer, "2" in a vector,
    "1, 2" in a matrix, "k = 3" in a sweep); ``value`` is the key and ``tolerance`` the absolute
    margin around it; ``wrong`` the mistakes' answers that differ from the key."""

    label: str
    value: float
    tolerance: float
    wrong: tuple


@dataclass(frozen=True)
class Part:
    """A numeric question: its id, its text (Markdown with $...$ math, as the solution shows
    it), ``ask`` the LaTeX of the quantity asked (may be empty), ``shape`` () for a scalar,
    (n,) for a vector or a sweep, (rows, columns) for a matrix, and its gaps in row order."""

    id: str
    text: str
    ask: str
    shape: tuple
    gaps: tuple


@dataclass(frozen=True)
class Exercise:
    """One problem (or one variant of it) ready to export.

    ``name`` is the question's name (the title, and the variant id when there is one);
    ``intro_html`` the statement, model, givens, shapes and the figure's ``<img>`` (its
    ``src`` is ``FIGURE_SRC``) as HTML;
    ``figure`` the graph without its forward values as SVG text (None for a static graph), to
    be stored as ``FIGURE_NAME``; ``left_out`` the ids of questions with no numeric answer
    (symbolic or text answers), which are not exported."""

    file: str
    title: str
    variant: str | None
    name: str
    intro_html: str
    figure: str | None
    parts: tuple
    left_out: tuple


FIGURE_NAME = "graph.svg"
FIGURE_ALT = "The unrolled computational graph"
#: Stands for the figure's address in ``intro_html``; each writer puts its own in.
FIGURE_SRC = "@@DERIVE-FIGURE@@"


def tolerances(problem) -> tuple:
    """(rtol, atol) for ``problem``, as ``derive grade`` takes them: its ``grading:`` block,
    else the spec's defaults."""
    tol = dict(problem.grading)
    return tol.get("rtol", RTOL), tol.get("atol", ATOL)


def tolerance(value: float, rtol: float, atol: float) -> float:
    """The absolute margin of a numerical answer equivalent to the spec's rule "within rtol
    relative or atol absolute": max(atol, rtol·|value|), computed in decimal so that 1e-3·40 is
    0.04 and not 0.04000000000000001."""
    rel = float(Decimal(repr(rtol)) * Decimal(repr(abs(value))))
    return max(atol, rel)


def number(x: float) -> str:
    """A number as learning systems read it: an integer's digits (8, not 8.0), otherwise the
    shortest decimal that gives back the same float64 (0.1, 0.3333333333333333, 1.5e-07)."""
    if not math.isfinite(x):
        raise ValueError(f"not a finite number: {x}")
    if x == int(x) and abs(x) < 1e15:
        return str(int(x))
    return repr(float(x))


def exercise(sol, slips=(), variant: str | None = None, rtol: float = RTOL,
             atol: float = ATOL) -> Exercise:
    """The exported form of a solved problem (``derive.solve``): ``slips`` are the grading
    catalog's mistakes applied to the same problem (objects with ``text`` and ``answers``,
    question id -> exact mistaken answer, a number or a sympy Matrix; see
    ``derive.grade.catalog.Slip``); ``variant`` the variant's id when the problem is one.

    A SpecError when no question has a numeric answer (nothing to grade)."""
    view = render.view(sol)
    answers = render.answers(sol)
    texts = {q["id"]: (q["text_md"], q["ask"]) for q in view["questions"]}
    parts, left_out = [], []
    for qs in sol.questions:
        q = qs.question
        a = answers.get(q.id)
        entries = _entries(a["value"]) if a is not None else None
        if entries is None:
            left_out.append(q.id)
            continue
        shape, keys = entries
        labels = _labels(shape, q.over)
        mistaken = []  # per slip: its entries for this question, or None
        for s in slips:
            got = s.answers.get(q.id)
            flat = _flat(got) if got is not None else None
            mistaken.append(flat if flat is not None and len(flat) == len(keys) else None)
        gaps = []
        for i, (label, key) in enumerate(zip(labels, keys)):
            wrong = {}  # value -> sentences, in the slips' order
            for s, flat in zip(slips, mistaken):
                if flat is None or flat[i] == key or not math.isfinite(flat[i]):
                    continue  # Moodle takes the first match: the key's own value is the key's
                said = wrong.setdefault(flat[i], [])
                if s.text not in said:
                    said.append(s.text)
            wrongs = tuple(Wrong(v, tolerance(v, rtol, atol), " Or: ".join(t))
                           for v, t in wrong.items())
            gaps.append(Gap(label, key, tolerance(key, rtol, atol), wrongs))
        text, ask = texts[q.id]
        parts.append(Part(q.id, text, ask, shape, tuple(gaps)))
    pr = sol.problem
    if not parts:
        raise pr.error("no question has a numeric answer, so there is nothing to export",
                       "questions")
    fig = figure.build(sol, values=False)
    svg = figure.svg(fig, render.plain) if fig is not None else None
    name = pr.title if variant is None else f"{pr.title} (variant {variant})"
    return Exercise(pr.file, pr.title, variant, name, _intro(view, svg is not None), svg,
                    tuple(parts), tuple(left_out))


def figure_base64(ex: Exercise) -> str:
    return base64.b64encode(ex.figure.encode("utf-8")).decode("ascii")


# ---- answers as entries ------------------------------------------------------------------------

def _entries(value):
    """(shape, floats in row order) of a JSON answer value, or None when it has no numbers."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return ((), (float(value),)) if math.isfinite(value) else None
    if isinstance(value, list) and value and all(isinstance(r, list) for r in value):
        cols = len(value[0])
        if cols and all(len(r) == cols for r in value):
            flat = [x for r in value for x in r]
            if _numbers(flat):
                return (len(value), cols), tuple(float(x) for x in flat)
        return None
    if isinstance(value, list) and value and _numbers(value):
        return (len(value),), tuple(float(x) for x in value)
    return None


def _numbers(xs) -> bool:
    return all(isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)
               for x in xs)


def _flat(answer):
    """A mistaken exact answer (a sympy number or Matrix, or a plain number or list) as floats in
    row order; None when it has no numbers."""
    rows = getattr(answer, "tolist", None)
    if rows is not None:  # a sympy Matrix: a column vector is a vector
        answer = rows()
    if isinstance(answer, (list, tuple)):
        out = []
        for x in answer:
            sub = _flat(x)
            if sub is None:
                return None
            out.extend(sub)
        return tuple(out)
    try:
        return (float(answer),)
    except (TypeError, ValueError):
        return None


def _labels(shape, over) -> list:
    if shape == ():
        return [""]
    if len(shape) == 1:
        if over is not None:
            var, first, _ = over
            return [f"{var} = {first + i}" for i in range(shape[0])]
        return [str(i + 1) for i in range(shape[0])]
    return [f"{i + 1}, {j + 1}" for i in range(shape[0]) for j in range(shape[1])]


# ---- HTML ----------------------------------------------------------------------------------------

def _intro(view: dict, has_figure: bool) -> str:
    """The problem as the students' sheet shows it (no solution, no forward values)."""
    out = []
    if view["statement_md"].strip():
        out.append(markdown_html(view["statement_md"]))
    if view["equations"]:
        if view["steps"]:
            out.append(f"<p>Steps: \\(T = {view['steps']}\\), \\(t = 1, \\dots, T\\).</p>")
        rows = r" \\ ".join(f"{lhs} &= {rhs}" for lhs, rhs in view["equations"])
        out.append(f"<p>\\[\\begin{{aligned}} {_h(rows)} \\end{{aligned}}\\]</p>")
        if view["given"]:
            rows = r" \\ ".join(f"& {line}" for line in view["given"])
            out.append(f"<p>Given:</p>\n<p>\\[\\begin{{aligned}} {_h(rows)} "
                       "\\end{aligned}\\]</p>")
        if view["shapes"]:
            out.append(f"<p>Shapes (vectors are columns): \\({_h(view['shapes'])}\\).</p>")
        if has_figure:
            out.append(f'<p><img src="{FIGURE_SRC}" alt="{FIGURE_ALT}" /></p>')
    for sec in view["arch"]:
        out.append(f"<h4>{_h(sec['title'])}</h4>")
        for b in sec["blocks"]:
            if b["kind"] == "note":
                out.append(markdown_html(b["md"]))
            elif b["kind"] == "code":
                out.append(f"<pre><code>{_h(b['text'])}</code></pre>")
    return "\n".join(out)


def _h(s: str) -> str:
    return html.escape(s, quote=False)


@functools.lru_cache(maxsize=None)
def _md():
    # markdown-it (rich's Markdown parser) with raw HTML off: author HTML shows as text
    from markdown_it import MarkdownIt
    return MarkdownIt("commonmark", {"html": False})


_HOLE = "\ue000{}\ue001"  # private-use characters: Markdown leaves them alone


def markdown_html(text: str) -> str:
    """Author Markdown with $...$ and $$...$$ math as HTML with \\( \\) and \\[ \\] math.

    The math is taken out before Markdown runs (so that _ and * inside it stay), and math with a
    command outside the whitelist stays literal text."""
    maths = []

    def hole(m):
        maths.append(m)
        return _HOLE.format(len(maths) - 1)

    out = _md().render(_MATH_RE.sub(hole, text.replace("\ue000", "").replace("\ue001", "")))
    for i, m in enumerate(maths):
        out = out.replace(_HOLE.format(i), _math_html(m), 1)
    return out.strip()


def inline_html(text: str) -> str:
    """Plain text with $...$ math as HTML (no Markdown): for one-sentence feedback."""
    out, pos = [], 0
    for m in _MATH_RE.finditer(text):
        out.append(_h(text[pos:m.start()]))
        out.append(_math_html(m))
        pos = m.end()
    out.append(_h(text[pos:]))
    return "".join(out)


def _math_html(m) -> str:
    display = m.group(1) is not None
    tex = m.group(1) if display else m.group(2)
    if not _safe_math(tex):
        return _h(m.group(0))
    return f"\\[{_h(tex)}\\]" if display else f"\\({_h(tex)}\\)"
