"""Ready strings for model and data questions: the steps of :mod:`derive.model.solve` as the
blocks the templates know (note, table, equations), the problem's model and data sections, and
the answers' LaTeX.  Only :mod:`.render` calls this module.
"""

from __future__ import annotations

import functools
import re

import sympy
from pylatexenc.latexencode import unicode_to_latex

from ..model.layers import Group, keras_code, shape_text
from ..solution import (CaesarTable, DataAnswer, LayerCount, ModelSummary, OneHotTable,
                        PaddedMatrix, ShapeWalk, TokenTable, VocabularyTable, shown_rows)
from .printing import matrix_latex

FRAMEWORK_NAMES = {"keras": "Keras 3", "pytorch": "PyTorch"}
_PLAIN = re.compile(r"[A-Za-z0-9.,;:!?()+*=/@|'\[\]-]")
_ESCAPED = {"_": r"\_", "#": r"\#", "$": r"\$", "%": r"\%", "&": r"\&", "{": r"\{", "}": r"\}"}


def _text_tools():
    from .render import md_text, tex_text  # render imports this module at its end
    return md_text, tex_text


def words(s: str) -> dict:
    """A note from our own Markdown words with $...$ math, `code` and **bold** (any author
    text in them already made safe by :func:`tt`): md as is; in LaTeX the words escaped, the
    math kept, code as \\texttt and bold as \\textbf."""
    md_text, _ = _text_tools()
    tex = []
    for i, part in enumerate(s.split("`")):
        if i % 2:
            tex.append(rf"\texttt{{{_escape(part)}}}")
            continue
        pos = 0
        for m in re.finditer(r"\$[^$]+\$", part):
            tex.append(_escape(part[pos:m.start()]))
            tex.append(m.group(0))
            pos = m.end()
        tex.append(_escape(part[pos:]))
    text = re.sub(r"\*\*(.+?)\*\*", r"\\textbf{\1}", "".join(tex))
    return {"kind": "note", "md": md_text(s), "tex": text}


def _escape(s: str) -> str:
    return unicode_to_latex(s, non_ascii_only=False, unknown_char_warning=False)


def symbol(c: str) -> str:
    """One symbol of a text as LaTeX math."""
    if c == " ":
        return r"\text{(space)}"
    if _PLAIN.fullmatch(c):
        return rf"\texttt{{{c}}}"
    if c in _ESCAPED:
        return rf"\texttt{{{_ESCAPED[c]}}}"
    return rf"\text{{U+{ord(c):04X}}}"


def text_tt(s: str) -> str:
    """A short text as LaTeX math in typewriter letters (symbols outside plain ASCII by code)."""
    out = []
    for c in s:
        if c == " ":
            out.append(r"\ ")
        elif _PLAIN.fullmatch(c):
            out.append(c)
        elif c in _ESCAPED:
            out.append(_ESCAPED[c])
        else:
            out.append(rf"}}\text{{U+{ord(c):04X}}}\texttt{{")
    return rf"\texttt{{{''.join(out)}}}"


def tt(s: str) -> str:
    """A text inside words: typewriter math, so that no symbol of it is read as markup."""
    return f"${text_tt(s)}$"


def code(s: str) -> str:
    """Code (a layer's call) in a math table cell."""
    return text_tt(s)


def question_words(target) -> dict:
    """The question sentence of a DataTarget, as a note's md and tex."""
    text = target.question
    if target.sample is not None:
        text = text.replace("{sample}", tt(target.sample))
    return words(text)


def answer_latex(a: DataAnswer) -> str:
    if a.kind == "count":
        return str(a.value)
    if a.kind == "shape":
        return shape_text(tuple(a.value))
    if a.kind == "tokens":
        return "[" + ", ".join(map(str, a.value)) + "]"
    if a.kind == "onehot":
        rows = [r.index(1) for r in a.value]
        return (f"{len(rows)} \\times {len(a.value[0])} \\text{{ matrix, rows }} "
                + ", ".join(f"e_{{{i}}}" for i in rows))
    if a.kind == "matrix":
        m = sympy.ImmutableMatrix(a.value)
        return matrix_latex(m, str)
    return text_tt(a.text)


