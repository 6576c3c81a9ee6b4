"""The files of ``derive variants``: each variant's problem.yaml, the manifest, and the work one
worker does for one variant (solve, cross-check, render).

A variant's ``problem.yaml`` is the author's file with the varied given values replaced in
place (flow style: ``x: [3, 7]``) and the ``vary:`` and ``require:`` blocks cut out, so its
comments, statement and layout stay as written.  The variant is solved from that text as it
is loaded back, so the files and the manifest hold the numbers of the file a student gets.
"""

from __future__ import annotations

import dataclasses
import functools
from pathlib import Path

import yaml

from .. import __version__
from ..errors import SpecError
from ..lang import loader
from . import conditions, run as gen
from .draw import Decimal, manifest_value, value_text


def problem_text(text: str, given: dict, steps=None, header: str = "") -> str:
    """The problem file ``text`` with the vary keys' given values set to ``given`` (exact
    values) and no ``vary:`` or ``require:``; ``header`` (comment lines) goes first."""
    cuts, spans = _layout(text)
    cuts = list(cuts)
    for written, (start, end) in spans:
        key = _given_key(written, given, steps)
        if key is not None:
            cuts.append((start, end, value_text(given[key])))
    out = text
    for start, end, new in sorted(cuts, reverse=True):
        out = out[:start] + new + out[end:]
    return header + out


