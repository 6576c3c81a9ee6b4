"""What an exported question holds: tolerances, numbers, texts as HTML, answers as entries."""

import pytest
import sympy

from derive.calculus.questions import solve
from derive.errors import SpecError
from derive.export import content
from derive.lang.loader import load

from conftest import ROOT


def test_the_tolerance_is_the_grading_rule_as_an_absolute_margin():
    assert content.tolerance(8.0, 1e-3, 1e-6) == 0.008
    assert content.tolerance(-40.0, 1e-3, 1e-6) == 0.04  # not 0.04000000000000001
    assert content.tolerance(0.0, 1e-3, 1e-6) == 1e-6
    assert content.tolerance(5e-4, 1e-3, 1e-6) == 1e-6  # atol wins below |key| = 1e-3
    assert content.tolerance(2e-3, 1e-3, 1e-6) == 2e-6


def test_numbers_are_written_as_learning_systems_read_them():
    assert [content.number(x) for x in (8.0, -0.0, 0.1, 1 / 3, 1.5e-7, 2.0 ** 60)] == [
        "8", "0", "0.1", "0.3333333333333333", "1.5e-07", "1.152921504606847e+18"]
    with pytest.raises(ValueError):
        content.number(float("nan"))


def test_markdown_and_math_become_html_with_mathjax_delimiters():
    got = content.markdown_html("Let $h_{t-1} < 1$ and **no** <b>html</b>.\n\n$$a_1 * b_2$$")
    assert got == ("<p>Let \\(h_{t-1} &lt; 1\\) and <strong>no</strong> &lt;b&gt;html&lt;/b&gt;."
                   "</p>\n<p>\\[a_1 * b_2\\]</p>")
    assert content.inline_html("so $x$ & *y*") == "so \\(x\\) &amp; *y*"


def test_mistaken_answers_as_entries():
    assert content._flat(sympy.Matrix([[1, sympy.Rational(1, 2)], [3, 4]])) == (1, 0.5, 3, 4)
    assert content._flat(sympy.Matrix([1, 2])) == (1.0, 2.0)
    assert content._flat(sympy.tanh(sympy.Rational(1, 2))) == (float(sympy.tanh(0.5)),)
    assert content._flat(sympy.Symbol("w")) is None


def test_questions_without_numbers_are_left_out_and_a_problem_without_any_is_refused():
    ex = content.exercise(solve(load(ROOT / "problems" / "caesar_data.yaml")))
    assert ex.left_out == ("t", "b")  # a text answer and a question to answer in words
    with pytest.raises(SpecError, match="symbolic.yaml: questions .*nothing to export"):
        content.exercise(solve(load(ROOT / "problems" / "symbolic.yaml")))
