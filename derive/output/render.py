"""Rendering: a Solution becomes a view of ready strings, then Markdown and LaTeX through Jinja
templates (StrictUndefined), the JSON of the spec, and a plain-text summary for the terminal.
"""

from __future__ import annotations

import functools
import json
import re
from pathlib import Path

import jinja2
import sympy
from pylatexenc.latexencode import unicode_to_latex

from . import figure, plot

from . import archview, layout
from ..calculus.general import gamma
from ..calculus import forms as fm
from ..calculus.forms import Plus
from ..calculus.numbers import is_numeric, tree_size
from ..lang import expr as ex
from ..lang.to_sympy import split_name, sym
from ..ops import FUNCTIONS
from .printing import (NUMBERS_NOTE, DerivePrinter, ExprLatex, FormLatex, exact_text,
                       format_number, formula_number, matrix_latex, rounded, symbol_latex,
                       tree_latex, watch_rounding)
from ..calculus.tensor import LazyMatrix
from ..solution import (Additive, Answer, BackwardRef, BackwardRun, Chain, DataAnswer, DataStep,
                       DataTarget, Delta, Evaluate, ForwardRef, ForwardTable, ForwardValues,
                       GeneralFormula, GradientSum, Note,
                       One, Partial, Recurrence, Result, Rules, Solution, Split, StepTable, Sum,
                       ROWS_AT_ENDS, shown_rows, Sweep, SweepTarget,
                       VBackward, VChain, VForward, VResult, VTable, VTruncated)


def _templates_dir() -> Path:
    """Installed from a wheel, the templates sit inside the package (``derive/templates``); in a
    source checkout they are the repository's top-level ``templates/``."""
    package = Path(__file__).resolve().parent.parent
    inside = package / "templates"
    return inside if inside.is_dir() else package.parent / "templates"


TEMPLATES = _templates_dir()

_SAFE_MATH_CMDS = frozenset("""frac dfrac tfrac sqrt sum prod int partial hat bar tilde vec dot
ddot mathbf boldsymbol mathrm mathit mathcal mathbb mathsf text textbf textit operatorname left
right big Big bigl bigr cdot times div pm mp le ge leq geq neq ne approx equiv sim to rightarrow
leftarrow Rightarrow mapsto in notin subset infty log ln exp tanh sinh cosh sin cos max min arg
argmax argmin lim ldots cdots dots vdots ddots quad qquad top prime nabla odot otimes oplus circ
oslash mathrel textstyle
alpha beta gamma delta epsilon varepsilon zeta eta theta vartheta iota kappa lambda mu nu xi pi
rho sigma tau upsilon phi varphi chi psi omega Gamma Delta Theta Lambda Xi Pi Sigma Upsilon Phi
Psi Omega ell mid vert lVert rVert langle rangle lfloor rfloor lceil rceil overline underline
widehat widetilde begin end displaystyle limits lvert rvert overleftarrow overrightarrow""".split())
_SAFE_ENVS = frozenset({"bmatrix", "pmatrix", "matrix", "vmatrix", "cases", "aligned"})


# ---- author text ------------------------------------------------------------------------------

def _safe_math(m: str) -> bool:
    if "^^" in m or re.search(r"[%#]", m) or len(m) > 2000:
        return False
    for cmd in re.findall(r"\\([A-Za-z]+)", m):
        if cmd not in _SAFE_MATH_CMDS:
            return False
    for env in re.findall(r"\\(?:begin|end)\s*\{([^}]*)\}", m):
        if env not in _SAFE_ENVS:
            return False
    if re.search(r"\\(?:begin|end)(?!\s*\{)", m):
        return False
    depth = 0
    for ch in re.sub(r"\\[{}]", "", m):
        depth += {"{": 1, "}": -1}.get(ch, 0)
        if depth < 0:
            return False
    return depth == 0


_MATH_RE = re.compile(r"\$\$(.+?)\$\$|\$([^$\n]+?)\$", re.S)


def tex_text(text: str) -> str:
    """Author Markdown with $...$ math as safe LaTeX: text escaped, math kept only when it uses
    harmless commands (otherwise it is printed literally)."""
    out, pos = [], 0
    for m in _MATH_RE.finditer(text):
        out.append(_escape(_curly(text, pos, m.start())))
        math = m.group(1) if m.group(1) is not None else m.group(2)
        if _safe_math(math):
            out.append(rf"\[{math}\]" if m.group(1) is not None else f"${math}$")
        else:
            out.append(_escape(m.group(0)))
        pos = m.end()
    out.append(_escape(_curly(text, pos, len(text))))
    return "".join(out)


_OPENS_AFTER = " \t\n([{\u201c\u2018-\u2013\u2014/"


def _curly(text: str, start: int, end: int) -> str:
    """text[start:end] with the straight quotes that open a quotation made opening quotes (LaTeX
    prints every straight quote as a closing one): a quote after a space, an opening bracket or
    the start opens, any other closes, so an apostrophe (it's, W_h's) stays one.  The
    character before ``start`` decides at a segment's start."""
    out = []
    for i in range(start, end):
        ch = text[i]
        if ch in "\"'":
            opens = i == 0 or text[i - 1] in _OPENS_AFTER
            if opens and (i + 1 >= len(text) or text[i + 1].isspace()):
                opens = False  # a quote standing alone opens nothing
            if opens:  # a closing one is right as it is: LaTeX prints ' and '' closing
                ch = "\u201c" if ch == '"' else "\u2018"
        out.append(ch)
    return "".join(out)


def _escape(s: str) -> str:
    s = unicode_to_latex(s, non_ascii_only=False, unknown_char_warning=False)
    return s.replace("\n\n", "\n\n\\par ")


def md_text(text: str) -> str:
    """Author Markdown is Markdown already; only raw HTML outside $...$ math is neutralised."""
    out, pos = [], 0
    for m in _MATH_RE.finditer(text):
        out.append(_no_html(text[pos:m.start()]))
        out.append(m.group(0))
        pos = m.end()
    out.append(_no_html(text[pos:]))
    return "".join(out)


def _no_html(s: str) -> str:
    return s.replace("<", "&lt;").replace(">", "&gt;")


@functools.lru_cache(maxsize=None)
def _latex2text():
    """One converter for every call (building one costs more than converting a formula)."""
    # start-up time: only the terminal needs pylatexenc's converter
    from pylatexenc.latex2text import (LatexNodes2Text, MacroTextSpec,
                                       get_default_latex_context_db)

    def frac(node, l2tobj):
        # pylatexenc writes \frac{a - b}{T} as "a - b/T"; the brackets keep its meaning
        num, den = (l2tobj.nodelist_to_text([a]).strip() for a in node.nodeargd.argnlist[-2:])
        return f"{_bracketed(num)}/{_bracketed(den)}"

    db = get_default_latex_context_db().filter_context(exclude_categories=())
    db.add_context_category("derive", prepend=True, macros=[
        MacroTextSpec(m, simplify_repl=frac) for m in ("frac", "dfrac", "tfrac")]
        + [MacroTextSpec("texttt", simplify_repl="%s")])  # model and data answers
    return LatexNodes2Text(math_mode="text", latex_context=db)


def _bracketed(s: str) -> str:
    """``s`` in brackets when it holds an operator at its top level (``a - b``, ``2 x``)."""
    depth = 0
    for i, ch in enumerate(s):
        depth += ch in "([{" or -(ch in ")]}")
        if depth == 0 and i > 0 and (ch in "+-−/ ·×" and s[i - 1] not in "(^_e"):
            return f"({s})"
    return s


def plain(latex: str) -> str:
    """LaTeX math as plain Unicode text for the terminal."""
    # a matrix's full-size fractions and the room between its rows are for the page only
    latex = re.sub(r"\\\\\[[^\]]*\]", r"\\\\", latex.replace(r"\dfrac", r"\frac"))
    s = _latex2text().latex_to_text(latex)
    s = re.sub(r"\s*×\s*", " × ", s)  # 1.235 × 10^6, spaced as on the page
    return re.sub(r"\s+", " ", s).strip()


# ---- the view ---------------------------------------------------------------------------------

