"""The catalog of mistakes: each slip a student makes, applied inside the one engine
(:class:`derive.calculus.core.Alteration`) and re-solved exactly on the numeric core.

Ids are stable (``../shared/spec/classroom.md``, "Grading"): ``dropped-term``,
``index-shift``, ``missing-path``, ``missing-factor``, ``wrong-derivative``, ``sign``,
``wrong-given`` here, and ``carried-forward`` (which depends on the student's own answers) in
:mod:`.grade`.  The mistaken answers do not depend on the student, so a :class:`Catalog` is
built once per problem and serves a whole roster.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import sympy

from ..calculus.core import Alteration, Core
from ..calculus.graph import unroll
from ..calculus.numbers import as_sympy
from ..calculus.program import _backward
from ..calculus.questions import gradable, numeric_solution
from ..errors import ExprError, SpecError
from ..lang import expr as ex
from ..lang.to_sympy import split_name, sym
from ..ops import WRONG_PRIMES
from ..output.printing import ExprLatex, format_number, rounded, symbol_latex

#: The catalog's ids, in the order slips are listed.
MISTAKES = ("dropped-term", "index-shift", "missing-path", "missing-factor", "wrong-derivative",
            "sign", "wrong-given", "carried-forward")
#: Slips at one step (a term dropped at step t, a given of another step) are listed for
#: problems of at most this many steps; longer ones get the every-step slips only.
STEP_SLIPS_T = 6
#: Pairs are formed among at most this many single slips (the first in catalog order).
MAX_PAIRED = 60


@dataclass(frozen=True)
class Slip:
    """One catalog mistake applied to a problem (the interface of ``derive export``)."""

    mistake: str  # catalog id: "dropped-term", "index-shift", ...
    where: str  # the quantity in the problem's syntax: "h[1]", "d(L, W_h)"
    text: str  # one sentence a student understands (may hold $...$ math)
    answers: dict  # question id -> the mistaken exact answer, every numeric question


@dataclass(frozen=True)
class Candidate:
    """A mistake before it is solved: its alteration, the words and the worked step.

    ``text``, ``key_step`` and ``student_step`` may hold ``{value}`` (the mistaken forward
    value of ``value_of``) and ``{key}`` (its key value); ``rank`` orders the catalog."""

    mistake: str
    where: str
    text: str
    alteration: Alteration
    rank: tuple
    key_step: str = ""
    student_step: str = ""
    value_of: object = None


@dataclass(frozen=True)
class Mistaken:
    """A solved candidate (or a pair): the mistakes, their words and steps, the answers."""

    slips: tuple  # of (mistake, where, text, key_step, student_step)
    answers: dict
    rank: tuple

    @property
    def mistake(self) -> str:
        return " + ".join(s[0] for s in self.slips)

    @property
    def where(self) -> str:
        return "; ".join(s[1] for s in self.slips)

    @property
    def text(self) -> str:
        if len(self.slips) == 1:
            return self.slips[0][2]
        return " Also: ".join(s[2] for s in self.slips)


def slips(problem) -> tuple[Slip, ...]:
    """Each catalog mistake applied alone to ``problem`` (a loader.Problem), re-solved exactly
    in the one engine; only slips that change some answer; fixed order (catalog order, then
    step)."""
    return tuple(Slip(m.mistake, m.where, m.text, dict(m.answers))
                 for m in Catalog(problem).singles)


class Catalog:
    """The key and every mistaken solution of one problem (singles, then pairs on demand)."""

    def __init__(self, problem) -> None:
        self.problem = problem
        self.graph = unroll(problem)
        self.core = Core(self.graph)  # the key's forward values, shapes and programs
        self.questions = gradable(problem)
        self.key = numeric_solution(self.graph)[0]
        self.names = dict(problem.symbols)
        numeric = any(v is not None for v in self.key.values())
        self.candidates = tuple(sorted(_candidates(self), key=lambda c: c.rank)) \
            if numeric else ()
        self.solved = tuple((c, m) for c in self.candidates
                            if (m := self._solve(c)) is not None)
        self.singles = tuple(m for _, m in self.solved)

    @functools.cached_property
    def pairs(self) -> tuple:
        """Two slips together, where the pair's answers differ from the key and from each of
        its slips alone (else the single slip explains as much)."""
        solved = self.solved[:MAX_PAIRED]
        out = []
        for i, (a, ma) in enumerate(solved):
            nodes_a = {s for s, _ in a.alteration.exprs}
            for b, mb in solved[i + 1:]:
                if nodes_a & {s for s, _ in b.alteration.exprs}:
                    continue  # two rewrites of one equation at one step do not compose
                m = self._solve_pair(a, b)
                if m is None or _same_answers(m.answers, ma.answers) or \
                        _same_answers(m.answers, mb.answers):
                    continue
                out.append(m)
        return tuple(out)

    # -- solving ----------------------------------------------------------------------------

    def _run(self, alteration: Alteration, value_of=()):
        try:
            return numeric_solution(self.graph, alteration, value_of)
        except (ExprError, SpecError, ValueError, ArithmeticError, KeyError, TypeError):
            return None  # the slip does not fit this problem (a shape, a value undefined)

    def _solve(self, c: Candidate) -> Mistaken | None:
        got = self._run(c.alteration, (c.value_of,) if c.value_of is not None else ())
        if got is None:
            return None
        answers, values = got
        if not self.changes(answers):
            return None
        return Mistaken((self._words(c, values),), answers, (c.rank,))

    def _solve_pair(self, a: Candidate, b: Candidate) -> Mistaken | None:
        syms = tuple(c.value_of for c in (a, b) if c.value_of is not None)
        got = self._run(a.alteration + b.alteration, syms)
        if got is None:
            return None
        answers, values = got
        if not self.changes(answers):
            return None
        return Mistaken((self._words(a, values), self._words(b, values)), answers,
                        (a.rank, b.rank))

    def changes(self, answers: dict) -> bool:
        """Whether some answer differs from the key."""
        return any(not same(answers.get(q), self.key.get(q)) for q in self.key)

    def _words(self, c: Candidate, values: dict) -> tuple:
        v = values.get(c.value_of) if c.value_of is not None else None
        k = self.core.shown(self.core.value(c.value_of)) if c.value_of is not None else None
        def fill(text):
            return text.replace("{value}", number_tex(v)).replace("{key}", number_tex(k))
        return (c.mistake, c.where, fill(c.text), fill(c.key_step), fill(c.student_step))

    def q(self, s) -> str:
        """A quantity's LaTeX (h_{1}, \\hat{y}_{2})."""
        return symbol_latex(s.name, self.names)


