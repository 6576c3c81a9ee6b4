"""The mistake catalog: each slip re-solved in the engine agrees with the same slip written by
hand in PyTorch float64, and every slip planted in a student's answers is found again."""

import pytest
import sympy

from derive.grade.answers import Sheet
from derive.grade.catalog import MISTAKES, Catalog, Slip, slips
from derive.grade.grade import Grader, floats
from derive.lang.loader import load, loads

from conftest import ROOT


def _slip(cat, mistake, where, text_has):
    found = [m for m in cat.singles if m.mistake == mistake and m.where == where and
             text_has in m.text]
    assert len(found) == 1, [(m.mistake, m.where, m.text) for m in cat.singles]
    return found[0]


def _close(got, want, tol=1e-9):
    got = floats(got)
    want = [float(x) for x in (want.flatten().tolist() if hasattr(want, "flatten") else [want])]
    assert len(got) == len(want), (got, want)
    assert all(abs(a - b) <= tol * max(1.0, abs(b)) for a, b in zip(got, want)), (got, want)


def test_seed_002_slip_is_the_torch_run_without_the_term(torch):
    """h_1 = W_h h_0 (W_x x_1 left out), written in PyTorch: ŷ_2 = 4, L = 10, ∂L/∂h_1 = −16,
    ∂L/∂W_h = −20, ∂L/∂W_x = −40, ∂L/∂W_y = −10."""
    cat = Catalog(load(ROOT / "problems/q1.yaml"))
    m = _slip(cat, "dropped-term", "h[1]", "term $W_{x} x_{1}$")
    th = torch
    Wh, Wx, Wy = (th.tensor(v, dtype=th.float64, requires_grad=True) for v in (1.0, 0.1, 2.0))
    h0, x, y = th.tensor(1.0, dtype=th.float64), [10.0, 10.0], [5.0, 5.0]
    h1 = Wh * h0
    h1.retain_grad()
    h2 = Wh * h1 + Wx * x[1]
    yh = [Wy * h1, Wy * h2]
    L = sum((a - b) ** 2 for a, b in zip(yh, y))
    L.backward()
    want = {"a": yh[1].item(), "b": L.item(), "c": h1.grad.item(), "d": Wh.grad.item(),
            "e": Wx.grad.item(), "f": Wy.grad.item()}
    assert want == {"a": 4, "b": 10, "c": -16, "d": -20, "e": -40, "f": -10}
    for q, v in want.items():
        _close(m.answers[q], v)


def test_tanh_derivative_left_out_is_the_straight_through_torch_run(torch):
    """tanh' taken as 1 in tanh_rnn: PyTorch with tanh forward and identity backward."""
    p = load(ROOT / "problems/tanh_rnn.yaml")
    cat = Catalog(p)
    m = _slip(cat, "missing-factor", "h[t]", r"\tanh")
    th = torch

    def st_tanh(z):
        return z + (th.tanh(z) - z).detach()

    w, u, v = (th.tensor(a, dtype=th.float64, requires_grad=True) for a in (0.8, 1.5, 1.2))
    x = [1, -0.5, 0.25, 1, 0, -1]
    y = [0.5, 0, 0.25, 0.5, 0, -0.5]
    h = [th.tensor(0.0, dtype=th.float64, requires_grad=True)]
    for t in range(6):
        h.append(st_tanh(w * h[-1] + u * x[t]))
        h[-1].retain_grad()
    L = sum((v * h[t + 1] - y[t]) ** 2 / 2 for t in range(6))
    L.backward()
    want = {"a": h[2].item(), "b": L.item(), "c": w.grad.item(), "d": h[3].grad.item(),
            "e": u.grad.item(), "f": v.grad.item(), "g": h[0].grad.item()}
    for q, val in want.items():
        _close(m.answers[q], val)
    assert not sympy.Float(m.answers["c"]).equals(sympy.Float(cat.key["c"]))