class _View:
    def __init__(self, sol: Solution) -> None:
        self.sol = sol
        self.g = sol.graph
        self.names = dict(sol.problem.symbols)
        self.p = DerivePrinter(self.names)
        self.single_delta = len(self.g.recurrent) <= 1
        info = sol.vector
        self.shapes = info.shapes if info is not None else {}
        self.qid = ""  # the question being presented (names a sweep's plot file)
        self.files: dict = {}  # file name -> SVG text of the plots beside the Markdown
        # given whole numbers by name at a step ("c[2]"), printed in place of a class index
        self.picks = {s.name: int(v) for s, v in self.g.given.items()
                      if isinstance(v, sympy.Basic) and v.is_Integer}

    def picked(self, e, at: int | None = None, in_step: bool = True) -> str | None:
        """``e`` with each given entry index as its number ((p_2)_{3} for (p_2)_{c_2}), or
        None when it picks no entry by a given index."""
        if not any(isinstance(n, ex.Entry) and any(not isinstance(i, ex.Num)
                                                   for i in n.indices) for n in ex.walk(e)):
            return None
        return ExprLatex(self.names, self.shapes, 0, at, self.g.T, in_step,
                         picks=self.picks).doprint(e)

    def ex(self, shift: int = 0, at: int | None = None, in_step: bool = True) -> ExprLatex:
        return ExprLatex(self.names, self.shapes, shift, at, self.g.T, in_step)

    def target_tex(self, target) -> str:
        """∂of/∂wrt of a question, or the question's expression, as LaTeX."""
        if isinstance(target, DataTarget):
            return rf"\text{{{target.label}}}"
        if isinstance(target, SweepTarget):
            return (rf"\left({self.sweep_entry_tex(target)}\right)_{{{target.var}="
                    rf"{target.first}}}^{{{target.last}}}")
        if isinstance(target, Partial):
            if isinstance(target.of, sympy.Basic):
                return self.p.partial(target)
            wrt = self.p._print_Symbol(target.wrt)
            # a question's expression stands outside time: sum(L[t]) is the sum over steps
            of = self.ex(in_step=False).doprint(target.of)
            return rf"\frac{{\partial}}{{\partial {wrt}}}\left({of}\right)"
        if isinstance(target, sympy.Basic):
            return self.tex(target)
        return self.ex(in_step=False).doprint(target)

    def sweep_entry_tex(self, target: SweepTarget) -> str:
        """One entry of a sweep's list: the answer at k, or its norm."""
        inner = self.target_tex(target.inner)
        return rf"\left\lVert {inner} \right\rVert" if target.norm else inner

    def root_tex(self, target) -> str:
        if isinstance(target.of, sympy.Basic):
            return self.tex(target.of)
        return "f"

    def tex(self, e, rename=None) -> str:
        if rename:
            return DerivePrinter(self.names, rename=rename).doprint(e)
        return self.p.doprint(e)

    def num(self, v, compact: bool = False) -> str:
        if v is None:
            return ""
        if isinstance(v, (sympy.MatrixBase, LazyMatrix)):
            return matrix_latex(v, self.tex, compact)
        if isinstance(v, sympy.Basic) and v.is_number:
            return format_number(v) or rounded(v)
        return self.tex(v)

    def given_num(self, v) -> str:
        """A given's value as the author wrote it: exact, never rounded (0.12345 stays)."""
        if isinstance(v, (sympy.MatrixBase, LazyMatrix)):
            return matrix_latex(v, self.tex, number=formula_number)
        if isinstance(v, sympy.Basic) and v.is_Rational:
            return formula_number(v)
        return self.num(v)

    def answer_of(self, a) -> str:
        """A question's answer as shown (an Answer's expression, compact as the answer line
        has it, or a model or data answer)."""
        return archview.answer_latex(a) if isinstance(a, DataAnswer) else \
            self.answer_tex(a.expr, compact=True)

    def answer_tex(self, v, compact: bool = False) -> str:
        """An answer as shown; a sweep's list (a tuple) in full, or with ``compact`` its
        first 4 and last 2 entries when it has more than 8."""
        if isinstance(v, tuple):
            items = [self.num(x) for x in v]
            if compact and len(items) > 8:
                items = items[:4] + [r"\dots"] + items[-2:]
            return r"\left(" + r",\ ".join(items) + r"\right)"
        if isinstance(v, (sympy.MatrixBase, LazyMatrix)):
            return matrix_latex(v, self.answer_tex)
        if is_numeric(v) and not v.is_Rational:
            if v.has(sympy.Float) or sympy.count_ops(v) > 12:
                return rounded(v)
            with watch_rounding() as seen:
                exact = self.tex(v)
            if seen:  # the exact form would hold rounded numbers: only the value is shown
                return rounded(v)
            return f"{exact} \\approx {rounded(v)}"
        return self.tex(v)

    def tree(self, tree, mode, rename=None, values=None, deltas=None, lhs=None) -> str:
        pr = DerivePrinter(self.names, rename=rename, single_delta=self.single_delta)
        vp = DerivePrinter(self.names, values=values, rename=rename,
                           single_delta=self.single_delta)

        def leaf(t):
            if isinstance(t, One):
                return "1", "number"
            if isinstance(t, Delta):
                if mode == "values" and deltas is not None:
                    return self.num(deltas[t.of]), "number"
                return pr.delta(t), "atom"
            if mode == "leibniz":
                if t == lhs:  # the direct partial inside its own total derivative: ∂⁺
                    return pr.partial(t).replace(r"\frac{\partial ", r"\frac{\partial^{+} ",
                                                 1), "atom"
                return pr.partial(t), "atom"
            e = self.g.local_partial(t.of, t.wrt)
            if rename:
                e = e.xreplace(rename)
            e = sympy.factor_terms(e)
            if mode == "values":
                s = vp.doprint(e)
                isnum = e.is_number or (e.is_Symbol and vp._value_of(e) is not None)
                return s, ("sum" if e.is_Add else "number" if isnum else "product")
            return pr.doprint(e), ("sum" if e.is_Add else "number" if e.is_number else "product")

        return tree_latex(tree, leaf, mode)

    # -- steps -------------------------------------------------------------------------------
    def blocks(self, steps) -> list:
        out: list = []
        deriv = None
        steps = list(steps)
        for i in range(len(steps) - 1):
            a, b = steps[i], steps[i + 1]
            if isinstance(a, ForwardRef) and isinstance(b, BackwardRef) and \
                    self.reads_whole_forward(a):
                # one line for both references
                steps[i:i + 2] = [None, Note("Forward values: every value of the forward pass "
                                             "above; b" + self.backward_words(b)[1:] + ".")]
        for st in steps:
            if st is None:
                continue
            if isinstance(st, (Split, Chain, Result)) and not (
                    isinstance(st, Result) and isinstance(st.lhs, Delta)):
                lhs = self.p.partial(st.lhs) if isinstance(st.lhs, Partial) else None
                if deriv is None or (lhs is not None and deriv["lhs"] != lhs):
                    deriv = {"kind": "equations", "intro": "", "lines": [], "lhs": lhs}
                    out.append(deriv)
                deriv["lines"].extend(self.derivation_lines(st))
                if isinstance(st, Chain) and st.mode == "leibniz" and _has_leaf(st.tree, st.lhs):
                    deriv["intro"] = ("($\\partial^{+}$ marks the direct partial, with the "
                                      "step's other quantities held fixed.)")
                continue
            deriv = None
            out.extend(self.present(st))
        for b in out:
            if "lhs" in b:
                b["rows"] = _align(b.pop("lhs", None), b["lines"])
        out = _joined(out)
        for b in out:
            if "rows" in b:
                b["rows_tex"] = layout.break_rows(b["rows"])
            if b["kind"] == "table":
                b["parts_tex"] = layout.split_table(b["header"],
                                                    layout.align_row_vectors(b["body"]))
                # a matrix or a fraction is taller than a row: space keeps rows apart
                b["tall"] = any(r"\begin{" in c or r"\frac" in c for row in b["body"]
                                for c in row)
            if "intro" in b:
                b["intro_tex"] = layout.display_long(b["intro"])
            if b["kind"] == "note":
                b["tex"] = layout.display_long(b["tex"])
        return out

    def derivation_lines(self, st) -> list:
        if isinstance(st, Split):
            return [" + ".join(self.p.partial(t) for t in st.terms)]
        if isinstance(st, Chain):
            return [self.tree(st.tree, st.mode, values=self.sol.values, deltas=st.deltas,
                              lhs=st.lhs)]
        # Result
        lines = []
        if st.terms:
            lines.append(" + ".join(self.num(v) for v in st.terms).replace("+ -", "- "))
        lines.append(self.answer_tex(st.answer))
        return lines

    @functools.singledispatchmethod
    def present(self, st) -> list:
        raise TypeError(type(st))

    @present.register
    def _(self, st: DataStep) -> list:
        return archview.present(st)

    @present.register
    def _(self, st: Note) -> list:
        return [{"kind": "note", "md": md_text(st.text), "tex": tex_text(st.text)}]

    @present.register
    def _(self, st: BackwardRun) -> list:
        return self.present(Note(backward_run_words([self.tex(sym(n)) for n in st.names])))

    @present.register
    def _(self, st: ForwardRef) -> list:
        listed = [s for s in st.rows if s != st.own]
        if not listed:
            return []
        if self.reads_whole_forward(st):
            return self.present(Note("Forward values: every value of the forward pass above."))
        # one formula per quantity, so a long list breaks between them like words
        return self.present(Note("Forward values: see the forward pass above ("
                                 + ", ".join(f"${q}$" for q in self.quantities(listed))
                                 + ")."))

    def reads_whole_forward(self, st: ForwardRef) -> bool:
        """Whether a question reads every value of a listed forward pass (then it says so
        instead of listing more than eight quantities)."""
        listed = [s for s in st.rows if s != st.own]
        return bool(self.sol.forward) and st.own is None and len(listed) > 8 and \
            set(listed) == set(self.forward_rows())

    def forward_rows(self) -> tuple:
        """The quantities the problem's one forward pass lists (none when it is a table)."""
        return tuple(s for st in self.sol.forward for s in getattr(st, "rows", ()))

    def quantities(self, rows) -> list:
        """Node symbols as a short list of LaTeX items: grouped by name (L_t apart from L) in order of first
        use, a run of four or more steps as its ends (h_1, …, h_T)."""
        groups: dict = {}
        for s in rows:
            node = self.g.nodes[s]
            groups.setdefault((node.name, node.step is None), []).append(s)
        items = []
        for syms in groups.values():
            steps = [self.g.nodes[s].step for s in syms]
            if len(syms) >= 4 and None not in steps and steps == list(
                    range(steps[0], steps[0] + len(steps))):
                items.extend((self.tex(syms[0]), r"\dots", self.tex(syms[-1])))
            else:
                items.extend(self.tex(s) for s in syms)
        return items

    @present.register
    def _(self, st: ForwardValues) -> list:
        vals = self.sol.values
        if not st.detailed:
            items = [f"{self.tex(s)} = " + (self.num(vals[s]) if is_numeric(vals[s]) else
                                            self.tex(self.g.nodes[s].expr)) for s in st.rows]
            lines = [r",\quad ".join(items[i:i + 4]) for i in range(0, len(items), 4)]
            return [{"kind": "equations", "intro": "Forward values:",
                     "lines": [], "rows": [("", ln) for ln in lines]}]
        rows = []
        vp = DerivePrinter(self.names, values=vals)
        for s in st.rows:
            node = self.g.nodes[s]
            e = node.expr
            parts = [self.tex(e)]
            v = vals[s]
            if is_numeric(v):
                if not e.is_number and e.free_symbols - {s}:
                    sub = vp.doprint(e)
                    if sub != parts[0]:
                        parts.append(sub)
                parts.append(self.num(v))
            elif v != e and v != s and tree_size(v) <= 12:
                parts.append(self.tex(v))
            rows.append((self.tex(s), " = ".join(dict.fromkeys(parts))))
        return [{"kind": "equations", "intro": "Forward pass:" if len(rows) > 1 else "",
                 "lines": [], "rows": [(lhs, "= " + rhs) for lhs, rhs in rows],
                 "aligned": True}]

    @present.register
    def _(self, st: ForwardTable) -> list:
        header = ["t"] + [symbol_t(n, self.names) for n in st.names]
        body = [[str(t)] + [self.num(self.sol.values[sym(f"{n}[{t}]")]) for n in st.names]
                for t in _shown(st.steps)]
        blocks = [_table("Forward pass, step by step:", header, body)]
        if st.plain:
            items = [f"{self.tex(s)} = {self.num(self.sol.values[s])}" for s in st.plain]
            blocks.append({"kind": "equations", "intro": "", "lines": [],
                           "rows": [("", r",\quad ".join(items))]})
        return blocks

    @present.register
    def _(self, st: Evaluate) -> list:
        vals = self.sol.values
        vp = DerivePrinter(self.names, values=vals)
        v = st.expr.xreplace(vals)
        parts = [self.tex(st.expr), vp.doprint(st.expr), self.answer_tex(v)]
        return [{"kind": "equations", "intro": "", "lines": [],
                 "rows": [("", " = ".join(dict.fromkeys(parts)))]}]

    @present.register
    def _(self, st: Rules) -> list:
        steps = sym("T")
        items = [f"{self.p.partial(p)} = {self.tex(e)}"
                 # a rule made of T alone (1/T of a mean) also shows its number
                 + (f" = {self.tex(e.xreplace({steps: self.g.T}))}"
                    if self.g.T and isinstance(e, sympy.Basic) and e.free_symbols == {steps}
                    else "")
                 for p, e in st.partials]
        rules = [FUNCTIONS[f].rule for f in st.functions]
        lines = [r",\quad ".join(items[i:i + 3]) for i in range(0, len(items), 3)]
        if rules:
            lines.append(r",\quad ".join(rules))
        general = any(_has_t(p) for p, _ in st.partials)
        intro = "Local derivatives (at a general step $t$):" if general else "Local derivatives:"
        return [{"kind": "equations", "intro": intro,
                 "lines": [], "rows": [("", ln) for ln in lines]}]

    @present.register
    def _(self, st: Recurrence) -> list:
        rows = []
        for i, (d, tree, d_last, tree_last) in enumerate(st.deltas):
            lhs = DerivePrinter(self.names, rename=st.rename,
                                single_delta=self.single_delta).delta(d)
            rows.append((lhs, "= " + self.tree(tree, "leibniz", st.rename)))
            rows.append(("", "= " + self.tree(tree, "local", st.rename)))
            rename_last = {} if i in st.first else st.rename_last  # the start: t = 1 or T
            lhs_last = DerivePrinter(self.names, rename=rename_last,
                                     single_delta=self.single_delta).delta(d_last)
            rows.append((lhs_last, "= " + self.tree(tree_last, "local", rename_last)))
        words = _RECURSION_WORDS
        if st.first:
            names = [self.tex(sym(st.deltas[i][0].of.name.split("[")[0])) for i in st.first]
            words = ("Backward recursion: $\\delta_t$ is the total derivative of the loss by the "
                     "state at step $t$, through every step that reads it"
                     + ("; for a state that runs forward, from $t = T$ down to $t = 1$. "
                        if len(st.first) < len(st.deltas) else ". ")
                     + backward_run_words(names))
        return self.present(Note(words)) + [
            {"kind": "equations", "intro": "", "lines": [], "rows": rows}]

    @present.register
    def _(self, st: GradientSum) -> list:
        lhs = self.p.partial(st.lhs)
        rows = []
        if st.tree is not None:
            rows.append((lhs, r"= \sum_{t=1}^{T} " + _group(self.tree(st.tree, "leibniz",
                                                                       st.rename), st.tree)))
            rows.append(("", r"= \sum_{t=1}^{T} " + _group(self.tree(st.tree, "local",
                                                                     st.rename), st.tree)))
        if st.plain_tree is not None:
            extra = self.tree(st.plain_tree, "leibniz")
            if rows:
                rows.append(("", r"\quad + " + extra))
            else:
                rows.append((lhs, "= " + extra))
        factor = _param_partial(st.tree, st.lhs.wrt)
        intro = "Summing over the steps:"
        if factor is not None:
            named = DerivePrinter(self.names, rename=st.rename).partial(factor)
            which = "later" if isinstance(factor.of, sympy.Symbol) and \
                factor.of.name.split("[")[0] in self.g.backward else "earlier"
            intro = (f"Summing over the steps (${named}$ is the local partial: the {which} "
                     "states are held fixed):")
        return [{"kind": "equations", "intro": intro, "lines": [], "rows": rows}]

    @present.register
    def _(self, st: StepTable) -> list:
        header, cols = ["t"], []
        for kind, name, values in st.columns:
            if kind == "value":
                header.append(symbol_t(name, self.names))
            elif kind == "delta":
                header.append(r"\delta_t" if self.single_delta else
                              rf"\delta^{{({self.tex(sym(name))})}}_t")
            elif kind == "contrib":
                header.append(r"\text{step } t \text{ term of } " + self.p.partial(name))
            else:
                header.append(r"\text{loss term } t\text{: its part of } " +
                              self.p.partial(name) + r"\text{ (truncated)}")
            cols.append(values)
        shown = set(_shown(st.steps))
        body = [[str(t)] + [self.num(c[i]) for c in cols] for i, t in enumerate(st.steps)
                if t in shown]
        return [_table(_step_table_intro(st.columns), header, body)]

    @present.register
    def _(self, st: Result) -> list:
        lhs = DerivePrinter(self.names, single_delta=self.single_delta).delta(st.lhs) \
            if isinstance(st.lhs, Delta) else self.p.partial(st.lhs)
        return [{"kind": "equations", "intro": "", "lines": [],
                 "rows": [(lhs, "= " + self.answer_tex(st.answer))]}]


    @present.register
    def _(self, st: Additive) -> list:
        eq = next(e for e in self.sol.problem.equations if e.indexed and e.name == st.name)
        coeff = self.tex(st.coefficient) if isinstance(st.coefficient, sympy.Basic) else \
            FormLatex(self.ex(), "").doprint(st.coefficient)
        name = self.tex(sym(st.name))
        text = _additive_words(name, self.ex().doprint(eq.expr), self.ex().doprint(st.term),
                               coeff)
        return self.present(Note(text))

    @present.register
    def _(self, st: GeneralFormula) -> list:
        root = st.lhs.of if isinstance(st.lhs.of, sympy.Symbol) else None
        L = self.tex(root) if root is not None else "f"
        Lt = symbol_t(root.name, self.names) if root is not None else "f_t"
        h = lambda i: self.tex(sym(f"{st.state}[{i}]"))  # noqa: E731
        w = self.tex(st.lhs.wrt)
        formula = (rf"\sum_{{t=1}}^{{T}} \sum_{{k=1}}^{{t}} "
                   rf"\frac{{\partial {Lt}}}{{\partial {h('t')}}}"
                   rf" \left(\prod_{{j=k+1}}^{{t}} \frac{{\partial {h('j')}}}{{\partial "
                   rf"{h('j-1')}}}\right) \frac{{\partial^{{+}} {h('k')}}}{{\partial {w}}}")
        if isinstance(st.local, sympy.Basic):
            local = self.tex(st.local)
        else:
            local = FormLatex(ExprLatex(self.names, self.shapes, 0, None, self.g.T, True, "j"),
                              "").doprint(st.local)
        rows = [(rf"\frac{{\partial {L}}}{{\partial {w}}}", "= " + formula),
                ("", rf"\text{{with }} \frac{{\partial {h('j')}}}{{\partial {h('j-1')}}} = "
                     + local + (rf",\quad \frac{{\partial^{{+}} {h('k')}}}{{\partial {w}}} = "
                                + self.tex(st.direct) if st.direct is not None else ""))]
        blocks = [{"kind": "equations",
                   "intro": (f"The general formula over $T$ steps: each loss term ${Lt}$ reaches "
                             f"${w}$ through the state at every step $k \\le t$ ($\\partial^{{+}}$ "
                             f"is the direct partial, with ${h('k-1')}$ held fixed; ${Lt} = 0$ at "
                             "steps without a loss term):"),
                   "lines": [], "rows": rows}]
        if st.activation is not None:
            W = self.tex(sym(st.weight))
            gm = gamma(st.activation)
            fname = "the identity" if st.activation == "identity" else \
                FUNCTIONS[st.activation].prose
            text = (f"Vanishing and exploding gradients: each factor is at most "
                    f"$\\gamma \\lVert {W} \\rVert$ in norm, where $\\gamma = "
                    f"{format_number(gm)}$ bounds the derivative of {fname}, so "
                    f"$\\lVert \\partial {h('t')} / \\partial {h('k')} \\rVert \\le "
                    f"(\\gamma \\lVert {W} \\rVert)^{{t-k}}$: the contribution of step $k$ to "
                    f"the loss at step $t$ is damped geometrically in the gap $t - k$ when "
                    f"$\\gamma \\lVert {W} \\rVert < 1$ (vanishing gradients); when it is above "
                    f"1 the bound allows growth like $(\\gamma \\lVert {W} \\rVert)^{{t-k}}$ "
                    f"(exploding gradients, unless the units saturate).")
            if st.norm is not None:
                val = gm * st.norm
                verdict = ("below 1: long-range terms vanish" if val < 1 else
                           "above 1: long-range terms may explode" if val > 1 else
                           "exactly 1: the bound neither shrinks nor grows")
                shown = format_number(val) if val.is_Rational else rounded(val)
                text += (f" Here $\\gamma \\lVert {W} \\rVert = {shown}$, "
                         f"{verdict}.")
            blocks.extend(self.present(Note(text)))
        return blocks

    @present.register
    def _(self, st: Sweep) -> list:
        tg, b = st.target, st.bound
        blocks: list = []
        var = st.target.var
        entry = self.sweep_entry_tex(tg)
        if tg.norm:
            what = ("its Euclidean norm" if tg.norm == "euclidean" else
                    "its spectral norm, the largest singular value "
                    r"$\lVert J \rVert_2 = \sigma_{\max}(J)$")
            blocks += self.present(Note(f"The answer at each ${var}$ is a "
                                        f"{'vector' if tg.norm == 'euclidean' else 'matrix'}"
                                        f"; the list holds {what}."))
        W = self.tex(sym(b.weight)) if b is not None else ""
        bars = (r"\lvert", r"\rvert") if self.sol.vector is None else (r"\lVert", r"\rVert")
        rate = rf"\gamma {bars[0]} {W} {bars[1]}"
        if b is not None and b.exact and b.local is not None and isinstance(tg.inner, Partial):
            lo, hi = (_linear_tex(x) for x in b.limits)
            h = lambda i: symbol_latex(f"{b.state}[{i}]", self.names)  # noqa: E731
            factor = rf"\frac{{\partial {h('j')}}}{{\partial {h('j-1')}}}"
            local = self.tex(b.local) if isinstance(b.local, sympy.Basic) else FormLatex(
                ExprLatex(self.names, self.shapes, 0, None, self.g.T, True, "j"),
                "").doprint(b.local)
            lhs = self.target_tex(tg.inner)
            blocks.append({"kind": "equations", "intro": f"At a general ${var}$, the chain "
                           "rule over the steps between the two states:", "lines": [],
                           "rows": [(lhs, rf"= \prod_{{j={lo}}}^{{{hi}}} {factor}"),
                                    ("", rf"\text{{with }} {factor} = {local}")]})
        header = [var, entry]
        if b is not None:
            gap0 = b.gaps[st.ks.index(b.anchor)] if b.anchor is not None else 0
            power = _linear_tex(b.gap - gap0)
            anchor = "" if b.exact else self.at_anchor(tg, b) + r" \, "
            bound_tex = rf"{anchor}\left({rate}\right)^{{{power}}}"
            header.append(bound_tex)
        body = []
        shown = set(_shown(st.ks))
        for i, k in enumerate(st.ks):
            if k not in shown:
                continue
            row = [str(k), self.num(st.values[i])]
            if b is not None:
                row.append(self.num(b.values[i]) if b.values[i] is not None else "")
            body.append(row)
        blocks.append(_table(f"The list over ${var} = {st.ks[0]}, \\dots, {st.ks[-1]}$ "
                             "(the answer):", header, body))
        magnitude = entry if tg.norm else rf"\left\lvert {entry} \right\rvert"
        numeric = all(is_numeric(x) for x in st.values)
        pl = plot.build(st.ks, st.values, magnitude, var, b.values if b is not None else None,
                        header[-1] if b is not None else "") if numeric else None
        if not numeric:
            blocks += self.present(Note("The answers are symbolic: there is no plot."))
        elif pl is not None:
            name = f"sweep-{self.qid}.svg"
            self.files[name] = plot.svg(pl, plain)
            what = "norm" if tg.norm else "absolute value"
            caption = (f"The {what} ${magnitude}$ against ${var}$, on a log scale"
                       + (", with the bound (dashed)" if b is not None else "") + ".")
            blocks.append({"kind": "plot", "md": f"![{_md_alt(caption)}]({name})",
                           "tex": plot.tikz(pl), "caption": caption,
                           "caption_tex": tex_text(caption)})
        else:
            blocks += self.present(Note("Every value is 0: a log scale has nothing to show, "
                                        "so there is no plot."))
        if pl is not None and pl.omitted:
            ks = ", ".join(str(k) for k in pl.omitted)
            blocks += self.present(Note(f"At ${var} = {ks}$ the value is 0, which has no place "
                                        "on a log scale: left out of the plot."))
        if b is not None:
            blocks += self.present(Note(self.bound_words(st, rate, magnitude)))
        elif st.no_bound and numeric:
            blocks += self.present(Note(f"No bound is drawn: {st.no_bound}."))
        return blocks

    def at_anchor(self, tg: SweepTarget, b) -> str:
        """The entry at the anchor, such as ‖∂L/∂h_12‖."""
        inner = self.target_tex(b.anchor_target)
        return rf"\left\lVert {inner} \right\rVert" if tg.norm else \
            rf"\left\lvert {inner} \right\rvert"

    def bound_words(self, st: Sweep, rate: str, entry: str) -> str:
        b, var = st.bound, st.target.var
        fname = "the identity" if b.activation == "identity" else FUNCTIONS[b.activation].prose
        val = b.gamma * b.weight_norm
        shown = format_number(val) if val.is_Rational else rounded(val)
        wn = format_number(b.weight_norm) if b.weight_norm.is_Rational else \
            rounded(b.weight_norm)
        bars = rate.split(" ", 1)[1]
        gap = _linear_tex(b.gap)
        text = (f"The bound: each factor $\\partial {b.state}_j / \\partial {b.state}_{{j-1}}$ "
                f"has norm at most ${rate}$, where $\\gamma = {format_number(b.gamma)}$ bounds "
                f"the derivative of {fname} and ${bars} = {wn}$"
                + (" (the largest singular value)" if self.sol.vector is not None else "")
                + f", so ${rate} = {shown}$. ")
        if b.exact:
            text += (f"Over ${gap}$ factor{'' if b.gap == 1 else 's'}, ${entry} \\le "
                     f"({rate})^{{{gap}}}$: the dashed "
                     "line, a true bound at every point.")
        else:
            at = self.at_anchor(st.target, b)
            text += (f"The dashed line is $({rate})^{{{gap}}}$ times the value at ${var} = "
                     f"{b.anchor}$ (${at} = {self.num(b.anchor_value)}$): it bounds the part of "
                     f"the gradient that flows back from step {b.anchor} to step ${var}$. Terms "
                     f"that enter at the steps in between (a loss term at every step, say) are "
                     "not under it; with a single loss term at the end it bounds every point.")
        text += (" Since $" + rate + (" < 1$, the bound shrinks geometrically as the gap grows: "
                 "vanishing gradients." if val < 1 else
                 " > 1$, the bound grows geometrically with the gap: gradients may explode "
                 "(unless the units saturate; compare the values)." if val > 1 else
                 " = 1$, the bound neither shrinks nor grows."))
        return text

    # -- vector problems ------------------------------------------------------------------
    @present.register
    def _(self, st: VForward) -> list:
        vals = self.sol.values
        nodes = self.g.nodes
        if st.table:
            names = tuple(dict.fromkeys(nodes[s].name for s in st.rows if nodes[s].step))
            steps = tuple(sorted({nodes[s].step for s in st.rows if nodes[s].step}))
            header = ["t"] + [symbol_t(n, self.names) for n in names]
            body = [[str(t)] + [self.num(vals[sym(f"{n}[{t}]")], compact=True) for n in names]
                    for t in _shown(steps)]
            blocks = [_table("Forward pass, step by step:", header, body)] if steps else []
            plain = [s for s in st.rows if nodes[s].step is None]
            if plain:
                blocks.append({"kind": "equations", "intro": "", "lines": [], "rows": [
                    (self.tex(s), f"= {self.ex(in_step=False).doprint(nodes[s].equation.expr)} = "
                                  f"{self.num(vals[s])}") for s in plain]})
            return blocks
        rows = []
        for s in st.rows:
            node = nodes[s]
            eq = self.ex(at=node.step, in_step=node.step is not None).doprint(
                node.equation.expr)
            picked = self.picked(node.equation.expr, node.step, node.step is not None)
            if picked is not None and picked != eq:
                eq += f" = {picked}"
            rows.append((self.tex(s), f"= {eq} = {self.num(vals[s])}"))
        return [{"kind": "equations", "intro": "Forward pass:" if len(rows) > 1 else "",
                 "lines": [], "rows": rows}]

    @present.register
    def _(self, st: VBackward) -> list:
        root = self.root_tex(st.lhs)
        fp = FormLatex(self.ex(), root)
        rows = []
        notes = []
        for lhs, rhs, when in st.rows:
            text = "= " + (fp.doprint(rhs) if rhs is not None else "0")
            if when == "log-softmax-ce":
                rows.append(("", text))
                notes.append("Log-softmax with cross-entropy: its Jacobian is "
                             "$I - \\mathbf{1}\\, \\operatorname{softmax}(z)^\\top$, and "
                             "since the entries of each target $y$ sum to 1, "
                             "$-(I - \\operatorname{softmax}(z)\\, \\mathbf{1}^\\top)\\, y$ "
                             "is $\\operatorname{softmax}(z)\\,(\\mathbf{1}^\\top y) - y$, "
                             "that is $\\operatorname{softmax}(z) - y$.")
                continue
            if when == "softmax-ce-class":
                rows.append(("", text))
                s_tex = fp.doprint(rhs.items[0][1])
                unit = rhs.items[1][1]
                e_tex = fp.doprint(unit)
                idx = self.ex().doprint(unit.indices[0])
                picked = self.ex().doprint(ex.Entry(rhs.items[0][1].node, unit.indices))
                notes.append(f"Softmax with cross-entropy of the class ${idx}$: "
                             f"$(\\operatorname{{diag}}({s_tex}) - {s_tex} {s_tex}^\\top)"
                             f"(-{e_tex} / {picked}) = {s_tex} - {e_tex}$, "
                             f"where ${e_tex}$ is the one-hot vector of class ${idx}$.")
                continue
            if when == "softmax-ce":
                rows.append(("", text))
                # in the problem's own names: the softmax's output and the targets
                s_tex, y_tex = (fp.doprint(x) for _, x in rhs.items)
                notes.append(f"Softmax with cross-entropy: since the entries of ${y_tex}$ sum "
                             f"to 1, $(\\operatorname{{diag}}({s_tex}) - {s_tex} {s_tex}^\\top)"
                             f"(-{y_tex} \\oslash {s_tex}) = {s_tex} (\\mathbf{{1}}^\\top "
                             f"{y_tex}) - {y_tex} = {s_tex} - {y_tex}$.")
                continue
            steps_value = _with_T(rhs, self.g.T)
            if steps_value is not None:  # 1/T of a mean: its number too
                text += " = " + self.tex(steps_value)
            if when == "t < T":
                text += r" \qquad (t < T)"
            elif when == "t > 1":
                text += r" \qquad (t > 1)"
            elif when.startswith("plus at"):
                text = r"\mathrel{+}= " + text[2:] + rf" \qquad \text{{(at }} t = {when[8:]})"
            rows.append((fp.adj(lhs.name, lhs.index), text))
        intro = ("Backward pass: the adjoint of each quantity is the sum over the equations "
                 "that use it (matrix form; $\\odot$ is the entry-by-entry product"
                 + (", terms at $t + 1$ exist only for $t < T$):" if self.g.T else "):"))
        if any(when == "t > 1" for _, _, when in st.rows):
            at = (", terms at $t + 1$ exist only for $t < T$, and terms at $t - 1$ only for "
                  "$t > 1$). " if any(when == "t < T" for _, _, when in st.rows) else
                  ", terms at $t - 1$ exist only for $t > 1$). ")
            intro = intro[:intro.index(", terms at")] + at + _backward_words(self, st.rows)
        if not isinstance(st.lhs.of, sympy.Basic):
            intro = (f"With $f = {self.ex(in_step=False).doprint(st.lhs.of)}$: " + intro[0].lower()
                     + intro[1:])
        blocks = [{"kind": "equations", "intro": intro, "lines": [], "rows": rows}] if rows \
            else []
        for n in notes:
            blocks.extend(self.present(Note(n)))
        if st.param is not None:
            wrt = self.tex(st.lhs.wrt)
            lhs = rf"\frac{{\partial {root}}}{{\partial {wrt}}}"
            if len(st.param) == 3:
                form, _, k = st.param
                text = FormLatex(self.ex(at=k), root).doprint(form) if form is not None else "0"
                blocks.append({"kind": "equations", "intro": "The variable's own rule:",
                               "lines": [], "rows": [(lhs, "= " + text)]})
            else:
                per_step, plain = st.param
                parts = []
                if per_step is not None:
                    parts.append(r"\sum_{t=1}^{T} " + _paren(fp.doprint(per_step), per_step))
                if plain is not None:
                    parts.append(fp.doprint(plain))
                blocks.append({"kind": "equations",
                               "intro": "Summing the parameter's uses over the steps:"
                               if per_step is not None else "The variable's uses:",
                               "lines": [], "rows": [(lhs, "= " + (" + ".join(parts) or "0"))]})
        return blocks

    @present.register
    def _(self, st: BackwardRef) -> list:
        return self.present(Note(self.backward_words(st) + "."))

    def backward_words(self, st: BackwardRef) -> str:
        root = self.root_tex(st.lhs)
        fp = FormLatex(self.ex(), root)
        return (f"Backward values: see the backward pass of ${root}$ above ("
                + ", ".join(f"${fp.adj(a.name, a.index)}$" for a in st.rows) + ")")

    @present.register
    def _(self, st: VTable) -> list:
        header, cols = ["t"], []
        root = self.root_tex(next((c[1] for c in st.columns if c[0] == "contrib"), None)) \
            if any(c[0] == "contrib" for c in st.columns) else None
        for kind, what, values in st.columns:
            if kind == "adj":
                r = root or "L"
                header.append(rf"\frac{{\partial {r}}}{{\partial "
                              f"{symbol_t(what, self.names)}}}")
            else:
                header.append(r"\text{step } t \text{ term of } " + self.target_tex(what))
            cols.append(values)
        shown = set(_shown(st.steps))
        body = [[str(t)] + [self.num(c[i], compact=True) for c in cols]
                for i, t in enumerate(st.steps) if t in shown]
        return [_table(_step_table_intro(st.columns), header, body)]

    @present.register
    def _(self, st: VTruncated) -> list:
        wrt = self.tex(st.lhs.wrt)
        words = (f"With $K = {st.K}$ each loss term runs the equations above alone, its "
                 "adjoints 0 before the steps it keeps: a term read at step $t$ keeps the step "
                 f"terms $k = \\max(1,\\, t - {st.K - 1}), \\dots, t$ of the sum over the steps, "
                 "the others are dropped:" if st.K > 1 else
                 "With $K = 1$ each loss term runs the equations above alone, its adjoints 0 "
                 "before its own step: a term read at step $t$ keeps only the step term $k = t$ "
                 "of the sum over the steps, the others are dropped:")
        words = words[:-1] + "; the answer adds up the last column:"
        header = [r"\text{loss term } \ell", r"\text{steps kept}",
                  rf"\frac{{\partial \ell}}{{\partial {wrt}}} \text{{ (truncated)}}"]
        body = []
        for term, t, first, last, value in st.kept:
            term_tex = self.ex(at=t).doprint(term) if t is not None else \
                self.ex(in_step=False).doprint(term)
            kept = ("none" if last < first else str(first) if last == first else
                    f"{first}, {last}" if last == first + 1 else f"{first}, \\dots, {last}")
            body.append([term_tex, rf"k = {kept}" if last >= first else r"\text{none}",
                         self.num(value, compact=True)])
        return self.present(Note(words)) + [{"kind": "table", "intro": "", "header": header,
                                             "body": body}]

    @present.register
    def _(self, st: VChain) -> list:
        lhs = self.target_tex(st.lhs)
        a, b = [int(s.name[:-1].split("[")[1]) for s in (st.lhs.of, st.lhs.wrt)]
        leib = " ".join(self.p.partial(Partial(sym(f"{st.name}[{t}]"),
                                               sym(f"{st.name}[{t + st.by}]")))
                        for t, _, _ in st.factors)
        forms = " ".join(_paren(FormLatex(self.ex(at=t), "").doprint(f), f)
                         for t, f, _ in st.factors)
        mats = " ".join(self.num(m) for _, _, m in st.factors)
        general = FormLatex(self.ex(), "").doprint(st.factors[0][1])
        local = self.p.partial(Partial(sym(f"{st.name}[t]"),
                                       sym(f"{st.name}[t{st.by:+d}]")))
        lines = [leib, forms, mats] if len(st.factors) > 1 else [forms, mats]
        if len(st.factors) > 1:
            lines.append(self.answer_tex(st.product))
        note = self.present(Note(self._unit_words(st))) if st.unit_steps else []
        intro = (f"The chain rule over the steps from ${a}$ "
                 f"{'down' if st.by < 0 else 'up'} to ${b}$")
        if layout.width(general) > layout.LINE / 2:
            # a long local Jacobian (max's two pieces) gets a display row, where it can break
            return note + [
                {"kind": "equations", "intro": intro + ", with the local Jacobian",
                 "lines": [], "rows": [(local, "= " + general)]},
                {"kind": "equations", "intro": "", "lines": [], "rows": _align(lhs, lines)}]
        return note + [{"kind": "equations",
                        "intro": f"{intro}, with the local Jacobian ${local} = {general}$:",
                        "lines": [], "rows": _align(lhs, lines)}]

    def _unit_words(self, st: VChain) -> str:
        """Why the matrices of a chain drop a kinked function's diag(f'(·)): it is I there."""
        fl = FormLatex(self.ex(), "")
        form = st.factors[0][1]

        def kinked1(f):  # the functions _unit_steps looked at: one argument, a kink
            return FUNCTIONS[f.func].kink and FUNCTIONS[f.func].arity == 1

        def unit(x):
            return isinstance(x, fm.Diag) and isinstance(x.arg, fm.Prime) and kinked1(x.arg)

        kinked = [f for f in _primes(form) if kinked1(f)]
        args = ", ".join(dict.fromkeys(f"${self.ex().doprint(f.arg.node)}$" for f in kinked))
        diags = " = ".join(dict.fromkeys(rf"\operatorname{{diag}}\left({fl.doprint(f)}\right)"
                                         for f in kinked))
        every = sorted(st.unit_steps) == sorted(t for t, _, _ in st.factors)
        where = "at every step of the chain" if every else \
            "at $t = " + ", ".join(str(t) for t in sorted(st.unit_steps)) + "$"
        rest = ""
        if isinstance(form, fm.MM) and any(unit(x) for x in form.items):
            kept = fm.mm(*[x for x in form.items if not unit(x)])
            rest = f": {'each factor' if every else 'each of those factors'} is " \
                   f"${fl.doprint(kept)}$"
        return (f"At these numbers every entry of {args} is positive {where}, so "
                f"${diags} = I${'' if every else ' there'} and the matrices below leave it "
                f"out{rest}.")

    @present.register
    def _(self, st: VResult) -> list:
        lhs = self.target_tex(st.lhs)
        rows = []
        if len(st.terms) > 1 and len(st.terms) <= 12:
            texts = [self.num(t) for t in st.terms]
            rows.append(texts[0] + "".join(f" - {x[1:]}" if x.startswith("-") else f" + {x}"
                                           for x in texts[1:]))
        rows.append(self.answer_tex(st.answer))
        return [{"kind": "equations",
                 "intro": "Adding the step terms:" if st.kind == "table" else "", "lines": [],
                 "rows": _align(lhs, rows)}]


