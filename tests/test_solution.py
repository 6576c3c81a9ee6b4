import sympy

from derive.solution import One, Partial, Prod, Sum, prod, total


def test_products_flatten_and_drop_the_empty_factor():
    a, b, c = (Partial(sympy.Symbol(n), sympy.Symbol("w")) for n in "abc")
    assert prod(a, One()) == a
    assert prod(a, prod(b, c)) == Prod((a, b, c))
    assert prod(One(), One()) == One()


def test_total_of_one_item_is_the_item():
    a, b = (Partial(sympy.Symbol(n), sympy.Symbol("w")) for n in "ab")
    assert total([]) is None
    assert total([a]) == a
    assert total([a, b]) == Sum((a, b))
