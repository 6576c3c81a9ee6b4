"""Grading one student's sheet against a problem's key, with a diagnosis for each wrong answer
(``../shared/spec/classroom.md``, "Grading").

A :class:`Grader` is made once per problem: it holds the key and every mistaken solution of
the catalog (:class:`.catalog.Catalog`, alone and in pairs), which do not depend on the
student, so a roster of any size re-solves nothing but its ``carried-forward`` checks (cached
by the substituted values).
"""

from __future__ import annotations

from dataclasses import dataclass

import sympy

from ..calculus.core import Alteration
from ..lang import expr as ex
from ..lang.to_sympy import sym
from .answers import Sheet
from ..output.printing import ExprLatex
from .catalog import MISTAKES, Catalog, number_tex

DEFAULT_RTOL = 1e-3
DEFAULT_ATOL = 1e-6


@dataclass(frozen=True)
class Diagnosis:
    """One explanation of a wrong answer; ``steps`` holds (key step, student's step) in
    LaTeX for each slip (empty strings where a slip has no worked step)."""

    mistake: str
    where: str
    text: str
    explains: tuple
    steps: tuple = ()
    count: int = 1  # how many catalog mistakes it takes (1 or 2)


@dataclass(frozen=True)
class Graded:
    qid: str
    given: object  # the student's exact value, None when left blank
    expected: object  # the key's exact answer
    correct: bool
    diagnosis: tuple  # of Diagnosis, best first


@dataclass(frozen=True)
class Result:
    file: str
    student: str
    score: float
    questions: dict  # question id -> Graded, in the sheet's order
    sheet: Sheet


def floats(v) -> tuple:
    """An exact value (number, tuple, rows, sympy Matrix) as a flat tuple of floats."""
    if v is None:
        return ()
    if isinstance(v, sympy.MatrixBase):
        return tuple(float(x) for x in v)
    if isinstance(v, tuple):
        return tuple(f for x in v for f in floats(x))
    return (float(v),)