def _answer_once(blocks: list, ans, v: "_View") -> list:
    """A vector or matrix answer is shown once, on the answer line: the derivation's last row
    stops before it (``h_3 = tanh(…)``) or, when the row says nothing else, goes."""
    if not isinstance(ans, Answer) or not isinstance(ans.expr, (sympy.MatrixBase, LazyMatrix)) \
            or ans.expr.shape == (1, 1) or not blocks or blocks[-1]["kind"] != "equations":
        return blocks
    b = blocks[-1]
    if not b["rows"]:
        return blocks
    tail = v.answer_tex(ans.expr)
    lhs, rhs = b["rows"][-1]
    if rhs == "= " + tail:
        rows = b["rows"][:-1]
        if rows and not rows[-1][0] and lhs:
            return blocks  # a lone "= answer" after other rows: they lead to it
        if not rows:
            return blocks[:-1] if not b["intro"] else blocks[:-1] + [
                {"kind": "note", "md": b["intro"], "tex": layout.display_long(b["intro"])}]
    elif rhs.endswith(" = " + tail):
        rows = b["rows"][:-1] + [(lhs, rhs[:-len(" = " + tail)])]
    else:
        return blocks
    return blocks[:-1] + [{**b, "rows": rows, "rows_tex": layout.break_rows(rows)}]


