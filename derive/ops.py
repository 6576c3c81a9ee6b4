"""One registry of the grammar's functions: how each is built in sympy, its local derivative and
the words that explain it, and how the independent PyTorch check computes it.

Derivatives of the sympy functions come from ``fdiff`` (sympy's own rule for tanh, exp, log, sqrt
and abs; ours below for sigmoid and relu), so the rule that is shown is the rule that is used.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import sympy
from sympy.core.function import ArgumentIndexError


class sigmoid(sympy.Function):
    """The logistic function 1/(1 + exp(-x)); sigmoid' = sigmoid (1 - sigmoid)."""

    is_real = True

    def _at(cls, x):
        if x.is_zero:
            return sympy.Rational(1, 2)
        if x.is_Float:
            return 1 / (1 + sympy.exp(-x))
        return None

    # sympy's automatic-evaluation hook is a classmethod named eval (not Python's eval)
    eval = classmethod(_at)

    def fdiff(self, argindex=1):
        if argindex != 1:
            raise ArgumentIndexError(self, argindex)
        return self * (1 - self)

    def _eval_rewrite_as_exp(self, x, **kwargs):
        return 1 / (1 + sympy.exp(-x))

    def _eval_evalf(self, prec):
        return (1 / (1 + sympy.exp(-self.args[0])))._eval_evalf(prec)


class step(sympy.Function):
    """The derivative of relu: 1 where x > 0, else 0 (PyTorch's convention at 0)."""

    is_real = True

    def _at(cls, x):
        if x.is_positive:
            return sympy.Integer(1)
        if x.is_nonpositive:
            return sympy.Integer(0)
        return None

    eval = classmethod(_at)  # sympy's evaluation hook

    def fdiff(self, argindex=1):
        return sympy.Integer(0)


class relu(sympy.Function):
    """max(x, 0); its derivative at 0 is taken as 0, as PyTorch does."""

    is_real = True

    def _at(cls, x):
        if x.is_nonnegative:
            return x
        if x.is_negative:
            return sympy.Integer(0)
        return None

    eval = classmethod(_at)  # sympy's evaluation hook

    def fdiff(self, argindex=1):
        if argindex != 1:
            raise ArgumentIndexError(self, argindex)
        return step(self.args[0])


@dataclass(frozen=True)
class Function:
    """A function of the grammar.

    ``build`` maps sympy arguments to the sympy expression; ``rule`` is the LaTeX of its local
    derivative as shown to students; ``torch`` maps the torch module and tensors to the value.
    """

    name: str
    arity: int
    build: Callable
    rule: str
    torch: Callable


def _scalar_softmax(x):
    return sympy.Integer(1) + 0 * x


FUNCTIONS: dict[str, Function] = {f.name: f for f in (
    Function("tanh", 1, sympy.tanh, r"\tanh'(z) = 1 - \tanh^2(z)",
             lambda th, x: th.tanh(x)),
    Function("sigmoid", 1, sigmoid, r"\sigma'(z) = \sigma(z)\,(1 - \sigma(z))",
             lambda th, x: th.sigmoid(x)),
    Function("relu", 1, relu,
             r"\operatorname{relu}'(z) = 1 \text{ for } z > 0,\ 0 \text{ for } z \le 0",
             lambda th, x: th.relu(x)),
    Function("exp", 1, sympy.exp, r"(e^{z})' = e^{z}", lambda th, x: th.exp(x)),
    Function("log", 1, sympy.log, r"(\log z)' = 1/z", lambda th, x: th.log(x)),
    Function("sqrt", 1, sympy.sqrt, r"(\sqrt{z})' = 1/(2\sqrt{z})", lambda th, x: th.sqrt(x)),
    Function("abs", 1, sympy.Abs,
             r"|z|' = \operatorname{sign}(z) \text{ (0 at } z = 0)", lambda th, x: th.abs(x)),
    Function("softmax", 1, _scalar_softmax, r"\text{softmax of one entry is } 1",
             lambda th, x: th.softmax(x.reshape(-1), 0).reshape(x.shape)),
    Function("hardmax", 1, _scalar_softmax,
             r"\text{hardmax is piecewise constant: its derivative is } 0",
             lambda th, x: th.nn.functional.one_hot(th.argmax(x.reshape(-1)), x.numel())
             .to(x.dtype).reshape(x.shape)),
    Function("sum", 1, lambda x: x, r"\partial \textstyle\sum_t e_t / \partial e_t = 1",
             lambda th, x: x.sum()),
    Function("dot", 2, lambda a, b: a * b, r"\partial (a \cdot b)/\partial a = b",
             lambda th, a, b: (a.reshape(-1) * b.reshape(-1)).sum()),
)}

#: What a derivative through hardmax is, and the convention at points of no derivative.
HARDMAX_WORDS = ("hardmax is piecewise constant: wherever it is defined (no tie for the "
                 "largest score) a small change of its input does not move the arg-max, so "
                 "its derivative is 0 and no gradient flows back through it to the scores, "
                 "queries or keys. At a tie it is not differentiable at all; derive then takes "
                 "0 as well.")
KINK_WORDS = ("{f} is not differentiable at 0, and an input here is exactly 0: derive takes "
              "the derivative there as 0 (the convention PyTorch uses).")


#: Sympy classes whose derivative rule is worth stating beside a derivation.
RULE_OF_CLASS: dict[type, str] = {
    sympy.tanh: "tanh", sigmoid: "sigmoid", relu: "relu", sympy.exp: "exp", sympy.log: "log",
    sympy.Abs: "abs",
}
