"""The unrolled computational graph, from the problem's own equations."""

import xml.etree.ElementTree as ET

import pytest

from derive.output import figure, render
from derive.calculus.questions import solve
from derive.lang.loader import load

from conftest import PROBLEMS, ROOT


def test_q1_graph_has_states_inputs_outputs_losses_and_parameters():
    fig = figure.build(solve(load(ROOT / "problems/q1.yaml")))
    labels = {n.key: (n.label, n.value) for n in fig.nodes}
    assert labels[("h", 0)] == ("h_{0}", "1") and labels[("h", 2)] == ("h_{2}", "3")
    assert labels[("x", 1)] == ("x_{1}", "10") and labels[("yhat", 2)] == (r"\hat{y}_{2}", "6")
    assert labels[("L", None)] == ("L", "2")
    edges = {(e.src, e.dst): e.label for e in fig.edges}
    assert edges[(("h", 1), ("h", 2))] == "W_{h}"
    assert edges[(("x", 2), ("h", 2))] == "W_{x}"
    assert edges[(("h", 2), ("yhat", 2))] == "W_{y}"
    assert edges[(("L", 1), ("L", None))] == ""


def test_long_sequences_show_both_ends_and_no_values():
    fig = figure.build(solve(load(ROOT / "problems/tanh_rnn.yaml")))
    steps = sorted({n.key[1] for n in fig.nodes if n.key[0] == "h"})
    assert steps == [0, 1, 2, 3, 4, 5, 6] and all(n.value == "" for n in fig.nodes)


def test_svg_beside_the_markdown_is_well_formed():
    for path in PROBLEMS:
        sol = solve(load(path))
        docs = render.documents(sol, ("md",))
        if not sol.problem.steps:
            assert "svg" not in docs and "graph.svg" not in docs["md"]
            continue
        root = ET.fromstring(docs["svg"])
        assert root.tag.endswith("svg") and "![The unrolled computational graph](graph.svg)" \
            in docs["md"]
        assert len(root.findall("{http://www.w3.org/2000/svg}rect")) >= 4


def test_gradients_on_the_nodes_as_an_option():
    from derive.calculus.questions import solve as solve_problem
    sol = solve_problem(load(ROOT / "problems/q1.yaml"), gradients=True)
    fig = figure.build(sol)
    grads = {n.key: n.grad for n in fig.nodes}
    # ∂L/∂h_1 = 0 and ∂L/∂h_2 = 4, as in seed 001; ∂L/∂ŷ_t = 2(ŷ_t − y_t)
    assert grads[("h", 1)] == "0" and grads[("h", 2)] == "4"
    assert grads[("yhat", 1)] == "-2" and grads[("yhat", 2)] == "2" and grads[("L", None)] == "1"
    assert r"\color{red!65!black}$4$" in figure.tikz(fig)
    assert "gradient of $L$" in render.view(sol)["figure_caption"]
    plain = figure.build(solve(load(ROOT / "problems/q1.yaml")))
    assert all(n.grad == "" for n in plain.nodes)
    vec = solve_problem(load(ROOT / "problems/vector_rnn.yaml"), gradients=True)
    assert vec.gradients[next(s for s in vec.gradients if s.name == "L[2]")] == 1


# ---- the layout rule: every edge seen, labels off nodes ------------------------------------

GRAPHS = [p for p in PROBLEMS if load(p).steps] + [
    ROOT / "tests/cases/lead_gru_pytorch.yaml", ROOT / "tests/cases/lead_relu_explode.yaml",
    ROOT / "tests/cases/lead_stacked.yaml", ROOT / "tests/cases/truncate_two_readers.yaml"]


def _geometry(fig):
    """Boxes (cx, cy, w, h) in cm of the nodes, and each edge's visible segment (cm), from the
    border of its source's box to its target's, worked out here independently of the layout."""
    box = {n.key: (n.x * fig.ux, n.y * fig.uy, n.w, n.h) for n in fig.nodes}

    def border(frm, to):  # where the line from frm's centre to to's centre leaves to's box
        (x1, y1), (x2, y2, w, h) = frm[:2], to
        dx, dy = x2 - x1, y2 - y1
        k = min(w / 2 / abs(dx) if dx else 1e9, h / 2 / abs(dy) if dy else 1e9)
        return x2 - dx * k, y2 - dy * k

    segs = [(border(box[e.dst], box[e.src]), border(box[e.src], box[e.dst])) for e in fig.edges]
    return box, segs