def _step_table_intro(columns) -> str:
    """The words over a table by step: what its numbers are for (kinds "contrib": a step's
    term of the answer; others: values the answer reads)."""
    if all(c[0] == "contrib" for c in columns):
        return "Each step's term, from the backward values above:"
    if any(c[0] == "contrib" for c in columns):
        return "Step by step (the same numbers the answer is summed from):"
    return "Step by step:"


def _joined(blocks: list) -> list:
    """Blocks of equations where one goes on from the last row of the one before (the same
    left side, no words between) as one display: a rule, then its numbers."""
    out: list = []
    for b in blocks:
        prev = out[-1] if out else None
        if (prev is not None and b["kind"] == "equations" == prev["kind"] and not b["intro"]
                and b["rows"] and prev["rows"] and b["rows"][0][0]
                and b["rows"][0][0] == prev["rows"][-1][0]):
            prev["rows"] = prev["rows"] + [("", rhs) for _, rhs in b["rows"]]
            continue
        out.append(b)
    return out


def _with_T(f, T):
    """The number of a form made of numbers and T alone (such as 1/T), or None: also when T
    is not in it."""
    def value(f):
        if isinstance(f, fm.Num):
            return sympy.Rational(f.value)
        if isinstance(f, fm.Sub):
            return sympy.Integer(T) if f.node == ex.Name("T") else ex.constant_value(f.node)
        if isinstance(f, fm.Quot):
            a, b = value(f.num), value(f.den)
            return None if a is None or b is None or b == 0 else a / b
        if isinstance(f, fm.Plus):
            parts = [value(x) for _, x in f.items]
            return None if None in parts else sum(
                (c * x for (c, _), x in zip(f.items, parts)), sympy.Integer(0))
        return None

    def has_T(f):
        return isinstance(f, fm.Sub) and f.node == ex.Name("T") or any(
            has_T(x) for x in (getattr(f, "num", None), getattr(f, "den", None)) if x) or \
            isinstance(f, fm.Plus) and any(has_T(x) for _, x in f.items)

    if not T or f is None or not has_T(f):
        return None
    return value(f)