# ---- the parameter formula ------------------------------------------------------------------

def _product(factors, numbers: bool) -> str:
    if numbers:
        return r" \cdot ".join(str(v) for _, v in factors)
    out, i = [], 0
    while i < len(factors):
        j = i
        while j + 1 < len(factors) and factors[j + 1][0] == factors[i][0]:
            j += 1
        s = factors[i][0]
        out.append(s if j == i else f"{s}^{{{j - i + 1}}}")
        i = j + 1
    # juxtaposition, except before a factor that starts with a digit (h \cdot 2h)
    return "".join((" \\cdot " if k and f[0].isdigit() else " " if k else "") + f
                   for k, f in enumerate(out))


def formula(g: Group, numbers: bool) -> str:
    terms = " + ".join(_product(t, numbers) for t in g.terms)
    if not g.mult:
        return terms
    mult = _product(g.mult, True) if numbers else r" \cdot ".join(s for s, _ in g.mult)
    if len(g.terms) == 1:
        return f"{mult} \\cdot {terms}"
    return rf"{mult}\,\left({terms}\right)"


def _table(intro: str, header: list, body: list) -> list:
    """A table block; its intro goes into the block when it is plain words with $...$ math
    (the templates print it as it is), else it is a note before the table."""
    plain = "`" not in intro and "*" not in intro and "_" not in re.sub(r"\$[^$]*\$", "", intro)
    table = {"kind": "table", "intro": intro if plain else "", "header": header, "body": body}
    return [table] if plain else [words(intro), table]


def _weights_table(b) -> dict:
    header = [r"\text{tensor}", r"\text{shape}", r"\text{numbers}"]
    body = [[code(w.name), shape_text(w.shape),
             (r" \cdot ".join(map(str, w.shape)) + f" = {w.size}") if len(w.shape) > 1 else
             str(w.size)] for w in b.weights]
    return {"kind": "table", "intro": "Its tensors:", "header": header, "body": body}


def _legend(b) -> str:
    return ", ".join(f"${s} = {v}$ ({w})" for s, w, v in b.legend)


def layer_blocks(k: int, b, framework: str) -> list:
    name = FRAMEWORK_NAMES[framework]
    out = [words(f"**Layer {k}**, `{b.call}` ({name}), input ${shape_text(b.in_shape)}$, "
                 f"output ${shape_text(b.out_shape)}$.")]
    lhs = rf"N_{{{k}}}"
    if not b.formula:
        out.append({"kind": "equations", "intro": "It has no weights:", "lines": [],
                    "rows": [(lhs, "= 0")]})
    else:
        out.append(_weights_table(b))
        if len(b.formula) == 1:
            g = b.formula[0]
            rows = [(lhs, "= " + formula(g, False)), ("", "= " + formula(g, True)),
                    ("", f"= {b.count}")]
        else:
            rows = []
            for g in b.formula:
                rows.append((rf"\text{{{g.label}}}", "= " + formula(g, False)))
                rows.append(("", "= " + formula(g, True) + f" = {g.value}"))
            rows.append((lhs, "= " + " + ".join(str(g.value) for g in b.formula)
                         + f" = {b.count}"))
        out.append(words(f"The count, with {_legend(b)}:"))
        out.append({"kind": "equations", "intro": "", "lines": [], "rows": rows})
    out.append(words("Output shape: " + b.why))
    out.extend(words(n) for n in b.notes)
    return out


@functools.singledispatch
def present(st) -> list:
    raise TypeError(type(st))


@present.register
def _(st: LayerCount) -> list:
    return layer_blocks(st.index, st.layer, st.framework)


def _summary_table(m) -> dict:
    header = [r"\text{layer}", r"\text{output shape}", r"\text{parameters}"]
    body = [[f"{i}\\ " + code(b.call), shape_text(b.out_shape), str(b.count)]
            for i, b in enumerate(m.built, start=1)]
    return {"kind": "table", "intro": "The model summary (the batch left out):",
            "header": header, "body": body}


