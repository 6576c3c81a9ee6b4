"""Rendering: golden files for q1, the four levels of the derivation, author-text escaping."""

import os

import pytest

from derive.output import render
from derive.calculus.questions import solve
from derive.lang.loader import load, loads

from conftest import ROOT

GOLDEN = ROOT / "tests" / "golden"


@pytest.fixture(scope="module")
def q1():
    return solve(load("problems/q1.yaml"))


@pytest.mark.parametrize("kind", ["md", "tex"])
def test_q1_matches_golden(q1, kind):
    text = render.markdown(q1) if kind == "md" else render.latex(q1)
    path = GOLDEN / f"q1.{kind}"
    if os.environ.get("DERIVE_UPDATE_GOLDEN"):
        path.write_text(text)
    assert text == path.read_text()


def test_vector_problem_matches_golden():
    """The matrix forms textbooks use, with every number: a golden file for one vector RNN."""
    text = render.markdown(solve(load("problems/vector_rnn.yaml")))
    path = GOLDEN / "vector_rnn.md"
    if os.environ.get("DERIVE_UPDATE_GOLDEN"):
        path.write_text(text)
    assert text == path.read_text()
    # the backward recursion in matrix form, and the parameter's gradient as a sum of outer
    # products, as the issue asks for them
    assert (r"\frac{\partial L}{\partial h_{t}} &= W_{y}^{\top} \frac{\partial L}"
            r"{\partial \hat{y}_{t}} + W_{hh}^{\top} \operatorname{diag}\left(1 - h_{t + 1} "
            r"\odot h_{t + 1}\right) \frac{\partial L}{\partial h_{t + 1}}") in text
    assert (r"\sum_{t=1}^{T} \operatorname{diag}\left(1 - h_{t} \odot h_{t}\right) "
            r"\frac{\partial L}{\partial h_{t}} h_{t - 1}^{\top}") in text
    assert r"\frac{\partial h_{t}}{\partial h_{t - 1}} = \operatorname{diag}\left(1 - h_{t} " \
           r"\odot h_{t}\right) W_{hh}" in text
    assert r"W_{hh} \in \mathbb{R}^{2 \times 2}" in text


LEVELS = [
    # split over loss terms
    r"\frac{\partial L}{\partial W_{h}} &= \frac{\partial L_{1}}{\partial W_{h}} + "
    r"\frac{\partial L_{2}}{\partial W_{h}}",
    # the chain rule over all paths, Leibniz form
    r"\frac{\partial L_{2}}{\partial \hat{y}_{2}} \cdot \frac{\partial \hat{y}_{2}}"
    r"{\partial h_{2}} \cdot \left(\frac{\partial h_{2}}{\partial W_{h}} + "
    r"\frac{\partial h_{2}}{\partial h_{1}} \cdot \frac{\partial h_{1}}{\partial W_{h}}\right)",
    # local derivatives written out
    r"2 \left(\hat{y}_{1} - y_{1}\right) W_{y} h_{0} + 2 \left(\hat{y}_{2} - y_{2}\right) "
    r"W_{y} \left(h_{1} + W_{h} h_{0}\right)",
    # numbers put in, not evaluated
    r"2 \left(4 - 5\right) \left(2\right) \left(1\right) + 2 \left(6 - 5\right) \left(2\right) "
    r"\left(2 + \left(1\right) \left(1\right)\right)",
    # the result
    r"&= 8",
]


@pytest.mark.parametrize("kind", ["md", "tex"])
def test_q1_shows_the_four_levels_in_order(q1, kind):
    text = render.markdown(q1) if kind == "md" else render.latex(q1)
    section = text.split("Question d")[1].split("Question e")[0]
    pos = [section.find(level) for level in LEVELS]
    assert all(p >= 0 for p in pos), list(zip(LEVELS, pos))
    assert pos == sorted(pos)


def test_forward_values_come_first(q1):
    md = render.markdown(q1)
    forward = md.split("## Forward pass")[1].split("## Question a")[0]
    for item in (r"h_{1} &= W_{h} h_{0} + W_{x} x_{1} = \left(1\right) \left(1\right) + "
                 r"\left(0.1\right) \left(10\right) = 2",
                 r"\hat{y}_{1} &= W_{y} h_{1} = \left(2\right) \left(2\right) = 4",
                 r"L &= L_{1} + L_{2} = 1 + 1 = 2"):
        assert item in forward
    section = md.split("Question d")[1].split("## Question e")[0]
    # the question names the values it reads, then derives
    ref = ("Forward values: see the forward pass above ($h_{1}$, $h_{2}$, $\\hat{y}_{1}$, "
           "$\\hat{y}_{2}$, $L_{1}$, $L_{2}$, $L$).")
    assert ref in section
    assert section.index(ref) < section.index(r"\frac{\partial L_{1}}")