def backward_run_words(names: list) -> str:
    """Why the adjoints of backward recurrences run forward in t (``names``: their LaTeX)."""
    if not names:
        return ""
    h = names[0]
    who = f"${h}$" if len(names) == 1 else ", ".join(f"${n}$" for n in names)
    return (f"{who} runs backward in time (${h}_{{t}}$ reads ${h}_{{t+1}}$, from $t = T$ down "
            f"to $1$), so its backward pass runs forward: the adjoint of ${h}_{{1}}$ comes "
            "first, since no earlier step reads it, and each later step adds what flows back "
            "from the step before it, up to $t = T$.")


def _backward_words(r, rows) -> str:
    names = [r.tex(sym(lhs.name)) for lhs, _, when in rows if when == "t > 1"]
    return backward_run_words(names)


def _additive_words(name: str, eq: str, term: str, coeff: str) -> str:
    return (f"Additive path: in ${name}_t = {eq}$ the term ${term}$ carries ${name}_{{t-1}}$ "
            f"forward with no squashing function, so "
            f"$\\partial {name}_t / \\partial {name}_{{t-1}}$ contains ${coeff}$ directly, "
            "besides the paths through the gates. Along this path the gradient is only scaled "
            "by the gate at each step, not multiplied by a derivative such as "
            "$\\tanh' \\le 1$ and a weight: this is why gated cells keep gradients alive "
            "over long sequences.")