def test_matrix_used_transposed_is_the_torch_run_with_the_transpose(torch):
    """W_hh used transposed in the vector RNN, entry by entry (gradient, Jacobian, inputs)."""
    cat = Catalog(load(ROOT / "problems/vector_rnn.yaml"))
    m = _slip(cat, "wrong-given", "W_hh", "transposed")
    th = torch
    f64 = th.float64
    Wt = th.tensor([[0.5, -0.25], [0.1, 0.3]], dtype=f64).T.clone().requires_grad_(True)
    Wx = th.eye(2, dtype=f64)
    Wy = th.tensor([[1.0, 1.0]], dtype=f64)
    xs = [th.tensor([[1.0], [0.0]], dtype=f64), th.tensor([[0.0], [1.0]], dtype=f64,
                                                          requires_grad=True)]
    ys = [1.0, 2.0]

    def run(h1_override=None):
        h = [th.zeros(2, 1, dtype=f64)]
        h.append(th.tanh(Wt @ h[0] + Wx @ xs[0]) if h1_override is None else h1_override)
        h.append(th.tanh(Wt @ h[1] + Wx @ xs[1]))
        L = sum(((Wy @ h[t + 1]) - ys[t]).pow(2).sum() for t in range(2))
        return h, L

    h, L = run()
    h1 = h[1].detach().clone().requires_grad_(True)
    h_, L2 = run(h1)
    gW, gx2 = th.autograd.grad(L, [Wt, xs[1]])
    (gh1,) = th.autograd.grad(L2, [h1])
    jac = th.autograd.functional.jacobian(lambda a: th.tanh(Wt.detach() @ a + Wx @ xs[1]),
                                          h1.detach()).reshape(2, 2)
    _close(m.answers["a"], h[2].detach().numpy())
    _close(m.answers["b"], L.item())
    _close(m.answers["c"], gW.numpy())
    _close(m.answers["d"], jac.numpy())
    _close(m.answers["e"], gh1.numpy())
    _close(m.answers["f"], gx2.numpy())


def test_sign_of_the_loss_difference_negates_every_derivative():
    cat = Catalog(load(ROOT / "problems/q1.yaml"))
    m = _slip(cat, "sign", "L[t]", "other way round")
    assert m.answers == {"a": 6, "b": 2, "c": 0, "d": -8, "e": -40, "f": -2, "g": -4}


def test_state_of_this_step_in_the_local_derivative():
    """∂h_t/∂W_h taken as h_t: δ_2 = 2(6 − 5)·2 = 4, δ_1 = 2(4 − 5)·2 + 4·1 = 0, so
    ∂L/∂W_h = δ_1 h_1 + δ_2 h_2 = 0·2 + 4·3 = 12 (the key: δ_1 h_0 + δ_2 h_1 = 8)."""
    cat = Catalog(load(ROOT / "problems/q1.yaml"))
    m = _slip(cat, "index-shift", "h[t]", "local derivatives")
    assert (m.answers["d"], m.answers["c"], m.answers["b"]) == (12, 0, 2)


def test_only_the_last_loss_term_and_no_path_through_earlier_states():
    cat = Catalog(load(ROOT / "problems/q1.yaml"))
    last = _slip(cat, "missing-path", "L", "last step")
    # only L_2 = (ŷ_2 − y_2)²: ∂L_2/∂W_h = 2(6 − 5)·2·(h_1 + W_h h_0) = 12,
    # ∂L_2/∂h_1 = 4
    assert (last.answers["d"], last.answers["c"]) == (12, 4)
    direct = _slip(cat, "missing-path", "h[t]", "earlier states")
    # Σ_t 2(ŷ_t − y_t) W_y h_{t−1}: −4·1 + 4·2 = 4; ∂L/∂h_1 through ŷ_1 only: −4
    assert (direct.answers["d"], direct.answers["c"]) == (4, -4)


def test_square_and_factor_left_out():
    cat = Catalog(load(ROOT / "problems/q1.yaml"))
    two = _slip(cat, "missing-factor", "L[t]", "factor $2$")
    assert two.answers["d"] == 4 and two.answers["b"] == 2  # half of 8; L unchanged
    wy = _slip(cat, "missing-factor", "yhat[t]", r"\partial \hat{y}_{t}/\partial h_{t}")
    assert wy.answers["d"] == 4  # W_y = 2 left out of every path


def test_wrong_derivative_of_tanh_uses_the_pre_activation(torch):
    """tanh'(z) taken as 1 − z², z the pre-activation: PyTorch with that backward."""
    cat = Catalog(load(ROOT / "problems/tanh_rnn.yaml"))
    m = _slip(cat, "wrong-derivative", "h[t]", "1 - z^2")
    th = torch

    class WrongTanh(th.autograd.Function):
        @staticmethod
        def forward(ctx, z):
            ctx.save_for_backward(z)
            return th.tanh(z)

        @staticmethod
        def backward(ctx, g):
            (z,) = ctx.saved_tensors
            return g * (1 - z * z)

    w, u, v = (th.tensor(a, dtype=th.float64, requires_grad=True) for a in (0.8, 1.5, 1.2))
    x = [1, -0.5, 0.25, 1, 0, -1]
    y = [0.5, 0, 0.25, 0.5, 0, -0.5]
    h = th.tensor(0.0, dtype=th.float64)
    L = 0
    for t in range(6):
        h = WrongTanh.apply(w * h + u * x[t])
        L = L + (v * h - y[t]) ** 2 / 2
    L.backward()
    _close(m.answers["c"], w.grad.item())
    _close(m.answers["e"], u.grad.item())
    _close(m.answers["f"], v.grad.item())


