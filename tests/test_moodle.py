"""Moodle XML read back: the XML parsed, the cloze gaps parsed by a small parser written here
from Moodle's grammar (not derive's), every answer compared with the committed answer keys."""

import base64
import html
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass

import pytest
import sympy
import yaml

from derive.calculus.questions import solve
from derive.export import content, moodle
from derive.grade import catalog
from derive.lang.loader import load, loads
from derive.output import figure
from derive.output.render import plain

from conftest import ROOT

# Moodle's own number grammar for a NUMERICAL alternative (question/type/multianswer)
NUMBER = r"-?(([0-9]+[.,]?[0-9]*|[.,][0-9]+)([eE][-+]?[0-9]+)?)"
GAP_START = re.compile(r"\{([0-9]*):(NUMERICAL|NM):")


@dataclass(frozen=True)
class Alt:
    fraction: int
    value: float
    tolerance: float
    feedback: str  # the feedback HTML as Moodle stores it


def _split(s: str, sep: str) -> list:
    """``s`` cut at each ``sep`` not escaped by a backslash."""
    parts, cur, i = [], [], 0
    while i < len(s):
        if s[i] == "\\" and i + 1 < len(s):
            cur.append(s[i:i + 2])
            i += 2
            continue
        if s[i] == sep:
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(s[i])
        i += 1
    parts.append("".join(cur))
    return parts


def _alt(a: str) -> Alt:
    if a.startswith("="):
        fraction, a = 100, a[1:]
    else:
        m = re.match(r"%(-?[0-9]+)%", a)
        fraction, a = (int(m.group(1)), a[m.end():]) if m else (0, a)
    answer, *fb = _split(a, "#")
    feedback = "#".join(fb)
    value, tol = answer.split(":")
    assert re.fullmatch(NUMBER, value) and re.fullmatch(NUMBER, tol), answer
    # as Moodle reads a feedback: character references decoded, then \} and \# (and \~) undone
    feedback = html.unescape(feedback)
    for c in "}#~":
        feedback = feedback.replace("\\" + c, c)
    return Alt(fraction, float(value), float(tol), feedback)


def parse_cloze(text: str) -> tuple:
    """(gaps, text with each gap replaced by {#n}): each gap a list of Alt in order."""
    gaps, out, pos = [], [], 0
    while True:
        m = GAP_START.search(text, pos)
        if m is None:
            out.append(text[pos:])
            return gaps, "".join(out)
        out.append(text[pos:m.start()])
        i = m.end()
        while text[i] != "}":
            i += 2 if text[i] == "\\" else 1
        gaps.append([_alt(a) for a in _split(text[m.end():i], "~")])
        out.append(f"{{#{len(gaps)}}}")
        pos = i + 1


def read_moodle(data: str) -> list:
    """[(name, questiontext HTML, {file name: bytes}, category)] of a Moodle XML quiz."""
    root = ET.fromstring(data)
    assert root.tag == "quiz"
    out, category = [], None
    for q in root.findall("question"):
        if q.get("type") == "category":
            category = q.find("category/text").text
            continue
        assert q.get("type") == "cloze"
        qt = q.find("questiontext")
        assert qt.get("format") == "html"
        files = {f.get("name"): base64.b64decode(f.text) for f in qt.findall("file")}
        assert all(f.get("encoding") == "base64" for f in qt.findall("file"))
        out.append((q.find("name/text").text, qt.find("text").text, files, category))
    return out


def key_values(stem: str) -> dict:
    """question id -> value, from the committed answer key."""
    key = yaml.safe_load((ROOT / "problems" / f"{stem}.key.yaml").read_text())
    return {q: a["value"] for q, a in key["answers"].items()}


def flat(v) -> list:
    return [x for r in v for x in (r if isinstance(r, list) else [r])] \
        if isinstance(v, list) else [v]


def tol(v: float):
    """The spec's default tolerance as an absolute margin (to the last bit of float64)."""
    return pytest.approx(max(1e-6, 1e-3 * abs(v)), rel=1e-15)


def _exported(stem, slips=()):
    sol = solve(load(ROOT / "problems" / f"{stem}.yaml"))
    return moodle.xml([content.exercise(sol, slips)])


