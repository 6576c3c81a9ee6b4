"""Engine answers: the seeds' numbers, exact arithmetic, truncation, symbolic answers, and a
property test against high-precision finite differences."""

import mpmath
import pytest
import sympy
from hypothesis import HealthCheck, given, settings, strategies as st

from conftest import ROOT, answers_of

Q1 = (ROOT / "problems/q1.yaml").read_text()


def test_seed_answers_q1():
    a = answers_of(Q1)
    # seeds 000, 001, 003: yhat_2 = 6, L = 2, dL/dh_1 = 0, dL/dW_h = 8
    assert [a[k]["exact"] for k in "abcd"] == ["6", "2", "0", "8"]
    assert a["e"]["exact"] == "40" and a["f"]["exact"] == "2"


def test_truncated_k1_keeps_only_each_step():
    # K = 1: 2(4-5)(2)(h_0 = 1) + 2(6-5)(2)(h_1 = 2) = -4 + 8
    assert answers_of(Q1)["g"]["exact"] == "4"


def test_decimals_are_exact():
    a = answers_of("title: t\nequations:\n  y: x*3\ngiven:\n  x: 0.1\nquestions:\n"
                   "  - find: y\n  - find: d(y, x)\n")
    assert a["a"]["exact"] == "3/10" and a["a"]["value"] == 0.3
    assert a["b"]["exact"] == "3"


def test_symbolic_answer_keeps_the_problems_names():
    text = Q1.split("given:")[0] + "questions:\n  - find: d(L[1], h[1])\n  - find: d(L, W_h)\n"
    a = answers_of(text)
    assert a["a"]["value"] is None
    W_y, h1, y1 = sympy.symbols("W_y h1 y1")
    got = sympy.sympify(a["a"]["exact"].replace("[1]", "1"))
    assert sympy.simplify(got - 2 * W_y * (W_y * h1 - y1)) == 0
    # the full symbolic dL/dW_h equals differentiating the two-step expansion directly
    Wh, Wx, h0, x1, x2, y2 = sympy.symbols("W_h W_x h0 x1 x2 y2")
    H1 = Wh * h0 + Wx * x1
    H2 = Wh * H1 + Wx * x2
    L = (W_y * H1 - y1) ** 2 + (W_y * H2 - y2) ** 2
    got = sympy.sympify(a["b"]["exact"].replace("[", "").replace("]", ""))
    assert sympy.simplify(got - sympy.diff(L, Wh)) == 0


def test_transcendental_exact_and_value():
    a = answers_of("title: t\nequations:\n  y: tanh(x)\ngiven:\n  x: 1.5\nquestions:\n"
                   "  - find: y\n  - find: d(y, x)\n")
    assert a["a"]["exact"] == "tanh(3/2)"
    assert abs(a["a"]["value"] - float(mpmath.tanh(1.5))) < 1e-15
    assert abs(a["b"]["value"] - float(1 - mpmath.tanh(1.5) ** 2)) < 1e-15


def test_long_sequence_uses_recursive_form_and_is_exact():
    text = ("title: t\nsteps: 30\nequations:\n  h[t]: w*h[t-1] + x[t]\n  L: h[T]**2\n"
            "given:\n  h[0]: 1\n  w: 0.5\n  x: [" + ", ".join(["1"] * 30) + "]\n"
            "questions:\n  - find: d(L, w)\n")
    a = answers_of(text)
    w = sympy.Symbol("w")
    h = sympy.Integer(1)
    for _ in range(30):
        h = w * h + 1
    want = sympy.diff(h ** 2, w).subs(w, sympy.Rational(1, 2))
    assert sympy.Rational(a["a"]["exact"]) == want


# ---- property: every derivative equals a high-precision finite difference --------------------

ACT = {"tanh": mpmath.tanh, "sigmoid": lambda z: 1 / (1 + mpmath.exp(-z)), "": lambda z: z}
small = st.integers(-9, 9).map(lambda n: n / 10)


def _fwd(T, act, p, x, y, h0):
    f = ACT[act]
    h, L = h0, 0
    for t in range(T):
        h = f(p["w"] * h + p["u"] * x[t])
        L += (p["v"] * h - y[t]) ** 2
    return L


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(T=st.integers(1, 5), act=st.sampled_from(sorted(ACT)), w=small, u=small, v=small,
       h0=small, xs=st.lists(small, min_size=5, max_size=5),
       ys=st.lists(small, min_size=5, max_size=5), wrt=st.sampled_from(["w", "u", "v", "h0"]))
