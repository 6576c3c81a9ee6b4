"""The expression grammar of problem files, parsed through :mod:`ast` with a whitelist.

The text is parsed by ``ast.parse`` only (never evaluated) and turned into the small tree below.
Anything outside the grammar of ``problem-format.md`` raises :class:`ExprError` naming the
construct.
"""

from __future__ import annotations

import ast
import functools
import re
from fractions import Fraction
from dataclasses import dataclass

import sympy

from ..errors import ExprError
from ..ops import FUNCTIONS

MAX_CHARS = 4000
MAX_DEPTH = 60
MAX_NODES = 2000
MAX_LITERAL = 40
MAX_EXPONENT = 1000

NAME_RE = re.compile(r"[A-Za-z][A-Za-z0-9_]*\Z")
class _Reserved:
    """Names a quantity may not take: t, T, d and the functions of the table (as it is now)."""

    def __contains__(self, name) -> bool:
        return name in ("t", "T", "d") or name in FUNCTIONS


RESERVED = _Reserved()


# ---- the tree ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class Index:
    """A time index: ``t+offset`` (kind 't'), ``T+offset`` (kind 'T'), a fixed step (kind 'n')
    or ``k+offset`` for the index ``var`` of a question's sweep (kind 'k', only in a find with
    ``over``; :func:`bind_sweep` turns it into fixed steps)."""

    kind: str
    value: int
    var: str = ""

    def text(self) -> str:
        if self.kind == "n":
            return str(self.value)
        head = self.var if self.kind == "k" else self.kind
        if self.value == 0:
            return head
        return f"{head}{self.value:+d}"


@dataclass(frozen=True)
class Num:
    value: sympy.Rational


@dataclass(frozen=True)
class Name:
    name: str


@dataclass(frozen=True)
class Ref:
    name: str
    index: Index


@dataclass(frozen=True)
class Entry:
    """An entry of a vector or matrix value: ``v[2]``, ``W_hh[1][2]``, ``p[t][c[t]]`` (1-based).

    ``base`` is the quantity (a Name, or a Ref at a step); each index is a whole number (Num)
    or a given whole number (a Name, or a Ref such as ``c[t]``)."""

    base: "Expr"
    indices: tuple


@dataclass(frozen=True)
class Neg:
    arg: "Expr"


@dataclass(frozen=True)
class Bin:
    op: str  # one of + - * / ** @
    left: "Expr"
    right: "Expr"


@dataclass(frozen=True)
class Call:
    func: str
    args: tuple


@dataclass(frozen=True)
class Transpose:
    arg: "Expr"


Expr = Num | Name | Ref | Entry | Neg | Bin | Call | Transpose


def walk(e: Expr):
    """Yield every node of the tree, parents before children."""
    stack = [e]
    while stack:
        n = stack.pop()
        yield n
        if isinstance(n, (Neg, Transpose)):
            stack.append(n.arg)
        elif isinstance(n, Bin):
            stack.extend((n.right, n.left))
        elif isinstance(n, Call):
            stack.extend(reversed(n.args))
        elif isinstance(n, Entry):
            stack.extend(reversed((n.base,) + n.indices))


def uses_t(e: Expr) -> bool:
    """True when the expression refers to the running index ``t`` outside any ``sum`` (or
    ``mean``, which is a sum over t divided by T)."""
    if isinstance(e, Ref):
        return e.index.kind == "t"
    if isinstance(e, Call) and e.func in OVER_T:
        return False
    if isinstance(e, Entry):
        return uses_t(e.base) or any(uses_t(i) for i in e.indices)
    if isinstance(e, (Neg, Transpose)):
        return uses_t(e.arg)
    if isinstance(e, Bin):
        return uses_t(e.left) or uses_t(e.right)
    if isinstance(e, Call):
        return any(uses_t(a) for a in e.args)
    return False


#: The functions that run over t = 1..T in a plain equation when their argument uses t.
OVER_T = ("sum", "mean")


