"""Tensors: shapes, exact and 50-digit entries, softmax, hardmax, outer products."""

import mpmath
import pytest
import sympy

from derive.errors import ExprError
from derive.calculus import tensor
from derive.calculus.tensor import (EXACT, FAST, Outer, Tensor, broadcast_shape, from_value,
                                    matmul, matmul_shape, sum_tensors, value_shape)
from derive.ops import FUNCTIONS, hardmax


def softmax(D, a):
    return FUNCTIONS["softmax"].forward(D, [a])

R = sympy.Rational


def test_values_become_columns_and_matrices():
    assert value_shape(R(1, 2)) == (1, 1)
    assert value_shape((R(1), R(2))) == (2, 1)
    assert value_shape(((R(1), R(2)), (R(3), R(4)))) == (2, 2)
    with pytest.raises(ExprError, match="equal length"):
        value_shape(((R(1), R(2)), (R(3),)))
    t = from_value(((R(1), R(2)), (R(3), R(4))), EXACT)
    assert t.row(1) == [3, 4] and t.col(0) == [1, 3]


def test_matmul_is_exact_and_checks_shapes():
    a = from_value(((R(1, 10), R(2)), (R(3), R(4))), EXACT)
    v = from_value((R(10), R(1)), EXACT)
    assert matmul(EXACT, a, v).data == [3, 34]
    assert matmul_shape((2, 3), (3, 1), ("W", "h")) == (2, 1)
    with pytest.raises(ExprError, match=r"W @ h: 2×3 @ 2×1"):
        matmul_shape((2, 3), (2, 1), ("W", "h"))
    with pytest.raises(ExprError, match="2×1 and 3×1"):
        broadcast_shape("+", (2, 1), (3, 1), ("a", "b"))


def test_softmax_exact_and_fast_agree():
    s = from_value((R(-2), R(3), R(0), R(6)), EXACT)
    exact = softmax(EXACT, s)
    assert sum(exact.data).equals(1)
    with mpmath.workdps(55):
        fast = softmax(FAST, from_value((R(-2), R(3), R(0), R(6)), FAST))
        for e, f in zip(exact.data, fast.data):
            assert abs(mpmath.mpf(sympy.N(e, 50)._mpf_) - f) < mpmath.mpf(10) ** -45


def test_hardmax_is_one_hot_at_the_first_largest():
    onehot, tied = hardmax(EXACT, from_value((R(-2), R(3), R(0), R(6)), EXACT))
    assert onehot.data == [0, 0, 0, 1] and not tied
    onehot, tied = hardmax(EXACT, from_value((R(1), R(3), R(3)), EXACT))
    assert onehot.data == [0, 1, 0] and tied


def test_sum_of_outer_products_is_one_product():
    us = [[R(1), R(2)], [R(3), R(-1)]]
    vs = [[R(1, 2), R(1)], [R(2), R(0)]]
    outers = [Outer(EXACT, u, v) for u, v in zip(us, vs)]
    total = sum_tensors(EXACT, outers)
    assert total.data == [R(1, 2) + 6, 1, 1 - 2, 2]
    assert outers[0].transpose().data == [R(1, 2), 1, 1, 2]
    mixed = sum_tensors(EXACT, [outers[0], Tensor(2, 2, [R(1)] * 4)])
    assert mixed.data == [R(3, 2), 2, 2, 3]


def _fdot_product(a, b):
    """a @ b sum by sum with mpmath.fdot: what the integer product must reproduce."""
    return [mpmath.fdot(a.row(i), b.col(j)) for i in range(a.rows) for j in range(b.cols)]


def _random_fast(rows, cols, rng, scale=1):
    return Tensor(rows, cols, [mpmath.tanh(mpmath.mpf(rng.random() - 0.5) * scale) / 7
                               if rng.random() > 0.1 else mpmath.mpf(0)
                               for _ in range(rows * cols)])


def test_fast_products_are_fdots_to_the_last_bit():
    """Over 50-digit floats a product is one exact integer matrix product (python-flint),
    rounded once per entry: the same bits as fdot, for a matrix, its transpose, and a sum of
    outer products."""
    import random
    rng = random.Random(7)
    with mpmath.workdps(55):
        W = _random_fast(24, 24, rng)
        h = _random_fast(24, 1, rng, scale=1e-30)
        X = _random_fast(24, 3, rng)
        for a, b in ((W, h), (W.transpose(), h), (X.transpose(), h), (W, X), (W, W)):
            got = matmul(FAST, a, b)
            assert [v._mpf_ for v in got.data] == [v._mpf_ for v in _fdot_product(a, b)]
        assert W.transpose().transpose() is W
        assert W.transpose().data == [W.at(i, j) for j in range(24) for i in range(24)]
        us = [_random_fast(24, 1, rng).data for _ in range(9)]
        vs = [_random_fast(5, 1, rng, scale=3).data for _ in range(9)]
        total = sum_tensors(FAST, [Outer(FAST, u, v) for u, v in zip(us, vs)])
        want = [mpmath.fdot([u[i] for u in us], [v[j] for v in vs])
                for i in range(24) for j in range(5)]
        assert [v._mpf_ for v in total.data] == [v._mpf_ for v in want]


def test_fast_products_far_apart_in_size_stay_right():
    """Entries whose exponents lie thousands of bits apart are summed by fdot instead (no
    integers of that width), and the result keeps 50 digits."""
    with mpmath.workdps(55):
        tiny = mpmath.mpf(2) ** -5000
        W = Tensor(2, 2, [mpmath.mpf(1) / 3, tiny, mpmath.mpf(2), mpmath.mpf(1) / 7])
        v = Tensor(2, 1, [mpmath.mpf(3), mpmath.mpf(10) ** 200])
        W8 = Tensor(8, 8, W.data * 16)
        v8 = Tensor(8, 1, v.data * 4)
        assert tensor._scaled(W8.data) is None  # too wide for one integer matrix
        near = Tensor(8, 8, [x if x != tiny else mpmath.mpf(2) ** -700 / 3 for x in W8.data])
        assert tensor._scaled(near.data) is not None  # wide, but one integer matrix still
        for a, b in ((W, v), (W8, v8), (near, v8), (near.transpose(), v8)):
            got = matmul(FAST, a, b)
            assert [x._mpf_ for x in got.data] == [x._mpf_ for x in _fdot_product(a, b)]
        got = matmul(FAST, near, v8).data
    with mpmath.workdps(400):
        want = [mpmath.fsum(x * y for x, y in zip(near.row(i), v8.data)) for i in range(8)]
    assert all(abs(g - w) <= abs(w) * mpmath.mpf(10) ** -50 for g, w in zip(got, want))


def test_fast_domain_numbers_as_before():
    """Givens' decimals become the same 50-digit numbers as to_mpf gives; 1 - y² and -g are
    computed directly."""
    from derive.calculus.numbers import to_mpf
    with mpmath.workdps(55):
        for r in (R(123, 1000), R(-7, 3), R(10) ** 80 / 3, R(1, 10 ** 60), R(0)):
            assert FAST.num(r)._mpf_ == to_mpf(r)._mpf_
        y = mpmath.tanh(mpmath.mpf(1) / 3)
        assert FAST.sub(FAST.num(1), FAST.mul(y, y)) == 1 - y * y
        assert FAST.neg(y) == -y and FAST.num(-1) == -1
