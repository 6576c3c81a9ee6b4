"""The sweep plot: log10 layout, zeros left out, the same picture in TikZ and SVG."""

import xml.etree.ElementTree as ET

import sympy

from derive.output import plot
from derive.output.render import plain

SVG = "{http://www.w3.org/2000/svg}"


def test_layout_is_log10_with_decade_ticks_and_zeros_left_out():
    vals = [sympy.Rational(1, 1000), sympy.Integer(0), sympy.Rational(1, 10), sympy.Integer(1)]
    p = plot.build((1, 2, 3, 4), vals, "v_k", "k", bound=[None] + [sympy.Integer(n) for n in (2, 1, 1)],
                   bound_label="b")
    assert p.omitted == (2,)
    assert [k for k, _ in p.series[0].points] == [1, 3, 4]
    assert [round(y, 12) for _, y in p.series[0].points] == [-3, -1, 0]
    assert p.y_range == (-3, 1) and p.y_ticks == (-3, -2, -1, 0, 1)
    assert p.series[1].dashed and [k for k, _ in p.series[1].points] == [2, 3, 4]
    assert len(p.minor) == 0  # four decades: no minor lines


def test_far_beyond_float_still_has_a_place():
    huge = sympy.Float("1e700", 50)
    p = plot.build((1, 2), [sympy.Rational(1, 2), huge], "v", "k")
    assert round(p.series[0].points[1][1], 9) == 700
    assert p.y_ticks[-1] >= 700 and len(p.y_ticks) <= plot.MAX_Y_TICKS + 1


def test_all_zero_gives_no_plot():
    assert plot.build((1, 2), [sympy.Integer(0)] * 2, "v", "k") is None


def test_svg_and_tikz_draw_the_same_points_deterministically():
    vals = [sympy.Rational(1, 2) ** n for n in range(6, 0, -1)]
    p = plot.build(tuple(range(1, 7)), vals, r"\left\lvert \frac{\partial h_{T}}{\partial h_{k}}"
                   r" \right\rvert", "k", bound=[sympy.Rational(9, 10) ** (6 - k)
                                                  for k in range(1, 7)],
                   bound_label=r"\left(\gamma \lvert w \rvert\right)^{T - k}")
    svg = plot.svg(p, plain)
    assert svg == plot.svg(p, plain) and plot.tikz(p) == plot.tikz(p)
    root = ET.fromstring(svg)
    lines = root.findall(f"{SVG}polyline")
    assert len(lines) == 2 and lines[1].get("stroke-dasharray")
    assert len(lines[0].get("points").split()) == 6 == len(root.findall(f"{SVG}circle"))
    # equal ratios are equal steps on a log scale
    ys = [float(pt.split(",")[1]) for pt in lines[0].get("points").split()]
    steps = [b - a for a, b in zip(ys, ys[1:])]
    assert max(steps) - min(steps) <= 0.2  # coordinates are written to 0.1 px
    tikz = plot.tikz(p)
    assert tikz.count("circle (1.6pt)") == 6 and "dashed" in tikz and "$10^{-2}$" in tikz
    # the legend keeps sub- and superscripts
    assert '<tspan dy="4" font-size="10">T</tspan>' in svg
    assert '<tspan dy="-5" font-size="10">T - k</tspan>' in svg