def _meets(seg, b, samples=400):
    (x1, y1), (x2, y2) = seg
    cx, cy, w, h = b
    return any(abs(x1 + (x2 - x1) * i / samples - cx) < w / 2 and
               abs(y1 + (y2 - y1) * i / samples - cy) < h / 2 for i in range(samples + 1))


def _overlap(a, b):
    return abs(a[0] - b[0]) < (a[2] + b[2]) / 2 and abs(a[1] - b[1]) < (a[3] + b[3]) / 2


def _shared_length(s, t):
    """The length (cm) along which two segments run on one line (0 unless collinear)."""
    (ax, ay), (bx, by) = s
    dx, dy = bx - ax, by - ay
    n = (dx * dx + dy * dy) ** 0.5
    ux, uy = dx / n, dy / n
    if any(abs((px - ax) * uy - (py - ay) * ux) > 0.02 for px, py in t):
        return 0.0
    ps = sorted(((px - ax) * ux + (py - ay) * uy) for px, py in t)
    return max(0.0, min(n, ps[1]) - max(0.0, ps[0]))


@pytest.mark.parametrize("values", [True, False], ids=["values", "sheet"])
@pytest.mark.parametrize("path", GRAPHS, ids=[p.stem for p in GRAPHS])
def test_every_edge_is_seen_and_every_label_sits_on_its_own_edge_off_the_nodes(path, values):
    fig = figure.build(solve(load(path)), values=values)
    box, segs = _geometry(fig)
    for e, seg in zip(fig.edges, segs):
        through = [k for k, b in box.items() if k not in (e.src, e.dst) and _meets(seg, b)]
        assert through == [], (e.src, e.dst, through)  # no edge runs through another box
    for i, s in enumerate(segs):
        for j in range(i):
            assert _shared_length(s, segs[j]) < 0.05, (fig.edges[i], fig.edges[j])
    keys = list(box)
    for i, a in enumerate(keys):
        for b in keys[i + 1:]:
            assert not _overlap(box[a], box[b]), (a, b)
    labels = []
    for e, ((x1, y1), (x2, y2)) in zip(fig.edges, segs):
        if not e.label:
            assert e.at == ()
            continue
        cx, cy = e.at[0] * fig.ux, e.at[1] * fig.uy
        # on its own edge, between the two boxes
        assert abs((cx - x1) * (y2 - y1) - (cy - y1) * (x2 - x1)) < 0.01 * (
            abs(x2 - x1) + abs(y2 - y1)), e
        assert min(x1, x2) - 0.01 <= cx <= max(x1, x2) + 0.01
        assert min(y1, y2) - 0.01 <= cy <= max(y1, y2) + 0.01
        lb = (cx, cy, *figure._label_box(e.label))
        assert not any(_overlap(lb, b) for b in box.values()), e  # off every node
        labels.append(lb)
    if path.stem in ("gru", "lead_gru_pytorch", "lstm"):
        assert not any(_overlap(a, b) for i, a in enumerate(labels) for b in labels[:i])


def test_the_gates_of_a_gru_step_fan_out_and_every_edge_into_them_is_distinct():
    fig = figure.build(solve(load(ROOT / "tests/cases/lead_gru_pytorch.yaml")))
    at = {n.key: (n.x, n.y) for n in fig.nodes}
    # r_t and z_t read the same inputs: one level, side by side
    assert at[("r", 2)][1] == at[("z", 2)][1] and at[("r", 2)][0] != at[("z", 2)][0]
    # n_t reads r_t, h_t reads z_t and n_t: each a level higher
    assert at[("n", 2)][1] > at[("r", 2)][1] and at[("h", 2)][1] > at[("n", 2)][1]
    # the edges from x_t to r_t, z_t, n_t leave x_t in three directions
    x = at[("x", 2)]
    slopes = {((at[(g, 2)][0] - x[0]) / (at[(g, 2)][1] - x[1])) for g in "rzn"}
    assert len(slopes) == 3
    edges = {(e.src, e.dst): e.label for e in fig.edges}
    assert edges[(("x", 2), ("z", 2))] == "W_{iz}" and edges[(("h", 1), ("n", 2))] == "W_{hn}"
    assert (("r", 2), ("n", 2)) in edges and (("z", 2), ("h", 2)) in edges
    # the label W_iz sits on its edge x_2 -> z_2, not on r_2
    lab = next(e.at for e in fig.edges if e.src == ("x", 2) and e.dst == ("z", 2))
    assert x[1] < lab[1] < at[("z", 2)][1]