def _linear_tex(e: sympy.Expr) -> str:
    """T - k, k + 1, 3: a step expression with its symbols first, as a sheet writes it."""
    const, terms = e.as_coeff_add()
    text = " ".join(("- " if t.could_extract_minus_sign() else "+ ") +
                    sympy.latex(-t if t.could_extract_minus_sign() else t)
                    for t in sorted(terms, key=lambda t: str(t.free_symbols) != "{T}"))
    text = text[2:] if text.startswith("+ ") else "-" + text[2:] if text else ""
    if const or not text:
        text += (f" - {-const}" if const < 0 else f" + {const}") if text else str(const)
    return text


def _md_alt(s: str) -> str:
    """A caption as Markdown image text (no brackets, no math delimiters)."""
    return plain(s.replace("$", "")).replace("[", "(").replace("]", ")")


def _primes(f) -> list:
    """The f'(·) factors (forms.Prime) inside a form."""
    if isinstance(f, fm.Prime):
        return [f]
    out = []
    for v in vars(f).values() if hasattr(f, "__dataclass_fields__") else ():
        for x in (v if isinstance(v, tuple) else (v,)):
            if isinstance(x, tuple):
                x = x[-1]  # a Plus item: (sign, form)
            if hasattr(x, "__dataclass_fields__") and not isinstance(x, fm.Sub):
                out.extend(_primes(x))
    return out