def test_q1_every_gap_holds_the_key_with_its_tolerance():
    [(name, text, files, category)] = read_moodle(_exported("q1"))
    assert name == "A two-step RNN with identity activations" and category is None
    gaps, rest = parse_cloze(text)
    keys = key_values("q1")
    assert len(gaps) == len(keys) == 7
    for (qid, value), alts in zip(keys.items(), gaps):
        [a] = alts
        assert (a.fraction, a.value, a.feedback) == (100, value, "Correct.")
        assert a.tolerance == tol(value)
    assert [g[0].value for g in gaps] == [6, 2, 0, 8, 40, 2, 4]
    assert [g[0].tolerance for g in gaps] == [0.006, 0.002, 1e-6, 0.008, 0.04, 0.002, 0.004]
    # the statement's math as \( \), the question's asked quantity before its gap
    assert r"\(h_0 = 1\)" in rest and "$" not in rest
    assert r"<p>\(\frac{\partial L}{\partial W_{h}}\) = {#4}</p>" in rest


def test_vector_and_matrix_answers_have_one_gap_per_entry():
    [(_, text, _, _)] = read_moodle(_exported("vector_rnn"))
    gaps, rest = parse_cloze(text)
    want = [x for v in key_values("vector_rnn").values() for x in flat(v)]
    assert len(gaps) == len(want) == 2 + 1 + 4 + 4 + 2 + 2
    for alts, v in zip(gaps, want):
        assert alts[0].fraction == 100 and alts[0].value == v and alts[0].tolerance == tol(v)
    # a matrix is a table of its gaps, row by row
    assert "(a 2 × 2 matrix, row by row):</p>\n<table><tbody><tr><td>{#4}</td><td>{#5}</td>" \
           "</tr><tr><td>{#6}</td><td>{#7}</td></tr></tbody></table>" in rest


def test_a_sweep_is_one_gap_per_k():
    [(_, text, _, _)] = read_moodle(_exported("sweep"))
    gaps, rest = parse_cloze(text)
    want = [x for v in key_values("sweep").values() for x in v]
    assert [g[0].value for g in gaps] == want and len(want) == 12 + 13
    assert "<tr><td>0</td><td>{#13}</td></tr>" in rest  # question b runs over k = 0..T


@dataclass(frozen=True)
class Slip:  # the interface of derive.grade.catalog.Slip
    mistake: str
    where: str
    text: str
    answers: dict


NASTY = 'h_1 was computed without the term $W_x x_1$, so {h} # ~ / " \\ < & stays.'


def test_mistakes_follow_the_key_at_zero_percent_with_their_diagnosis():
    slips = (
        Slip("dropped-term", "h[1]", NASTY, {"a": sympy.Integer(6), "d": sympy.Integer(9)}),
        Slip("sign", "L[t]", "The sign of $y_t - \\hat y_t$ is flipped.",
             {"d": sympy.Integer(9), "e": sympy.Rational(1, 3)}),
        Slip("index-shift", "h[t-1]", "Step $t$ read $h_t$ for $h_{t-1}$.",
             {"d": sympy.Integer(-8)}),
    )
    [(_, text, _, _)] = read_moodle(_exported("q1", slips))
    gaps, _ = parse_cloze(text)
    a, d, e = gaps[0], gaps[3], gaps[4]
    assert len(a) == 1  # the mistake gives the key's own answer: left out
    assert [(x.fraction, x.value, x.tolerance) for x in d] == [
        (100, 8, 0.008), (0, 9, 0.009), (0, -8, 0.008)]
    # two mistakes with one answer share the alternative (Moodle shows only the first match)
    assert d[1].feedback == (
        r'h_1 was computed without the term \(W_x x_1\), so {h} # ~ / " \ &lt; &amp; stays.'
        r" Or: The sign of \(y_t - \hat y_t\) is flipped.")
    assert d[2].feedback == r"Step \(t\) read \(h_t\) for \(h_{t-1}\)."
    assert e[1].value == float(sympy.Rational(1, 3)) and e[1].tolerance == tol(1 / 3)