@present.register
def _(st: ModelSummary) -> list:
    m = st.model
    out = [_summary_table(m)]
    if st.total:
        counts = " + ".join(str(b.count) for b in m.built)
        rows = [(r"N", f"= {counts} = {m.total}" if len(m.built) > 1 else f"= {m.total}")]
        out.append({"kind": "equations", "intro": "The total, layer by layer:", "lines": [],
                    "rows": rows})
        if m.framework == "keras":
            out.append(words("Keras's `model.summary()` prints the same, with the batch axis "
                             f"as `None` in each shape (`(None, {', '.join(map(str, m.built[-1].out_shape))})`); "
                             "all of these parameters are trainable."))
        else:
            out.append(words("PyTorch counts the same with `sum(p.numel() for p in "
                             "model.parameters())`."))
    return out


@present.register
def _(st: ShapeWalk) -> list:
    m = st.model
    out = [words(f"The input is one sample of shape ${shape_text(m.input)}$"
                 + (" (integer tokens)" if len(m.input) == 1 else
                    " (time steps, features)") + "; the batch axis is left out.")]
    for i, b in enumerate(m.built[:st.upto], start=1):
        out.append(words(f"**Layer {i}**, `{b.call}`: {b.why}"))
    return out


def _symbols_row(syms) -> list:
    return [symbol(c) for c in syms]


@present.register
def _(st: VocabularyTable) -> list:
    v = st.vocabulary
    what = "targets" if st.targets else "samples"
    if v.kind == "letters":
        return [words("The vocabulary: the letters $a, b, \\dots, z$ have the indices "
                      "$1, 2, \\dots, 26$; 0 is padding.")]
    elif v.kind == "string":
        intro = ("The vocabulary, as given: its symbols in order have the indices 1, 2, ...; "
                 "0 is padding.")
    else:
        intro = (f"The vocabulary of the {what}, fitted on {v.fitted_on} as the legacy Keras "
                 "`Tokenizer(char_level=True)` does: every symbol counted (texts in lower "
                 "case), the most frequent first, ties in the order of first appearance; 0 is "
                 "padding.")
    header = [r"\text{symbol}"] + _symbols_row(v.symbols)
    body = [[r"\text{index}"] + [str(i) for i in range(1, len(v.symbols) + 1)]]
    if v.counts is not None:
        body.insert(0, [r"\text{count}"] + [str(n) for n in v.counts])
    return _table(intro, header, body)


@present.register
def _(st: TokenTable) -> list:
    d = st.data
    s = (d.targets if st.targets else d.samples)[st.k - 1]
    header = ["t", r"\text{symbol}", r"\text{index}"]
    rows = shown_rows(range(len(s.steps)))
    body = [[str(i + 1), symbol(s.steps[i][0]),
             r"\text{skipped}" if s.steps[i][1] is None else str(s.steps[i][1])] for i in rows]
    what = (f"The target of sample {st.k}, {tt(s.text)}, step by step:" if st.targets else
            f"Sample {st.k}, {tt(s.text)}, step by step:")
    return _table(what, header, body)


def _padding_words(d) -> str:
    spec = d.spec
    how = "at the end (post)" if spec.padding == "post" else "at the start (pre)"
    length = (f"length {d.length}, the longest sample" if spec.length is None else
              f"length {d.length}")
    cut = ""
    if spec.truncating is not None:
        cut = (" A longer sample loses its " + ("first" if spec.truncating == "pre" else "last")
               + " tokens.")
    return f"Every sample is padded with the index 0 {how} to {length}.{cut}"


@present.register
def _(st: PaddedMatrix) -> list:
    d = st.data
    header = [r"\text{sample}"] + [str(t) for t in range(1, d.length + 1)]
    body = [[str(k)] + [str(i) for i in row] for k, row in enumerate(d.padded, start=1)]
    return _table(_padding_words(d), header, body)


