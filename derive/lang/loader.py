"""Problem files: safe YAML with line numbers, validated key by key into a :class:`Problem`.

Only this module and the CLI touch the file system.  Every defect becomes one :class:`SpecError`
naming the file, the key and the line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from pathlib import Path

import yaml

from . import expr as ex
from ..errors import ExprError, SpecError, unknown_name
from .require import Side, parse_condition
from .to_sympy import constant

MAX_BYTES = 1_000_000
TOP_KEYS = ("title", "source", "statement", "steps", "equations", "given", "symbols", "questions",
            "framework", "model", "encoding", "grading")
GRADING_KEYS = ("rtol", "atol")
QUESTION_KEYS = ("id", "text", "find", "truncate", "answer", "form", "over")
MAX_STEPS = 20000

_NUMBER_TAGS = ("tag:yaml.org,2002:int", "tag:yaml.org,2002:float", "tag:yaml.org,2002:str")
_PLAIN_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d{1,3})?")
_KEY_RE = re.compile(r"([A-Za-z][A-Za-z0-9_]*)(?:\[(.+)\])?\Z")
_SAFE_TEX_CMDS = frozenset("""hat bar tilde vec dot ddot mathbf boldsymbol mathrm mathit mathcal
mathsf mathbb operatorname widehat widetilde overline prime alpha beta gamma delta epsilon
varepsilon zeta eta theta vartheta iota kappa lambda mu nu xi pi rho sigma tau upsilon phi
varphi chi psi omega Gamma Delta Theta Lambda Xi Pi Sigma Upsilon Phi Psi Omega ell partial
nabla top overleftarrow overrightarrow""".split())


@dataclass(frozen=True)
class Equation:
    """``name[t]: expr`` (indexed) or ``name: expr``, with where it stands in the file."""

    name: str
    indexed: bool
    expr: ex.Expr
    text: str
    line: int | None

    @property
    def key(self) -> str:
        return f"{self.name}[t]" if self.indexed else self.name


@dataclass(frozen=True)
class Given:
    """A given value: ``index`` is None for a plain name; ``value`` is exact (or a list)."""

    name: str
    index: int | None
    value: object
    line: int | None


@dataclass(frozen=True)
class Question:
    id: str
    text: str
    find: ex.Expr | None
    find_text: str
    truncate: int | None
    answer: str
    form: str
    line: int | None
    over: tuple | None = None  # a sweep: (index name, first, last), bounds as whole numbers


#: The classroom spec's variants blocks: ``vary:`` draws givens, ``require:`` keeps a draw.
TOP_KEYS = TOP_KEYS + ("vary", "require")
VARY_KINDS = ("choice", "integers", "decimals")


@dataclass(frozen=True)
class Vary:
    """One entry of ``vary:``, the given ``key`` as written (``h[0]``), drawn as ``kind``.

    ``choice``: one of ``options`` (exact numbers; ``whole``: each option has the given's shape
    and is drawn whole, else each entry is drawn on its own).  ``integers`` and ``decimals``:
    ``start + k*step`` for k = 0..count-1 except the sorted ``skip`` (the excluded values), each
    entry on its own."""

    key: str
    name: str
    index: int | None
    kind: str
    line: int | None
    options: tuple = ()
    whole: bool = False
    start: object = 0
    step: object = 1
    count: int = 0
    skip: tuple = ()

    @property
    def size(self) -> int:
        """How many values one draw (of one entry, or of the whole given) chooses from."""
        return len(self.options) if self.kind == "choice" else self.count - len(self.skip)

    def value(self, r: int):
        """The r-th allowed value (0 <= r < size), in increasing order of k."""
        if self.kind == "choice":
            return self.options[r]
        k = r
        for s in self.skip:  # skip is sorted: each excluded k at or before k moves it on
            if s <= k:
                k += 1
        return self.start + k * self.step


@dataclass(frozen=True)
class Problem:
    """A validated problem file; sequences are tuples in file order."""

    file: str
    title: str
    source: str
    statement: str
    steps: int | None
    equations: tuple
    given: tuple
    symbols: tuple
    questions: tuple
    lines: dict = field(default_factory=dict, compare=False, hash=False)
    arch: object = None  # model.spec.Arch: the model: and encoding: blocks and their questions
    grading: tuple = ()  # (key, float) pairs of the grading: block (rtol, atol), file order
    vary: tuple = ()  # Vary entries, file order (a problem with variants)
    require: tuple = ()  # require.Condition entries, file order

    def error(self, message: str, key: str | None = None) -> SpecError:
        """A SpecError for this file at ``key`` (its line when known)."""
        return SpecError(message, file=self.file, key=key, line=self.lines.get(key))


def load(path: str | Path) -> Problem:
    """Read and validate one problem file; raises SpecError on any defect."""
    name = str(path)
    p = Path(path)
    try:
        if not p.is_file():
            raise SpecError("no such problem file", file=name)
        if p.stat().st_size > MAX_BYTES:
            raise SpecError(f"file is larger than {MAX_BYTES // 1000} kB", file=name)
        raw = p.read_bytes()
    except OSError as e:
        raise SpecError(f"cannot read: {e.strerror}", file=name) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise SpecError("file is not UTF-8 text", file=name) from None
    return loads(text, name)


def loads(text: str, file: str = "<problem>") -> Problem:
    """Validate problem-file text (see :func:`load`)."""
    if len(text) > MAX_BYTES:
        raise SpecError(f"file is larger than {MAX_BYTES // 1000} kB", file=file)
    try:
        root = yaml.compose(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        line = mark.line + 1 if mark else None
        raise SpecError(f"YAML syntax error: {e.problem or e.context}", file=file,
                        line=line) from None
    except yaml.reader.ReaderError as e:
        line = text.count("\n", 0, max(e.position, 0)) + 1
        raise SpecError(f"character {e.character:#06x} is not allowed in YAML ({e.reason})",
                        file=file, line=line) from None
    except yaml.YAMLError as e:
        # the error's text can span lines; the message is one
        raise SpecError(f"YAML error: {' '.join(str(e).split())}", file=file) from None
    except RecursionError:
        raise SpecError("YAML is nested too deeply", file=file) from None
    return _Builder(file).problem(root)


def _line(node) -> int | None:
    return node.start_mark.line + 1 if node is not None else None


class _Builder:
    def __init__(self, file: str) -> None:
        self.file = file
        self.lines: dict[str, int | None] = {}
        self.seen: set[int] = set()

    def err(self, key: str | None, node, message: str) -> SpecError:
        return SpecError(message, file=self.file, key=key, line=_line(node))

    # -- YAML shapes ---------------------------------------------------------------------------
    def check_node(self, key, node) -> None:
        if id(node) in self.seen:
            raise self.err(key, node, "YAML anchors and aliases are not supported")
        self.seen.add(id(node))

    def mapping(self, key, node) -> list[tuple[str, object, object]]:
        self.check_node(key, node)
        if not isinstance(node, yaml.MappingNode):
            raise self.err(key, node, "expected a mapping (key: value lines)")
        out, names = [], set()
        for k, v in node.value:
            self.check_node(key, k)
            if not isinstance(k, yaml.ScalarNode) or k.tag != "tag:yaml.org,2002:str" and \
                    not k.tag.startswith("tag:yaml.org,2002:"):
                raise self.err(key, k, "keys must be plain names")
            kname = str(k.value)
            if kname in names:
                raise self.err(f"{key}.{kname}" if key else kname, k, "duplicate key")
            names.add(kname)
            out.append((kname, k, v))
        return out

    def scalar(self, key, node, kinds=("str", "int", "float")) -> str:
        self.check_node(key, node)
        if not isinstance(node, yaml.ScalarNode):
            raise self.err(key, node, "expected a single value, not a list or mapping")
        tag = node.tag.rsplit(":", 1)[-1]
        if not node.tag.startswith("tag:yaml.org,2002:") or tag not in kinds:
            if tag == "null":
                raise self.err(key, node, "a value is missing")
            raise self.err(key, node, f"expected {' or '.join(kinds)}, got {tag}")
        return node.value

    def text(self, key, node) -> str:
        s = self.scalar(key, node, ("str", "int", "float"))
        if len(s) > 20000:
            raise self.err(key, node, "text is too long")
        return s

    def expr(self, key, node, **kw) -> tuple[ex.Expr, str]:
        s = self.scalar(key, node, ("str", "int", "float"))
        try:
            return ex.parse(s, **kw), s.strip()
        except ExprError as e:
            raise self.err(key, node, str(e)) from None

    # -- the document --------------------------------------------------------------------------
    def problem(self, root) -> Problem:
        if root is None:
            raise SpecError("file is empty", file=self.file)
        top = {}
        for k, knode, v in self.mapping(None, root):
            if k not in TOP_KEYS:
                raise self.err(k, knode, f"unknown key (allowed: {', '.join(TOP_KEYS)})")
            top[k] = (knode, v)
            self.lines[k] = _line(knode)
        # equations are optional beside a model: or encoding: block (architecture.md)
        blocks = "model" in top or "encoding" in top
        for req in ("title", "questions") + (() if blocks else ("equations",)):
            if req not in top:
                raise SpecError(f"required key '{req}' is missing", file=self.file, key=req)
        title = self.text("title", top["title"][1]).strip()
        if "\n" in title or not title:
            raise self.err("title", top["title"][1], "title must be one non-empty line")
        source = self.text("source", top["source"][1]).strip() if "source" in top else ""
        statement = self.text("statement", top["statement"][1]) if "statement" in top else ""
        steps = None
        if "steps" in top:
            node = top["steps"][1]
            s = self.scalar("steps", node, ("int",))
            steps = int(s, 0) if s.lstrip("+-").isdigit() else None
            if steps is None or not 1 <= steps <= MAX_STEPS:
                raise self.err("steps", node, f"steps must be a whole number from 1 to {MAX_STEPS}")
        equations = self.equations(top["equations"][1], steps) if "equations" in top else ()
        given = self.given(top["given"][1], steps) if "given" in top else ()
        symbols = self.symbols(top["symbols"][1]) if "symbols" in top else ()
        self.known = {eq.name for eq in equations} | {g.name for g in given} | {
            n.name for eq in equations for n in ex.walk(eq.expr)
            if isinstance(n, (ex.Name, ex.Ref))}
        questions = self.questions(top["questions"][1], steps)
        arch = None
        if blocks or "framework" in top:
            from ..model import spec as model_spec  # only problems with these blocks need it
            arch = model_spec.read(self, top, questions, equations, given)
        vary, require = self.variants(top, equations, given, questions, steps)
        equations, questions = self.entries(equations, given, questions)
        grading = self.grading(top["grading"][1]) if "grading" in top else ()
        return Problem(self.file, title, source, statement, steps, equations, given, symbols,
                       questions, self.lines, arch, grading, vary=vary, require=require)

    def grading(self, node) -> tuple:
        """The ``grading:`` block: tolerances ``rtol`` and ``atol`` of ``derive grade``, each a
        number from 0 to 1 (../shared/spec/classroom.md, "Grading")."""
        out = []
        for k, knode, v in self.mapping("grading", node):
            key = f"grading.{k}"
            if k not in GRADING_KEYS:
                raise self.err(key, knode, f"unknown key (allowed: {', '.join(GRADING_KEYS)})")
            self.lines[key] = _line(knode)
            x = self.value(key, v)
            if isinstance(x, tuple) or not x.is_number or not 0 <= x <= 1:
                raise self.err(key, v, f"{k} is a number from 0 to 1")
            out.append((k, float(x)))
        return tuple(out)

    def equations(self, node, steps) -> tuple:
        out, seen = [], set()
        items = self.mapping("equations", node)
        if not items:
            raise self.err("equations", node, "no equations")
        for k, knode, v in items:
            key = f"equations.{k}"
            m = _KEY_RE.match(k)
            if m and m.group(1) == "T":
                raise self.err(key, knode, "T is the number of steps (steps:); it cannot be "
                               "defined by an equation")
            if not m or m.group(1) in ex.RESERVED or m.group(2) not in (None, "t"):
                raise self.err(key, knode, "an equation key is a name or name[t]")
            indexed = m.group(2) == "t"
            if indexed and steps is None:
                raise self.err(key, knode, "name[t] equations need 'steps'")
            if (m.group(1), indexed) in seen:
                raise self.err(key, knode, "defined twice")
            seen.add((m.group(1), indexed))
            e, text = self.expr(key, v, allow_t=indexed)
            self.lines[key] = _line(knode)
            out.append(Equation(m.group(1), indexed, e, text, _line(knode)))
        return tuple(out)

    # -- variants: vary: and require: (classroom spec) -----------------------------------------
    def variants(self, top, equations, given, questions, steps) -> tuple[tuple, tuple]:
        """The ``vary:`` and ``require:`` blocks, validated against the givens."""
        vary = self.vary(top["vary"][1], given, steps) if "vary" in top else ()
        if "require" in top and "vary" not in top:
            raise self.err("require", top["require"][0], "require goes with a vary block: it "
                           "says which drawn variants are kept")
        require = (self.require(top["require"][1], equations, given, questions)
                   if "require" in top else ())
        return vary, require

    def vary(self, node, given, steps) -> tuple:
        by_key = {(g.name, g.index): g for g in given}
        out = []
        items = self.mapping("vary", node)
        if not items:
            raise self.err("vary", node, "no givens to vary")
        for k, knode, v in items:
            key = f"vary.{k}"
            self.lines[key] = _line(knode)
            m = _KEY_RE.match(k)
            g = None
            if m and (m.group(1) != "T"):
                index = None
                if m.group(2) is not None:
                    index = self.given_index(key, knode, m.group(2).replace(" ", ""), steps)
                g = by_key.get((m.group(1), index))
            if g is None:
                names = sorted(f"{x.name}[{x.index}]" if x.index is not None else x.name
                               for x in given)
                hint = unknown_name(k, names).partition(" (")[2].rstrip(")")
                raise self.err(key, knode, f"{k} is not a given, so it cannot vary"
                               + (f" ({hint})" if hint else "")
                               + f"; the givens are {', '.join(names) or 'none'}")
            out.append(self.vary_entry(key, k, g, v))
        return tuple(out)

    def vary_entry(self, key, k, g, node) -> Vary:
        fields = {}
        for f, fnode, fv in self.mapping(key, node):
            if f not in VARY_KINDS + ("step", "exclude"):
                raise self.err(f"{key}.{f}", fnode, "unknown key (allowed: choice, integers, "
                               "decimals, step, exclude)")
            fields[f] = (fnode, fv)
        kinds = [f for f in VARY_KINDS if f in fields]
        if len(kinds) != 1:
            raise self.err(key, node, "a varied given takes one of choice: [...], "
                           "integers: [a, b] or decimals: [a, b] (with step: s)")
        kind = kinds[0]
        fnode, fv = fields[kind]
        fkey = f"{key}.{kind}"
        if "step" in fields and kind != "decimals":
            raise self.err(f"{key}.step", fields["step"][0], "step goes with decimals")
        shape = _shape(g.value)
        if kind == "choice":
            if "exclude" in fields:
                raise self.err(f"{key}.exclude", fields["exclude"][0], "exclude goes with "
                               "integers or decimals (leave the value out of the choice)")
            if not isinstance(fv, yaml.SequenceNode) or not fv.value:
                raise self.err(fkey, fv, "choice is a non-empty list of values")
            options = self.value(fkey, fv)
            whole = any(isinstance(o, tuple) for o in options)
            for o in options:
                if _shape(o) != (shape if whole else ()):
                    raise self.err(fkey, fv, f"each choice is {_shape_words(shape)} like the "
                                   f"given {k}" + (" (or one number, drawn per entry)"
                                                   if shape else ""))
                for x in (_flat(o) if whole else (o,)):
                    self.rational(fkey, fv, x)
            if len(set(options)) != len(options):
                raise self.err(fkey, fv, "a value is listed twice in choice")
            return Vary(k, g.name, g.index, kind, _line(fv), options=options, whole=whole)
        if not isinstance(fv, yaml.SequenceNode) or len(fv.value) != 2:
            raise self.err(fkey, fv, f"{kind} is a range of two bounds, as in {kind}: [1, 5]")
        lo, hi = (self.rational(fkey, b, self.value(fkey, b)) for b in fv.value)
        step = 1
        if kind == "integers":
            if lo.q != 1 or hi.q != 1:
                raise self.err(fkey, fv, "the bounds of integers are whole numbers")
        else:
            step = ex.parse_number("0.1")  # the default step of decimals
            if "step" in fields:
                snode = fields["step"][1]
                step = self.rational(f"{key}.step", snode, self.value(f"{key}.step", snode))
                if step <= 0:
                    raise self.err(f"{key}.step", snode, "step is a positive number")
        count = int((hi - lo) / step) + 1 if hi >= lo else 0
        skip = set()
        if "exclude" in fields:
            enode, ev = fields["exclude"]
            values = self.value(f"{key}.exclude", ev)
            for x in (values if isinstance(values, tuple) else (values,)):
                if isinstance(x, tuple):
                    raise self.err(f"{key}.exclude", ev, "exclude is a list of numbers")
                j = (self.rational(f"{key}.exclude", ev, x) - lo) / step
                if j.q == 1 and 0 <= j < count:
                    skip.add(int(j))
        if count - len(skip) <= 0:
            raise self.err(fkey, fv, f"the range {lo} to {hi}" + (f" in steps of {step}"
                                                          if kind == "decimals" else "")
                           + " has no values" + (" left after exclude" if count else ""))
        return Vary(k, g.name, g.index, kind, _line(fv), start=lo, step=step, count=count,
                    skip=tuple(sorted(skip)))

    def rational(self, key, node, v):
        """``v`` when it is a rational number (a drawn value is exact and finite)."""
        if isinstance(v, tuple) or not getattr(v, "is_Rational", False):
            raise self.err(key, node, "a drawn value is a number (integer, decimal or p/q)")
        return v

    def require(self, node, equations, given, questions) -> tuple:
        self.check_node("require", node)
        if not isinstance(node, yaml.SequenceNode) or not node.value:
            raise self.err("require", node, "expected a non-empty list of conditions, as in "
                           "- d(L, W_h) != 0")
        conds = []
        for i, cnode in enumerate(node.value, start=1):
            key = f"require[{i}]"
            self.lines[key] = _line(cnode)
            text = self.scalar(key, cnode, ("str",))
            try:
                conds.append(replace(parse_condition(text), line=_line(cnode)))
            except ExprError as e:
                raise self.err(key, cnode, str(e)) from None
        # the finds of conditions read entries (W[1][2]) by the rule of questions' finds
        finds = [(i, e) for i, c in enumerate(conds) for s in c.sides for e in s.finds()]
        fake = tuple(Question(f"r{j}", "", e, "", None, "", "auto", None)
                     for j, (_, e) in enumerate(finds))
        try:
            _, read = self.entries(equations, given, questions + fake)
        except SpecError as e:
            j = int(e.key.split(".")[1][1:]) if e.key and e.key.startswith("questions.r") \
                and e.key.split(".")[1][1:].isdigit() else None
            if j is None or j >= len(finds):
                raise
            c = conds[finds[j][0]]
            raise SpecError(e.message, file=self.file, key=f"require[{finds[j][0] + 1}]",
                            line=c.line) from None
        it = iter(q.find for q in read[len(questions):])
        return tuple(replace(c, sides=tuple(_reread(s, it) for s in c.sides)) for c in conds)

    def entries(self, equations, given, questions) -> tuple:
        """Equations and questions with subscripts of names that do not run over steps read as
        entries (``v[2]``, ``W_hh[1][2]``); see :func:`expr.read_entries` and the README."""
        exprs = [eq.expr for eq in equations] + [q.find for q in questions if q.find is not None]
        sequences = {eq.name for eq in equations if eq.indexed}
        sequences |= {g.name for g in given if g.index is not None}
        for e in exprs:
            sequences |= ex.step_names(e)
        alone = set().union(*(ex.alone_refs(e) for e in exprs))
        alone -= {n.name for e in exprs for n in ex.walk(e) if isinstance(n, ex.Name)}
        plain_given = {g.name: g.value for g in given if g.index is None}
        defined = {eq.name for eq in equations}
        for name, v in plain_given.items():
            # a list of vectors read as x[2] is x at step 2, as in contract v1
            if name in alone and isinstance(v, tuple) and isinstance(v[0], tuple):
                sequences.add(name)

        def sequence(name):
            return name in sequences or (name not in plain_given and name not in defined)

        def read(e, key, line):
            try:
                return ex.read_entries(e, sequence)
            except ExprError as err:
                raise SpecError(str(err), file=self.file, key=key, line=line) from None

        eqs = tuple(Equation(eq.name, eq.indexed, read(eq.expr, f"equations.{eq.key}", eq.line),
                             eq.text, eq.line) for eq in equations)
        qs = tuple(q if q.find is None else
                   replace(q, find=read(q.find, f"questions.{q.id}.find",
                                        self.lines.get(f"questions.{q.id}.find")))
                   for q in questions)
        return eqs, qs

    def value(self, key, node, depth=0):
        """An exact value: a number, a decimal or fraction string, a constant expression or a
        (nested) list of them."""
        if isinstance(node, yaml.SequenceNode):
            self.check_node(key, node)
            if depth >= 3:
                raise self.err(key, node, "values nest at most as lists of lists")
            if not node.value:
                raise self.err(key, node, "empty list")
            if len(node.value) > 100000:
                raise self.err(key, node, "list is too long")
            return tuple(self.value(key, n, depth + 1) for n in node.value)
        if isinstance(node, yaml.ScalarNode) and node.tag in _NUMBER_TAGS and \
                _PLAIN_NUMBER.fullmatch(node.value):
            self.check_node(key, node)
            try:  # a plain number needs no expression parser (large matrices load fast)
                return ex.parse_number(node.value)
            except ExprError as err:
                raise self.err(key, node, str(err)) from None
        e, _ = self.expr(key, node, allow_t=False)
        try:
            return constant(e)
        except ExprError as err:
            raise self.err(key, node, str(err)) from None

    def given(self, node, steps=None) -> tuple:
        out = []
        for k, knode, v in self.mapping("given", node):
            key = f"given.{k}"
            m = _KEY_RE.match(k)
            if m and m.group(1) == "T":
                raise self.err(key, knode, "T is the number of steps (set it with steps:); it "
                               "cannot be given")
            if not m or m.group(1) in ex.RESERVED:
                raise self.err(key, knode, "a given is a name or name[k] with a whole number k")
            index = None
            if m.group(2) is not None:
                index = self.given_index(key, knode, m.group(2).replace(" ", ""), steps)
                # the graph names a given by its step (hb[4] for hb[T+1] when T = 3)
                self.lines.setdefault(f"given.{m.group(1)}[{index}]", _line(knode))
            self.lines[key] = _line(knode)
            out.append(Given(m.group(1), index, self.value(key, v), _line(knode)))
        return tuple(out)

    def given_index(self, key, knode, text: str, steps) -> int:
        """The step of a given's index: a whole number (``h[0]``, ``h[-1]``, before the first
        step) or ``T+k`` (``hb[T+1]``, the start of a backward recurrence)."""
        m = re.fullmatch(r"(-?\d{1,6})|T([+-]\d{1,6})?", text)
        if m is None:
            raise self.err(key, knode, "a given index must be a whole number (h[0], h[-1]) or "
                           "T+k (hb[T+1])")
        if m.group(1) is not None:
            return int(m.group(1))
        if steps is None:
            raise self.err(key, knode, "T needs 'steps'")
        return steps + int(m.group(2) or 0)

    def symbols(self, node) -> tuple:
        out = []
        for k, knode, v in self.mapping("symbols", node):
            key = f"symbols.{k}"
            if not ex.NAME_RE.match(k):
                raise self.err(key, knode, "a symbol key is a name")
            tex = self.scalar(key, v, ("str", "int", "float")).strip()
            problem = _unsafe_tex(tex)
            if problem:
                raise self.err(key, v, problem)
            out.append((k, tex))
        return tuple(out)

    def questions(self, node, steps) -> tuple:
        self.check_node("questions", node)
        if not isinstance(node, yaml.SequenceNode) or not node.value:
            raise self.err("questions", node, "expected a non-empty list of questions")
        out, ids = [], set()
        for i, qnode in enumerate(node.value):
            where = f"questions[{i + 1}]"
            fields = {}
            for k, knode, v in self.mapping(where, qnode):
                if k not in QUESTION_KEYS:
                    raise self.err(f"{where}.{k}", knode,
                                   f"unknown key (allowed: {', '.join(QUESTION_KEYS)})")
                fields[k] = v
            qid = self.text(f"{where}.id", fields["id"]).strip() if "id" in fields else _letter(i)
            if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,15}", qid):
                raise self.err(f"{where}.id", fields.get("id", qnode),
                               "an id is up to 16 letters, digits, '.', '_' or '-'")
            if qid in ids:
                raise self.err(f"{where}.id", fields.get("id", qnode), f"id {qid!r} is used twice")
            ids.add(qid)
            key = f"questions.{qid}"
            self.lines[key] = _line(qnode)
            text = self.text(f"{key}.text", fields["text"]) if "text" in fields else ""
            answer = self.text(f"{key}.answer", fields["answer"]) if "answer" in fields else ""
            find, find_text = None, ""
            over = None
            if "over" in fields:
                self.lines[f"{key}.over"] = _line(fields["over"])
                over = self.over(f"{key}.over", fields["over"], steps, "find" in fields)
            if "find" in fields:
                find, find_text = self.expr(f"{key}.find", fields["find"], allow_t=False,
                                            allow_d=True, over=over and over[0])
                self.lines[f"{key}.find"] = _line(fields["find"])
                if over is not None and not ex.uses_sweep(find):
                    raise self.err(f"{key}.over", fields["over"],
                                   f"over: {over[0]} needs a find that uses {over[0]} as an "
                                   f"index, as in d(h[T], h[{over[0]}])")
            elif not answer:
                raise self.err(key, qnode, "a question needs 'find' (or 'answer' for a "
                               "conceptual question)")
            truncate = None
            if "truncate" in fields:
                self.lines[f"{key}.truncate"] = _line(fields["truncate"])
                s = self.scalar(f"{key}.truncate", fields["truncate"], ("int",))
                truncate = int(s) if s.isdigit() else 0
                if truncate < 1:
                    raise self.err(f"{key}.truncate", fields["truncate"],
                                   "truncate must be a whole number K >= 1")
                if not (isinstance(find, ex.Call) and find.func == "d"):
                    raise self.err(f"{key}.truncate", fields["truncate"],
                                   "truncate goes with a derivative d(of, wrt)")
            form = "auto"
            if "form" in fields:
                form = self.scalar(f"{key}.form", fields["form"], ("str",)).strip()
                if form not in ("auto", "expanded", "recursive", "general"):
                    raise self.err(f"{key}.form", fields["form"],
                                   "form is auto, expanded, recursive or general")
                if form == "general" and not (isinstance(find, ex.Call) and find.func == "d"):
                    raise self.err(f"{key}.form", fields["form"],
                                   "form: general goes with a derivative d(of, wrt)")
            out.append(Question(qid, text, find, find_text, truncate, answer, form,
                                _line(qnode), over=over))
        return tuple(out)

    def over(self, key, node, steps, has_find) -> tuple:
        """A sweep: ``over: k`` (k = 1..T) or ``over: {k: [a, b]}`` with bounds that are whole
        numbers or T, T-j, T+j; returns (name, a, b)."""
        if steps is None:
            raise self.err(key, node, "over (a sweep over steps) needs 'steps'")
        if not has_find:
            raise self.err(key, node, "over goes with a find that uses its index, as in "
                           "d(h[T], h[k])")
        if isinstance(node, yaml.MappingNode):
            items = self.mapping(key, node)
            if len(items) != 1:
                raise self.err(key, node, "over takes one index: over: {k: [1, T]}")
            name, knode, rng = items[0]
            self.check_node(key, rng)
            if not isinstance(rng, yaml.SequenceNode) or len(rng.value) != 2:
                raise self.err(key, rng, f"the range of {name} is two bounds, as in "
                               f"{{{name}: [1, T]}}")
            lo, hi = (self.bound(key, b, steps) for b in rng.value)
        elif isinstance(node, yaml.ScalarNode):
            name, knode = self.scalar(key, node, ("str",)).strip(), node
            lo, hi = 1, steps
        else:
            raise self.err(key, node, "over is a name (over: k) or a range "
                           "(over: {k: [1, T]})")
        if not ex.NAME_RE.match(name):
            raise self.err(key, knode, f"{name!r} is not a name for an index")
        if name in ex.RESERVED:
            raise self.err(key, knode, f"{name} cannot be the sweep index: t, T, d and the "
                           "function names are taken; use k")
        if name in self.known:
            raise self.err(key, knode, f"{name} cannot be the sweep index: it is a name of "
                           "the problem; use another letter")
        if lo > hi:
            raise self.err(key, node, f"the range of {name} is empty ({lo} > {hi})")
        return name, lo, hi

    def bound(self, key, node, steps) -> int:
        s = self.scalar(key, node, ("int", "str")).strip()
        m = re.fullmatch(r"([+-]?\d{1,6})|T\s*(?:([+-])\s*(\d{1,6}))?", s)
        if not m:
            raise self.err(key, node, f"a bound of over is a whole number or T, T-j, T+j "
                           f"(got {s!r})")
        if m.group(1) is not None:
            return int(m.group(1))
        j = int(m.group(3) or 0)
        return steps + (j if m.group(2) == "+" else -j)


def _shape(v) -> tuple:
    """The nesting of a given's value: () for a number, (n,) for a list, (n, m) for rows."""
    return (len(v),) + _shape(v[0]) if isinstance(v, tuple) else ()


