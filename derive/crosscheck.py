"""An independent PyTorch (float64) computation of a problem's numeric answers.

It rebuilds the forward pass from the problem's parsed equations (never from sympy or from the
engine's derivatives) and differentiates with ``torch.autograd.grad``; truncated BPTT detaches
the states at the truncation boundary.  torch is imported here only, lazily.
"""

from __future__ import annotations

from . import expr as ex
from .loader import Problem, Question
from .ops import FUNCTIONS


class Unavailable(Exception):
    """The answer has no numbers to check (free symbols) or torch is missing."""


def _torch():
    try:
        import torch
    except ImportError as e:  # the optional extra is not installed
        raise Unavailable("torch is not installed") from e
    return torch


def _const(th, v):
    return th.tensor(float(v.evalf(30)), dtype=th.float64)


class _Forward:
    def __init__(self, problem: Problem, detach_upto: int | None = None) -> None:
        self.th = th = _torch()
        self.p = problem
        self.T = problem.steps
        self.detach_upto = detach_upto
        self.leaves: dict = {}
        for g in problem.given:
            if isinstance(g.value, tuple):
                for k, v in enumerate(g.value, start=1):
                    self.leaves[(g.name, k)] = _const(th, v).requires_grad_(True)
            else:
                self.leaves[(g.name, g.index)] = _const(th, g.value).requires_grad_(True)
        self.vals: dict = {}
        indexed = [eq for eq in problem.equations if eq.indexed]
        # Plain equations may sit between indexed ones; evaluate lazily on first use.
        self.plain = {eq.name: eq for eq in problem.equations if not eq.indexed}
        self.indexed = {eq.name: eq for eq in indexed}
        if self.T:
            for t in range(1, self.T + 1):
                for eq in indexed:
                    v = self.ev(eq.expr, t)
                    if detach_upto is not None and t <= detach_upto:
                        v = v.detach()
                    self.vals[(eq.name, t)] = v

    def get(self, name, idx):
        if idx is None:
            if (name, None) in self.vals:
                return self.vals[(name, None)]
            if name in self.plain:
                self.vals[(name, None)] = self.ev(self.plain[name].expr, None)
                return self.vals[(name, None)]
        elif name in self.indexed and idx >= 1:
            if (name, idx) not in self.vals:
                raise KeyError((name, idx))
            return self.vals[(name, idx)]
        if (name, idx) in self.leaves:
            return self.leaves[(name, idx)]
        raise Unavailable(f"{name}{'' if idx is None else f'[{idx}]'} has no value")

    def step(self, index: ex.Index, t):
        if index.kind == "t":
            return t + index.value
        if index.kind == "T":
            return self.T + index.value
        return index.value

    def ev(self, e, t):
        th = self.th
        if isinstance(e, ex.Num):
            return _const(th, e.value)
        if isinstance(e, ex.Name):
            return self.get(e.name, None)
        if isinstance(e, ex.Ref):
            return self.get(e.name, self.step(e.index, t))
        if isinstance(e, ex.Neg):
            return -self.ev(e.arg, t)
        if isinstance(e, ex.Transpose):
            return self.ev(e.arg, t)
        if isinstance(e, ex.Bin):
            a, b = self.ev(e.left, t), self.ev(e.right, t)
            return {"+": lambda: a + b, "-": lambda: a - b, "*": lambda: a * b,
                    "@": lambda: a * b, "/": lambda: a / b, "**": lambda: a ** b}[e.op]()
        if isinstance(e, ex.Call):
            if e.func == "sum" and ex.uses_t(e.args[0]):
                return sum(self.ev(e.args[0], s) for s in range(1, self.T + 1))
            return FUNCTIONS[e.func].torch(th, *(self.ev(a, t) for a in e.args))
        raise TypeError(e)

    def target(self, e):
        """A question's expression (a quantity or expression) as a tensor."""
        return self.ev(e, None)

    def wrt(self, e):
        if isinstance(e, ex.Name):
            return self.get(e.name, None)
        if isinstance(e, ex.Ref):
            return self.get(e.name, self.step(e.index, None))
        raise Unavailable("wrt is not a single quantity")


def _terms(problem: Problem, of: ex.Expr) -> list:
    """The additive loss terms as (expression, step binding, sign/scale expression, horizon):
    sums over t and + / - split, a constant factor or divisor is carried along."""
    T = problem.steps
    plain = {q.name: q for q in problem.equations if not q.indexed}

    def split(e, t):
        if isinstance(e, ex.Name) and e.name in plain:
            return split(plain[e.name].expr, None)
        if isinstance(e, ex.Bin) and e.op in "+-":
            right = split(e.right, t)
            if e.op == "-":
                right = [(ex.Neg(x), tt) for x, tt in right]
            return split(e.left, t) + right
        if isinstance(e, ex.Call) and e.func == "sum" and ex.uses_t(e.args[0]) and t is None:
            return [p for s in range(1, T + 1) for p in split(e.args[0], s)]
        if isinstance(e, ex.Bin) and e.op in "*/" and not _refs(e.right):
            return [(ex.Bin(e.op, x, e.right), tt) for x, tt in split(e.left, t)]
        if isinstance(e, ex.Bin) and e.op == "*" and not _refs(e.left):
            return [(ex.Bin("*", e.left, x), tt) for x, tt in split(e.right, t)]
        return [(e, t)]

    def horizon(e, t):
        steps = [0]
        for n in ex.walk(e):
            if isinstance(n, ex.Ref):
                k = n.index
                steps.append(t + k.value if k.kind == "t" and t is not None else
                             T + k.value if k.kind == "T" else k.value)
            elif isinstance(n, ex.Name) and n.name in plain:
                steps.append(horizon(plain[n.name].expr, None))
            elif isinstance(n, ex.Call) and n.func == "sum" and t is None:
                steps.append(T)
        return max(steps)

    return [(e, t, horizon(e, t)) for e, t in split(of, None)]


def _refs(e) -> bool:
    return any(isinstance(n, (ex.Ref, ex.Name)) for n in ex.walk(e))


def value(problem: Problem, q: Question):
    """The float64 value of a question's answer, by torch (a float, or raises Unavailable)."""
    th = _torch()
    if q.find is None:
        raise Unavailable("conceptual question")
    if not (isinstance(q.find, ex.Call) and q.find.func == "d"):
        return float(_Forward(problem).target(q.find).detach())
    of, wrt = q.find.args
    if q.truncate is None:
        fw = _Forward(problem)
        out, x = fw.target(of), fw.wrt(wrt)
        (g,) = th.autograd.grad(out, x, allow_unused=True)
        return 0.0 if g is None else float(g)
    total = 0.0
    for term, t, horizon in _terms(problem, of):
        fw = _Forward(problem, detach_upto=horizon - q.truncate)
        out, x = fw.ev(term, t), fw.wrt(wrt)
        if not out.requires_grad:
            continue
        (g,) = th.autograd.grad(out, x, allow_unused=True)
        total += 0.0 if g is None else float(g)
    return total