@functools.lru_cache(maxsize=8)
def _layout(text: str) -> tuple:
    """Where the file's ``vary:`` and ``require:`` blocks stand (whole lines, to cut) and each
    given's value (characters): (cuts, ((written key, (start, end)), ...))."""
    root = yaml.compose(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    cuts, spans = [], []
    items = root.value
    for n, (k, v) in enumerate(items):
        if k.value in ("vary", "require"):
            start = text.rfind("\n", 0, k.start_mark.index) + 1
            end = (text.rfind("\n", 0, items[n + 1][0].start_mark.index) + 1
                   if n + 1 < len(items) else len(text))
            cuts.append((start, end, ""))
        elif k.value == "given":
            for gk, gv in v.value:
                start, end = gv.start_mark.index, gv.end_mark.index
                end = start + len(text[start:end].rstrip())  # a block list ends a line on
                spans.append((gk.value, (start, end)))
    return tuple(cuts), tuple(spans)


def _given_key(written: str, given: dict, steps):
    """The key of ``given`` that names the same given as the file's key ``written``."""
    target = gen._key(written, steps)
    for k in given:
        if gen._key(k, steps) == target:
            return k
    return None


def problem_dump(text: str, given: dict, steps=None, header: str = "") -> str:
    """:func:`problem_text` by re-emitting the YAML (comments and layout lost): the fallback
    for files whose layout the in-place edit does not handle."""
    data = yaml.safe_load(text)
    data.pop("vary", None)
    data.pop("require", None)
    for written in list(data.get("given") or {}):
        key = _given_key(str(written), given, steps)
        if key is not None:
            data["given"][written] = manifest_value(given[key])
    return header + yaml.dump(data, Dumper=_Dumper, sort_keys=False, allow_unicode=True,
                              width=100, default_flow_style=None)


def variant_problem(source: str, problem, given: dict, name: str, header: str = ""):
    """(text, loaded Problem) of a variant's problem.yaml, checked to read back with exactly
    the drawn ``given`` values (SpecError otherwise)."""
    expected = gen.with_given(problem, {k: manifest_value(v) for k, v in given.items()})
    want = [(g.name, g.index, g.value) for g in expected.given]
    for make in (problem_text, problem_dump):
        text = make(source, given, problem.steps, header)
        try:
            loaded = loader.loads(text, name)
        except SpecError:
            continue
        if [(g.name, g.index, g.value) for g in loaded.given] == want and not loaded.vary:
            return text, loaded
    raise SpecError("a variant's problem file does not read back with its drawn values",
                    file=problem.file, key="vary")


class _Dumper(yaml.SafeDumper):
    pass


_Dumper.add_representer(
    Decimal, lambda d, v: d.represent_scalar("tag:yaml.org,2002:float", str(v)))


def manifest_text(file: str, raw: bytes, seed: int, entries: list) -> str:
    """``variants.yaml``: ``entries`` are (Pick, answers as id -> {exact, value})."""
    import hashlib

    data = {"problem": Path(file).name, "sha256": hashlib.sha256(raw).hexdigest(),
            "derive": __version__, "seed": seed, "variants": [
                {"index": p.index, "id": p.id, "seed": p.seed,
                 "given": {k: manifest_value(v) for k, v in p.given.items()},
                 "answers": answers}
                for p, answers in entries]}
    return yaml.dump(data, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=100,
                     default_flow_style=None)


def variant_header(stem: str, pick) -> str:
    return (f"# Variant {pick.index} (id {pick.id}, seed {pick.seed}) of {stem}.yaml, "
            "written by derive variants.\n")


@dataclasses.dataclass(frozen=True)
class Job:
    """What the CLI asks a worker for one variant."""

    pick: object  # generate.Pick
    name: str     # the problem file's name for messages: STEM/ID/problem.yaml
    formats: tuple  # of md, tex, pdf
    check: bool


def produce(job: Job) -> dict:
    """Solve one variant from its problem.yaml text: ``answers`` (id -> {exact, value}),
    ``files`` (name -> text or bytes), ``failures`` (cross-check lines) and ``pdf_error``."""
    from ..calculus.questions import solve
    from ..check import keys
    from ..output import render

    source, stem = gen._STATE["extra"]
    pick = job.pick
    text, problem = variant_problem(source, gen._STATE["problem"], pick.given, job.name,
                                    variant_header(stem, pick))
    # with nothing to render, the answers come from the core without the written steps
    answers = None if job.formats else conditions.answers(problem)
    sol = None
    if answers is None:
        sol = solve(problem)
        answers = render.answers(sol)
    failures = []
    if job.check:
        from ..check import crosscheck
        if crosscheck.available():
            checks = crosscheck.check(problem, answers)
            if sol is not None:
                sol = dataclasses.replace(sol, checks=checks)
                answers = render.answers(sol)
            for qid, c in checks.items():
                if c.status == "disagrees":
                    failures.append(f"{job.name}: question {qid} ({answers[qid]['find']}): "
                                    f"derive gives {answers[qid]['value']}, PyTorch autograd "
                                    f"gives {c.reason or c.torch}")
    files = {"problem.yaml": text}
    pdf_error = None
    if job.formats:
        files["problem.key.yaml"] = keys.key_text(job.name, problem.title, answers)
        text_formats = tuple(f for f in job.formats if f != "pdf")
        if "pdf" in job.formats and "tex" not in text_formats:
            text_formats += ("tex",)
        docs = render.documents(sol, text_formats)
        files.update({("graph.svg" if k == "svg" else k if k.endswith(".svg") else
                       f"solution.{k}"): v for k, v in docs.items()
                      if k in job.formats or (k.endswith("svg") and "md" in job.formats)})
        if "pdf" in job.formats:
            from ..output import pdf
            try:
                built = pdf.build(docs["tex"])
                files["solution.pdf"] = built.pdf
                files["solution.log"] = built.log
            except pdf.PdfError as e:
                files["solution.log"] = e.log
                pdf_error = f"{job.name}: {e}"
    return {"answers": {qid: {"exact": a["exact"], "value": a["value"]}
                        for qid, a in answers.items()},
            "files": files, "failures": failures, "pdf_error": pdf_error}


def manifest_givens(text: str, name: str, problem_raw: bytes, problem_file: str) -> dict:
    """Variant id -> its drawn givens (as the manifest writes them), from the text of a manifest
    of ``derive variants`` (``name``) made from these very bytes of the problem file.  A
    manifest is input like any other: SpecError naming it (and the key) when it is not a
    manifest or was made from another version of the problem."""
    import hashlib

    from ..errors import SpecError

    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise SpecError(f"YAML error: {getattr(e, 'problem', None) or e}", file=name) from None
    if not isinstance(data, dict) or not isinstance(data.get("variants"), list):
        raise SpecError("not a manifest of derive variants (no `variants:` list)", file=name)
    if data.get("sha256") != hashlib.sha256(problem_raw).hexdigest():
        raise SpecError(f"this manifest was made from another version of "
                        f"{Path(problem_file).name}: run derive variants again", file=name,
                        key="sha256")
    out = {}
    for i, v in enumerate(data["variants"], start=1):
        if not isinstance(v, dict) or not isinstance(v.get("id"), str) or \
                not isinstance(v.get("given"), dict):
            raise SpecError("expected id and given", file=name, key=f"variants[{i}]")
        out[v["id"]] = v["given"]
    return out