def _same_answers(a: dict, b: dict) -> bool:
    return all(same(a.get(q), b.get(q)) for q in a)


def same(a, b) -> bool:
    """Exact answers equal (floats of a 50-digit problem to 1e-12 relative)."""
    if a is None or b is None:
        return a is b
    if isinstance(a, sympy.MatrixBase) or isinstance(b, sympy.MatrixBase):
        if not (isinstance(a, sympy.MatrixBase) and isinstance(b, sympy.MatrixBase)) or \
                a.shape != b.shape:
            return False
        return all(same(x, y) for x, y in zip(a, b))
    if a == b:
        return True
    try:
        fa, fb = float(a), float(b)
    except TypeError:
        return False
    return abs(fa - fb) <= 1e-12 * max(1.0, abs(fb))


def number_tex(v) -> str:
    """A value as the key shows it (scalars; a vector or matrix as a bracketed list)."""
    if v is None:
        return ""
    if isinstance(v, sympy.MatrixBase):
        rows = [[number_tex(x) for x in v.row(i)] for i in range(v.rows)]
        if v.cols == 1:
            return r"\begin{bmatrix}" + r" \\ ".join(r[0] for r in rows) + r"\end{bmatrix}"
        return r"\begin{bmatrix}" + r" \\ ".join(" & ".join(r) for r in rows) + \
            r"\end{bmatrix}"
    v = as_sympy(v)
    if not v.is_number:
        return sympy.latex(v)
    return format_number(v) or rounded(v)


