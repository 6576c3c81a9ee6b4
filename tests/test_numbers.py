import signal
from contextlib import contextmanager

import mpmath
import pytest
import sympy
from typer.testing import CliRunner

from derive.calculus.numbers import TOO_LARGE, settle, simplify
from derive.cli import app
from derive.errors import ExprError

from conftest import ROOT, answers_of, close

HUGE = sympy.Integer(99999999999999999999)


@contextmanager
def hang_guard(seconds: int = 10):
    """Fail instead of hanging: before the bound in settle these ran for many minutes."""
    def stop(signum, frame):
        raise AssertionError(f"still running after {seconds} s")
    old = signal.signal(signal.SIGALRM, stop)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


@pytest.mark.parametrize("v", [
    sympy.exp(HUGE),
    sympy.exp(HUGE * sympy.exp(HUGE)),
    sympy.tanh(sympy.exp(HUGE)) * sympy.exp(HUGE),
    sympy.exp(691),  # 1.1e300
    1 / (sympy.exp(-HUGE) + sympy.exp(-HUGE - 1)),
    sympy.tanh(sympy.exp(HUGE)),  # 1, but exp(1e20) on the way is past 1e300
], ids=["exp", "nested", "tanh_times_exp", "just_past", "reciprocal_of_tiny", "inside"])
def test_settle_refuses_exact_values_past_1e300(v):
    with hang_guard(), pytest.raises(ExprError) as err:
        settle(v)
    assert str(err.value) == TOO_LARGE == "the value is larger than 1e300"


def test_settle_keeps_exact_values_below_1e300():
    assert settle(sympy.exp(690)) == sympy.exp(690)  # 1.3e299
    assert settle(sympy.tanh(HUGE)) == sympy.tanh(HUGE)
    assert settle(sympy.exp(-HUGE)) == sympy.exp(-HUGE)


def test_a_cancellation_at_low_precision_is_not_taken_for_a_huge_value():
    # tanh(50) - 1 is 0 at 64 bits; the value is -1.3e43, far below 1e300
    v = settle(1 / (sympy.tanh(sympy.tanh(50)) - sympy.tanh(1)))
    with mpmath.workdps(60):
        want = 1 / (mpmath.tanh(mpmath.tanh(50)) - mpmath.tanh(1))
    assert abs(float(v) - float(want)) <= 1e-12 * abs(float(want))
    assert settle(1 / (sympy.tanh(50) - 1)).evalf(20) == pytest.approx(
        float(1 / (mpmath.tanh(mpmath.mpf(50), prec=400) - 1)), rel=1e-12)


runner = CliRunner()


def _refused(path, tmp_path) -> str:
    out = tmp_path / "out"
    with hang_guard():
        r = runner.invoke(app, ["solve", str(path), "--no-check", "--format", "md",
                                "--out", str(out)])
    assert r.exit_code == 2, (r.output, r.exception)
    assert not out.exists() or not any(out.rglob("*"))
    return r.stderr


def test_huge_key_in_attention_is_refused_naming_the_equation(tmp_path):
    text = (ROOT / "problems/attention.yaml").read_text()
    assert "K: [[0, -1, 0]" in text
    path = tmp_path / "att.yaml"
    path.write_text(text.replace("K: [[0, -1, 0]", "K: [[99999999999999999999, -1, 0]"))
    assert _refused(path, tmp_path) == \
        f"error: {path}: equations.p (line 10): the value is larger than 1e300\n"


def test_huge_weight_inside_exp_is_refused_naming_the_equation(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text("title: huge\nsteps: 2\nequations:\n  h[t]: exp(w*h[t-1])\n  L: h[2]\n"
                    "given:\n  h[0]: 1\n  w: 99999999999999999999\nquestions:\n  - find: L\n")
    assert _refused(path, tmp_path) == \
        f"error: {path}: equations.h[t] (line 4): the value is larger than 1e300\n"


def test_huge_given_in_a_large_vector_problem_is_refused(tmp_path):
    # hidden size 30 over 16 steps is past the exact budget: the 50-digit domain reads the givens
    n, T = 30, 16
    w = [[0.01] * n for _ in range(n)]
    rows = ", ".join("[" + ", ".join(map(str, r)) + "]" for r in w)
    rows = rows.replace("0.01", "exp(exp(99999999999999999999))", 1)
    path = tmp_path / "v.yaml"
    path.write_text(f"title: big\nsteps: {T}\nequations:\n  h[t]: tanh(W @ h[t-1] + x[t])\n"
                    f"  L: sum(h[T])\ngiven:\n  h[0]: {[0] * n}\n  x: {[[1] * n] * T}\n"
                    f"  W: [{rows}]\nquestions:\n  - find: L\n")
    assert _refused(path, tmp_path) == \
        f"error: {path}: equations.h[t] (line 4): the value is larger than 1e300\n"


def test_simplify_leaves_exp_of_fine_rationals_alone():
    # factor would see exp(1/100000)**204000: this ran for minutes (attention with q[2] = 1e-5)
    v = sympy.exp(sympy.Rational(51, 25)) / (sympy.exp(sympy.Rational(-1, 100000)) +
                                             sympy.exp(sympy.Rational(199999, 100000)))
    with hang_guard():
        assert simplify(v) is v
    small = sympy.exp(3) / (sympy.exp(1) + sympy.exp(2))
    assert simplify(small) == sympy.exp(2) / (sympy.E + 1)


def test_attention_with_a_tiny_query_entry_solves_with_softmax_values(tmp_path):
    text = (ROOT / "problems/attention.yaml").read_text().replace("q: [1, 2, -1]",
                                                                  "q: [1, 1e-5, -1]")
    with hang_guard():
        a = answers_of(text)
    e = mpmath.mpf("1e-5")
    s = [-e, 1 + e, 2 - e, 2 + 2 * e]  # K @ q
    total = mpmath.fsum(mpmath.exp(x) for x in s)
    p = [mpmath.exp(x) / total for x in s]
    v = [[1, 0, 0], [0, 1, 0], [0, 0, 1], [6, 1, 2]]
    want = [float(mpmath.fsum(p[i] * v[i][j] for i in range(4))) for j in range(3)]
    assert close(a["3-1c"]["value"], want)
    assert a["3-1a"]["exact"] == "[-1/100000, 100001/100000, 199999/100000, 100001/50000]"
