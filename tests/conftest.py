import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PROBLEMS = sorted(p for p in (ROOT / "problems").glob("*.yaml")
                  if not p.name.endswith((".key.yaml", ".answers.yaml")))

sys.setrecursionlimit(max(sys.getrecursionlimit(), 10000))


def solve_text(text: str, name: str = "t.yaml"):
    from derive.calculus.questions import solve
    from derive.lang.loader import loads
    return solve(loads(text, name))


def answers_of(text: str) -> dict:
    from derive.output import render
    return render.answers(solve_text(text))


@pytest.fixture
def torch():
    return pytest.importorskip("torch") if False else __import__("torch")


def close(got, want, rel: float = 1e-9, near_zero: float = 1e-12) -> bool:
    """Numbers, vectors (lists) and matrices (lists of rows) agree entry by entry to ``rel``
    relative (``near_zero`` absolute for entries near zero), with the same shape."""
    if isinstance(want, list):
        return isinstance(got, list) and len(got) == len(want) and \
            all(close(g, w, rel, near_zero) for g, w in zip(got, want))
    if isinstance(got, list):
        return False
    return abs(got - want) <= max(rel * abs(want), near_zero)