# ---- the candidates ---------------------------------------------------------------------------

def _terms(e) -> list:
    """The top-level additive terms of e as (sign, term), the terms being e's own subtrees."""
    if isinstance(e, ex.Bin) and e.op in "+-":
        right = _terms(e.right)
        if e.op == "-":
            right = [(-s, t) for s, t in right]
        return _terms(e.left) + right
    if isinstance(e, ex.Neg):
        return [(-s, t) for s, t in _terms(e.arg)]
    return [(1, e)]


def _rebuild(terms) -> ex.Expr:
    (s0, t0), rest = terms[0], terms[1:]
    out = t0 if s0 > 0 else ex.Neg(t0)
    for s, t in rest:
        out = ex.Bin("+" if s > 0 else "-", out, t)
    return out


def _replace(e, old, new):
    """e with the subtree ``old`` (by identity) replaced by ``new``; untouched subtrees are
    kept as they are (the backward rules of other slips find them)."""
    if e is old:
        return new
    if isinstance(e, ex.Bin):
        left, right = _replace(e.left, old, new), _replace(e.right, old, new)
        return e if (left is e.left and right is e.right) else ex.Bin(e.op, left, right)
    if isinstance(e, (ex.Neg, ex.Transpose)):
        arg = _replace(e.arg, old, new)
        return e if arg is e.arg else type(e)(arg)
    if isinstance(e, ex.Call):
        args = tuple(_replace(a, old, new) for a in e.args)
        return e if all(a is b for a, b in zip(args, e.args)) else ex.Call(e.func, args)
    return e


def _nodes_of(cat: Catalog, eq) -> list:
    return [s for s, n in cat.graph.nodes.items() if n.equation is eq]


def _step(cat: Catalog, s):
    return cat.graph.nodes[s].step


def _exists(cat: Catalog, s, before) -> bool:
    """Whether quantity s has a value that node ``before`` may read (a given, or a node
    computed earlier)."""
    if s in cat.graph.given:
        return True
    nodes = cat.graph.nodes
    return s in nodes and nodes[s].order < nodes[before].order