def test_derivatives_match_finite_differences(T, act, w, u, v, h0, xs, ys, wrt):
    fn = f"{act}(z[t])" if act else "z[t]"
    text = (f"title: random\nsteps: {T}\nequations:\n  z[t]: w*h[t-1] + u*x[t]\n"
            f"  h[t]: {fn}\n  yhat[t]: v*h[t]\n"
            f"  L[t]: (yhat[t] - y[t])**2\n  L: sum(L[t])\ngiven:\n  h[0]: {h0}\n"
            f"  w: {w}\n  u: {u}\n  v: {v}\n  x: {xs[:T]}\n  y: {ys[:T]}\n"
            f"questions:\n  - find: d(L, {'h[0]' if wrt == 'h0' else wrt})\n")
    got = answers_of(text)["a"]["value"]
    with mpmath.workdps(60):
        p = {"w": mpmath.mpf(str(w)), "u": mpmath.mpf(str(u)), "v": mpmath.mpf(str(v))}
        x = [mpmath.mpf(str(a)) for a in xs]
        y = [mpmath.mpf(str(a)) for a in ys]
        base = mpmath.mpf(str(h0))
        eps = mpmath.mpf("1e-25")

        def f(delta):
            q = dict(p)
            if wrt in q:
                q[wrt] += delta
            return _fwd(T, act, q, x, y, base + (delta if wrt == "h0" else 0))

        fd = (f(eps) - f(-eps)) / (2 * eps)
    assert abs(got - float(fd)) <= 1e-12 * max(1.0, abs(float(fd)))


def test_relu_and_abs_at_zero_state_the_convention():
    from derive.output import render
    from conftest import solve_text
    sol = solve_text("""
title: kinks
equations:
  h: relu(w*x - 1)
  L: h**2 + abs(x - 1) + w*x
given:
  w: 1
  x: 1
questions:
  - find: d(L, w)
""")
    assert render.answers(sol)["a"]["exact"] == "1"
    md = render.markdown(sol)
    assert "relu is not differentiable at 0" in md and "abs is not differentiable at 0" in md


def test_a_question_outside_the_real_domain_is_one_clear_error():
    """Found by the fuzz test: find: log(-w) at w > 0 names the question, never a traceback."""
    import pytest
    from derive.errors import SpecError
    from conftest import solve_text
    with pytest.raises(SpecError, match=r"questions.a.find \(line 9\): log is not defined at -3"):
        solve_text("title: t\nsteps: 2\nequations:\n  h[t]: x[t]\ngiven:\n  x: [1, 2]\n"
                   "  w: 3\nquestions:\n  - find: log(-w)\n")


BACKWARD = """
title: a scalar backward recurrence beside a forward one
steps: 5
equations:
  h[t]: tanh(w*h[t-1] + x[t])
  hb[t]: tanh(wb*hb[t+1] + x[t])
  L[t]: (h[t] + hb[t] - y[t])**2 / 2
  L: sum(L[t])
given:
  h[0]: 0
  hb[T+1]: 0.5
  x: [1, -1, 0.5, 0.25, 2]
  y: [0, 1, 0, 1, 0]
  w: 0.5
  wb: -0.5
questions:
  - id: wb
    find: d(L, wb)
  - id: hb2
    find: d(L, hb[2])
  - id: start
    find: d(L, hb[T+1])
"""


def test_backward_recurrence_recursion_starts_at_step_one(torch):
    from conftest import solve_text
    from derive.check import crosscheck
    from derive.lang.loader import loads
    from derive.output import render
    a = answers_of(BACKWARD)
    p = loads(BACKWARD)
    for q in p.questions:
        assert abs(a[q.id]["value"] - crosscheck.value(p, q)) < 1e-12
    md = render.markdown(solve_text(BACKWARD))
    # δ of hb collects from the step before and starts at t = 1; δ of h starts at T as ever
    assert (r"\delta^{(hb)}_{t} &= \delta^{(hb)}_{t - 1} \cdot \frac{\partial hb_{t - 1}}"
            r"{\partial hb_{t}}") in md
    assert r"\delta^{(hb)}_{1} &= " in md and r"\delta^{(h)}_{T} &= " in md
    assert "so its backward pass runs forward" in md
    assert "is the local partial: the later states are held fixed" in md


def test_a_mean_loss_shows_T_and_its_number():
    from conftest import solve_text
    from derive.output import render
    text = BACKWARD.replace("L: sum(L[t])", "L: sum(L[t]) / T")
    md = render.markdown(solve_text(text))
    assert r"\frac{\partial L}{\partial L_{t}} = \frac{1}{T} = 0.2" in md
    assert r"T = 5" in md  # among the givens
    assert answers_of(text)["wb"]["value"] == pytest.approx(answers_of(BACKWARD)["wb"]["value"]
                                                            / 5, rel=1e-12)