def test_the_escapes_are_the_ones_moodle_reads():
    # } and # by a backslash; ~ \ / " by character references (Moodle decodes those first);
    # the feedback's own HTML escaped once more, since Moodle decodes once
    assert moodle.cloze_escape('a}b#c~d\\e/f"g&lt;') == \
        'a\\}b\\#c&#126;d&#92;e&#47;f&quot;g&amp;lt;'
    g = content.Gap("", 8.0, 0.008, (content.Wrong(9.0, 0.009, NASTY),))
    text = moodle.gap(g)
    assert text.count("}") - text.count("\\}") == 1 and text.endswith("}")
    assert "~" not in text[:-1].split("~%0%", 1)[1]  # no raw separator inside the feedback
    gaps, _ = parse_cloze(text)
    assert gaps[0][1].feedback == html.escape(NASTY, quote=False).replace(
        "$W_x x_1$", r"\(W_x x_1\)")


def test_a_matrix_mistake_is_compared_entry_by_entry():
    sol = solve(load(ROOT / "problems" / "vector_rnn.yaml"))
    key = key_values("vector_rnn")["c"]
    m = sympy.Matrix([[sympy.Rational(-11, 10), 0], [sympy.Rational(-1, 2), 1]])
    ex = content.exercise(sol, (Slip("missing-factor", "d(L, W_hh)", "No $f'$.", {"c": m}),))
    [(_, text, _, _)] = read_moodle(moodle.xml([ex]))
    gaps, _ = parse_cloze(text)
    c = gaps[3:7]
    assert [g[0].value for g in c] == flat(key)
    assert [[(x.value, x.feedback) for x in g[1:]] for g in c] == [
        [(-1.1, r"No \(f'\).")], [], [(-0.5, r"No \(f'\).")], [(1.0, r"No \(f'\).")]]


def test_the_figure_is_embedded_without_its_values():
    [(_, text, files, _)] = read_moodle(_exported("q1"))
    assert list(files) == ["graph.svg"]
    assert '<img src="@@PLUGINFILE@@/graph.svg"' in text
    svg = ET.fromstring(files["graph.svg"])
    assert svg.tag == "{http://www.w3.org/2000/svg}svg"
    texts = "{http://www.w3.org/2000/svg}text"
    shown = [t.text for t in svg.iter(texts)]
    assert "2" not in shown and "6" not in shown  # h_1 = 2 and yhat_2 = 6 would answer
    solution_graph = figure.svg(figure.build(solve(load(ROOT / "problems/q1.yaml"))), plain)
    assert {"2", "6"} <= {t.text for t in ET.fromstring(solution_graph).iter(texts)}


def test_author_text_cannot_open_a_gap_nor_html():
    text = (ROOT / "problems" / "q1.yaml").read_text().replace(
        "activations are identities.",
        "activations are identities. {1:NUMERICAL:=5} <script>x</script> $\\href{a}{b}$ "
        "$$x_t^2 \\le 1$$")
    sol = solve(loads(text, "q1.yaml"))
    [(_, html_text, _, _)] = read_moodle(moodle.xml([content.exercise(sol)]))
    gaps, rest = parse_cloze(html_text)
    assert len(gaps) == 7
    assert "&#123;1:NUMERICAL:=5}" in rest and "<script>" not in rest
    assert "&lt;script&gt;" in rest
    assert r"$\href{a}{b}$" in rest  # math outside the whitelist stays literal
    assert r"\[x_t^2 \le 1\]" in rest


def test_the_export_is_deterministic():
    assert _exported("vector_rnn") == _exported("vector_rnn")


def test_variants_go_to_a_category_per_problem():
    sol = solve(load(ROOT / "problems" / "q1.yaml"))
    exs = [content.exercise(sol, variant=v) for v in ("0000beef", "12345678")]
    got = read_moodle(moodle.xml(exs, categories=True))
    assert [(n, c) for n, _, _, c in got] == [
        ("A two-step RNN with identity activations (variant 0000beef)",
         "$course$/top/derive/A two-step RNN with identity activations"),
        ("A two-step RNN with identity activations (variant 12345678)",
         "$course$/top/derive/A two-step RNN with identity activations")]


def test_every_exported_formula_renders_with_katex(tmp_path):
    """Moodle's MathJax reads the \\( \\) and \\[ \\] math of the page's text (character
    references decoded): KaTeX must accept every formula of every bundled problem's export,
    the catalog's mistakes included."""
    from conftest import PROBLEMS
    from test_render import katex_rejects
    items = []
    for path in PROBLEMS:
        if path.stem == "symbolic":  # no numeric answer: nothing to export
            continue
        problem = load(path)
        ex = content.exercise(solve(problem), catalog.slips(problem))
        [(_, text, _, _)] = read_moodle(moodle.xml([ex]))
        gaps, rest = parse_cloze(text)
        for page in [html.unescape(rest)] + [html.unescape(a.feedback) for g in gaps
                                              for a in g]:
            for m in re.finditer(r"\\\((.+?)\\\)|\\\[(.+?)\\\]", page, re.S):
                items.append((m.group(1) or m.group(2), m.group(2) is not None))
    assert len(items) > 1000
    assert katex_rejects(items, tmp_path) == []