def _candidates(cat: Catalog):
    p, g = cat.problem, cat.graph
    T = g.T or 0
    per_step = T <= STEP_SLIPS_T
    seq = iter(range(10 ** 6))

    def rank(mistake):
        return (MISTAKES.index(mistake), next(seq))

    loss = None
    plain = [eq for eq in p.equations if not eq.indexed]
    if plain:
        loss = sym(plain[-1].name)
    for eq in p.equations:
        nodes = _nodes_of(cat, eq)
        if not nodes:
            continue
        lhs_t = symbol_latex(eq.key if eq.indexed else eq.name, cat.names)
        general = ExprLatex(cat.names, cat.core.node_shapes, T=g.T, in_step=eq.indexed)

        def at(e, s):
            return ExprLatex(cat.names, cat.core.node_shapes, at=_step(cat, s), T=g.T,
                             in_step=eq.indexed).doprint(e)

        # dropped-term: an additive term left out, at one step or at every step
        terms = _terms(eq.expr)
        if len(terms) > 1:
            for i, (_, term) in enumerate(terms):
                rest = _rebuild(terms[:i] + terms[i + 1:])
                for s in (nodes if per_step or len(nodes) == 1 else ()):
                    q = cat.q(s)
                    yield Candidate(
                        "dropped-term", s.name,
                        f"${q}$ was computed without the term ${at(term, s)}$, so "
                        f"${q} = {at(rest, s)} = {{value}}$.",
                        Alteration(exprs=((s, rest),)), rank("dropped-term"),
                        f"{q} = {at(eq.expr, s)} = {{key}}", f"{q} = {at(rest, s)} = {{value}}",
                        s)
                if len(nodes) > 1:
                    s = nodes[0]
                    yield Candidate(
                        "dropped-term", eq.key,
                        f"${lhs_t}$ was computed without the term "
                        f"${general.doprint(term)}$ at every step, so "
                        f"${cat.q(s)} = {{value}}$.",
                        Alteration(exprs=tuple((n, rest) for n in nodes)), rank("dropped-term"),
                        f"{lhs_t} = {general.doprint(eq.expr)}",
                        f"{lhs_t} = {general.doprint(rest)}", s)

        refs = [n for n in ex.walk(eq.expr) if isinstance(n, ex.Ref)]
        # index-shift, forward: a quantity read one step early (h_{t-1} for h_t in yhat_t)
        for r in refs:
            if r.index.kind not in ("t", "n", "T") or (r.index.kind == "t" and
                                                       not eq.indexed):
                continue
            new = ex.Ref(r.name, ex.Index(r.index.kind, r.index.value - 1))
            e2 = _replace(eq.expr, r, new)
            if not all(_exists(cat, _read(cat, new, s), s) for s in nodes):
                continue
            s = nodes[-1]
            yield Candidate(
                "index-shift", eq.key,
                f"${lhs_t}$ was computed with ${general.doprint(new)}$ in place of "
                f"${general.doprint(r)}$, so ${cat.q(s)} = {{value}}$.",
                Alteration(exprs=tuple((n, e2) for n in nodes)), rank("index-shift"),
                f"{lhs_t} = {general.doprint(eq.expr)}", f"{lhs_t} = {general.doprint(e2)}", s)
        # index-shift, backward: the state of this step in the local derivatives (h_t for
        # h_{t-1} in ∂h_t/∂W)
        if eq.indexed and eq.name in g.recurrent and eq.name not in g.backward:
            for r in dict.fromkeys(r for r in refs if r.name == eq.name and
                                   r.index.kind == "t" and r.index.value == -1):
                swaps = tuple((s, _read(cat, r, s), s) for s in nodes)
                old, new = general.doprint(r), general.doprint(ex.Ref(r.name, ex.Index("t", 0)))
                yield Candidate(
                    "index-shift", eq.key,
                    f"In the local derivatives of ${lhs_t}$ (such as "
                    f"$\\partial {lhs_t}/\\partial$ a weight), ${new}$ was used in place of "
                    f"${old}$.",
                    Alteration(back_leaves=swaps), rank("index-shift"),
                    f"\\partial {lhs_t} \\text{{ reads }} {old}",
                    f"\\partial {lhs_t} \\text{{ reads }} {new}")

        # missing-factor, wrong-derivative and sign: the backward rules of this equation
        prog = cat.core.programs[eq.key]
        seen = set()
        regs = None
        for i, ins in enumerate(prog.instrs):
            n = ins.node
            if id(n) in seen:
                continue
            seen.add(id(n))
            if ins.op == "call" and ins.extra.derivative is not None and ins.extra.arity == 1:
                op = ins.extra
                # the worked step at the first step, in numbers: f'(z) of the key beside the
                # student's, at the argument's value there
                first = nodes[0]
                if regs is None:
                    regs = prog.run(cat.core.D, _step(cat, first), cat.core.leaf)
                x, y = regs[ins.args[0]], regs[i]
                D = cat.core.D
                true = _backward(D, ins, [x], y, y.like([D.num(1)] * len(y.data)))[0]
                step = _step(cat, first)
                where = rf"\ (t = {step})" if step is not None else ""
                z = (rf",\ \text{{at }} z = {at(n.args[0], first)} = "
                     rf"{number_tex(cat.core.shown(x))}{where}")
                key_step = f"{op.rule} = {number_tex(cat.core.shown(true))}{z}"
                yield Candidate(
                    "missing-factor", eq.key,
                    f"The derivative of ${op.tex}$ was left out of the chain rule through "
                    f"${lhs_t}$ (taken as 1).",
                    Alteration(rules=tuple((s, n, _pass) for s in nodes)),
                    rank("missing-factor"), key_step, rf"{op.tex}'(z) \text{{ taken as }} 1")
                for words, prime in WRONG_PRIMES.get(op.name, ()):
                    wrong = y.like([prime(D, xi, yi) for xi, yi in zip(x.data, y.data)])
                    yield Candidate(
                        "wrong-derivative", eq.key,
                        f"In the chain rule through ${lhs_t}$ the derivative of ${op.tex}$ "
                        f"was taken as ${words}$ instead of ${op.rule}$.",
                        Alteration(rules=tuple((s, n, _wrong_prime(prime)) for s in nodes)),
                        rank("wrong-derivative"), key_step,
                        f"{words} = {number_tex(cat.core.shown(wrong))}")
            elif ins.op == "pow" and ins.extra not in (0, 1):
                c = number_tex(as_sympy(ins.extra))
                base = general.wrap(n.left, 3)
                lower = as_sympy(ins.extra) - 1
                base = base if lower == 1 else f"{base}^{{{number_tex(lower)}}}"
                yield Candidate(
                    "missing-factor", eq.key,
                    f"The factor ${c}$ from differentiating ${general.doprint(n)}$ was left "
                    f"out (in $\\partial {lhs_t}$).",
                    Alteration(rules=tuple((s, n, _pow_without_coefficient) for s in nodes)),
                    rank("missing-factor"),
                    f"\\partial\\left({general.doprint(n)}\\right) = {c}\\,{base}",
                    f"\\partial\\left({general.doprint(n)}\\right) = {base}")
            elif ins.op in ("*", "matmul") and isinstance(n, ex.Bin):
                for i, (operand, other) in enumerate(((n.left, n.right), (n.right, n.left))):
                    if not any(isinstance(m, (ex.Ref, ex.Name)) for m in ex.walk(operand)):
                        continue
                    fo, fd = general.doprint(other), general.doprint(operand)
                    yield Candidate(
                        "missing-factor", eq.key,
                        f"The factor ${fo}$ was left out of "
                        f"$\\partial {lhs_t}/\\partial {fd}$.",
                        Alteration(rules=tuple((s, n, _without_factor(i)) for s in nodes)),
                        rank("missing-factor"),
                        f"\\partial {lhs_t}/\\partial {fd} \\ni {fo}",
                        f"\\partial {lhs_t}/\\partial {fd} \\text{{ without }} {fo}")
            elif ins.op == "-" and isinstance(n, ex.Bin) and eq.name not in g.recurrent and \
                    all(any(isinstance(m, (ex.Ref, ex.Name)) for m in ex.walk(x))
                        for x in (n.left, n.right)):
                d, flip = general.doprint(n), general.doprint(ex.Bin("-", n.right, n.left))
                yield Candidate(
                    "sign", eq.key,
                    f"In $\\partial {lhs_t}$ the difference was taken the other way round: "
                    f"$({flip})$ for $({d})$.",
                    Alteration(rules=tuple((s, n, _flipped) for s in nodes)), rank("sign"),
                    f"\\partial {lhs_t} \\propto {d}", f"\\partial {lhs_t} \\propto {flip}")

        # wrong-given: a given read from another step, at one step
        if per_step and eq.indexed:
            for s in nodes:
                for r in refs:
                    read = _read(cat, r, s)
                    base, idx = split_name(read)
                    if read not in g.given or idx is None or r.index.kind != "t":
                        continue
                    for k in (int(idx) + 1, int(idx) - 1):
                        other = sym(f"{base}[{k}]")
                        if other not in g.given or g.given[other] == g.given[read]:
                            continue
                        e2 = _replace(eq.expr, r, ex.Ref(r.name, ex.Index("n", k)))
                        q = cat.q(s)
                        yield Candidate(
                            "wrong-given", s.name,
                            f"${q}$ was computed with ${cat.q(other)}$ in place of "
                            f"${cat.q(read)}$, so ${q} = {{value}}$.",
                            Alteration(exprs=((s, e2),)), rank("wrong-given"),
                            f"{q} = {at(eq.expr, s)} = {{key}}",
                            f"{q} = {at(e2, s)} = {{value}}", s)

    # missing-path: no path through earlier states (the direct partial only)
    cut = []
    for s, node in g.nodes.items():
        if node.name not in g.recurrent or node.name in g.backward or node.step is None:
            continue
        for d in cat.core.leaf_syms[s]:
            dn = g.nodes.get(d)
            if dn is not None and dn.name in g.recurrent and dn.step is not None and \
                    dn.step < node.step:
                cut.append((d, s))
    if cut:
        states = sorted({g.nodes[s].name for _, s in cut})
        names = ", ".join(f"${symbol_latex(n + '[t]', cat.names)}$" for n in states)
        prev = symbol_latex(states[0] + "[t-1]", cat.names)
        now = symbol_latex(states[0] + "[t]", cat.names)
        yield Candidate(
            "missing-path", ", ".join(f"{n}[t]" for n in states),
            f"The chain rule was taken without the paths through earlier states: only the "
            f"direct partial through {names} (no $\\partial {now}/\\partial {prev}$).",
            Alteration(cut=tuple(dict.fromkeys(cut))), rank("missing-path"),
            f"\\partial {now}/\\partial {prev} \\text{{ on every path}}",
            f"\\partial {now}/\\partial {prev} = 0")
    # missing-path: only the last loss term back-propagated
    if loss is not None and loss in g.nodes:
        deps = [d for d in dict.fromkeys(cat.core.leaf_syms[loss]) if d in g.nodes and
                g.nodes[d].step is not None]
        if len({g.nodes[d].step for d in deps}) > 1:
            last = max(g.nodes[d].step for d in deps)
            kept = [d for d in deps if g.nodes[d].step == last]
            terms = ", ".join(f"${cat.q(d)}$" for d in kept)
            yield Candidate(
                "missing-path", loss.name,
                f"Only the last step's term of ${cat.q(loss)}$ ({terms}) was back-propagated; "
                "the earlier loss terms were left out.",
                Alteration(cut=tuple((d, loss) for d in deps if g.nodes[d].step < last)),
                rank("missing-path"),
                f"\\partial {cat.q(loss)} = \\sum_t \\partial({cat.q(loss)})_t",
                f"\\partial {cat.q(loss)} = \\partial({cat.q(loss)})_{{{last}}}")

    # wrong-given: a matrix used transposed
    for gv in p.given:
        v = gv.value
        if gv.index is not None or not isinstance(v, tuple) or not v or \
                not isinstance(v[0], tuple) or len(v) != len(v[0]) or len(v) < 2:
            continue
        tv = tuple(zip(*v))
        if tv == v:
            continue
        name = symbol_latex(gv.name, cat.names)
        yield Candidate(
            "wrong-given", gv.name, f"${name}$ was used transposed (${name}^\\top$ in its place).",
            Alteration(given=((sym(gv.name), tv),)), rank("wrong-given"), name,
            f"{name}^\\top")


