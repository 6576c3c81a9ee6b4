"""Tensors: shapes, exact and 50-digit entries, softmax, hardmax, outer products."""

import mpmath
import pytest
import sympy

from derive.errors import ExprError
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
