"""Moodle XML: one Embedded answers (cloze) question per exercise.

Each numeric entry is a NUMERICAL gap, ``{1:NUMERICAL:=key:tol#Correct.~%0%wrong:tol#why~...}``:
the key first (Moodle grades by the first alternative whose range holds the answer), then each
mistake's answer at 0% with its diagnosis as feedback.  The shape follows Moodle's own export
(question/format/xml): ``<question type="cloze">`` with ``<name>``, ``<questiontext
format="html">`` holding the HTML and the figure as ``<file encoding="base64">``, which the text
reads as ``@@PLUGINFILE@@/graph.svg``.

Escaping, after Moodle's parser (``qtype_multianswer_extract_question``): a feedback ends at an
unescaped ``~`` or ``}``; Moodle then decodes HTML character references and replaces ``\\}`` and
``\\#`` by ``}`` and ``#``.  So ``}`` and ``#`` are written ``\\}`` and ``\\#``, while ``~``,
``\\``, ``/`` and ``"`` (which a backslash would not give back) are written as character
references, and the feedback's own HTML (``&lt;``) is escaped once more, since Moodle decodes it
once.  Outside the gaps, a ``{`` that could start a gap (``{1:``) is written ``&#123;``.
"""

from __future__ import annotations

import re
from xml.sax.saxutils import escape, quoteattr

from .content import FIGURE_NAME, FIGURE_SRC, Exercise, Gap, figure_base64, inline_html, \
    markdown_html, number

_FEEDBACK_CHARS = {"&": "&amp;", "\\": "&#92;", "/": "&#47;", '"': "&quot;", "~": "&#126;",
                   "}": "\\}", "#": "\\#"}


def cloze_escape(feedback_html: str) -> str:
    """HTML written inside a cloze alternative so that Moodle's parser gives it back unchanged
    (see the module's docstring)."""
    return "".join(_FEEDBACK_CHARS.get(c, c) for c in feedback_html)


def gap(g: Gap, weight: int = 1) -> str:
    """The NUMERICAL gap of one entry: the key at 100 %, then each mistake's answer at 0 %."""
    alts = [f"={number(g.value)}:{number(g.tolerance)}#Correct."]
    for w in g.wrong:
        alts.append(f"%0%{number(w.value)}:{number(w.tolerance)}#"
                    + cloze_escape(inline_html(w.feedback)))
    return f"{{{weight}:NUMERICAL:" + "~".join(alts) + "}"


_GAP_START = re.compile(r"\{(?=[0-9]*:)")


def _text(html_text: str) -> str:
    """HTML outside the gaps, with no ``{`` that Moodle could take for the start of a gap."""
    return _GAP_START.sub("&#123;", html_text)


def question_html(ex: Exercise) -> str:
    """The cloze question's text: the problem, then per question its text and its gaps."""
    out = [_text(ex.intro_html).replace(FIGURE_SRC, f"@@PLUGINFILE@@/{FIGURE_NAME}")]
    for p in ex.parts:
        out.append(f"<h5>Question {_text(escape(p.id))}</h5>")
        if p.text.strip():
            out.append(_text(markdown_html(p.text)))
        ask = f"\\({_text(escape(p.ask))}\\)" if p.ask else "Answer"
        if p.shape == ():
            out.append(f"<p>{ask} = {gap(p.gaps[0])}</p>")
        elif len(p.shape) == 1:
            head = "k" if p.gaps[0].label.startswith("k =") else "entry"
            rows = "".join(f"<tr><td>{_text(escape(g.label.split(' = ')[-1]))}</td>"
                           f"<td>{gap(g)}</td></tr>" for g in p.gaps)
            out.append(f"<p>{ask}:</p>\n<table><thead><tr><th>{head}</th><th>value</th></tr>"
                       f"</thead><tbody>{rows}</tbody></table>")
        else:
            cols = p.shape[1]
            rows = "".join("<tr>" + "".join(f"<td>{gap(g)}</td>"
                                           for g in p.gaps[r * cols:(r + 1) * cols]) + "</tr>"
                           for r in range(p.shape[0]))
            out.append(f"<p>{ask} (a {p.shape[0]} × {cols} matrix, row by row):</p>\n"
                       f"<table><tbody>{rows}</tbody></table>")
    return "\n".join(out)


def xml(exercises, categories: bool = False) -> str:
    """The Moodle XML file (a quiz) of ``exercises``, in order.  With ``categories``, each
    problem's questions (its variants) go to a question-bank category of their own, "derive" /
    the problem's title, below the course's top category, so that a quiz's random question
    from it gives each student one variant."""
    out = ['<?xml version="1.0" encoding="UTF-8"?>', "<quiz>"]
    last = None
    for ex in exercises:
        if categories and ex.file != last:
            # a slash separates categories in Moodle's path; a doubled one is a slash
            path = "$course$/top/derive/" + ex.title.replace("/", "//")
            out += ['  <question type="category">', "    <category>",
                    f"      <text>{escape(path)}</text>", "    </category>", "  </question>"]
            last = ex.file
        out += ['  <question type="cloze">',
                "    <name>", f"      <text>{escape(ex.name)}</text>", "    </name>",
                '    <questiontext format="html">',
                f"      <text>{escape(question_html(ex))}</text>"]
        if ex.figure is not None:
            out.append(f"      <file name={quoteattr(FIGURE_NAME)} path=\"/\" "
                       f"encoding=\"base64\">{figure_base64(ex)}</file>")
        out += ["    </questiontext>",
                '    <generalfeedback format="html">', "      <text></text>",
                "    </generalfeedback>",
                "    <penalty>0.3333333</penalty>", "    <hidden>0</hidden>", "  </question>"]
    out.append("</quiz>")
    return "\n".join(out) + "\n"