class Grader:
    """Grades sheets for one problem (tolerances: the arguments, else the problem's
    ``grading:`` block, else rtol 1e-3 and atol 1e-6)."""

    def __init__(self, problem, rtol: float | None = None, atol: float | None = None) -> None:
        self.problem = problem
        self.catalog = Catalog(problem)
        tol = dict(problem.grading)
        self.rtol = rtol if rtol is not None else tol.get("rtol", DEFAULT_RTOL)
        self.atol = atol if atol is not None else tol.get("atol", DEFAULT_ATOL)
        self.key = self.catalog.key
        self.key_f = {q: floats(v) for q, v in self.key.items()}
        self.order = {q.id: i for i, q in enumerate(self.catalog.questions)}
        self._carried: dict = {}

    def close(self, got: tuple, want: tuple) -> bool:
        """Entry by entry within rtol (relative) or atol (absolute) of the key's."""
        if len(got) != len(want):
            return False
        return all(abs(g - w) <= self.atol or abs(g - w) <= self.rtol * abs(w)
                   for g, w in zip(got, want))

    # -- the mistaken solutions, once per problem -----------------------------------------------
    def mistaken(self, pairs: bool) -> tuple:
        """(Mistaken, its answers as floats, how many mistakes, its group) for every single
        slip, then (with ``pairs``) every pair; a group is the first of those with the same
        answers, so two mistakes with the same answers are reported together.  Pairs are
        solved the first time a student needs them."""
        name = "_pairs" if pairs else "_singles"
        got = self.__dict__.get(name)
        if got is None:
            groups = self.__dict__.setdefault("_groups", {})
            out = []
            for m in (self.catalog.pairs if pairs else self.catalog.singles):
                sig = tuple((q, str(v)) for q, v in sorted(m.answers.items()))
                g = groups.setdefault(sig, len(groups))
                out.append((m, {q: floats(v) for q, v in m.answers.items()}, len(m.slips), g))
            got = self.__dict__[name] = tuple(out)
        return got

    # -- one student ------------------------------------------------------------------------------
    def grade(self, sheet: Sheet) -> Result:
        given = {q: floats(v) for q, v in sheet.answers.items()}
        correct = {q: sheet.answers[q] is not None and self.close(given[q], self.key_f[q])
                   for q in sheet.answers}
        wrong = [q for q in sheet.answers if not correct[q] and sheet.answers[q] is not None]
        diagnoses = self._diagnose(sheet, given, wrong) if wrong else {}
        questions = {q: Graded(q, sheet.answers[q], self.key[q], correct[q],
                               tuple(diagnoses.get(q, ()))) for q in sheet.answers}
        n = len(sheet.answers)
        score = round(sum(correct.values()) / n, 4) if n else 0.0
        return Result(sheet.file, sheet.student, score, questions, sheet)

    def _diagnose(self, sheet, given, wrong) -> dict:
        answered = [q for q in sheet.answers if sheet.answers[q] is not None]
        found = []  # (sort key, Diagnosis)
        singles_explain: dict = {}

        def match(mistaken):
            for m, ans_f, count, group in mistaken:
                explains = tuple(q for q in wrong if self.close(given[q], ans_f.get(q, ())))
                if not explains:
                    continue
                if count == 1:
                    singles_explain[m.slips[0][:3]] = set(explains)
                elif any(set(explains) <= singles_explain.get(s[:3], set()) for s in m.slips):
                    continue  # one of its slips alone explains as much
                against = sum(1 for q in answered if q not in explains and
                              not self.close(given[q], ans_f.get(q, ())))
                d = Diagnosis(m.mistake, m.where, m.text, explains,
                              tuple((s[3], s[4]) for s in m.slips), count)
                found.append(((count, -len(explains), against, group, m.rank), d))

        match(self.mistaken(False))
        found.extend(self._carried_forward(sheet, given, wrong, answered))
        if set(wrong) - {q for _, d in found for q in d.explains}:
            match(self.mistaken(True))  # two slips, for what one does not explain
        found.sort(key=lambda x: x[0])
        out: dict = {q: [] for q in wrong}
        for _, d in found:
            for q in d.explains:
                out[q].append(d)
        return out

    def _carried_forward(self, sheet, given, wrong, answered) -> list:
        """A later answer right for the student's own earlier wrong values (each alone, and
        all of them together), re-solved with those values in the forward pass."""
        subs, adjoint = [], []
        for q in self.catalog.questions:
            if q.id in wrong and _node_of(self.catalog, q.find) is not None:
                subs.append(q)
            elif q.id in wrong and _adjoint_of(self.catalog, q) is not None:
                adjoint.append(q)
        sets = [(q,) for q in subs] + ([tuple(subs)] if len(subs) > 1 else []) + \
            [(q,) for q in adjoint]
        out = []
        for group in sets:
            of = _adjoint_of(self.catalog, group[0])
            if of is not None:  # ∂L/∂h_1 carried into the other derivatives of L
                fixed = ((of[1], sheet.answers[group[0].id]),)
                alteration = Alteration(adjoints=fixed)
                reach = {q.id for q in self.catalog.questions if q.truncate is None and
                         isinstance(q.find, ex.Call) and q.find.func == "d" and
                         q.find.args[0] == of[0]}
            else:
                fixed = tuple((_node_of(self.catalog, q.find), sheet.answers[q.id])
                              for q in group)
                alteration = Alteration(fixed=fixed)
                reach = set(self.key)
            cache = (of is not None,) + tuple((s, str(v)) for s, v in fixed)
            answers = self._carried.get(cache)
            if answers is None:
                got = self.catalog._run(alteration)
                answers = self._carried[cache] = {} if got is None else \
                    {k: floats(v) for k, v in got[0].items()}
            ids = {q.id for q in group}
            explains = tuple(q for q in wrong if q not in ids and q in answers and q in reach
                             and self.close(given[q], answers[q]) and
                             not self.close(self.key_f[q], answers[q]))
            if not explains:
                continue
            own = ", ".join(f"${self._name(s, of)} = {_tex(v)}$ (question {q.id})"
                            for (s, v), q in zip(fixed, group))
            text = (f"Right for your own {own}: the method is right and the earlier slip was "
                    "carried forward (method marks).")
            steps = tuple((f"{self._name(s, of)} = {_tex(self.key[q.id])}",
                           f"{self._name(s, of)} = {_tex(v)}") for (s, v), q in zip(fixed, group))
            where = ", ".join(q.find_text for q in group)
            against = sum(1 for q in answered if q not in explains and q not in ids and
                          not self.close(given[q], answers.get(q, ())))
            d = Diagnosis("carried-forward", where, text, explains, steps, 1)
            out.append(((1, -len(explains), against, 10 ** 6, ((MISTAKES.index(
                "carried-forward"), len(out)),)), d))
        return out

    def _name(self, s, of) -> str:
        """A quantity's LaTeX, or ∂of/∂s for a carried adjoint."""
        if of is None:
            return self.catalog.q(s)
        tex = ExprLatex(self.catalog.names, self.catalog.core.node_shapes, T=self.catalog.graph.T,
                        in_step=False).doprint(of[0])
        return f"\\partial {tex}/\\partial {self.catalog.q(s)}"

    # -- output ---------------------------------------------------------------------------------
    def json(self, r: Result) -> dict:
        """The spec's ``--json`` object of one student."""
        variant = {"variant": r.sheet.variant} if r.sheet.variant else {}
        return {"file": self.problem.file, "student": r.student, **variant, "score": r.score,
                "questions": {q: {"given": plain(g.given), "expected": plain(g.expected),
                                  "correct": g.correct,
                                  "diagnosis": [{"mistake": d.mistake, "where": d.where,
                                                 "text": d.text, "explains": list(d.explains)}
                                                for d in g.diagnosis]}
                              for q, g in r.questions.items()}}


def _node_of(cat: Catalog, find):
    """The graph node a value question names (``yhat[2]``, ``L``), or None."""
    if isinstance(find, ex.Name):
        s = sym(find.name)
    elif isinstance(find, ex.Ref) and find.index.kind in ("n", "T"):
        k = find.index.value + ((cat.graph.T or 0) if find.index.kind == "T" else 0)
        s = sym(f"{find.name}[{k}]")
    else:
        return None
    return s if s in cat.graph.nodes else None


def _adjoint_of(cat: Catalog, q):
    """(of, node) for an untruncated derivative question by a graph node (``d(L, h[1])``),
    whose answer is the adjoint the backward pass reaches that node with; else None."""
    if q.truncate is not None or not (isinstance(q.find, ex.Call) and q.find.func == "d"):
        return None
    of, wrt = q.find.args
    node = _node_of(cat, wrt)
    return None if node is None else (of, node)


def _tex(v) -> str:
    if isinstance(v, tuple):
        return number_tex(sympy.ImmutableMatrix(v if isinstance(v[0], tuple) else
                                                [[x] for x in v]))
    return number_tex(v)


def plain(v):
    """An exact value for JSON: an int when whole, else a float; lists (rows) for vectors and
    matrices (a column vector is a flat list)."""
    if v is None:
        return None
    if isinstance(v, sympy.MatrixBase):
        if v.cols == 1 or v.rows == 1:
            return [plain(x) for x in v]
        return [[plain(x) for x in v.row(i)] for i in range(v.rows)]
    if isinstance(v, tuple):
        return [plain(x) for x in v]
    if getattr(v, "is_Integer", False):
        return int(v)
    return float(v)