def _shape_words(shape: tuple) -> str:
    if not shape:
        return "one number"
    return "a list of " + " x ".join(str(n) for n in shape) + " numbers"


def _flat(v) -> tuple:
    return tuple(y for x in v for y in _flat(x)) if isinstance(v, tuple) else (v,)


def _reread(side: Side, finds) -> Side:
    """``side`` with its find expressions replaced, in order, by the next of ``finds``."""
    if side.kind == "find":
        return replace(side, expr=next(finds))
    return replace(side, args=tuple(_reread(a, finds) for a in side.args))


def _letter(i: int) -> str:
    s = ""
    i += 1
    while i:
        i, r = divmod(i - 1, 26)
        s = chr(97 + r) + s
    return s


def _unsafe_tex(tex: str) -> str | None:
    """Why a display name is not safe LaTeX math, or None when it is."""
    if not tex or len(tex) > 60:
        return "a display name is 1 to 60 characters of LaTeX math"
    if re.search(r"[^A-Za-z0-9_^{}\\ ',.+\-*()\[\]|]", tex):
        return "a display name may hold letters, digits, _ ^ { } and LaTeX accents only"
    for cmd in re.findall(r"\\([A-Za-z]+|.)", tex):
        if cmd not in _SAFE_TEX_CMDS and cmd not in (",", " ", "!"):
            return f"\\{cmd} is not allowed in a display name"
    depth = 0
    for ch in tex:
        depth += {"{": 1, "}": -1}.get(ch, 0)
        if depth < 0:
            return "unbalanced braces in a display name"
    if depth:
        return "unbalanced braces in a display name"
    return None


def value_node(node, file: str, key: str):
    """An exact value from a YAML node, read as a given's is (a number, "1/3", a decimal, a
    list, a list of rows); SpecError naming the file, the key and the line.  Grading reads
    students' answers with it."""
    return _Builder(file).value(key, node)
