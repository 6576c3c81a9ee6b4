"""Answer keys: ``<stem>.key.yaml`` beside a problem file, written by ``derive key`` and compared
by ``derive check``.  A key is plain YAML an instructor can review: per question the ``find``,
the exact answer (text sympy parses back, or null) and its decimal value.

This module turns solutions into key text and key text into data; the CLI reads and writes the
files.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

from .crosscheck import compare as compare_values
from ..errors import SpecError

SUFFIX = ".key.yaml"
#: Students' answer sheets for ``derive grade`` (``problems/q1.student002.answers.yaml``) may
#: stand beside the problems; they are never problems either.
ANSWERS_SUFFIX = ".answers.yaml"


def key_path(problem: Path) -> Path:
    """``problems/q1.yaml`` -> ``problems/q1.key.yaml``."""
    return problem.with_name(problem.stem + SUFFIX)


def is_key(path: Path) -> bool:
    return path.name.endswith(SUFFIX)


def is_problem(path: Path) -> bool:
    """Not a key file nor a student's answers (``*.answers.yaml``)."""
    return not is_key(path) and not path.name.endswith(ANSWERS_SUFFIX)


def problems_in(paths) -> list[Path]:
    """Problem files named directly or found (sorted) in the folders given.  Key files and
    answer sheets are never problems, so ``problems/*.yaml`` can be passed as it is."""
    out = []
    for p in paths:
        p = Path(p)
        if p.is_dir():
            out.extend(f for f in sorted(p.glob("*.yaml")) if is_problem(f))
        elif is_problem(p):
            out.append(p)
    return out


def key_text(problem_file: str, title: str, answers: dict) -> str:
    """The key of a solved problem (``answers``: the spec's JSON answers)."""
    data = {"problem": Path(problem_file).name, "title": title, "answers": {
        qid: {"find": a["find"], "exact": a["exact"], "value": a["value"]}
        for qid, a in answers.items()}}
    head = (f"# Answer key for {Path(problem_file).name}, written by `derive key`.\n"
            "# `derive check` fails when an answer drifts from it; review changes like code.\n")
    return head + yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=100,
                                 default_flow_style=None)


def parse_key(text: str, file: str) -> dict:
    """id -> {"find", "exact", "value"} from key text; SpecError when it is not a key."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise SpecError(f"not a valid key file: {e}", file=file) from None
    answers = data.get("answers") if isinstance(data, dict) else None
    if not isinstance(answers, dict):
        raise SpecError("a key file needs an 'answers' mapping", file=file, key="answers")
    for qid, a in answers.items():
        if not isinstance(a, dict) or "value" not in a or "exact" not in a:
            raise SpecError("each answer needs 'exact' and 'value'", file=file,
                            key=f"answers.{qid}")
    return {str(k): v for k, v in answers.items()}


@dataclass(frozen=True)
class Drift:
    """One question whose answer no longer matches its key."""

    question: str
    key: object
    now: object
    why: str


def drifts(key: dict, answers: dict) -> list[Drift]:
    """How the answers differ from the key: exact text first, else values to 1e-9."""
    out = []
    for qid in sorted(set(key) | set(answers), key=_order(answers, key)):
        k, a = key.get(qid), answers.get(qid)
        if k is None:
            out.append(Drift(qid, None, _shown(a), "the key has no answer for it"))
        elif a is None:
            out.append(Drift(qid, _shown(k), None, "the problem has no such question now"))
        elif isinstance(k["exact"], list) or isinstance(a["exact"], list):
            why = _list_drift(k, a)
            if why:
                out.append(Drift(qid, _shown(k), _shown(a), why))
        elif k["exact"] is not None and a["exact"] is not None:
            if str(k["exact"]) != a["exact"]:
                out.append(Drift(qid, k["exact"], a["exact"], "exact answers differ"))
        elif (k["value"] is None) != (a["value"] is None) or (
                k["value"] is not None and compare_values(a["value"], k["value"]).status
                != "agrees"):
            out.append(Drift(qid, _shown(k), _shown(a), "values differ"))
    return out


def _list_drift(k: dict, a: dict) -> str:
    """A sweep's list, entry by entry: exact text where both have one, else the values to
    1e-9; "" when they agree."""
    kv, av = k["value"], a["value"]
    n = len(kv) if isinstance(kv, list) else len(k["exact"] or [])
    if not isinstance(av, list) and not isinstance(a["exact"], list) or \
            len(av if isinstance(av, list) else a["exact"]) != n:
        return "the lists have different lengths"
    for i in range(n):
        ke = k["exact"][i] if isinstance(k["exact"], list) else None
        ae = a["exact"][i] if isinstance(a["exact"], list) else None
        if ke is not None and ae is not None:
            if str(ke) != ae:
                return f"entry {i + 1}: exact answers differ"
        elif not isinstance(kv, list) or not isinstance(av, list) or kv[i] is None or \
                av[i] is None or compare_values(av[i], kv[i]).status != "agrees":
            return f"entry {i + 1}: values differ"
    return ""


def _shown(a):
    return a["exact"] if a["exact"] is not None else a["value"]


def _order(answers: dict, key: dict):
    pos = {q: i for i, q in enumerate(list(answers) + list(key))}
    return lambda q: pos[q]