PLANTED = ["q1", "tanh_rnn", "vector_rnn", "many_to_one", "gru"]


@pytest.mark.parametrize("name", PLANTED)
def test_every_planted_slip_is_found(name):
    """A sheet holding exactly one slip's answers gets that slip among the diagnoses of every
    answer it changes, and the first diagnosis explains at least as many answers."""
    grader = Grader(load(ROOT / f"problems/{name}.yaml"))
    cat = grader.catalog
    assert cat.singles
    for m in cat.singles:
        answers = {q: _as_given(v) for q, v in m.answers.items()}
        r = grader.grade(Sheet("planted.yaml", "s", answers))
        changed = [q for q in m.answers if not grader.close(floats(m.answers[q]),
                                                            grader.key_f[q])]
        assert changed
        for q in changed:
            g = r.questions[q]
            assert not g.correct
            ids = [(d.mistake, d.where, d.text) for d in g.diagnosis]
            assert (m.mistake, m.where, m.text) in ids, (name, m.mistake, m.where, q)
            assert len(g.diagnosis[0].explains) >= len(changed)
            assert g.diagnosis[0].count == 1


def test_every_catalog_mistake_occurs_in_the_bundled_problems():
    seen = set()
    for name in PLANTED:
        seen |= {s.mistake for s in slips(load(ROOT / f"problems/{name}.yaml"))}
    assert seen == set(MISTAKES) - {"carried-forward"}


def test_slips_interface_for_export():
    p = load(ROOT / "problems/vector_rnn.yaml")
    out = slips(p)
    assert out and all(isinstance(s, Slip) for s in out)
    key = Catalog(p).key
    for s in out:
        assert set(s.answers) == set(key)
        assert any(s.answers[q] != key[q] for q in key)
        assert isinstance(s.answers["c"], sympy.MatrixBase) and s.answers["c"].shape == (2, 2)
    assert out == slips(p)  # the same order and words every time


def test_a_pair_of_slips_is_found_when_no_single_one_explains():
    grader = Grader(load(ROOT / "problems/q1.yaml"))
    pair = [m for m in grader.catalog.pairs if m.mistake == "dropped-term + sign" and
            "term $W_{x} x_{1}$" in m.slips[0][2] and m.slips[0][1] == "h[1]"]
    assert len(pair) == 1
    answers = {q: _as_given(v) for q, v in pair[0].answers.items()}
    r = grader.grade(Sheet("pair.yaml", "s", answers))
    d = r.questions["d"].diagnosis[0]  # ∂L/∂W_h = +20: the sign flips the seed's −20
    assert (d.mistake, d.count, d.where) == ("dropped-term + sign", 2, "h[1]; L[t]")
    assert answers["d"] == 20


def test_a_problem_without_numbers_has_no_slips():
    assert slips(load(ROOT / "problems/symbolic.yaml")) == ()
    p = loads("title: t\nequations:\n  y: w*x\ngiven:\n  w: 2\n  x: 3\nquestions:\n"
              "  - {id: a, find: y}\n")
    assert slips(p) == ()  # one term, one product of givens: nothing a slip could change


def _as_given(v):
    """A mistaken exact answer as a student writes it (a list for a vector or matrix)."""
    if isinstance(v, sympy.MatrixBase):
        if v.cols == 1:
            return tuple(v)
        return tuple(tuple(v.row(i)) for i in range(v.rows))
    return v


def test_the_numeric_answers_are_the_solutions_answers():
    """Grading's key (the core's answers, no narration) is what `derive solve` prints."""
    from derive.calculus.questions import solve
    from derive.output import render
    from conftest import PROBLEMS
    for path in PROBLEMS:
        p = load(path)
        key = Catalog(p).key
        shown = render.answers(solve(p))
        for q, v in key.items():
            if v is None:
                assert shown[q]["value"] is None
                continue
            want = shown[q]["value"]
            flat = [x for r in want for x in (r if isinstance(r, list) else [r])] \
                if isinstance(want, list) else [want]
            assert floats(v) == pytest.approx(flat, rel=1e-12, abs=1e-15), (path.name, q)
