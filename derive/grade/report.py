"""The reports of ``derive grade --out DIR``: ``DIR/<student>.md`` for each student (answers,
key, diagnoses, the key's worked step beside the student's version) and, for a roster,
``DIR/summary.md`` with ``DIR/summary.svg`` (how many students made each mistake).

Templates (``templates/grade_*.md.j2``) receive ready strings only.
"""

from __future__ import annotations

import functools
from xml.sax.saxutils import escape

import jinja2

from ..output.render import TEMPLATES
from .catalog import MISTAKES
from .grade import Grader, Result, _tex

#: Diagnoses listed per wrong answer in the Markdown (the JSON has them all).
SHOWN = 3


@functools.lru_cache(maxsize=None)
def _env() -> jinja2.Environment:
    return jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATES)),
                              undefined=jinja2.StrictUndefined, autoescape=False,
                              keep_trailing_newline=True, trim_blocks=True, lstrip_blocks=True)


def _math(tex: str) -> str:
    """Inline math for a Markdown table cell (a bar would end the cell)."""
    return "$" + tex.replace("|", "\\vert ") + "$" if tex else ""


def _value(v) -> str:
    return "(blank)" if v is None else _math(_tex(v))


def student_markdown(grader: Grader, r: Result) -> str:
    """The student's report."""
    questions = {q.id: q for q in grader.catalog.questions}
    rows, wrong = [], []
    for qid, g in r.questions.items():
        q = questions[qid]
        row = {"id": qid, "find": q.find_text, "given": _value(g.given),
               "expected": _value(g.expected),
               "mark": "✓" if g.correct else ("blank" if g.given is None else "✗")}
        rows.append(row)
        if g.correct or g.given is None:
            continue
        ds = [{"mistake": d.mistake, "where": d.where, "text": d.text,
               "explains": ", ".join(d.explains),
               "steps": [(_math(k), _math(s)) for k, s in d.steps if k or s]}
              for d in g.diagnosis[:SHOWN]]
        more = len(g.diagnosis) - SHOWN
        wrong.append({**row, "text": " ".join(q.text.split()), "diagnoses": ds,
                      "more": (f"{more} more diagnos{'is' if more == 1 else 'es'}, "
                               "explaining fewer of your answers, in `--json`.")
                      if more > 0 else ""})
    correct = sum(g.correct for g in r.questions.values())
    return _env().get_template("grade_student.md.j2").render(
        student=r.student, title=grader.problem.title, file=grader.problem.file,
        variant=f", variant {r.sheet.variant}" if r.sheet.variant else "",
        correct=correct, total=len(r.questions), score=f"{r.score:g}",
        tolerance=f"rtol {grader.rtol:g} or atol {grader.atol:g}", questions=rows,
        wrong=wrong)


def first_mistakes(r: Result) -> tuple:
    """The catalog ids of the first diagnosis of each wrong answer (a pair gives both), and
    "unexplained" for a wrong answer with none; each once, in catalog order."""
    found = set()
    for g in r.questions.values():
        if g.correct or g.given is None:
            continue
        if not g.diagnosis:
            found.add("unexplained")
        else:
            found.update(g.diagnosis[0].mistake.split(" + "))
    return tuple(m for m in MISTAKES + ("unexplained",) if m in found)


def counts(results) -> list:
    """(mistake, number of students) for every catalog id, then "unexplained"."""
    per = {m: 0 for m in MISTAKES + ("unexplained",)}
    for r in results:
        for m in first_mistakes(r):
            per[m] += 1
    return list(per.items())


def summary_markdown(grader: Grader, results, bad_rows: tuple = ()) -> str:
    """The class summary (``chart``: the SVG's file name beside it)."""
    students = [{"student": r.student, "link": f"{r.student}.md", "score": f"{r.score:g}",
                 "correct": f"{sum(g.correct for g in r.questions.values())} of "
                            f"{len(r.questions)}",
                 "first": ", ".join(first_mistakes(r)) or "—"} for r in results]
    mean = sum(r.score for r in results) / len(results) if results else 0.0
    return _env().get_template("grade_summary.md.j2").render(
        title=grader.problem.title, file=grader.problem.file, graded=len(results),
        mean=f"{mean:.3g}", bad=", ".join(bad_rows), chart="summary.svg",
        mistakes=[{"name": m, "count": n} for m, n in counts(results)], students=students)


def summary_svg(results) -> str:
    """A horizontal bar chart of :func:`counts`, the same bytes for the same counts."""
    rows = counts(results)
    top = max([n for _, n in rows] + [1])
    left, width, bar, gap = 150, 300, 18, 8
    height = 30 + len(rows) * (bar + gap)
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{left + width + 60}" '
           f'height="{height}" viewBox="0 0 {left + width + 60} {height}" '
           'font-family="sans-serif" font-size="12">',
           f'<text x="{left}" y="16">students who made each mistake</text>']
    for i, (m, n) in enumerate(rows):
        y = 26 + i * (bar + gap)
        w = round(width * n / top, 1)
        out.append(f'<text x="{left - 8}" y="{y + 13}" text-anchor="end">{escape(m)}</text>')
        out.append(f'<rect x="{left}" y="{y}" width="{w}" height="{bar}" fill="#4c72b0"/>')
        out.append(f'<text x="{left + w + 6}" y="{y + 13}">{n}</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"
