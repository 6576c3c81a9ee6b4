"""The unrolled computational graph, from the problem's own equations."""

import xml.etree.ElementTree as ET

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
    # the backward row stands half a column over, so h_t -> yhat_t passes between its nodes
    assert at[("hb", 2)][0] - at[("h", 2)][0] == 0.5
    assert "pos=0.25" in figure.tikz(fig) and ET.fromstring(render.documents(sol, ("md",))["svg"])


def test_an_earlier_start_gets_its_own_column():
    sol = solve(load(ROOT / "tests/cases/time_lag_two.yaml"))
    fig = figure.build(sol)
    at = {n.key: n.x for n in fig.nodes}
    assert at[("h", -1)] < at[("h", 0)] < at[("h", 1)]
    edges = {(e.src, e.dst) for e in fig.edges}
    assert (("h", -1), ("h", 1)) in edges and (("h", 0), ("h", 2)) in edges
    # h[t-2] -> h[t] is an arc over h[t-1], not a line through it
    arcs = {(e.src, e.dst) for e in fig.edges if e.bend}
    assert arcs == {(("h", t - 2), ("h", t)) for t in range(1, 5)}
    assert r"(h--1) to[bend left=35] node[p, midway] {$b$} (h-1);" in figure.tikz(fig)
    assert ET.fromstring(render.documents(sol, ("md",))["svg"]).findall(
        "{http://www.w3.org/2000/svg}path")
