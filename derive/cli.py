"""The command line: ``derive solve FILE... [--out DIR] [--format md,tex] [--json]``.

This module and the loader are the only places that touch files.  All problems are solved and
rendered before anything is written; each output is written atomically (temp file + rename).
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path
from typing import List

import typer

from .errors import SpecError

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Worked backpropagation-through-time solutions from problem files.")

FORMATS = ("md", "tex")


@app.callback()
def _root() -> None:
    """derive writes worked solutions (Markdown, LaTeX) and answer keys for recurrent-network
    exercises declared in YAML problem files (see problems/q1.yaml)."""


def write_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` so that readers see the old file or the new one, never half."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _fail(err: SpecError) -> typer.Exit:
    typer.echo(f"error: {err}", err=True)
    return typer.Exit(2)


@app.command()
def solve(
    files: List[Path] = typer.Argument(..., help="Problem files (YAML, see the spec).",
                                       show_default=False),
    out: Path = typer.Option(Path("output"), "--out", "-o",
                             help="Folder for the results: OUT/<stem>/solution.md and .tex."),
    format: str = typer.Option("md,tex", "--format", "-f",
                               help="Comma-separated output formats: md, tex."),
    as_json: bool = typer.Option(False, "--json",
                                 help="Print only the answers as JSON (the spec's format)."),
) -> None:
    """Solve problem files: write the worked solutions and print a table of the answers.

    Exit status: 0 on success, 2 when a problem file is invalid (one message naming the file,
    the key and the line; nothing is written).
    """
    formats = tuple(dict.fromkeys(f.strip() for f in format.split(",") if f.strip()))
    bad = [f for f in formats if f not in FORMATS]
    if bad or not formats:
        typer.echo(f"error: --format takes {', '.join(FORMATS)} (got {format!r})", err=True)
        raise typer.Exit(2)
    from . import render
    from .engine import solve as solve_problem
    from .loader import load

    results = []
    for f in files:
        try:
            sol = solve_problem(load(f))
            docs = {f"solution.{k}": text for k, text in render.documents(sol, formats).items()}
        except SpecError as e:
            raise _fail(e) from None
        except RecursionError:
            raise _fail(SpecError("the problem is nested too deeply to solve",
                                  file=str(f))) from None
        results.append((f, sol, docs))
    for f, _, docs in results:
        for name, text in docs.items():
            write_atomic(out / Path(f).stem / name, text)
    if as_json:
        objs = [render.to_json(sol) for _, sol, _ in results]
        typer.echo(render.dumps(objs[0] if len(objs) == 1 else objs))
        return
    for f, sol, docs in results:
        typer.echo(f"{sol.problem.title}  ({f})")
        rows = render.summary_rows(sol)
        w1 = max((len(r[0]) for r in rows), default=2)
        w2 = max((len(r[1]) for r in rows), default=4)
        for qid, find, ans in rows:
            typer.echo(f"  {qid:<{w1}}  {find:<{w2}}  {ans}")
        for name in docs:
            typer.echo(f"  wrote {out / Path(f).stem / name}")


def main() -> None:
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10000))
    app()