def test_the_readme_shows_the_export_as_it_is():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    shown = [ln for ln in readme.splitlines() if ln.startswith(r"<p>\(\hat{y}_{2}\) = {1:")]
    [(_, text, _, _)] = read_moodle(moodle.xml([content.exercise(
        solve(load(ROOT / "problems" / "q1.yaml")),
        catalog.slips(load(ROOT / "problems" / "q1.yaml")))]))
    assert shown == [ln for ln in text.splitlines() if ln.startswith(r"<p>\(\hat{y}_{2}\) =")]
    start = text.split("<h5>")[0].strip()
    assert start in readme  # the problem's part, word for word


# Moodle's own grammar (question/type/multianswer/questiontype.php), in Python's re: the
# lookbehind (?<!\\|&|&amp;) is split in three, since Python's must have one width each
_FRACTION = r"=|%(-?[0-9]+(?:[.,][0-9]*)?)%"
_ANSWER = r".+?(?<!\\)(?<!&)(?<!&amp;)(?=[~#}]|$)"
_FEEDBACK = r".*?(?<!\\)(?=[~}]|$)"
_ALT = f"({_FRACTION})?({_ANSWER})(#({_FEEDBACK}))?"
_TYPES = (r"(NUMERICAL|NM)|(MULTICHOICE|MC)|(MULTICHOICE_V|MCV)|(MULTICHOICE_H|MCH)|"
          r"(SHORTANSWER|SA|MW)|(SHORTANSWER_C|SAC|MWC)")
_GAP = re.compile(r"\{([0-9]*):(" + _TYPES + r"):(" + _ALT + "(~" + _ALT + r")*)\}", re.S)
_NUMERICAL = re.compile(f"^({NUMBER})(:{NUMBER})?$", re.S)  # answer: group 1, margin: 6


def moodle_extract(text: str) -> list:
    """The subquestions as qtype_multianswer_extract_question reads them: per gap its type and
    (fraction, answer, tolerance, feedback) per alternative, feedback decoded as Moodle does."""
    out = []
    while (m := _GAP.search(text)) is not None:
        qtype = "numerical" if m.group(3) else "other"
        alts, remaining = [], m.group(9)
        while (a := re.search("~?" + _ALT, remaining, re.S)) is not None and a.group(0):
            fraction = 1.0 if a.group(1) == "=" else (
                0.01 * float(a.group(2).replace(",", ".")) if a.group(2) else 0.0)
            fb = html.unescape(a.group(5)) if a.group(4) is not None else ""
            fb = fb.replace("\\}", "}").replace("\\#", "#")
            num = _NUMERICAL.match(a.group(3))
            assert qtype == "numerical" and num, a.group(3)
            alts.append((fraction, num.group(1), num.group(6) or "0", fb))
            remaining = remaining.split(a.group(0), 1)[1]
        out.append(alts)
        text = text.replace(m.group(0), f"{{#{len(out)}}}", 1)
    return out


def test_moodle_s_own_parser_reads_what_we_meant():
    slips = (Slip("dropped-term", "h[1]", NASTY, {"d": sympy.Integer(9)}),)
    exports = [("q1", _exported("q1", slips))]
    for stem in ("vector_rnn", "tanh_rnn"):
        problem = load(ROOT / "problems" / f"{stem}.yaml")
        exports.append((stem, moodle.xml([content.exercise(solve(problem),
                                                           catalog.slips(problem))])))
    for stem, data in exports:
        [(_, text, _, _)] = read_moodle(data)
        theirs = moodle_extract(text)
        ours, _ = parse_cloze(text)
        assert len(theirs) == len(ours) > 0, stem
        assert sum(len(g) for g in theirs) > len(theirs)  # mistakes are there
        for t, o in zip(theirs, ours):
            assert [(f, float(v), float(tl), fb) for f, v, tl, fb in t] == [
                (a.fraction / 100, a.value, a.tolerance, a.feedback) for a in o], stem