@present.register
def _(st: OneHotTable) -> list:
    d = st.data
    row = d.padded[st.k - 1]
    syms = d.vocabulary.symbols
    cols = [r"\text{pad}"] + [symbol(c) for c in syms] + \
        [str(j) for j in range(len(syms) + 1, d.width)]
    header = [r"t\colon \text{index}"] + [f"{j}\\,{c}" if j else c for j, c in
                                           enumerate(cols)]
    body = [[f"{t}\\colon {i}"] + ["1" if j == i else "0" for j in range(d.width)]
            for t, i in enumerate(row, start=1)]
    text = (f"After padding, sample {st.k} is ${'[' + ', '.join(map(str, row)) + ']'}$. Each "
            f"step becomes a row of {d.width} numbers (column 0 for padding, then one column "
            "per symbol of the vocabulary) with a single 1 in the column of its index, the row "
            "$e_i$; a padding step has its 1 in column 0:")
    return _table(text, header, body)


@present.register
def _(st: CaesarTable) -> list:
    d = st.data
    s, t = d.samples[st.k - 1].text, d.target_texts[st.k - 1]
    k = d.spec.caesar
    a = "abcdefghijklmnopqrstuvwxyz"
    ex = f"{a[0]} \\to {a[k % 26]}, \\; {a[23]} \\to {a[(23 + k) % 26]}"
    header = ["t", r"\text{sample}", r"\text{target}"]
    body = [[str(i + 1), symbol(s[i]), symbol(t[i])] for i in shown_rows(range(len(s)))]
    return _table(f"The Caesar cipher with key {k} moves each letter {k} places on in the "
                  f"alphabet, wrapping round (${ex}$); other symbols stay as they are. "
                  f"Sample {st.k}, {tt(s)}, becomes {tt(t)}:", header, body)


# ---- the problem's own sections ---------------------------------------------------------------

def _model_code(m) -> str:
    if m.framework == "keras":
        lines = ["model = keras.Sequential([",
                 f"    keras.Input(shape={shape_text(m.input)}),"]
        lines += [f"    {keras_code(b.spec)}," for b in m.built]
        lines.append("])")
        return "\n".join(lines)
    lines = [f"# one sample: {shape_text(m.input)}"
             + (" integer tokens" if len(m.input) == 1 else " (time steps, features)"),
             "layers = ["]
    lines += [f"    {b.call}," for b in m.built]
    lines.append("]  # each recurrent layer passes on its output sequence")
    return "\n".join(lines)


def sections(sol) -> list:
    """The problem's model and data, as sections of blocks (empty without those blocks)."""
    arch = sol.problem.arch
    if arch is None:
        return []
    md_text, tex_text = _text_tools()
    out = []
    if arch.model is not None:
        m = arch.model
        out.append({"title": f"Model ({FRAMEWORK_NAMES[m.framework]})", "blocks": [
            words(f"Input: one sample of shape ${shape_text(m.input)}$ (the batch axis left "
                  "out). The layers, in order:"),
            {"kind": "code", "text": _model_code(m)}]})
    if arch.encoding is not None:
        d = arch.encoding
        spec = d.spec
        vocab = {"letters": "the letters $a, \\dots, z$ as 1 to 26",
                 "frequency": "by frequency, as the legacy Keras `Tokenizer(char_level=True)`"
                              " counts it (the most frequent symbol first)"
                 }.get(spec.vocabulary, f"the symbols of the string {tt(spec.vocabulary)} "
                       "as 1, 2, ...")
        items = [f"Samples: {', '.join(tt(s) for s in spec.samples)}.",
                 f"Vocabulary: {vocab}; 0 is padding.",
                 f"Padding: {spec.padding}" + (f", length {spec.length}" if spec.length else
                                               ", to the longest sample") + "."]
        if spec.caesar is not None:
            items.append(f"Targets: each sample's Caesar cipher with key {spec.caesar}.")
        if spec.unknown is not None:
            items.append("Symbols outside the vocabulary: " + (
                "skipped." if spec.unknown == "skip" else f"index {spec.unknown}."))
        out.append({"title": "Data", "blocks": [words(" ".join(items))]})
    return out