def test_a_simple_rnn_keeps_its_column_per_step():
    fig = figure.build(solve(load(ROOT / "problems/q1.yaml")))
    at = {n.key: (n.x, n.y) for n in fig.nodes}
    for t in (1, 2):
        assert at[("x", t)][0] == at[("h", t)][0] == at[("yhat", t)][0]
        assert at[("x", t)][1] < at[("h", t)][1] < at[("yhat", t)][1] < at[("L", t)][1]
    assert at[("h", 0)][1] == at[("h", 1)][1] == at[("h", 2)][1]  # the recurrence is level
    assert at[("L", None)][1] > at[("L", 1)][1]


def test_the_figure_is_the_same_every_time():
    sol = solve(load(ROOT / "tests/cases/lead_gru_pytorch.yaml"))
    a, b = figure.build(sol), figure.build(solve(load(ROOT / "tests/cases/lead_gru_pytorch.yaml")))
    assert a == b and figure.tikz(a) == figure.tikz(b)
    assert render.documents(sol, ("md",))["svg"] == render.documents(sol, ("md",))["svg"]


def test_tikz_boxes_have_the_layout_sizes_and_labels_their_places():
    fig = figure.build(solve(load(ROOT / "problems/gru.yaml")))
    tex = figure.tikz(fig)
    n = next(n for n in fig.nodes if n.key == ("r", 1))
    assert rf"\node[q, minimum width={n.w:g}cm, minimum height={n.h:g}cm] (r-1) " \
           rf"at ({n.x:g},{n.y:g})" in tex
    e = next(e for e in fig.edges if e.src == ("x", 1) and e.dst == ("r", 1))
    assert rf"\node[p] at ({e.at[0]:g},{e.at[1]:g}) {{$w_{{r}}$}};" in tex
    assert tex.index(r"\node[p]") > tex.rindex(r"\draw[e]")  # labels over the lines


def test_the_readme_shows_the_current_gru_graph():
    import os
    svg = render.documents(solve(load(ROOT / "tests/cases/lead_gru_pytorch.yaml")), ("md",))["svg"]
    path = ROOT / "docs" / "graph-gru-pytorch.svg"
    if os.environ.get("DERIVE_UPDATE_GOLDEN"):
        path.write_text(svg)
    assert path.read_text() == svg, "run with DERIVE_UPDATE_GOLDEN=1 to refresh docs/"
    assert "docs/graph-gru-pytorch.svg" in (ROOT / "README.md").read_text()


def test_a_backward_recurrence_is_drawn_from_its_start_after_T():
    sol = solve(load(ROOT / "problems/bidirectional.yaml"))
    fig = figure.build(sol)
    at = {n.key: (n.x, n.y) for n in fig.nodes}
    edges = {(e.src, e.dst): e.label for e in fig.edges}
    # hb_4 (the given start) on the right, each edge from step t+1 to step t
    assert at[("hb", 4)][0] > at[("hb", 3)][0] > at[("hb", 2)][0] > at[("hb", 1)][0]
    assert edges[(("hb", 4), ("hb", 3))] == edges[(("hb", 2), ("hb", 1))] == "W_{b}"
    assert (("hb", 1), ("hb", 2)) not in edges
    assert edges[(("h", 0), ("h", 1))] == "W_{f}" and ("hb", 0) not in at
    # beside the forward state, the backward one runs along its own level
    assert at[("hb", 2)][1] > at[("h", 2)][1]
    assert ET.fromstring(render.documents(sol, ("md",))["svg"]) is not None


def test_an_earlier_start_gets_its_own_column_and_a_skip_is_an_arc():
    sol = solve(load(ROOT / "tests/cases/time_lag_two.yaml"))
    fig = figure.build(sol)
    at = {n.key: n.x for n in fig.nodes}
    assert at[("h", -1)] < at[("h", 0)] < at[("h", 1)]
    edges = {(e.src, e.dst) for e in fig.edges}
    assert (("h", -1), ("h", 1)) in edges and (("h", 0), ("h", 2)) in edges
    # h[t-2] -> h[t] is an arc over h[t-1], not a line through it; its label on the arc
    arcs = {(e.src, e.dst): e for e in fig.edges if e.bend}
    assert set(arcs) == {(("h", t - 2), ("h", t)) for t in range(1, 5)}
    row = next(n.y for n in fig.nodes if n.key == ("h", 1))
    assert all(e.label == "b" and e.at[1] > row for e in arcs.values())
    assert r"(h--1) to[bend left=35] (h-1);" in figure.tikz(fig)
    assert ET.fromstring(render.documents(sol, ("md",))["svg"]).findall(
        "{http://www.w3.org/2000/svg}path")