def uses_sweep(e: Expr) -> bool:
    """True when the expression reads the sweep index (an index of kind 'k')."""
    return any(isinstance(n, Ref) and n.index.kind == "k" for n in walk(e))


def bind_sweep(e: Expr, k: int) -> Expr:
    """The expression at one value of the sweep index: ``h[k+1]`` becomes ``h[k+1]`` at k."""
    if isinstance(e, Ref) and e.index.kind == "k":
        return Ref(e.name, Index("n", k + e.index.value))
    if isinstance(e, Neg):
        return Neg(bind_sweep(e.arg, k))
    if isinstance(e, Transpose):
        return Transpose(bind_sweep(e.arg, k))
    if isinstance(e, Bin):
        return Bin(e.op, bind_sweep(e.left, k), bind_sweep(e.right, k))
    if isinstance(e, Call):
        return Call(e.func, tuple(bind_sweep(a, k) for a in e.args))
    if isinstance(e, Entry):
        return Entry(bind_sweep(e.base, k), tuple(bind_sweep(i, k) for i in e.indices))
    return e


def to_text(e: Expr) -> str:
    """The expression in the problem file's own syntax (fully parenthesised where needed)."""
    if isinstance(e, Num):
        return str(e.value)
    if isinstance(e, Name):
        return e.name
    if isinstance(e, Ref):
        return f"{e.name}[{e.index.text()}]"
    if isinstance(e, Entry):
        return to_text(e.base) + "".join(f"[{to_text(i)}]" for i in e.indices)
    if isinstance(e, Neg):
        return f"-({to_text(e.arg)})"
    if isinstance(e, Bin):
        return f"({to_text(e.left)} {e.op} {to_text(e.right)})"
    if isinstance(e, Call):
        return f"{e.func}({', '.join(to_text(a) for a in e.args)})"
    if isinstance(e, Transpose):
        return f"({to_text(e.arg)}).T"
    raise TypeError(e)


# ---- parsing ----------------------------------------------------------------------------------

_BINOPS = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.Pow: "**",
           ast.MatMult: "@"}

_FORBIDDEN = {
    ast.Lambda: "lambda", ast.Attribute: "attribute access (only .T is allowed)",
    ast.Compare: "comparison", ast.BoolOp: "boolean operator", ast.IfExp: "conditional expression",
    ast.ListComp: "comprehension", ast.SetComp: "comprehension", ast.DictComp: "comprehension",
    ast.GeneratorExp: "comprehension", ast.Dict: "dictionary", ast.Set: "set",
    ast.List: "list", ast.Tuple: "tuple", ast.Starred: "starred expression",
    ast.JoinedStr: "string", ast.NamedExpr: "assignment expression", ast.Await: "await",
    ast.Yield: "yield", ast.YieldFrom: "yield", ast.Slice: "slice",
}


@functools.lru_cache(maxsize=4096)
def parse_number(text: str) -> sympy.Rational:
    """An exact rational from a decimal, integer or ``p/q`` literal; ``ExprError`` otherwise."""
    s = text.strip()
    if len(s) > MAX_LITERAL:
        raise ExprError(f"number {s[:20]}... is too long")
    if not re.fullmatch(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d{1,3})?(/\d+)?", s):
        raise ExprError(f"{s!r} is not a number")
    if "/" in s:
        p, q = s.split("/")
        if int(q) == 0:
            raise ExprError("division by zero")
        return sympy.Rational(parse_number(p)) / int(q)
    m = re.fullmatch(r"([+-]?[\d.]+)(?:[eE]([+-]?\d+))?", s)
    exp = int(m.group(2) or 0)
    if abs(exp) > 100:
        raise ExprError(f"exponent of {s} is too large")
    f = Fraction(s)  # exact for decimal text
    return sympy.Rational(f.numerator, f.denominator)


