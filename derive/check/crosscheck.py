"""An independent PyTorch (float64) computation of a problem's numeric answers.

It rebuilds the forward pass from the problem's parsed equations (never from sympy or from the
engine's derivatives) and differentiates with ``torch.autograd.grad``; truncated BPTT detaches
the states at the truncation boundary.  torch is imported here only, lazily.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

from ..lang import expr as ex
from ..lang.loader import Problem, Question
from ..ops import FUNCTIONS


class Unavailable(Exception):
    """The answer has no numbers to check (free symbols) or torch is missing."""


def _torch():
    import warnings
    # torch warns once when NumPy is absent; the check never uses NumPy
    warnings.filterwarnings("ignore", message="Failed to initialize NumPy")
    try:
        import torch
    except ImportError as e:  # the optional extra is not installed
        raise Unavailable("torch is not installed") from e
    return torch


def _const(th, v):
    """A given value as a float64 tensor: a number (0-d), a column vector (n × 1) or a matrix
    given as a list of rows."""
    if isinstance(v, tuple):
        if all(not isinstance(x, tuple) for x in v):
            return th.tensor([[float(x.evalf(30))] for x in v], dtype=th.float64)
        return th.tensor([[float(y.evalf(30)) for y in row] for row in v], dtype=th.float64)
    return th.tensor(float(v.evalf(30)), dtype=th.float64)


def _is_scalar(x) -> bool:
    return x.numel() == 1


class _Forward:
    def __init__(self, problem: Problem, detach_upto: int | None = None) -> None:
        self.th = th = _torch()
        self.p = problem
        self.T = problem.steps
        self.detach_upto = detach_upto
        self.leaves: dict = {}
        for g in problem.given:
            if isinstance(g.value, tuple) and g.index is None and self._per_step(g.name):
                for k, v in enumerate(g.value, start=1):
                    self.leaves[(g.name, k)] = _const(th, v).requires_grad_(True)
            else:
                self.leaves[(g.name, g.index)] = _const(th, g.value).requires_grad_(True)
        if self.T:
            self.leaves[("T", None)] = th.tensor(float(self.T), dtype=th.float64)
        self.vals: dict = {}
        self.plain = {eq.name: eq for eq in problem.equations if not eq.indexed}
        self.indexed = {eq.name: eq for eq in problem.equations if eq.indexed}
        # Every quantity is computed on first use, after what it reads (its own order, from
        # the equations as written): plain equations may sit between steps (Z = Σ_t exp(e_t)
        # read by alpha[t]) and a backward recurrence runs from T down to 1.
        if self.T:
            for t in range(1, self.T + 1):
                for name in self.indexed:
                    self.get(name, t)

    def _reads(self, key) -> list:
        """The quantities (name, step) an equation reads at one step (sums over t expanded)."""
        name, t = key
        eq = self.indexed[name] if t is not None else self.plain[name]
        out: list = []

        def go(e, tb):
            if isinstance(e, ex.Name):
                if e.name in self.plain:
                    out.append((e.name, None))
            elif isinstance(e, ex.Ref):
                step = self.step(e.index, tb)
                if e.name in self.indexed and step is not None and 1 <= step <= self.T:
                    out.append((e.name, step))
            elif isinstance(e, (ex.Neg, ex.Transpose)):
                go(e.arg, tb)
            elif isinstance(e, ex.Bin):
                go(e.left, tb)
                go(e.right, tb)
            elif isinstance(e, ex.Call):
                if e.func == "sum" and ex.uses_t(e.args[0]) and tb is None:
                    for s in range(1, self.T + 1):
                        go(e.args[0], s)
                else:
                    for a in e.args:
                        go(a, tb)

        go(eq.expr, t)
        return out

    def _compute(self, root) -> None:
        """Evaluate root and, first, everything it reads (an explicit stack: a long sequence
        is deeper than Python's recursion limit)."""
        stack = [(root, iter(self._reads(root)))]
        busy = {root}
        while stack:
            key, it = stack[-1]
            nxt = next((d for d in it if d not in self.vals), None)
            if nxt is not None:
                if nxt in busy:
                    raise Unavailable(f"{nxt} is read while it is computed (a cycle)")
                busy.add(nxt)
                stack.append((nxt, iter(self._reads(nxt))))
                continue
            stack.pop()
            name, t = key
            eq = self.plain[name] if t is None else self.indexed[name]
            v = self.ev(eq.expr, t)
            if isinstance(eq.expr, (ex.Name, ex.Ref)):
                v = v.clone()  # h[t]: x[t] is a quantity of its own, not x[t]'s tensor
            if t is not None and self.detach_upto is not None and t <= self.detach_upto:
                v = v.detach()
            self.vals[key] = v

    def _per_step(self, name) -> bool:
        return any(isinstance(n, ex.Ref) and n.name == name
                   for eq in self.p.equations for n in ex.walk(eq.expr))

    def get(self, name, idx):
        if (idx is None and name in self.plain) or \
                (idx is not None and name in self.indexed and 1 <= idx <= self.T):
            if (name, idx) not in self.vals:
                self._compute((name, idx))
            return self.vals[(name, idx)]
        if (name, idx) in self.leaves:
            return self.leaves[(name, idx)]
        raise Unavailable(f"{name}{'' if idx is None else f'[{idx}]'} has no value")

    def step(self, index: ex.Index, t):
        if index.kind == "t":
            return None if t is None else t + index.value
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
        if isinstance(e, ex.Entry):
            return _take(self.ev(e.base, t), self.indices(e, t))
        if isinstance(e, ex.Neg):
            return -self.ev(e.arg, t)
        if isinstance(e, ex.Transpose):
            a = self.ev(e.arg, t)
            return a.T if a.dim() == 2 else a
        if isinstance(e, ex.Bin):
            a, b = self.ev(e.left, t), self.ev(e.right, t)
            if e.op == "@":
                if _is_scalar(a) or _is_scalar(b):
                    return (a.reshape(()) * b) if _is_scalar(a) else (a * b.reshape(()))
                out = a @ b
                return out.reshape(()) if _is_scalar(out) else out
            return {"+": lambda: a + b, "-": lambda: a - b, "*": lambda: a * b,
                    "/": lambda: a / b, "**": lambda: a ** b}[e.op]()
        if isinstance(e, ex.Call):
            if e.func == "sum" and ex.uses_t(e.args[0]) and t is None:
                return sum(self.ev(e.args[0], s) for s in range(1, self.T + 1))
            if e.func == "mean" and ex.uses_t(e.args[0]) and t is None:
                return sum(self.ev(e.args[0], s) for s in range(1, self.T + 1)) / self.T
            return FUNCTIONS[e.func].torch(th, *(self.ev(a, t) for a in e.args))
        raise TypeError(e)

    def indices(self, e: ex.Entry, t) -> list:
        """The 1-based whole numbers of an entry's subscripts (a class number c[t] read from
        its given value)."""
        out = []
        for i in e.indices:
            v = float(i.value) if isinstance(i, ex.Num) else float(self.ev(i, t).detach().reshape(()))
            if v != int(v):
                raise ValueError(f"entry index {ex.to_text(i)} is {v}, not a whole number")
            out.append(int(v))
        return out

    def target(self, e):
        """A question's expression (a quantity or expression) as a tensor."""
        return self.ev(e, None)

    def wrt(self, e):
        if isinstance(e, ex.Name):
            return self.get(e.name, None)
        if isinstance(e, ex.Ref):
            return self.get(e.name, self.step(e.index, None))
        raise Unavailable("wrt is not a single quantity")


def _take(x, idx: list):
    """Entry idx (1-based) of a column vector, a row vector or a matrix, as a 0-d tensor."""
    if x.dim() == 0 or x.numel() == 1:
        raise ValueError("a scalar has no entries")
    if x.dim() == 1:
        x = x.reshape(-1, 1)
    if len(idx) == 1:
        if x.shape[0] != 1 and x.shape[1] != 1:
            raise ValueError("a matrix entry needs two subscripts")
        flat = x.reshape(-1)
        if not 1 <= idx[0] <= flat.numel():
            raise ValueError(f"entry {idx[0]} is out of range")
        return flat[idx[0] - 1]
    if len(idx) != 2 or not (1 <= idx[0] <= x.shape[0] and 1 <= idx[1] <= x.shape[1]):
        raise ValueError(f"entry {idx} is out of range")
    return x[idx[0] - 1, idx[1] - 1]


def _plain(th, g, like):
    """A gradient as the spec's JSON value: a float, a list (vector) or a list of rows."""
    if g is None:
        g = th.zeros_like(like)
    g = g.detach()
    if g.numel() == 1:
        return float(g.reshape(()))
    if g.dim() == 2 and g.shape[1] == 1:
        return [float(x) for x in g.reshape(-1)]
    return [[float(x) for x in row] for row in g]


def _grad(th, out, x):
    if not out.requires_grad or not x.requires_grad:
        return None  # x is a constant here (a state detached by truncation): no gradient
    (g,) = th.autograd.grad(out, x, allow_unused=True, retain_graph=True)
    return g


def value(problem: Problem, q: Question):
    """The float64 value of a question's answer, by torch: a float, a list (vector) or a list
    of rows (matrix, Jacobian), or raises Unavailable."""
    th = _torch()
    if q.find is None:
        raise Unavailable("conceptual question")
    if q.over is not None:
        return _sweep(th, problem, q)
    from . import modelcheck
    if modelcheck.handles(problem, q):
        return modelcheck.value(problem, q)
    if not (isinstance(q.find, ex.Call) and q.find.func == "d"):
        return _plain(th, _Forward(problem).target(q.find), None)
    of, wrt = q.find.args
    pick = None
    if isinstance(wrt, ex.Entry):  # one entry of the gradient by the whole quantity
        wrt, pick = wrt.base, _Forward(problem).indices(wrt, None)
    if q.truncate is None:
        fw = _Forward(problem)
        out, x = fw.target(of), fw.wrt(wrt)
        if out.numel() == 1:
            g = _grad(th, out.reshape(()), x)
            if pick is not None:
                return float(_take(th.zeros_like(x) if g is None else g, pick))
            return _plain(th, g, x)
        flat = out.reshape(-1)
        if pick is not None:  # one entry of each row's gradient: a vector shaped as ``out``
            col = []
            for i in range(flat.numel()):
                g = _grad(th, flat[i], x)
                col.append(float(_take(th.zeros_like(x) if g is None else g, pick)))
            return col if out.dim() < 2 or out.shape[1] == 1 or out.shape[0] == 1 else \
                [col[i * out.shape[1]:(i + 1) * out.shape[1]] for i in range(out.shape[0])]
        rows = []
        for i in range(flat.numel()):
            g = _grad(th, flat[i], x)
            rows.append([0.0] * x.numel() if g is None else [float(v) for v in g.reshape(-1)])
        if x.numel() == 1:
            shaped = [r[0] for r in rows]
            return shaped if out.dim() < 2 or out.shape[1] == 1 or out.shape[0] == 1 else \
                [shaped[i * out.shape[1]:(i + 1) * out.shape[1]] for i in range(out.shape[0])]
        return rows
    total = None
    plain = {e.name: e.expr for e in problem.equations if not e.indexed}
    for term, t, horizon in ex.loss_terms(of, plain, problem.steps):
        fw = _Forward(problem, detach_upto=horizon - q.truncate)
        out, x = fw.ev(term, t), fw.wrt(wrt)
        g = _grad(th, out.reshape(()), x)
        if g is not None:
            total = g if total is None else total + g
    x = _Forward(problem).wrt(wrt)
    if pick is not None:
        return float(_take(th.zeros_like(x) if total is None else total, pick))
    return _plain(th, total, x)


def _sweep(th, problem: Problem, q: Question) -> list:
    """A question with ``over``: the list over k of the answer, or of its norm (Euclidean
    for a vector, the largest singular value for a matrix, by torch.linalg).  When the
    differentiated quantity is the same at every k, one autograd call per entry of it gives
    the derivatives by every k's quantity at once."""
    var, lo, hi = q.over
    finds = [ex.bind_sweep(q.find, k) for k in range(lo, hi + 1)]
    derivative = isinstance(q.find, ex.Call) and q.find.func == "d"
    if not derivative or ex.uses_sweep(q.find.args[0]) or q.truncate is not None or \
            isinstance(q.find.args[1], ex.Entry):
        answers = [value(problem, dataclasses.replace(q, find=f, over=None)) for f in finds]
    else:
        fw = _Forward(problem)
        out = fw.target(q.find.args[0])
        xs = [fw.wrt(f.args[1]) for f in finds]
        flat = out.reshape(-1)
        rows: list = [[] for _ in xs]
        for i in range(flat.numel()):
            gs = th.autograd.grad(flat[i], xs, allow_unused=True, retain_graph=True) \
                if flat[i].requires_grad else [None] * len(xs)
            for r, g, x in zip(rows, gs, xs):
                r.append(th.zeros_like(x) if g is None else g)
        answers = []
        for r, x in zip(rows, xs):
            if out.numel() == 1:
                answers.append(_plain(th, r[0], x))
            else:
                jac = th.stack([g.reshape(-1) for g in r])  # rows: entries of out
                if x.numel() == 1:
                    jac = jac.reshape(out.shape)
                answers.append(_plain(th, jac, jac))
    out = []
    for a in answers:
        if not isinstance(a, list):
            out.append(a)
            continue
        t = th.tensor(a, dtype=th.float64)
        norm = th.linalg.vector_norm(t) if t.dim() == 1 or 1 in t.shape else \
            th.linalg.matrix_norm(t, ord=2)
        out.append(float(norm))
    return out


# ---- comparing with the engine --------------------------------------------------------------

REL = 1e-9
ABS = 1e-12
MAX_DIGITS = 15


@dataclass(frozen=True)
class Check:
    """The cross-check of one answer: ``status`` is "agrees" or "disagrees" (with ``digits``,
    the significant digits the two agree to, and PyTorch's value), or "skipped" with a reason
    (a symbolic answer has no numbers to check)."""

    status: str
    digits: int | None = None
    torch: object = None
    reason: str = ""
    by: str = ""  # what checked it, when not PyTorch autograd (model and data answers)

    def to_json(self) -> dict:
        if self.status == "skipped":
            return {"status": "skipped", "reason": self.reason}
        out = {"status": self.status, "digits": self.digits, "torch": self.torch}
        if self.reason:
            out["reason"] = self.reason
        if self.by:
            out["by"] = self.by
        return out


def _flat(v) -> list:
    if isinstance(v, list):
        return [x for item in v for x in _flat(item)]
    return [v]


def compare(got, want) -> Check:
    """Entry by entry: agreement within 1e-9 relative (1e-12 absolute near zero)."""
    a, b = _flat(got), _flat(want)
    if len(a) != len(b):
        return Check("disagrees", 0, want)
    digits, ok = MAX_DIGITS, True
    for x, y in zip(a, b):
        if not (math.isfinite(x) and math.isfinite(y)):
            return Check("disagrees", 0, want)
        diff = abs(x - y)
        if diff <= ABS and max(abs(x), abs(y)) <= ABS:
            continue
        rel = diff / max(abs(y), abs(x))
        if rel > REL and diff > ABS:
            ok = False
        if rel > 0:
            digits = min(digits, max(0, int(math.floor(-math.log10(rel)))))
    return Check("agrees" if ok else "disagrees", digits, want)


def available() -> bool:
    """True when torch can be imported (the check runs then)."""
    try:
        _torch()
    except Unavailable:
        return False
    return True


def check(problem: Problem, answers: dict) -> dict:
    """id -> Check for each answer of ``answers`` (the spec's JSON answers of the solution)."""
    out = {}
    for q in problem.questions:
        a = answers.get(q.id)
        if a is None:
            continue
        from . import modelcheck
        if modelcheck.handles(problem, q):  # counts, shapes, tokens: not through autograd
            out[q.id] = modelcheck.check(problem, q, a)
            continue
        if a["value"] is None:
            out[q.id] = Check("skipped", reason="the answer is symbolic")
            continue
        try:
            want = value(problem, q)
        except Unavailable as e:
            out[q.id] = Check("skipped", reason=str(e))
            continue
        except Exception as e:  # an answer that cannot be confirmed is a failure, not a skip
            out[q.id] = Check("disagrees", 0, None,
                              f"PyTorch could not compute it ({type(e).__name__}: {e})")
            continue
        out[q.id] = compare(a["value"], want)
    return out
