"""The general T-step formula of a gradient and the bound behind vanishing and exploding
gradients, derived from the problem's own recurrence (``form: general`` on a question).

∂L/∂W = Σ_t Σ_{k ≤ t} ∂L_t/∂h_t (Π_{j=k+1}^{t} ∂h_j/∂h_{j−1}) ∂⁺h_k/∂W, with the local factor
∂h_j/∂h_{j−1} taken from the state's equation, and ‖∂h_t/∂h_k‖ ≤ (γ ‖W‖)^{t−k} where γ bounds
the activation's derivative.
"""

from __future__ import annotations

import mpmath
import sympy

from ..lang import expr as ex
from ..ops import FUNCTIONS

NEEDS = ("The general formula is written for a parameter of one recurrence "
                 "$h_t = f(h_{t-1}, \\dots)$; this question does not have that shape, so only "
                 "the worked derivation follows.")



def inline(problem, name: str) -> ex.Expr:
    """The state's equation with the other quantities of the same step written out
    (h[t] = tanh(z[t]), z[t] = w*h[t-1] + ... gives h[t] = tanh(w*h[t-1] + ...))."""
    eqs = {eq.name: eq.expr for eq in problem.equations if eq.indexed}

    def go(n, depth=0):
        if depth > len(eqs):
            return n
        if isinstance(n, ex.Ref) and n.index == ex.Index("t", 0) and n.name in eqs \
                and n.name != name:
            return go(eqs[n.name], depth + 1)
        if isinstance(n, ex.Neg):
            return ex.Neg(go(n.arg, depth))
        if isinstance(n, ex.Transpose):
            return ex.Transpose(go(n.arg, depth))
        if isinstance(n, ex.Bin):
            return ex.Bin(n.op, go(n.left, depth), go(n.right, depth))
        if isinstance(n, ex.Call):
            return ex.Call(n.func, tuple(go(a, depth) for a in n.args))
        return n

    return go(eqs[name])


def recurrent_weight(name: str, e: ex.Expr) -> tuple[str | None, str | None]:
    """(activation, weight name) of ``h[t] = f(... W @ h[t-1] ...)`` (activation "identity"
    for a linear update), or (None, None) when the state's equation has another shape."""
    act = None
    if isinstance(e, ex.Call) and _bounded(e.func) and len(e.args) == 1:
        act, e = e.func, e.args[0]
    prev = ex.Ref(name, ex.Index("t", -1))
    found = []
    for n in ex.walk(e):
        if isinstance(n, ex.Bin) and n.op in "*@":
            for a, b in ((n.left, n.right), (n.right, n.left)):
                if b == prev and isinstance(a, ex.Name):
                    found.append(a.name)
    if len(found) != 1 or sum(1 for n in ex.walk(e) if n == prev) != 1:
        return None, None
    if isinstance(e, ex.Call):
        return None, None
    return (act or "identity"), found[0]


def _bounded(func: str) -> bool:
    """An activation whose derivative the bound knows (its table entry has a γ)."""
    op = FUNCTIONS.get(func)
    return op is not None and op.gamma is not None


def gamma(act: str) -> sympy.Expr:
    """sup |f'| of an activation (1 for the identity)."""
    return FUNCTIONS[act].gamma if _bounded(act) else sympy.Integer(1)


def norm(value) -> sympy.Expr | None:
    """|w| of a number, the largest singular value of a matrix (a tuple of rows), or None."""
    if value is None:
        return None
    if not isinstance(value, tuple):
        return abs(value) if value.is_number else None
    rows = [list(r) if isinstance(r, tuple) else [r] for r in value]
    with mpmath.workdps(30):
        m = mpmath.matrix([[mpmath.mpf(str(sympy.N(x, 30))) for x in r] for r in rows])
        s = mpmath.svd_r(m, compute_uv=False)
        return sympy.Float(max(s), 30)