def parse(text: str, *, allow_t: bool = True, allow_d: bool = False,
          over: str | None = None) -> Expr:
    """Parse one expression of the grammar; ``ExprError`` names what is not allowed.
    ``over``: the name of a question's sweep index, accepted as an index (``h[k]``)."""
    if not isinstance(text, str):
        raise ExprError("expected an expression")
    if len(text) > MAX_CHARS:
        raise ExprError(f"expression is longer than {MAX_CHARS} characters")
    if not text.strip():
        raise ExprError("empty expression")
    depth = 0
    for ch in text:
        if ch in "([{":
            depth += 1
            if depth > MAX_DEPTH:
                raise ExprError(f"expression is nested more than {MAX_DEPTH} levels deep")
        elif ch in ")]}":
            depth -= 1
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except (SyntaxError, ValueError) as e:
        raise ExprError(f"invalid expression: {getattr(e, 'msg', str(e))}") from None
    except (RecursionError, MemoryError):
        raise ExprError("expression is too deeply nested") from None
    count = sum(1 for _ in ast.walk(tree))
    if count > MAX_NODES:
        raise ExprError(f"expression has more than {MAX_NODES} parts")
    return _Converter(text.strip(), allow_t, allow_d, over).conv(tree.body, 0)


class _Converter:
    def __init__(self, src: str, allow_t: bool, allow_d: bool, over: str | None = None) -> None:
        self.src = src
        self.allow_t = allow_t
        self.allow_d = allow_d
        self.over = over

    def conv(self, n: ast.AST, depth: int, top: bool = True) -> Expr:
        if depth > 4 * MAX_DEPTH:
            raise ExprError("expression is too deeply nested")
        d = depth + 1
        if isinstance(n, ast.Constant):
            if isinstance(n.value, bool) or not isinstance(n.value, (int, float)):
                kind = "string" if isinstance(n.value, (str, bytes)) else type(n.value).__name__
                raise ExprError(f"{kind} literal is not allowed")
            seg = ast.get_source_segment(self.src, n) or repr(n.value)
            return Num(parse_number(seg))
        if isinstance(n, ast.Name):
            return self.name(n.id)
        if isinstance(n, ast.UnaryOp):
            if isinstance(n.op, ast.USub):
                inner = self.conv(n.operand, d, False)
                if isinstance(inner, Num):
                    return Num(-inner.value)
                return Neg(inner)
            if isinstance(n.op, ast.UAdd):
                return self.conv(n.operand, d, False)
            raise ExprError(f"operator {type(n.op).__name__} is not allowed")
        if isinstance(n, ast.BinOp):
            op = _BINOPS.get(type(n.op))
            if op is None:
                raise ExprError(f"operator {type(n.op).__name__} is not allowed")
            left = self.conv(n.left, d, False)
            right = self.conv(n.right, d, False)
            if op == "**":
                self.check_exponent(right)
            return Bin(op, left, right)
        if isinstance(n, ast.Subscript):
            return self.subscript(n)
        if isinstance(n, ast.Attribute):
            if n.attr == "T":
                return Transpose(self.conv(n.value, d, False))
            raise ExprError(f"attribute access .{n.attr} is not allowed (only .T)")
        if isinstance(n, ast.Call):
            return self.call(n, d, top)
        for kind, words in _FORBIDDEN.items():
            if isinstance(n, kind):
                raise ExprError(f"{words} is not allowed")
        raise ExprError(f"{type(n).__name__} is not allowed")

    def name(self, ident: str) -> Name:
        if ident in FUNCTIONS or ident == "d":
            raise ExprError(f"{ident} is a function; call it as {ident}(...)")
        if ident == "t":
            raise ExprError("t may only be used as an index, as in h[t]")
        if ident == self.over:
            raise ExprError(f"{ident} is the question's sweep index (over); use it as an "
                            f"index, as in h[{ident}]")
        if ident.startswith("_") or not NAME_RE.match(ident):
            raise ExprError(f"name {ident!r} is not allowed")
        return Name(ident)

    def check_exponent(self, e: Expr) -> None:
        v = constant_value(e)
        if v is None:
            raise ExprError("an exponent must be a number")
        p, q = sympy.fraction(v)
        if abs(p) > MAX_EXPONENT or abs(q) > MAX_EXPONENT:
            raise ExprError(f"exponent {v} is too large (at most {MAX_EXPONENT})")

    def subscript(self, n: ast.Subscript) -> Expr:
        if isinstance(n.value, ast.Subscript):
            # a further subscript is an entry: p[t][c[t]], W_hh[1][2], h[T][1]
            inner = self.subscript(n.value)
            idx = self.entry_index(n.slice)
            if isinstance(inner, Entry):
                if len(inner.indices) >= 3:
                    raise ExprError(f"{to_text(inner)}[...]: too many subscripts")
                return Entry(inner.base, inner.indices + (idx,))
            return Entry(inner, (idx,))
        if not isinstance(n.value, ast.Name):
            raise ExprError("only a name can be indexed, as in h[t-1]")
        base = self.name(n.value.id).name
        idx = n.slice
        if isinstance(idx, (ast.Name, ast.Subscript)) and not (
                isinstance(idx, ast.Name) and idx.id in ("t", "T", self.over)):
            # v[c], p[c[t]]: an entry picked by a given whole number
            return Entry(Name(base), (self.entry_index(idx),))
        index = self.index(idx)
        if index.kind == "t" and not self.allow_t:
            raise ExprError(f"{base}[{index.text()}]: t is only defined inside h[t] equations "
                            "and sum(...)")
        return Ref(base, index)

    def entry_index(self, idx: ast.AST) -> Expr:
        """An entry index: a whole number from 1, or a given whole number (c, c[t], c[2])."""
        if isinstance(idx, ast.Constant) and type(idx.value) is int:
            if not 1 <= idx.value <= 100000:
                raise ExprError(f"entry index {idx.value} is out of range (entries count from 1)")
            return Num(sympy.Integer(idx.value))
        if isinstance(idx, ast.Name) and idx.id not in ("t", "T"):
            return self.name(idx.id)
        if isinstance(idx, ast.Subscript) and isinstance(idx.value, ast.Name):
            e = self.subscript(idx)
            if isinstance(e, Ref):
                return e
        raise ExprError("an entry index is a whole number from 1 or a given class number, "
                        "as in p[t][c[t]]")

    def index(self, idx: ast.AST) -> Index:
        if isinstance(idx, ast.Constant) and type(idx.value) is int:
            if not 0 <= idx.value <= 100000:
                raise ExprError(f"index {idx.value} is out of range")
            return Index("n", idx.value)
        if (isinstance(idx, ast.UnaryOp) and isinstance(idx.op, ast.USub)
                and isinstance(idx.operand, ast.Constant) and type(idx.operand.value) is int):
            # an earlier start such as h[-1], read by a recurrence over h[t-2]
            if not 0 <= idx.operand.value <= 100000:
                raise ExprError(f"index -{idx.operand.value} is out of range")
            return Index("n", -idx.operand.value)
        if isinstance(idx, ast.Name) and idx.id in ("t", "T"):
            return Index(idx.id, 0)
        if (isinstance(idx, ast.BinOp) and isinstance(idx.op, (ast.Add, ast.Sub))
                and isinstance(idx.left, ast.Name) and idx.left.id in ("t", "T")
                and isinstance(idx.right, ast.Constant) and type(idx.right.value) is int
                and idx.right.value <= 100000):
            k = idx.right.value if isinstance(idx.op, ast.Add) else -idx.right.value
            return Index(idx.left.id, k)
        if self.over is not None:
            v = self.over
            if isinstance(idx, ast.Name) and idx.id == v:
                return Index("k", 0, v)
            if (isinstance(idx, ast.BinOp) and isinstance(idx.op, (ast.Add, ast.Sub))
                    and isinstance(idx.left, ast.Name) and idx.left.id == v
                    and isinstance(idx.right, ast.Constant) and type(idx.right.value) is int
                    and idx.right.value <= 100000):
                return Index("k", idx.right.value if isinstance(idx.op, ast.Add)
                             else -idx.right.value, v)
            raise ExprError(f"an index must be t, t-j, t+j, T, T-j, T+j, a whole number, or the "
                            f"sweep index {v}, {v}+j, {v}-j (j a whole number)")
        raise ExprError("an index must be t, t-k, t+k, T, T-k, T+k or a whole number")

    def call(self, n: ast.Call, d: int, top: bool) -> Expr:
        if not isinstance(n.func, ast.Name):
            raise ExprError("only the named functions of the grammar can be called")
        f = n.func.id
        if n.keywords:
            raise ExprError(f"{f}(): keyword arguments are not allowed")
        if any(isinstance(a, ast.Starred) for a in n.args):
            raise ExprError(f"{f}(): starred arguments are not allowed")
        if f == "d":
            if not (self.allow_d and top):
                raise ExprError("d(of, wrt) may only stand alone in a question's find")
            if len(n.args) != 2:
                raise ExprError("d takes two arguments: d(of, wrt)")
            return Call("d", (self.conv(n.args[0], d, False), self.conv(n.args[1], d, False)))
        spec = FUNCTIONS.get(f)
        if spec is None:
            raise ExprError(f"unknown function {f}()")
        if spec.variadic and len(n.args) < spec.arity:
            raise ExprError(f"{f} takes at least {spec.arity} argument"
                            f"{'s' if spec.arity > 1 else ''}")
        if not spec.variadic and len(n.args) != spec.arity:
            raise ExprError(f"{f} takes {spec.arity} argument{'s' if spec.arity > 1 else ''}")
        if f in OVER_T:
            sub = _Converter(self.src, True, False, self.over)
            return Call(f, (sub.conv(n.args[0], d, False),))
        return Call(f, tuple(self.conv(a, d, False) for a in n.args))


