import sympy

from derive.ops import FUNCTIONS, relu, sigmoid, step


def test_registry_rules_match_sympy_derivatives():
    x = sympy.Symbol("x", real=True)
    assert sympy.diff(sigmoid(x), x) == sigmoid(x) * (1 - sigmoid(x))
    assert sympy.diff(relu(x), x) == step(x)
    assert sympy.diff(FUNCTIONS["tanh"].exact(x), x) == 1 - sympy.tanh(x) ** 2
    assert all(f.rule for f in FUNCTIONS.values())


def test_non_differentiable_points_follow_pytorch():
    assert step(sympy.Integer(0)) == 0 and relu(sympy.Integer(-2)) == 0
    assert sympy.diff(sympy.Abs(sympy.Symbol("x", real=True)), sympy.Symbol("x", real=True)) \
        .subs(sympy.Symbol("x", real=True), 0) == 0


def test_sigmoid_at_zero_is_exact():
    assert sigmoid(sympy.Integer(0)) == sympy.Rational(1, 2)