def _paren(s: str, form) -> str:
    return rf"\left({s}\right)" if isinstance(form, Plus) else s


_RECURSION_WORDS = ("Backward recursion: $\\delta_t$ is the total derivative of the loss by "
                    "the state at step $t$, through every later step (run from $t = T$ down "
                    "to $t = 1$).")


def _has_leaf(tree, leaf) -> bool:
    if tree == leaf:
        return True
    return any(_has_leaf(t, leaf) for t in getattr(tree, "items", ()))


def _param_partial(tree, wrt):
    """The first local partial by ``wrt`` in a chain tree, or None."""
    if isinstance(tree, Partial):
        return tree if tree.wrt == wrt else None
    for item in getattr(tree, "items", ()):
        found = _param_partial(item, wrt)
        if found is not None:
            return found
    return None


def _has_t(p: Partial) -> bool:
    return any("[t" in s.name for s in (p.of, p.wrt) if isinstance(s, sympy.Symbol))


def symbol_t(name: str, names: dict) -> str:
    return symbol_latex(f"{name}[t]", names)


def _group(s: str, tree) -> str:
    return rf"\left({s}\right)" if isinstance(tree, Sum) else s


def _align(lhs, lines) -> list:
    if lhs is None:
        return [("", ln) for ln in lines]
    return [(lhs if i == 0 else "", "= " + ln) for i, ln in enumerate(lines)]


_shown = shown_rows


def _table(intro, header, body) -> dict:
    if len(body) == 2 * ROWS_AT_ENDS and body[ROWS_AT_ENDS][0] != str(
            int(body[ROWS_AT_ENDS - 1][0]) + 1):
        gap = [r"\vdots"] * len(header)
        body = body[:ROWS_AT_ENDS] + [gap] + body[ROWS_AT_ENDS:]
    return {"kind": "table", "intro": intro, "header": header, "body": body}


def view(sol: Solution) -> dict:
    """The ready strings the templates render (the only thing they see); ``numbers_md`` and
    ``numbers_tex`` say the number rule when the solution shows a rounded number."""
    with watch_rounding() as seen:
        out = _view(sol)
    out["numbers_md"] = md_text(NUMBERS_NOTE) if seen else ""
    out["numbers_tex"] = tex_text(NUMBERS_NOTE) if seen else ""
    return out


def _view(sol: Solution) -> dict:
    v = _View(sol)
    pr = sol.problem
    fig = figure.build(sol)
    questions = []
    for qs in sol.questions:
        q = qs.question
        if qs.target is None:
            ask = ""
        else:
            ask = v.target_tex(qs.target)
        text = q.text or (f"Compute ${ask}$." if ask else "")
        if not q.text and isinstance(qs.target, SweepTarget):
            t = qs.target
            text = (f"Compute ${v.sweep_entry_tex(t)}$ for ${t.var} = {t.first}, \\dots, "
                    f"{t.last}$.")
        ans = qs.answer
        text_md, text_tex = md_text(text), tex_text(text)
        if isinstance(qs.target, DataTarget) and not q.text:
            asked = archview.question_words(qs.target)
            text_md, text_tex = asked["md"], asked["tex"]
        v.qid = q.id
        shown = v.answer_of(ans) if ans is not None else ""
        said = ask
        if qs.target is not None and not isinstance(qs.target, (Partial, sympy.Basic,
                                                                SweepTarget, DataTarget)):
            picked = v.picked(qs.target, in_step=False)
            if picked is not None and picked != ask:
                said = f"{ask} = {picked}"
        questions.append({
            "id": q.id, "id_tex": tex_text(q.id),
            "text_md": text_md, "text_tex": text_tex,
            "ask": ask,
            "blocks": _answer_once(v.blocks(qs.steps), ans, v),
            "answer": (f"{said} = {shown}" if ans is not None else ""),
            "answer_rows_tex": (layout.break_rows([(ask, "= " + (said[len(ask) + 3:] + " = "
                                                                 if said != ask else "")
                                                     + shown)])
                                if ans is not None else []),
            **_check_lines(sol.checks.get(q.id)),
        })
    backward = []
    for one in sol.backward:
        blocks = v.blocks(one)
        if blocks and blocks[0]["intro"].startswith("Backward pass: the adjoint"):
            intro = blocks[0]["intro"][len("Backward pass: "):]
            blocks[0]["intro"] = intro[0].upper() + intro[1:]  # the section's heading says it
            blocks[0]["intro_tex"] = layout.display_long(blocks[0]["intro"])
        root = v.root_tex(one[0].lhs)
        title = "Backward pass" if len(sol.backward) == 1 else f"Backward pass of ${root}$"
        backward.append({"title_md": title, "title_tex": title, "blocks": blocks,
                         "intro_md": md_text(f"The adjoints of ${root}$ that the gradient "
                                             "questions below read, computed once:"),
                         "intro_tex": tex_text(f"The adjoints of ${root}$ that the gradient "
                                               "questions below read, computed once:")})
    forward = v.blocks(sol.forward)
    if forward and forward[0].get("intro") == "Forward pass:":
        forward[0]["intro"] = ""  # the section's heading says it
    given = []
    for s, val in _shown_givens(sol.graph.given):
        given.append(r"\dots" if s is None else f"{v.tex(s)} = {v.given_num(_as_matrix(val))}")
    return {
        "title_md": md_text(pr.title), "title_tex": tex_text(pr.title),
        "source_md": md_text(pr.source), "source_tex": tex_text(pr.source),
        "statement_md": md_text(pr.statement), "statement_tex": tex_text(pr.statement),
        "equations": [(v.tex(_lhs_symbol(eq)),
                       v.ex(in_step=eq.indexed).doprint(eq.expr)
                       if sol.vector or _sums_over_t(eq, pr.steps) else v.tex(_eq_expr(sol, eq)))
                      for eq in pr.equations],
        "shapes": r",\quad ".join(_shapes_items(v, sol.vector)),
        "shapes_tex": layout.unbroken(_shapes_items(v, sol.vector)),
        "figure_tex": figure.tikz(fig) if fig is not None else "",
        "figure_svg": figure.svg(fig, plain) if fig is not None else "",
        "figure_caption": ("The unrolled computational graph: each step's quantities, with the "
                           "shared parameters on the edges."
                           + (f" In red under each value: the gradient of ${v.tex(sol.loss)}$ "
                              "by that quantity." if any(n.grad for n in fig.nodes) else "")
                           if fig is not None else ""),
        "figure_md": "![The unrolled computational graph](graph.svg)" if fig is not None else "",
        "steps": str(pr.steps) if pr.steps else "",
        "given": layout.pack(given),
        "forward": forward,
        "backward": backward,
        "forward_intro": ("Every quantity the questions read, in the order it is computed; "
                          "each question below refers to these values." if forward else ""),
        "questions": questions,
        "arch": archview.sections(sol),
        "plots": dict(sorted(v.files.items())),
    }