def constant_value(e: Expr) -> sympy.Rational | None:
    """The rational value of an expression made of numbers only, else None (never huge)."""
    if isinstance(e, Num):
        return e.value
    if isinstance(e, Neg):
        v = constant_value(e.arg)
        return None if v is None else -v
    if isinstance(e, Bin) and e.op in "+-*/":
        a, b = constant_value(e.left), constant_value(e.right)
        if a is None or b is None:
            return None
        if e.op == "+":
            return a + b
        if e.op == "-":
            return a - b
        if e.op == "*":
            return a * b
        if b == 0:
            raise ExprError("division by zero")
        return a / b
    return None


def loss_terms(of: Expr, plain: dict, T: int | None) -> list:
    """The additive terms of a loss as (expression, t binding, horizon): sums over t and + / -
    are split, a constant factor or divisor is carried along; ``plain`` maps plain equation
    names to their expressions; the horizon is the last step a term reads."""

    def split(e, t):
        if isinstance(e, Name) and e.name in plain:
            return split(plain[e.name], None)
        if isinstance(e, Bin) and e.op in "+-":
            right = split(e.right, t)
            if e.op == "-":
                right = [(Neg(x), tt) for x, tt in right]
            return split(e.left, t) + right
        if isinstance(e, Call) and e.func == "sum" and uses_t(e.args[0]) and t is None:
            return [p for s in range(1, T + 1) for p in split(e.args[0], s)]
        if isinstance(e, Call) and e.func == "mean" and uses_t(e.args[0]) and t is None:
            return [(Bin("/", x, Num(sympy.Integer(T))), tt)
                    for s in range(1, T + 1) for x, tt in split(e.args[0], s)]
        if isinstance(e, Bin) and e.op in "*/" and not _refs(e.right):
            return [(Bin(e.op, x, e.right), tt) for x, tt in split(e.left, t)]
        if isinstance(e, Bin) and e.op == "*" and not _refs(e.left):
            return [(Bin("*", e.left, x), tt) for x, tt in split(e.right, t)]
        return [(e, t)]

    def horizon(e, t):
        steps = [0]
        for n in walk(e):
            if isinstance(n, Ref):
                k = n.index
                steps.append(t + k.value if k.kind == "t" and t is not None else
                             T + k.value if k.kind == "T" else k.value)
            elif isinstance(n, Name) and n.name in plain:
                steps.append(horizon(plain[n.name], None))
            elif isinstance(n, Call) and n.func in OVER_T and t is None:
                steps.append(T)
        return max(steps)

    return [(e, t, horizon(e, t)) for e, t in split(of, None)]


