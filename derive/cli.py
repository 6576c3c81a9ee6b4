"""The command line: ``derive solve``, ``key``, ``check``, ``book``, ``variants``, ``grade`` and
``export``.

This module and the loader are the only places that touch files.  All problems are solved and
rendered before anything is written; each output is written atomically (temp file + rename).
"""

from __future__ import annotations

import gc
import os
import sys
import tempfile
from pathlib import Path
from typing import List, Optional

import typer

from .errors import SpecError

# The pipeline's modules (sympy, jinja2, torch) are imported inside the commands that use them,
# so that `derive --help` and argument errors answer at once; nothing here dodges a circle.

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  rich_markup_mode="markdown",  # docstring paragraphs reflow to the terminal
                  help="Worked backpropagation-through-time solutions from problem files.")

FORMATS = ("md", "tex", "pdf")


@app.callback()
def _root() -> None:
    """derive writes worked solutions (Markdown, LaTeX) and answer keys for recurrent-network
    exercises declared in YAML problem files (see problems/q1.yaml)."""


def write_atomic(path: Path, text: str | bytes) -> None:
    """Write ``text`` (or bytes) to ``path`` so that readers see the old file or the new one,
    never half."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        mask = os.umask(0)
        os.umask(mask)
        os.chmod(tmp, 0o666 & ~mask)  # mkstemp makes 0600; outputs are ordinary files
        if isinstance(text, bytes):
            with os.fdopen(fd, "wb") as f:
                f.write(text)
        else:
            with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as f:
                f.write(text)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _formats(format: str, none: bool) -> tuple:
    """The formats of --format in order (``none``: also the word none, no files); exit 2 for
    an unknown one, exit 1 when pdf is asked and LaTeX cannot run here."""
    if none and format.strip() == "none":
        return ()
    formats = tuple(dict.fromkeys(f.strip() for f in format.split(",") if f.strip()))
    bad = [f for f in formats if f not in FORMATS]
    if bad or not formats:
        typer.echo(f"error: --format takes {', '.join(FORMATS)}{' or none' if none else ''} "
                   f"(got {format!r})", err=True)
        raise typer.Exit(2)
    if "pdf" in formats:
        from .output import pdf
        why = pdf.available()
        if why is not None:
            typer.echo(f"error: --format pdf: {why}", err=True)
            raise typer.Exit(1)
    return formats


def _fail(err: SpecError) -> typer.Exit:
    typer.echo(f"error: {err}", err=True)
    return typer.Exit(2)


GRAPH_GRADIENTS = typer.Option(False, "--graph-gradients",
                               help="Also write the gradient of the loss (the last plain "
                                    "quantity) on the graph's nodes (T <= 4).")
NO_CHECK = typer.Option(False, "--no-check",
                        help="Skip the independent PyTorch cross-check (it runs whenever torch "
                             "is installed).")


def _solve_all(files, gradients: bool = False) -> list:
    """[file, solution, answers, documents] for every problem file (key files are skipped),
    or exit 2 on the first bad one."""
    from .output import render
    from .calculus.questions import solve as solve_problem
    from .check.keys import problems_in
    from .lang.loader import load

    files = problems_in(files)
    if not files:
        typer.echo("error: no problem files given (key files are not problems)", err=True)
        raise typer.Exit(2)
    results = []
    for f in files:
        try:
            sol = solve_problem(load(f), gradients=gradients)
            answers = render.answers(sol)
        except SpecError as e:
            raise _fail(e) from None
        except RecursionError:
            raise _fail(SpecError("the problem is nested too deeply to solve",
                                  file=str(f))) from None
        results.append([f, sol, answers, {}])
    return results


def _cross_check(results, required: bool) -> list[str]:
    """Run the PyTorch check on every solved problem (in place); the failure lines."""
    import dataclasses

    from .check import crosscheck

    from .output import render
    if not crosscheck.available():
        msg = ("the PyTorch cross-check needs torch: pip install -e '.[torch]' "
               "(or pass --no-check)")
        if required:
            typer.echo(f"error: {msg}", err=True)
            raise typer.Exit(2)
        typer.echo(f"note: cross-check skipped: {msg}", err=True)
        return []
    failures = []
    for r in results:
        f, sol, answers, _ = r
        checks = crosscheck.check(sol.problem, answers)
        r[1] = dataclasses.replace(sol, checks=checks)
        r[2] = render.answers(r[1])
        for qid, c in checks.items():
            if c.status == "disagrees":
                failures.append(f"{f}: question {qid} ({answers[qid]['find']}): derive gives "
                                f"{_plain(answers[qid]['value'])}, PyTorch autograd gives "
                                + (c.reason or _plain(c.torch)))
    return failures


def _plain(v) -> str:
    if isinstance(v, list):
        return "[" + ", ".join(_plain(x) for x in v) + "]"
    return f"{v:.12g}" if isinstance(v, float) else str(v)


def _check_cell(a: dict) -> str:
    c = a.get("check")
    if c is None:
        return ""
    if c["status"] == "agrees" and c.get("by"):  # a count, a shape, tokens: equal or not
        return "torch, keras: equal" if "Keras" in c["by"] else "torch: equal"
    if c["status"] == "agrees":
        return f"torch: {c['digits']} digits"
    if c["status"] == "disagrees":
        return "torch: DISAGREES"
    return "torch: -"


@app.command()
def solve(
    files: List[Path] = typer.Argument(..., help="Problem files (YAML, see the spec).",
                                       show_default=False),
    out: Path = typer.Option(Path("output"), "--out", "-o",
                             help="Folder for the results: OUT/STEM/solution.md and .tex "
                             "(STEM: the file name without .yaml)."),
    format: str = typer.Option("md,tex", "--format", "-f",
                               help="Comma-separated output formats: md, tex, pdf (pdf "
                                    "needs latexmk and TeX Live)."),
    as_json: bool = typer.Option(False, "--json",
                                 help="Print only the answers as JSON (the spec's format)."),
    no_check: bool = NO_CHECK,
    graph_gradients: bool = GRAPH_GRADIENTS,
) -> None:
    """Solve problem files: write the worked solutions and print a table of the answers.

    Every numeric answer is cross-checked against PyTorch autograd (float64) when torch is
    installed. Exit status: 0 on success, 1 when the cross-check disagrees with an answer (the
    files are still written, and say so) or a PDF cannot be made (the first LaTeX error is
    printed; the LaTeX log is kept), 2 when a problem file is invalid (one message naming the
    file, the key and the line; nothing is written).
    """
    formats = _formats(format, none=False)
    from .output import render

    results = _solve_all(files, graph_gradients)
    failures = [] if no_check else _cross_check(results, required=False)
    text_formats = tuple(f for f in formats if f != "pdf")
    if "pdf" in formats and "tex" not in text_formats:
        text_formats += ("tex",)
    pdf_errors = []
    for r in results:
        docs = render.documents(r[1], text_formats)
        # the graph is graph.svg; a sweep's plot is named by its key (sweep-<id>.svg)
        r[3] = {("graph.svg" if k == "svg" else k if k.endswith(".svg") else f"solution.{k}"):
                text for k, text in docs.items()
                if k in formats or (k.endswith("svg") and "md" in formats)}
        if "pdf" in formats:
            from .output import pdf
            try:
                built = pdf.build(docs["tex"])
                r[3]["solution.pdf"] = built.pdf
                r[3]["solution.log"] = built.log
            except pdf.PdfError as e:
                r[3]["solution.log"] = e.log
                pdf_errors.append(f"{r[0]}: {e} (log: {out / Path(r[0]).stem / 'solution.log'})")
    for f, _, _, docs in results:
        for name, text in docs.items():
            write_atomic(out / Path(f).stem / name, text)
    if as_json:
        objs = [{"file": sol.problem.file, "title": sol.problem.title, "answers": answers}
                for _, sol, answers, _ in results]
        typer.echo(render.dumps(objs[0] if len(objs) == 1 else objs))
    else:
        for f, sol, answers, docs in results:
            typer.echo(f"{sol.problem.title}  ({f})")
            rows = [(qid, a["find"], render.plain(a["latex"]), _check_cell(a))
                    for qid, a in answers.items()]
            w1 = max((len(r[0]) for r in rows), default=2)
            w2 = max((len(r[1]) for r in rows), default=4)
            w3 = max((len(r[2]) for r in rows), default=6)
            for qid, find, ans, chk in rows:
                typer.echo(f"  {qid:<{w1}}  {find:<{w2}}  {ans:<{w3}}  {chk}".rstrip())
            for name in docs:
                typer.echo(f"  wrote {out / Path(f).stem / name}")
    for line in pdf_errors:
        typer.echo(f"error: {line}", err=True)
    if failures:
        typer.echo("error: the PyTorch cross-check disagrees:", err=True)
        for line in failures:
            typer.echo(f"  {line}", err=True)
    if failures or pdf_errors:
        raise typer.Exit(1)


@app.command()
def key(
    files: List[Path] = typer.Argument(..., help="Problem files.", show_default=False),
    no_check: bool = NO_CHECK,
) -> None:
    """Write or update each problem's answer key, STEM.key.yaml beside the problem file.

    The answers are cross-checked against PyTorch first; a key is never written for an answer
    that disagrees (exit 1). Exit 2 for an invalid problem file.
    """
    from .check import keys

    results = _solve_all(files)
    failures = [] if no_check else _cross_check(results, required=True)
    if failures:
        typer.echo("error: no key written; the PyTorch cross-check disagrees:", err=True)
        for line in failures:
            typer.echo(f"  {line}", err=True)
        raise typer.Exit(1)
    for f, sol, answers, _ in results:
        path = keys.key_path(Path(f))
        text = keys.key_text(str(f), sol.problem.title, answers)
        old = path.read_text(encoding="utf-8") if path.is_file() else None
        if old == text:
            typer.echo(f"unchanged {path} ({len(answers)} answers)")
            continue
        write_atomic(path, text)
        typer.echo(f"{'updated' if old is not None else 'wrote'} {path} "
                   f"({len(answers)} answers)")


@app.command()
def check(
    paths: List[Path] = typer.Argument(..., help="Problem files or folders of them.",
                                       show_default=False),
    no_check: bool = NO_CHECK,
) -> None:
    """Re-derive every problem and compare it with its answer key and with PyTorch.

    Prints a table. Exit status: 0 when every answer matches its key and PyTorch, 1 on any
    drift or disagreement (each named: problem, question, both values), 2 for an invalid
    problem file or key file.
    """
    from .check import keys

    results = _solve_all(paths)
    failures = [] if no_check else _cross_check(results, required=True)
    rows = []
    for f, sol, answers, _ in results:
        kp = keys.key_path(Path(f))
        if not kp.is_file():
            failures.append(f"{f}: no answer key {kp} (write one with: derive key {f})")
            continue
        try:
            key_answers = keys.parse_key(kp.read_text(encoding="utf-8"), str(kp))
        except SpecError as e:
            raise _fail(e) from None
        drifted = {d.question: d for d in keys.drifts(key_answers, answers)}
        for d in drifted.values():
            failures.append(f"{f}: question {d.question}: {d.why}: the key says "
                            f"{_plain(d.key)}, derive now gives {_plain(d.now)}")
        for qid, a in answers.items():
            status = "DRIFT" if qid in drifted else "ok"
            c = a.get("check")
            if c is not None and c["status"] == "disagrees":
                status = "TORCH DISAGREES"
            exact = a["exact"]
            if isinstance(exact, list) and None in exact:  # a sweep with inexact entries
                exact = None
            rows.append((Path(f).name, qid, a["find"], _plain(
                exact if exact is not None else a["value"]), _check_cell(a), status))
    header = ("problem", "id", "find", "answer", "cross-check", "key")
    widths = [min(40, max(len(str(r[i])) for r in rows + [header])) for i in range(6)]
    for r in [header] + rows:
        typer.echo("  ".join(_cut(str(c), w).ljust(w) for c, w in zip(r, widths)).rstrip())
    if failures:
        typer.echo(f"error: {len(failures)} problem{'s' if len(failures) > 1 else ''}:", err=True)
        for line in failures:
            typer.echo(f"  {line}", err=True)
        raise typer.Exit(1)
    typer.echo(f"all {len(rows)} answers of {len(results)} problems match their keys"
               + ("" if no_check else " and PyTorch"))


@app.command()
def book(
    paths: List[Path] = typer.Argument(..., help="Problem files or folders of them, in order.",
                                       show_default=False),
    out: Path = typer.Option(Path("output"), "--out", "-o", help="Folder for the book."),
    title: str = typer.Option("Recurrent networks: answer key", "--title",
                              help="The title page's title."),
    questions_only: bool = typer.Option(False, "--questions-only",
                                        help="The students' sheet: statements and questions, "
                                             "no solutions."),
    n: int = typer.Option(0, "-n", help="Typeset N variants of each problem (its vary: "
                          "block), one per student: the variants that derive variants FILE "
                          "-n N --seed S writes.", show_default=False),
    seed: int = typer.Option(0, "--seed", help="The seed of the variants (with -n)."),
    no_check: bool = NO_CHECK,
    graph_gradients: bool = GRAPH_GRADIENTS,
) -> None:
    """Typeset several problems as one PDF answer key (or the questions-only sheet).

    Writes OUT/book.pdf (OUT/questions.pdf with --questions-only): a title page, a table of
    contents with links, and each problem's statement, questions and worked solutions. With
    -n N, each problem is typeset N times, once per variant, titled with the variant's index
    and id. Exit 1 when LaTeX or the cross-check fails, 2 for an invalid problem file.
    """
    from .output import pdf
    from .output import render

    why = pdf.available()
    if why is not None:
        typer.echo(f"error: {why}", err=True)
        raise typer.Exit(1)
    if n:
        results = _variant_results(paths, n, seed)
    else:
        results = _solve_all(paths, graph_gradients and not questions_only)
    failures = [] if (no_check or questions_only) else _cross_check(results, required=False)
    if failures:
        typer.echo("error: no book written; the PyTorch cross-check disagrees:", err=True)
        for line in failures:
            typer.echo(f"  {line}", err=True)
        raise typer.Exit(1)
    name = "questions" if questions_only else "book"
    tex = render.book([r[1] for r in results], title, solutions=not questions_only)
    try:
        built = pdf.build(tex, name)
    except pdf.PdfError as e:
        write_atomic(out / f"{name}.log", e.log)
        typer.echo(f"error: {e} (log: {out / f'{name}.log'})", err=True)
        raise typer.Exit(1) from None
    for suffix, data in ((".tex", tex), (".pdf", built.pdf), (".log", built.log)):
        write_atomic(out / f"{name}{suffix}", data)
    typer.echo(f"wrote {out / (name + '.pdf')} ({len(results)} "
               f"{'variants' if n else 'problems'}{', questions only' if questions_only else ''})")


def _variants(paths, n: int, seed: int, use: str) -> list:
    """[(file, Variant)] for variants 1..n of every problem file (each needs a vary block; ``use``
    says what -n does, for the message); exit 2 on a bad file or too few variants."""
    from .check.keys import problems_in
    from .lang.loader import load
    from .variants import generate
    from .variants.run import default_jobs

    if n < 1:
        typer.echo(f"error: -n is at least 1 (got {n})", err=True)
        raise typer.Exit(2)
    files = problems_in(paths)
    if not files:
        typer.echo("error: no problem files given (key files are not problems)", err=True)
        raise typer.Exit(2)
    out = []
    for f in files:
        try:
            problem = load(f)
            if not problem.vary:
                raise problem.error(f"-n {use} variants, but the problem has no vary block")
            out += [(f, v) for v in generate(problem, n, seed, jobs=default_jobs())]
        except SpecError as e:
            raise _fail(e) from None
    return out


def _variant_results(paths, n: int, seed: int) -> list:
    """[file, solution, answers, {}] for variants 1..n of every problem file (each needs a
    vary block), each titled with its index and id; exit 2 on a bad file or too few variants."""
    import dataclasses

    from .output import render

    results = []
    for f, v in _variants(paths, n, seed, "typesets"):
        titled = dataclasses.replace(v.problem, title=f"{v.problem.title} (variant "
                                                      f"{v.index}, id {v.id})")
        sol = dataclasses.replace(v.solution, problem=titled)
        results.append([f, sol, render.answers(sol), {}])
    return results


def _progress():
    """A rich progress bar on stderr for long batch work, or None: quiet when stdout or stderr
    is not a terminal and when CI is set."""
    if os.environ.get("CI") or not (sys.stdout.isatty() and sys.stderr.isatty()):
        return None
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    return Progress("{task.description}", BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    console=Console(stderr=True), transient=True)


def _shard(text: str | None) -> tuple[int, int] | None:
    if text is None:
        return None
    import re
    m = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", text)
    if not m or not 1 <= int(m.group(1)) <= int(m.group(2)):
        typer.echo(f"error: --shard is I/K with 1 <= I <= K, as in 1/4 (got {text!r})", err=True)
        raise typer.Exit(2)
    return int(m.group(1)), int(m.group(2))


@app.command()
def variants(
    file: Path = typer.Argument(..., help="A problem file with a vary: block.",
                                show_default=False),
    n: int = typer.Option(..., "-n", help="How many variants (one per student).",
                          show_default=False),
    seed: int = typer.Option(0, "--seed", help="The run's seed: the same file, N and seed give "
                             "the same variants, byte for byte."),
    out: Path = typer.Option(Path("output"), "--out", "-o",
                             help="Folder: writes OUT/STEM/variants.yaml and OUT/STEM/ID/."),
    format: str = typer.Option("md,tex", "--format", "-f",
                               help="Each variant's solution formats: md, tex, pdf, or none."),
    shard: str = typer.Option(None, "--shard", help="I/K: only the variants whose index is I "
                              "modulo K (K machines split a batch).", show_default=False),
    jobs: int = typer.Option(0, "--jobs", "-j", help="Worker processes (default: the cores "
                             "this process may use; the result does not depend on it)."),
    no_check: bool = NO_CHECK,
) -> None:
    """Write N variants of a problem: different given values per student, each with its key.

    Writes OUT/STEM/variants.yaml (the manifest: index, id, seed, drawn givens and answers of
    each variant) and per variant OUT/STEM/ID/problem.yaml (the problem with that variant's
    givens and no vary), problem.key.yaml and the solutions in the formats asked. With
    --shard I/K the manifest holds that shard's variants only (give each shard its own
    --out). Exit status: 0 on
    success, 1 when the cross-check disagrees or a PDF fails (the files are still written),
    2 for an invalid file or when fewer than N distinct variants satisfy require (nothing is
    written).
    """
    from .check import crosscheck
    from .variants import files as vfiles
    from .variants.run import Workers, default_jobs, select, shard_of
    from .lang.loader import load

    formats = _formats(format, none=True)
    part = _shard(shard)
    if n < 1:
        typer.echo(f"error: -n is at least 1 (got {n})", err=True)
        raise typer.Exit(2)
    try:
        problem = load(file)
        raw = file.read_bytes()
        if not problem.vary:
            raise problem.error("the problem has no vary block, so it has no variants "
                                "(see the README, Variants)")
    except SpecError as e:
        raise _fail(e) from None
    check = not no_check
    if check and not crosscheck.available():
        typer.echo("note: cross-check skipped: the PyTorch cross-check needs torch: "
                   "pip install -e '.[torch]' (or pass --no-check)", err=True)
        check = False
    stem = file.stem
    bar = _progress()
    try:
        with Workers(problem, jobs or default_jobs(), (raw.decode("utf-8"), stem)) as w:
            if bar is not None:
                bar.start()
            drawn = bar.add_task("drawing", total=n) if bar else None
            picks = select(problem, n, seed, w,
                           tick=(lambda: bar.advance(drawn)) if bar else None)
            chosen = [p for p in picks if shard_of(p.index, part)]
            solving = bar.add_task("solving", total=len(chosen)) if bar else None
            work = [vfiles.Job(p, f"{stem}/{p.id}/problem.yaml", formats, check)
                    for p in chosen]
            results = w.map(vfiles.produce, work,
                            tick=(lambda: bar.advance(solving)) if bar else None)
    except SpecError as e:
        raise _fail(e) from None
    finally:
        if bar is not None:
            bar.stop()
    name = "variants.yaml"  # a shard's too (the spec's name): one --out per shard
    manifest = vfiles.manifest_text(str(file), raw, seed,
                                    [(p, r["answers"]) for p, r in zip(chosen, results)])
    for p, r in zip(chosen, results):
        for fname, data in r["files"].items():
            write_atomic(out / stem / p.id / fname, data)
    write_atomic(out / stem / name, manifest)
    failures = [line for r in results for line in r["failures"]]
    pdf_errors = [r["pdf_error"] for r in results if r["pdf_error"]]
    typer.echo(f"wrote {len(chosen)} variant{'s' if len(chosen) != 1 else ''} of {file} "
               f"(seed {seed}{f', shard {part[0]}/{part[1]}' if part else ''}): "
               f"{out / stem / name}")
    for line in pdf_errors:
        typer.echo(f"error: {line}", err=True)
    if failures:
        typer.echo("error: the PyTorch cross-check disagrees:", err=True)
        for line in failures:
            typer.echo(f"  {line}", err=True)
    if failures or pdf_errors:
        raise typer.Exit(1)


EXPORTS = {"moodle": ".moodle.xml", "qti": ".qti.zip"}


@app.command()
def export(
    files: List[Path] = typer.Argument(..., help="Problem files.", show_default=False),
    to: str = typer.Option(..., "--to",
                           help="moodle: Moodle XML, one cloze question per problem; qti: a "
                                "QTI 1.2 zip of numerical items that Canvas imports."),
    n: Optional[int] = typer.Option(None, "-n",
                                    help="Export N variants of each problem (its vary block), "
                                         "the ones derive variants -n N --seed S writes."),
    seed: Optional[int] = typer.Option(None, "--seed",
                                       help="The variants' seed (with -n; default 0)."),
    out: Optional[Path] = typer.Option(None, "--out", "-o",
                                       help="The file to write (default: output/STEM.moodle.xml "
                                            "or output/STEM.qti.zip; output/export.* for "
                                            "several problems)."),
    no_check: bool = NO_CHECK,
) -> None:
    """Export problems to a learning management system: Moodle XML or a QTI zip for Canvas.

    Every numeric question becomes a numerical answer per entry, with the key and a tolerance
    of max(atol, rtol |key|) (rtol 1e-3, atol 1e-6 unless the problem's grading block says
    otherwise); in Moodle each mistake of the grading catalog that gives another number
    follows at 0 %, with its diagnosis as feedback. Questions without a numeric answer are
    left out (a note says which). With -n, each problem's N variants (the manifest's of
    derive variants with the same N and seed) are N questions, in a Moodle category of their
    own. The answers are cross-checked against
    PyTorch first; nothing is written when it disagrees (exit 1). Exit 2 for an invalid problem
    file or option, or a problem with fewer than N variants.
    """
    from .export import content, moodle, qti
    from .grade.catalog import slips

    if to not in EXPORTS:
        typer.echo(f"error: --to takes {' or '.join(EXPORTS)} (got {to!r})", err=True)
        raise typer.Exit(2)
    if n is None and seed is not None:
        typer.echo("error: --seed picks the variants of -n N; give -n too", err=True)
        raise typer.Exit(2)
    if n is not None:
        from .output import render
        # the variants of derive variants FILE -n N --seed S, in the manifest's order
        results = [[f"{f} (variant {v.id})", v.solution, render.answers(v.solution), v.id]
                   for f, v in _variants(files, n, seed or 0, "exports")]
    else:
        results = [[f, sol, answers, None] for f, sol, answers, _ in _solve_all(files)]
    failures = [] if no_check else _cross_check(results, required=False)
    if failures:
        typer.echo("error: nothing exported; the PyTorch cross-check disagrees:", err=True)
        for line in failures:
            typer.echo(f"  {line}", err=True)
        raise typer.Exit(1)
    exercises, noted = [], set()
    bar = _progress() if n is not None else None
    if bar is not None:
        bar.start()
    try:
        task = bar.add_task("exporting", total=len(results)) if bar else None
        for f, sol, _, variant in results:
            rtol, atol = content.tolerances(sol.problem)
            try:
                ex = content.exercise(sol, slips(sol.problem), rtol=rtol, atol=atol,
                                      variant=variant)
            except SpecError as e:
                raise _fail(e) from None
            if ex.left_out and sol.problem.file not in noted:
                noted.add(sol.problem.file)
                many = "s" if len(ex.left_out) > 1 else ""
                typer.echo(f"note: {sol.problem.file}: question{many} "
                           f"{', '.join(ex.left_out)} left out (no numeric answer)", err=True)
            exercises.append(ex)
            if bar is not None:
                bar.advance(task)
    finally:
        if bar is not None:
            bar.stop()
    if out is None:
        stem = Path(exercises[0].file).stem if len({e.file for e in exercises}) == 1 \
            else "export"
        out = Path("output") / f"{stem}{EXPORTS[to]}"
    data = moodle.xml(exercises, categories=n is not None) if to == "moodle" \
        else qti.zip_bytes(exercises)
    write_atomic(out, data)
    gaps = sum(len(p.gaps) for ex in exercises for p in ex.parts)
    typer.echo(f"wrote {out} ({len(exercises)} question{'s' if len(exercises) > 1 else ''}, "
               f"{gaps} numeric answer{'s' if gaps > 1 else ''})")


@app.command()
def grade(
    file: Path = typer.Argument(..., help="The problem file.", show_default=False),
    answers: Path = typer.Argument(..., help="One student's answers (YAML) or a roster (CSV: "
                                             "student, then one column per question).",
                                   show_default=False),
    json_out: bool = typer.Option(False, "--json", help="Print only the JSON result (an "
                                                        "array for a CSV roster)."),
    out: Path = typer.Option(None, "--out", help="Write DIR/<student>.md per student (and "
                                                 "DIR/summary.md with a bar chart for a "
                                                 "roster)."),
    rtol: float = typer.Option(None, "--rtol", help="Relative tolerance (default: the "
                                                    "problem's grading: block, else 1e-3)."),
    atol: float = typer.Option(None, "--atol", help="Absolute tolerance (default: the "
                                                    "problem's grading: block, else 1e-6)."),
    variants: Path = typer.Option(None, "--variants", help="The manifest of `derive variants "
                                                           "FILE`, for answers that name their "
                                                           "variant (default: "
                                                           "output/<stem>/variants.yaml)."),
) -> None:
    """Grade students' answers against the key, naming the slip behind each wrong number.

    Each wrong answer gets the mistakes of the catalog (a dropped term, an index shift, a
    missing path or factor, a wrong derivative, a sign, a wrong given, alone or in pairs)
    whose re-solved answers match the student's, best first, and `carried-forward` when it is
    right for the student's own earlier answers. Exit 2 for a bad problem or answers file; in
    a roster a bad row is reported and the other students are still graded.
    """
    import json
    import os

    from .grade import answers as answer_sheets
    from .grade import report
    from .grade.grade import Grader
    from .lang.loader import load

    for name, v in (("--rtol", rtol), ("--atol", atol)):
        if v is not None and not 0 <= v <= 1:
            typer.echo(f"error: {name} is a number from 0 to 1", err=True)
            raise typer.Exit(2)
    roster = answers.suffix.lower() == ".csv"
    try:
        problem = load(file)
        grader = Grader(problem, rtol, atol)
        sheets, errors = answer_sheets.read(answers, grader.key, grader.catalog.questions,
                                            problem.file)
        graders = {None: grader}
        if any(sh.variant for sh in sheets):
            sheets = _variant_graders(file, problem, sheets, errors, graders, variants,
                                      roster, lambda p: Grader(p, rtol, atol))
    except SpecError as e:
        raise _fail(e) from None
    quiet = json_out or os.environ.get("CI") or not sys.stdout.isatty()
    results = []
    if roster and not quiet and sheets:
        from rich.progress import Progress
        with Progress(transient=True) as progress:
            task = progress.add_task("grading", total=len(sheets))
            for sh in sheets:
                results.append(graders[sh.variant].grade(sh))
                progress.advance(task)
    else:
        results = [graders[sh.variant].grade(sh) for sh in sheets]
    if out is not None:
        for r in results:
            write_atomic(out / f"{r.student}.md",
                         report.student_markdown(graders[r.sheet.variant], r))
        if roster:
            bad = tuple(e.key or "" for e in errors)
            write_atomic(out / "summary.svg", report.summary_svg(results))
            write_atomic(out / "summary.md", report.summary_markdown(grader, results, bad))
    if json_out:
        data = [graders[r.sheet.variant].json(r) for r in results]
        typer.echo(json.dumps(data if roster else data[0], indent=2, ensure_ascii=False))
    else:
        for r in results:
            _print_result(r, roster)
        if out is not None:
            typer.echo(f"wrote {len(results)} report{'s' if len(results) != 1 else ''} to "
                       f"{out}" + (" and summary.md" if roster else ""))
    for e in errors:
        typer.echo(f"error: {e}", err=True)
    if errors:
        raise typer.Exit(2)


def _variant_graders(file: Path, problem, sheets, errors, graders, manifest, roster, make):
    """The sheets whose variant the manifest knows, each variant's grader put in ``graders``
    (once per variant: its key and mistaken solutions serve every student who has it).  An
    unknown variant is an error of its sheet: a roster reports the row and grades the others."""
    from .variants import with_given
    from .variants.files import manifest_givens

    if not problem.vary:
        raise SpecError("the answers name a variant, but the problem has no vary: block",
                        file=problem.file, key="vary")
    path = manifest if manifest is not None else Path("output") / file.stem / "variants.yaml"
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SpecError(f"no manifest of variants here: answers for a variant are graded with "
                        f"the manifest `derive variants {problem.file}` wrote (give it with "
                        "--variants)", file=str(path)) from None
    except (OSError, UnicodeDecodeError) as e:
        raise SpecError(f"cannot read the manifest: {e}", file=str(path)) from None
    givens = manifest_givens(text, str(path), file.read_bytes(), problem.file)
    kept = []
    for sh in sheets:
        if sh.variant is not None and sh.variant not in graders:
            if sh.variant not in givens:
                err = SpecError(f"no variant {sh.variant} in {path}",
                                file=sh.file, key=(f"row {sh.row}, column variant"
                                                   if sh.row else "variant"))
                if not roster:
                    raise err
                errors.append(err)
                continue
            graders[sh.variant] = make(with_given(problem, givens[sh.variant]))
        kept.append(sh)
    return kept


def _print_result(r, roster: bool) -> None:
    correct = sum(g.correct for g in r.questions.values())
    if roster:
        from .grade.report import first_mistakes
        typer.echo(f"{r.student}: {correct} of {len(r.questions)} correct"
                   + (f" ({', '.join(first_mistakes(r))})" if first_mistakes(r) else ""))
        return
    typer.echo(f"{r.student}: {correct} of {len(r.questions)} correct")
    for qid, g in r.questions.items():
        if g.correct:
            mark = "correct"
        elif g.given is None:
            mark = "blank"
        elif g.diagnosis:
            d = g.diagnosis[0]
            mark = f"wrong: {d.mistake} at {d.where} (explains {', '.join(d.explains)})"
        else:
            mark = "wrong: no mistake of the catalog explains it"
        typer.echo(f"  {qid}: {_plain_value(g.given)} (key {_plain_value(g.expected)}) {mark}")


def _plain_value(v) -> str:
    from .grade.grade import plain
    return "blank" if v is None else str(plain(v))


def _cut(s: str, w: int) -> str:
    return s if len(s) <= w else s[:w - 1] + "…"


def main() -> None:
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10000))
    # a short-lived process that builds many long-lived objects: see questions.GC_THRESHOLD
    gc.set_threshold(100_000, 50, 100)
    app()


if __name__ == "__main__":  # python -m derive.cli (e.g. with -X importtime)
    main()