def test_author_text_is_escaped_for_latex():
    assert render.tex_text(r"50% of \input{x}") == r"50\% of {\textbackslash}input\{x\}"
    assert render.tex_text(r"keep $\hat y_2$ math") == r"keep $\hat y_2$ math"
    assert r"\input" not in render.tex_text(r"bad $\input{/etc/passwd}$").replace(
        r"{\textbackslash}input", "")


def test_plain_text_summary(q1):
    rows = render.summary_rows(q1)
    assert ("d", "d(L, W_h)", "8") in rows


def test_markdown_keeps_math_and_neutralises_html():
    assert render.md_text("if $a < b$ then <script>") == "if $a < b$ then &lt;script&gt;"


KATEX_SCRIPT = r"""
const katex = require(process.argv[2]);
const items = JSON.parse(require("fs").readFileSync(0, "utf8"));
const bad = [];
for (const [tex, display] of items) {
  try { katex.renderToString(tex, {displayMode: display, throwOnError: true, strict: "error"}); }
  catch (e) { bad.push([tex.slice(0, 120), e.message.slice(0, 200)]); }
}
console.log(JSON.stringify(bad));
"""


def katex_rejects(items, tmp_path) -> list:
    """The (formula, error) pairs KaTeX (node, the npm package) rejects among ``items``, each
    (LaTeX, display?).  The README's test command installs katex."""
    import json
    import shutil
    import subprocess

    node = shutil.which("node")
    assert node, "node is missing: apt-get install nodejs npm (see the README's test command)"
    katex = ROOT / ".ci" / "node" / "node_modules" / "katex"
    assert katex.is_dir(), "katex is missing: npm install --prefix .ci/node katex@0.16"
    script = tmp_path / "check.js"
    script.write_text(KATEX_SCRIPT)
    r = subprocess.run([node, str(script), str(katex)], input=json.dumps(items),
                       capture_output=True, text=True, check=True)
    return json.loads(r.stdout)


def test_every_markdown_formula_renders_with_katex(tmp_path):
    """GitHub renders $...$ and $$...$$ math: KaTeX (node, the npm package) must accept every
    formula of every bundled solution.  The README's test command installs katex."""
    import re

    from conftest import PROBLEMS
    items = []
    cases = sorted((ROOT / "tests" / "cases").glob("*.yaml"))  # every course exercise
    for path in PROBLEMS + cases:
        md = render.markdown(solve(load(path)))
        for m in re.finditer(r"\$\$(.+?)\$\$|\$([^$\n]+?)\$", md, re.S):
            items.append((m.group(1) or m.group(2), m.group(1) is not None))
    assert len(items) > 1000
    assert katex_rejects(items, tmp_path) == []


def test_terminal_text_keeps_the_brackets_of_a_fraction():
    assert render.plain(r"\frac{2 \tanh{\left(1.1 \right)} - 0.7}{T} + \frac{0.08317}{T}") == \
        "(2 tanh(1.1 ) - 0.7)/T + 0.08317/T"
    assert render.plain(r"-\frac{3}{4 T}") == "-3/(4 T)"
    assert render.plain(r"\frac{1}{2}") == "1/2"


def test_straight_quotes_in_author_text_open_and_close():
    # LaTeX prints a straight " as a closing quote (”abc”): the opening one must be made
    assert render.tex_text('say "abc" now') == r"say {\textquotedblleft}abc'' now"
    assert render.tex_text("a 'word' here") == r"a {\textquoteleft}word' here"
    assert render.tex_text("it's W_h's") == r"it's W\_h's"  # apostrophes stay
    assert render.tex_text('("q") and "$x$ is" ok') == \
        r"({\textquotedblleft}q'') and {\textquotedblleft}$x$ is'' ok"
    assert render.tex_text("keep $f''(x)$ and a \" b") == r"keep $f''(x)$ and a '' b"
    assert render.tex_text('"\\input{x}"') == r"{\textquotedblleft}{\textbackslash}input\{x\}''"
    assert render.md_text('say "abc"') == 'say "abc"'  # Markdown shows them as typed