def _refs(e) -> bool:
    # T is the number of steps: a constant factor (sum(L[t]) / T splits into its terms)
    return any(isinstance(n, Ref) or (isinstance(n, Name) and n.name != "T") for n in walk(e))


def additive_terms(e: Expr, name: str) -> list:
    """The top-level additive terms of ``e`` that carry ``name[t-1]`` outside every function,
    scaled by a gate of the same step (or by 1): the additive path of a gated update such as
    (1 - z[t])*h[t-1] + z[t]*c[t]."""
    terms: list = []

    def split(n):
        if isinstance(n, Bin) and n.op in "+-":
            split(n.left)
            split(n.right)
        else:
            terms.append(n)

    def carries(n) -> bool:
        if isinstance(n, Ref):
            return n.name == name and n.index == Index("t", -1)
        if isinstance(n, Call):
            return False
        if isinstance(n, (Neg, Transpose)):
            return carries(n.arg)
        if isinstance(n, Bin):
            return n.op in "*@" and (carries(n.left) or carries(n.right))
        return False

    def gated(n) -> bool:
        # the coefficient is a gate of this step (or 1), not a weight: W*h[t-1] is no path
        return n == Ref(name, Index("t", -1)) or any(
            isinstance(m, Ref) and m.index == Index("t", 0) for m in walk(n))

    split(e)
    return [t for t in terms if carries(t) and gated(t)]


