"""Course exercises written as problem files (``tests/cases/NAME.yaml``), each against an
independent PyTorch float64 reference written by hand beside it (``tests/cases/NAME.py``).

A reference module defines ``reference(torch) -> dict``: question id -> float, list (vector) or
list of rows (matrix).  Every question with a value must have a reference.  derive's own
cross-check must agree as well (it rebuilds the forward pass from the problem file)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from derive.check import crosscheck
from derive.output import render

from conftest import close, solve_text

CASES = sorted(p for p in (Path(__file__).parent / "cases").glob("*.yaml"))


def _reference(path: Path, torch) -> dict:
    spec = importlib.util.spec_from_file_location(f"case_{path.stem}", path.with_suffix(".py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    torch.set_default_dtype(torch.float64)
    return mod.reference(torch)


@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
def test_case_agrees_with_pytorch(path, torch):
    text = path.read_text()
    sol = solve_text(text, path.name)
    got = render.answers(sol)
    want = _reference(path, torch)
    valued = {qid for qid, a in got.items() if a["value"] is not None}
    assert valued <= set(want), f"no reference for {sorted(valued - set(want))}"
    for qid, w in want.items():
        assert qid in got, f"{path.stem}: question {qid} has no answer"
        assert close(got[qid]["value"], w), f"{path.stem}.{qid}: {got[qid]['value']} != {w}"
    checks = crosscheck.check(sol.problem, got)
    bad = {k: c for k, c in checks.items() if c.status != "agrees"}
    assert not bad, f"{path.stem}: derive's cross-check: {bad}"