def _as_matrix(val):
    """A given's value: tuples become a column vector or a matrix (a list of rows)."""
    if not isinstance(val, tuple):
        return val
    if all(not isinstance(x, tuple) for x in val):
        return sympy.ImmutableMatrix(len(val), 1, list(val))
    return sympy.ImmutableMatrix([list(r) for r in val])


def _shapes_items(v: "_View", info) -> list:
    """``x_t \\in \\mathbb{R}^{3}`` for each quantity of a vector problem, in file order."""
    if info is None:
        return []
    items = []
    classes = dict(info.classes)
    for key, (r, c) in info.quantity_shapes:
        q = v.tex(sym(key))
        n = classes.get(key.split("[")[0]) if (r, c) == (1, 1) else None
        items.append(f"{q} \\in \\{{1, \\dots, {n}\\}}" if n is not None else
                     f"{q} \\in \\mathbb{{R}}" if (r, c) == (1, 1) else
                     f"{q} \\in \\mathbb{{R}}^{{{r}}}" if c == 1 else
                     f"{q} \\in \\mathbb{{R}}^{{{r} \\times {c}}}")
    return items


def _check_lines(c) -> dict:
    """The cross-check's line under an answer, in Markdown and LaTeX (empty when unchecked)."""
    if c is None or c.status == "skipped":
        return {"check_md": "", "check_tex": ""}
    if c.status == "agrees":
        words = (f"Checked against PyTorch autograd (float64): agrees to {c.digits} significant "
                 "digits." if not c.by else f"Checked against {c.by}: agrees.")
        return {"check_md": f"*{words}*", "check_tex": rf"\emph{{{_by_tex(c, words)}}}"}
    words = (f"CROSS-CHECK FAILED: {'PyTorch autograd (float64)' if not c.by else c.by} "
             f"gives {_short(c.torch)}, which "
             "disagrees with this answer." if c.reason == "" else
             f"CROSS-CHECK FAILED: {c.reason}; this answer is not confirmed.")
    return {"check_md": f"**{words}**", "check_tex": rf"\textbf{{{_by_tex(c, words)}}}"}


def _by_tex(c, words: str) -> str:
    """The check's words in LaTeX: a model or data check names functions (one_hot), escaped."""
    return _escape(words) if c.by else words


def _short(v) -> str:
    if isinstance(v, str):
        return repr(v)
    if isinstance(v, list):
        return "[" + ", ".join(_short(x) for x in v) + "]"
    return f"{v:.10g}"


def _shown_givens(given: dict) -> list:
    """(symbol, value) of the givens in order; a sequence longer than a table's limit shows
    both ends with (None, None) for the dots between, as the step tables do."""
    by_base: dict = {}
    for s in sorted(given, key=_given_key):
        by_base.setdefault(_given_key(s)[0], []).append(s)
    out = []
    for syms in by_base.values():
        shown = shown_rows(syms)
        for k, s in enumerate(shown):
            if k == ROWS_AT_ENDS and len(shown) < len(syms):
                out.append((None, None))
            out.append((s, given[s]))
    return out


def _given_key(s):
    base, idx = split_name(s)
    return (base, int(idx) if idx and idx.isdigit() else -1)


def _lhs_symbol(eq):
    return sym(f"{eq.name}[t]") if eq.indexed else sym(eq.name)


#: A sum over t of quantities is written out term by term up to this many steps.
SHORT_SUM_T = 4


def _sums_over_t(eq, T) -> bool:
    """A plain equation with a sum over t, written with its Σ as the author did rather than
    unrolled into T terms (L = L_1 + L_2 reads well only for a sum of few quantities; a mean
    over t is always written as (1/T) Σ_t)."""
    return not eq.indexed and any(
        isinstance(n, ex.Call) and n.func in ex.OVER_T and ex.uses_t(n.args[0]) and
        (n.func == "mean" or not isinstance(n.args[0], ex.Ref) or (T or 0) > SHORT_SUM_T)
        for n in ex.walk(eq.expr))


def _eq_expr(sol, eq):
    for n in sol.graph.nodes.values():
        if n.equation is eq:
            return n.template.expr
    return sym(eq.name)


@functools.lru_cache(maxsize=None)
def _env() -> jinja2.Environment:
    return jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATES)),
                              undefined=jinja2.StrictUndefined, autoescape=False,
                              keep_trailing_newline=True, trim_blocks=True, lstrip_blocks=True)


TEMPLATE_OF = {"md": "solution.md.j2", "tex": "solution.tex.j2"}


def documents(sol: Solution, formats=("md", "tex")) -> dict:
    """format -> document text, from one view of the solution; with Markdown comes "svg", the
    figure it shows (time-indexed problems)."""
    v = view(sol)
    out = {f: _env().get_template(TEMPLATE_OF[f]).render(**v, view=v) for f in formats}
    if "md" in formats and v["figure_md"]:
        out["svg"] = v["figure_svg"]
    if "md" in formats:
        out.update(v["plots"])  # sweep-<id>.svg: file name -> SVG
    return out


def book(sols, title: str, solutions: bool = True) -> str:
    """One LaTeX document for several solved problems: a title page, a table of contents with
    links, and per problem its statement, model, questions and (``solutions``) the worked
    solutions; without solutions it is the students' question sheet."""
    views = []
    for i, sol in enumerate(sols, start=1):
        v = view(sol)
        v["label"] = f"p{i}"
        if not solutions and v["figure_tex"]:  # forward values on the nodes would answer
            v["figure_tex"] = figure.tikz(figure.build(sol, values=False))
        views.append(v)
    return _env().get_template("book.tex.j2").render(
        title_tex=tex_text(title), problems=views, solutions=solutions, count=len(views),
        subtitle_tex="Answer key with worked solutions" if solutions else "Questions")


def markdown(sol: Solution) -> str:
    return documents(sol, ("md",))["md"]


def latex(sol: Solution) -> str:
    return documents(sol, ("tex",))["tex"]


def answers(sol: Solution) -> dict:
    """id -> {find, exact, latex, value}, as the spec's JSON has it."""
    v = _View(sol)
    out = {}
    for qs in sol.questions:
        if qs.answer is None:
            continue
        a = qs.answer
        value = a.value
        out[qs.question.id] = {
            "find": qs.question.find_text,
            "exact": a.text if isinstance(a, DataAnswer) else _exact_json(a.exact),
            "latex": v.answer_of(a),  # as the solution shows it
            "value": value,
        }
        check = sol.checks.get(qs.question.id)
        if check is not None:
            out[qs.question.id]["check"] = check.to_json()
    return out


def _exact_json(exact):
    """The JSON ``exact``: text, null, or for a sweep a list of texts (null where inexact)."""
    if exact is None:
        return None
    if isinstance(exact, tuple):
        return [exact_text(x) if x is not None else None for x in exact]
    return exact_text(exact)


def to_json(sol: Solution) -> dict:
    return {"file": sol.problem.file, "title": sol.problem.title, "answers": answers(sol)}


def dumps(obj) -> str:
    return json.dumps(obj, ensure_ascii=False)


def summary_rows(sol: Solution) -> list:
    """(id, question, answer) as plain text for the terminal table."""
    rows = []
    for qid, a in answers(sol).items():
        rows.append((qid, a["find"], plain(a["latex"])))
    return rows
