import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PROBLEMS = sorted((ROOT / "problems").glob("*.yaml"))

sys.setrecursionlimit(max(sys.getrecursionlimit(), 10000))


def solve_text(text: str, name: str = "t.yaml"):
    from derive.engine import solve
    from derive.loader import loads
    return solve(loads(text, name))


def answers_of(text: str) -> dict:
    from derive import render
    return render.answers(solve_text(text))


@pytest.fixture
def torch():
    return pytest.importorskip("torch") if False else __import__("torch")