def _read(cat: Catalog, r: ex.Ref, s) -> sympy.Symbol:
    """The symbol a reference reads at node s's step."""
    k = r.index
    step = _step(cat, s)
    if k.kind == "t":
        return sym(f"{r.name}[{step + k.value}]")
    if k.kind == "T":
        return sym(f"{r.name}[{(cat.graph.T or 0) + k.value}]")
    return sym(f"{r.name}[{k.value}]")


# ---- the backward rules of the slips -----------------------------------------------------------

def _pass(D, ins, a, out, g):
    """An elementwise function's derivative taken as 1."""
    return [g]


def _wrong_prime(prime):
    def rule(D, ins, a, out, g):
        d = [prime(D, x, y) for x, y in zip(a[0].data, out.data)]
        return [g.like([D.mul(gi, di) for gi, di in zip(g.data, d)])]
    return rule


def _pow_without_coefficient(D, ins, a, out, g):
    """(x^p)' taken as x^(p-1): the factor p left out."""
    lower = ins.extra - 1
    return [g.like([D.mul(gi, D.power(x, lower)) for gi, x in zip(g.data, a[0].data)])]


def _without_factor(i: int):
    """A product's partial by operand i taken without the other operand (as 1)."""
    def rule(D, ins, a, out, g):
        if g.shape != a[i].shape:
            raise ExprError("the factor cannot be left out at these shapes")
        return [g, None] if i == 0 else [None, g]
    return rule


def _flipped(D, ins, a, out, g):
    """The difference a - b differentiated as b - a."""
    return [None if x is None else x.map(D.neg) for x in _backward(D, ins, a, out, g)]

