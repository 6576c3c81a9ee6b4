"""Students' answers: one YAML sheet, or a CSV roster with one row per student
(``../shared/spec/classroom.md``, "Grading").

Every defect is a :class:`SpecError` naming the file and the key (YAML) or the row and the
column (CSV).  A bad roster row does not stop the others: :func:`read` returns the good
sheets and the errors of the bad rows; a defect of the whole file (no ``student`` column,
an unknown question id as a column) is raised.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from pathlib import Path

import sympy
import yaml

from ..calculus.tensor import value_shape
from ..errors import ExprError, SpecError
from ..lang.loader import MAX_BYTES, value_node

SHEET_KEYS = ("student", "variant", "answers")
_STUDENT = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}\Z")
_VARIANT = re.compile(r"[0-9a-f]{8}\Z")


@dataclass(frozen=True)
class Sheet:
    """One student's answers: question id -> exact value (a sympy number, a tuple for a
    vector, a tuple of rows for a matrix) or None (left blank), in the file's order."""

    file: str
    student: str
    answers: dict
    row: int | None = None  # the CSV line, None for a YAML sheet
    variant: str | None = None  # the id of the variant (derive variants) it answers


def read(path, key: dict, questions: tuple, problem_file: str) -> tuple[list, list]:
    """(sheets, errors) of an answers file checked against a problem's key (question id ->
    exact answer) and its gradable questions; raises SpecError when the whole file is bad."""
    name = str(path)
    p = Path(path)
    try:
        if not p.is_file():
            raise SpecError("no such answers file", file=name)
        if p.stat().st_size > MAX_BYTES:
            raise SpecError(f"file is larger than {MAX_BYTES // 1000} kB", file=name)
        text = p.read_bytes().decode("utf-8")
    except OSError as e:
        raise SpecError(f"cannot read: {e.strerror}", file=name) from None
    except UnicodeDecodeError:
        raise SpecError("file is not UTF-8 text", file=name) from None
    checker = _Checker(name, key, questions, problem_file)
    if p.suffix.lower() == ".csv":
        return _roster(text, checker)
    return [_sheet(text, checker, p.name)], []


class _Checker:
    def __init__(self, file, key, questions, problem_file):
        self.file, self.key, self.problem_file = file, key, Path(problem_file).name
        self.ids = tuple(q.id for q in questions)

    def question(self, qid: str, where: str, line=None) -> None:
        if qid not in self.key:
            raise SpecError(f"no question {qid} in {self.problem_file} (its questions with a "
                            f"numeric answer: {', '.join(self.ids)})", file=self.file,
                            key=where, line=line)
        if self.key[qid] is None:
            raise SpecError(f"question {qid} has no numeric answer to grade (its key is "
                            "symbolic)", file=self.file, key=where, line=line)

    def value(self, qid: str, node, where: str):
        """The exact value of one answer, shaped as the key's answer."""
        if isinstance(node, yaml.ScalarNode) and node.tag.endswith(":null"):
            return None
        try:
            v = value_node(node, self.file, where)
        except SpecError as e:
            text = node.value if isinstance(node, yaml.ScalarNode) else "a list"
            raise SpecError(f"not a number: {text!r} ({e.message})", file=self.file,
                            key=where, line=e.line) from None
        line = node.start_mark.line + 1 if node.start_mark else None
        flat = v if isinstance(v, tuple) else (v,)
        for x in (y for r in flat for y in (r if isinstance(r, tuple) else (r,))):
            if isinstance(x, tuple) or not x.is_number or not x.is_real:
                raise SpecError("not a number: each entry must be a real number",
                                file=self.file, key=where, line=line)
        want = self.key[qid]
        try:
            got = value_shape(v)
        except ExprError as e:
            raise SpecError(str(e), file=self.file, key=where, line=line) from None
        if isinstance(want, sympy.MatrixBase):
            r, c = want.shape
            if (r == 1 or c == 1) and got[1] == 1 and got[0] == r * c:
                return v
            if got != (r, c) or c == 1 or r == 1:
                what = f"a list of {r * c} numbers" if 1 in (r, c) else \
                    f"a list of {r} rows of {c} numbers"
                have = "a number" if got == (1, 1) and not isinstance(v, tuple) else \
                    (f"a list of {got[0]}" if got[1] == 1 else
                     f"{got[0]} rows of {got[1]}")
                raise SpecError(f"expected {what} (the answer's shape), got {have}",
                                file=self.file, key=where, line=line)
            return v
        if isinstance(v, tuple):
            raise SpecError("expected one number, got a list", file=self.file, key=where,
                            line=line)
        return v


