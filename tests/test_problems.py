"""Every bundled problem is solved, rendered and its numbers checked against PyTorch."""

import pytest
import sympy

from derive.check import crosscheck, modelcheck

from derive.output import render
from derive.calculus.questions import solve
from derive.lang.loader import load

from conftest import PROBLEMS, close


@pytest.mark.parametrize("path", PROBLEMS, ids=[p.stem for p in PROBLEMS])
def test_bundled_problem_solves_and_agrees_with_torch(path, torch):
    problem = load(path)
    sol = solve(problem)
    assert render.markdown(sol) and render.latex(sol)
    answers = render.answers(sol)
    checks = crosscheck.check(problem, answers)
    assert all(c.status == "agrees" for c in checks.values() if c.status != "skipped"), checks
    texts = {q.id for q in problem.questions if modelcheck.handles(problem, q)}  # as text
    assert {q for q, c in checks.items() if c.status == "skipped"} == \
        {q for q, a in answers.items() if a["value"] is None} - texts
    for q in problem.questions:
        if q.find is None:
            assert q.id not in answers  # conceptual: no answer to check
            continue
        a = answers[q.id]
        if a["value"] is None:
            continue
        want = crosscheck.value(problem, q)
        assert close(a["value"], want), (path.name, q.id, a["value"], want)


def test_symbolic_problem_matches_direct_differentiation():
    answers = render.answers(solve(load("problems/symbolic.yaml")))
    whh, whx, wyh = sympy.symbols("w_hh w_hx w_yh")
    h0, h1, h2, h3, x1, x2, x3, y1, y3 = sympy.symbols("h0 h1 h2 h3 x1 x2 x3 y1 y3")

    def parse(s):
        for k in range(4):
            s = s.replace(f"h[{k}]", f"h{k}").replace(f"x[{k}]", f"x{k}").replace(
                f"y[{k}]", f"y{k}")
        return sympy.sympify(s, locals={"w_hh": whh, "w_hx": whx, "w_yh": wyh})

    # the answers name the states h_2, h_3 (the variable h_1 stays the variable)
    H2 = sympy.tanh(whh * h1 + whx * x2)
    H3 = sympy.tanh(whh * H2 + whx * x3)
    J3 = (wyh * H3 - y3) ** 2
    a = parse(answers["a"]["exact"]).subs({h3: H3}).subs({h2: H2})
    assert sympy.simplify(a - sympy.diff(J3, h1)) == 0
    d = parse(answers["d"]["exact"]).subs({h3: H3}).subs({h2: H2})
    assert sympy.simplify(d - sympy.diff(H3, h1)) == 0
    H1 = sympy.tanh(whh * h0 + whx * x1)
    J1 = (wyh * H1 - y1) ** 2
    b = parse(answers["b"]["exact"]).subs({h1: H1})
    assert sympy.simplify(b - sympy.diff(J1, whh)) == 0
    assert answers["a"]["value"] is None
    # the seed's form: g * w_yh * w_hh^(t-i) * prod(1 - h_k^2)
    assert answers["a"]["exact"] == "w_yh*w_hh**2*(1 - h[2]**2)*(1 - h[3]**2)*" \
                                    "(-2*y[3] + 2*h[3]*w_yh)"