def test_relu_and_gru_markdown_formulas_render_with_katex(tmp_path):
    """The course cases carry what no bundled problem does (relu's indicator, PyTorch's GRU):
    KaTeX must accept every formula of their Markdown too."""
    import re

    items = []
    for name in ("lead_relu_explode", "lead_gru_pytorch"):
        md = render.markdown(solve(load(ROOT / "tests/cases" / f"{name}.yaml")))
        for m in re.finditer(r"\$\$(.+?)\$\$|\$([^$\n]+?)\$", md, re.S):
            items.append((m.group(1) or m.group(2), m.group(1) is not None))
    assert any(r"\mathbf{1}\left[" in tex for tex, _ in items)  # relu's indicator is there
    assert not any(r"\mathbb{1}" in tex for tex, _ in items)
    assert katex_rejects(items, tmp_path) == []


@pytest.fixture(scope="module")
def relu():
    """The relu RNN of issue 11, whose exact numbers are fractions such as 514399/8192."""
    return solve(load(ROOT / "tests/cases/lead_relu_explode.yaml"))


def test_numbers_follow_the_rule_everywhere(relu):
    """No long fraction is shown anywhere (forward values, matrices, tables, substitutions,
    answers, Markdown and LaTeX alike); short ones stay exact, full size in a matrix."""
    import re
    md, tex = render.markdown(relu), render.latex(relu)
    for text in (md, tex):
        assert not re.search(r"frac\{\d{4,}\}|frac\{\d+\}\{\d{4,}\}", text)
        assert "62.79" in text  # L = 514399/8192
    # h_2 = (61/16, 69/32): exact, full size, with room between the rows
    assert r"\begin{bmatrix} \dfrac{61}{16} \\[1em] \dfrac{69}{32} \end{bmatrix}" in md
    # dL/dW's step terms: 16807/1024 is 16.41, 16807/2048 is 8.207
    assert r"\begin{bmatrix} 16.41 & 8.207 \\ 16.41 & 8.207 \end{bmatrix}" in md
    # table rows that hold matrices are kept apart in LaTeX
    assert r"\\\noalign{\vskip 3pt}" in tex


def test_the_json_and_the_terminal_keep_exact_and_show_rounded(relu):
    a = render.answers(relu)
    assert a["L"]["exact"] == "514399/8192"
    assert a["L"]["value"] == 514399 / 8192
    assert a["L"]["latex"] == "62.79"
    assert a["W"]["exact"] == "[[32493/256, 66837/1024], [32493/256, 66837/1024]]"
    assert a["W"]["value"] == [[32493 / 256, 66837 / 1024]] * 2
    assert a["J"]["latex"] == (r"\begin{bmatrix} 11.28 & 10.28 \\ 5.138 & 6.138 "
                               r"\end{bmatrix}")  # 5773/512, 5261/512; 5261/1024, 6285/1024
    rows = {qid: shown for qid, _, shown in render.summary_rows(relu)}
    assert rows["L"] == "62.79"
    assert rows["J"] == "[ 11.28 10.28; 5.138 6.138 ]"


def test_the_number_rule_is_said_once_when_something_is_rounded(relu, q1):
    from derive.output.printing import NUMBERS_NOTE
    md, tex = render.markdown(relu), render.latex(relu)
    assert md.count("Numbers: integers, fractions and decimals") == 1
    assert tex.count("Numbers: integers, fractions and decimals") == 1
    assert md.index("Numbers: ") < md.index("## Question")
    assert NUMBERS_NOTE in md
    # q1's numbers are all exact: no note
    assert "Numbers: " not in render.markdown(q1)
    assert "Numbers: " not in render.latex(q1)


def test_an_exact_form_with_rounded_numbers_is_not_shown():
    """An answer is shown as exact form ≈ value only when the form is exact as shown."""
    from conftest import solve_text
    sol = solve_text("""
title: A long coefficient
equations:
  L: 8187543/131072 * tanh(w)
  M: tanh(w) / 2
given:
  w: 0.5
questions:
  - id: L
    find: L
  - id: M
    find: M
""")
    a = render.answers(sol)
    assert a["L"]["latex"] == "28.87"  # 62.47 tanh(0.5) would not be exact
    assert a["M"]["latex"] == r"\frac{\tanh{\left(0.5 \right)}}{2} \approx 0.2311"
    md = render.markdown(sol)
    # the formula keeps its constants exact; the value put in is the given 0.5
    assert (r"L &= \frac{8187543 \tanh{\left(w \right)}}{131072} = "
            r"\frac{8187543 \tanh{\left(0.5 \right)}}{131072} = 28.87") in md