def _sheet(text: str, ck: _Checker, stem: str) -> Sheet:
    file = ck.file
    try:
        root = yaml.compose(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        raise SpecError(f"YAML error: {getattr(e, 'problem', None) or e}", file=file,
                        line=mark.line + 1 if mark else None) from None
    if not isinstance(root, yaml.MappingNode):
        raise SpecError("expected a mapping with `answers:` (and optionally `student:`)",
                        file=file)
    top = {}
    for k, v in root.value:
        key = str(k.value)
        if key not in SHEET_KEYS:
            raise SpecError(f"unknown key (allowed: {', '.join(SHEET_KEYS)})", file=file,
                            key=key, line=k.start_mark.line + 1)
        top[key] = (k, v)
    variant = None
    if "variant" in top:
        node = top["variant"][1]
        variant = _variant_id(node.value if isinstance(node, yaml.ScalarNode) else None,
                              file, "variant", node.start_mark.line + 1)
    if "answers" not in top:
        raise SpecError("required key 'answers' is missing", file=file, key="answers")
    student = stem.split(".")[0]
    if "student" in top:
        node = top["student"][1]
        if not isinstance(node, yaml.ScalarNode):
            raise SpecError("expected the student's id", file=file, key="student",
                            line=node.start_mark.line + 1)
        student = _student_id(node.value, file, "student", node.start_mark.line + 1)
    node = top["answers"][1]
    if not isinstance(node, yaml.MappingNode):
        raise SpecError("expected a mapping of question ids to answers", file=file,
                        key="answers", line=node.start_mark.line + 1)
    answers = {}
    for k, v in node.value:
        qid = str(k.value)
        where = f"answers.{qid}"
        if qid in answers:
            raise SpecError("duplicate key", file=file, key=where, line=k.start_mark.line + 1)
        ck.question(qid, where, k.start_mark.line + 1)
        answers[qid] = ck.value(qid, v, where)
    return Sheet(file, student, answers, variant=variant)


def _variant_id(text, file: str, where: str, line=None) -> str:
    """A variant's id as ``derive variants`` writes it: 8 hex digits."""
    text = str(text).strip() if text is not None else ""
    if not _VARIANT.match(text):
        raise SpecError(f"a variant's id is the 8 hex digits of the manifest "
                        f"(such as 3f9a2c10), not {text!r}", file=file, key=where, line=line)
    return text


def _student_id(text: str, file: str, where: str, line=None) -> str:
    """A student's id, also a file name (DIR/<student>.md): letters, digits, . _ -"""
    text = str(text).strip()
    if not _STUDENT.match(text):
        raise SpecError(f"a student's id is letters, digits, '.', '_' or '-' (it names a "
                        f"file), not {text!r}", file=file, key=where, line=line)
    return text


def _roster(text: str, ck: _Checker) -> tuple[list, list]:
    file = ck.file
    rows = list(csv.reader(io.StringIO(text)))
    if not rows or not any(c.strip() for c in rows[0]):
        raise SpecError("the CSV is empty (it needs a header: student, then question ids)",
                        file=file)
    header = [c.strip() for c in rows[0]]
    if "student" not in header:
        raise SpecError("the CSV has no `student` column (the header is: "
                        f"{', '.join(header)})", file=file, key="row 1")
    seen_cols = set()
    for col in header:
        if col in seen_cols:
            raise SpecError(f"column {col} appears twice", file=file, key="row 1")
        seen_cols.add(col)
        if col not in ("student", "variant"):
            ck.question(col, f"row 1, column {col}")
    sheets, errors, students = [], [], set()
    for n, row in enumerate(rows[1:], start=2):
        if not any(c.strip() for c in row):
            continue
        try:
            if len(row) != len(header):
                raise SpecError(f"the row has {len(row)} cells, the header {len(header)} "
                                "(a column is missing)", file=file, key=f"row {n}")
            cells = dict(zip(header, (c.strip() for c in row)))
            who = f"row {n} ({cells['student']})" if cells["student"] else f"row {n}"
            student = _student_id(cells["student"], file, f"row {n}, column student") \
                if cells["student"] else f"row{n}"
            if student in students:
                raise SpecError(f"student {student} appears twice", file=file, key=who)
            variant = _variant_id(cells["variant"], file, f"{who}, column variant") \
                if cells.get("variant") else None
            answers = {}
            for col in header:
                if col in ("student", "variant"):
                    continue
                cell = cells[col]
                if not cell:
                    answers[col] = None
                    continue
                where = f"{who}, question {col}"
                try:
                    node = yaml.compose(cell, Loader=getattr(yaml, "CSafeLoader",
                                                             yaml.SafeLoader))
                except yaml.YAMLError:
                    raise SpecError(f"not a number: {cell!r}", file=file, key=where) from None
                v = ck.value(col, node, where)
                answers[col] = v
            students.add(student)
            sheets.append(Sheet(file, student, answers, n, variant))
        except SpecError as e:
            e.line = None  # a cell's YAML line is 1; the row is in the key
            errors.append(e)
    return sheets, errors