def read_entries(e: Expr, sequence) -> Expr:
    """The tree with each whole-number subscript of a name that does not run over steps read
    as an entry: ``v[2]`` is entry 2 of the vector v, ``W[1][2]`` an entry of the matrix W,
    while ``h[2][1]`` stays entry 1 of h at step 2.  ``sequence(name)`` says whether a name
    runs over steps (a ``[t]`` equation, a given used per step)."""

    def first(n, whole):
        if not isinstance(n, Ref) or sequence(n.name):
            return None
        if n.index.kind != "n":
            raise ExprError(f"{to_text(whole)}: {n.name} does not run over steps")
        if n.index.value < 1:
            raise ExprError(f"{to_text(whole)}: entry {n.index.value} is out of range "
                            "(entries count from 1)")
        return Num(sympy.Integer(n.index.value))

    def go(n):
        if isinstance(n, Ref):
            k = first(n, n)
            return n if k is None else Entry(Name(n.name), (k,))
        if isinstance(n, Entry):
            indices = tuple(go(i) for i in n.indices)
            k = first(n.base, n)
            if k is None:
                return Entry(n.base, indices)
            if len(indices) > 1:
                raise ExprError(f"{to_text(n)}: too many subscripts")
            return Entry(Name(n.base.name), (k,) + indices)
        if isinstance(n, Neg):
            return Neg(go(n.arg))
        if isinstance(n, Transpose):
            return Transpose(go(n.arg))
        if isinstance(n, Bin):
            return Bin(n.op, go(n.left), go(n.right))
        if isinstance(n, Call):
            return Call(n.func, tuple(go(a) for a in n.args))
        return n

    return go(e)


def step_names(e: Expr) -> set:
    """Names read with a time index t or T (``x[t]``, ``h[T]``) anywhere in e."""
    return {n.name for n in walk(e) if isinstance(n, Ref) and n.index.kind != "n"}


def alone_refs(e: Expr) -> set:
    """Names read with one whole-number subscript and no further one (``x[2]``)."""
    inner = {id(n.base) for n in walk(e) if isinstance(n, Entry)}
    return {n.name for n in walk(e) if isinstance(n, Ref) and n.index.kind == "n"
            and id(n) not in inner}