def test_givens_are_shown_as_written_and_values_by_the_rule():
    from conftest import solve_text
    sol = solve_text("""
title: Givens as written
equations:
  L: w * x
given:
  w: 0.12345
  x: [0.5, 1234567]
questions:
  - id: L
    find: L
""")
    md = render.markdown(sol)
    assert r"& w = 0.12345,\quad x = \begin{bmatrix} 0.5 \\ 1234567 \end{bmatrix}" in md
    # 0.12345 * 1234567 = 152407.29615: rounded, in scientific form from 1000 on
    assert render.answers(sol)["L"]["latex"] == \
        r"\begin{bmatrix} 0.06173 \\ 1.524 \times 10^{5} \end{bmatrix}"
    assert render.summary_rows(sol)[0][2] == "[ 0.06173; 1.524 × 10^5 ]"


def test_notes_use_the_problems_own_names():
    """The softmax cross-entropy note speaks of the problem's quantities: p_t and the targets
    q_t here, never a ŷ_t the problem does not have."""
    text = (ROOT / "problems/softmax_rnn.yaml").read_text()
    renamed = text.replace("yhat[", "p[").replace("y[t]", "q[t]").replace("\n  y: ", "\n  q: ")
    renamed = renamed.split("questions:")[0] + "questions:\n  - find: d(L, W_hy)\n"
    md = render.markdown(solve(loads(renamed, "renamed.yaml")))
    note = next(ln for ln in md.splitlines() if ln.startswith("Softmax with cross-entropy"))
    assert note == (r"Softmax with cross-entropy: since the entries of $q_{t}$ sum to 1, "
                    r"$(\operatorname{diag}(p_{t}) - p_{t} p_{t}^\top)(-q_{t} \oslash p_{t}) = "
                    r"p_{t} (\mathbf{1}^\top q_{t}) - q_{t} = p_{t} - q_{t}$.")
    assert r"\hat" not in md.split("## Question")[1]
    mc = render.markdown(solve(load(ROOT / "tests/cases/entries_min_char_rnn.yaml")))
    assert r"\hat" not in mc and r"(\operatorname{diag}(p_{t}) - p_{t} p_{t}^\top)" in mc


def test_a_relu_chain_says_that_its_indicator_is_the_identity():
    """Every pre-activation of the relu RNN is positive: diag(𝟏[·]) = I, and the key says so
    before the matrices that leave it out (which are W itself, the numbers show)."""
    md = render.markdown(solve(load(ROOT / "tests/cases/lead_relu_explode.yaml")))
    q = md.split("## Question J")[1]
    note = (r"At these numbers every entry of $W h_{t - 1} + U x_{t}$ is positive at every step "
            r"of the chain, so $\operatorname{diag}\left(\mathbf{1}\left[W h_{t - 1} + U x_{t} "
            r"> 0\right]\right) = I$ and the matrices below leave it out: each factor is $W$.")
    assert note in q and q.index(note) < q.index("The chain rule over the steps")
    w = r"\begin{bmatrix} 1.5 & 0.5 \\ 0.25 & 1.25 \end{bmatrix}"
    assert " ".join([w] * 5) in q  # the factors shown are W's numbers
    # a step with an entry at or below 0 keeps its indicator: no note then
    text = (ROOT / "tests/cases/lead_relu_explode.yaml").read_text().replace(
        "[0, 1], [1, 1]", "[-30, -30], [1, 1]")
    md2 = render.markdown(solve(loads(text, "relu.yaml")))
    assert "is positive at $t = 3, 4, 5, 6$, so" in md2  # not at 2


def test_the_new_functions_formulas_render_with_katex(tmp_path):
    """max's indicator, log softmax's Jacobian, a stack as a column vector and the mean over
    the steps, in every formula of the course exercises that use them."""
    import json
    import re
    import shutil
    import subprocess

    node = shutil.which("node")
    katex = ROOT / ".ci" / "node" / "node_modules" / "katex"
    assert node and katex.is_dir(), "node and katex are needed (see the README's test command)"
    items = []
    for path in sorted((ROOT / "tests" / "cases").glob("funcs_*.yaml")):
        md = render.markdown(solve(load(path)))
        for m in re.finditer(r"\$\$(.+?)\$\$|\$([^$\n]+?)\$", md, re.S):
            items.append((m.group(1) or m.group(2), m.group(1) is not None))
    assert any(r"\tfrac{1}{2}\,\mathbf{1}" in tex for tex, _ in items)
    script = tmp_path / "check.js"
    script.write_text(KATEX_SCRIPT)
    r = subprocess.run([node, str(script), str(katex)], input=json.dumps(items),
                       capture_output=True, text=True, check=True)
    assert json.loads(r.stdout) == []
