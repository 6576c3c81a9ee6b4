"""Page layout: the Given block breaks into rows that fit, a long inline formula becomes a
display, the Shapes items never break inside, row vectors line up down a table column."""

from derive.output import layout


def test_given_items_pack_into_rows_that_fit_the_line():
    items = [rf"x_{{{i}}} = \begin{{bmatrix}} 0.25 & -0.5 & 0.125 \end{{bmatrix}}" for i in range(9)]
    rows = layout.pack(items)
    assert len(rows) > 1 and ",\\quad ".join(rows) == ",\\quad ".join(items)  # order kept
    assert all(layout.width(r) <= layout.LINE for r in rows)
    wide = r"W = \begin{bmatrix} " + " & ".join(["0.123456"] * 12) + r" \end{bmatrix}"
    assert layout.pack(["a = 1", wide, "b = 2"]) == ["a = 1", wide, "b = 2"]  # a row of its own
    assert layout.pack(["a = 1", "b = 2"]) == [r"a = 1,\quad b = 2"]


def test_shapes_items_stay_whole():
    assert layout.unbroken([r"x_{t} \in \mathbb{R}^{3}", r"W \in \mathbb{R}^{3 \times 3}"]) == \
        r"\mbox{$x_{t} \in \mathbb{R}^{3}$}, \mbox{$W \in \mathbb{R}^{3 \times 3}$}"


def test_a_long_inline_formula_becomes_a_display_with_its_punctuation():
    long = (r"\frac{\partial h_{t}}{\partial h_{t - 1}} = \operatorname{diag}\left(\mathbf{1}"
            r"\left[W h_{t - 1} + U x_{t} > 0\right]\right) W")
    text = f"with the local Jacobian ${long}$: and $x_{{t}}$ short, costs \\$5."
    assert layout.display_long(text) == \
        rf"with the local Jacobian \[{long}{{:}}\] and $x_{{t}}$ short, costs \$5."
    assert layout.display_long("plain $a + b$.") == "plain $a + b$."


def test_row_vectors_line_up_down_a_column():
    body = [["1", r"\begin{bmatrix} 0.5 & -0.25 \end{bmatrix}^\top", "x"],
            ["2", r"\begin{bmatrix} -0.125 & 2 \end{bmatrix}^\top", "y"]]
    out = layout.align_row_vectors(body)
    assert out[0][1] == (r"\begin{bmatrix} \phantom{-0.125}\llap{$0.5$} & -0.25 "
                         r"\end{bmatrix}^\top")
    assert out[1][1] == r"\begin{bmatrix} -0.125 & \phantom{-0.25}\llap{$2$} \end{bmatrix}^\top"
    assert out[0][2] == "x" and body[0][1].startswith(r"\begin{bmatrix} 0.5")  # a copy


def test_a_broken_row_keeps_brackets_that_enclose_a_fraction_visibly():
    rows = [("x", "= W^{\\top} \\left(\\frac{\\partial L}{\\partial n} \\odot \\left(1 - n\\right)"
             "\\right) + " + " + ".join(f"a_{{{i}}} b_{{{i}}}" for i in range(30)))]
    text = " ".join(r for _, r in layout.break_rows(rows))
    assert r"W^{\top} \Bigl(\frac{\partial L}{\partial n} \odot \bigl(1 - n\bigr)\Bigr)" in text
    assert r"\left" not in text and r"\right" not in text
