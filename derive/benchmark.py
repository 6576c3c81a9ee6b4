"""Benchmark figures (printed, never asserted): ``python -m derive.benchmark``.

- cold ``derive solve problems/q1.yaml --no-check`` beside ``python -c "import sympy"``, in the
  same run; what the PyTorch cross-check adds to it, beside ``python -c "import torch"``;
- ``derive check problems/`` over every bundled problem;
- a scalar tanh RNN, ``d(L, w)`` solved and rendered to Markdown, at T = 10, 100, 1000;
- the slowest rejection among the hostile problem files in tests/hostile;
- vector tanh RNNs: hidden 8, T = 50, ``d(L, W_hh)`` solved and rendered; hidden 64, T = 100,
  the value of ``d(L, W_hh)``; each beside PyTorch autograd (float64) on the same problem.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _run(cmd: list[str]) -> float:
    t0 = time.perf_counter()
    subprocess.run(cmd, check=False, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                   cwd=ROOT)
    return time.perf_counter() - t0


def _best_pair(a: list[str], b: list[str], runs: int = 9) -> tuple[float, float]:
    """Fastest of ``runs`` timings of each command, alternating a and b so that a change in
    the machine's load touches both alike."""
    ta, tb = [], []
    for _ in range(runs):
        ta.append(_run(a))
        tb.append(_run(b))
    return min(ta), min(tb)


def tanh_problem(T: int) -> str:
    xs = ", ".join(str((k % 7 - 3) / 4) for k in range(T))
    ys = ", ".join(str((k % 5 - 2) / 4) for k in range(T))
    return (f"title: tanh RNN, T = {T}\nsteps: {T}\nequations:\n"
            "  h[t]: tanh(w*h[t-1] + u*x[t])\n  yhat[t]: v*h[t]\n"
            "  L[t]: (yhat[t] - y[t])**2\n  L: sum(L[t])\n"
            f"given:\n  h[0]: 0\n  w: 0.9\n  u: 0.7\n  v: 1.1\n  x: [{xs}]\n  y: [{ys}]\n"
            "questions:\n  - find: d(L, w)\n")


def vector_problem(n: int, T: int, seed: int = 1) -> str:
    """A tanh RNN with hidden size n and scalar output per step; weights from a fixed LCG, as
    short decimals (exact), scaled so the recurrence neither saturates nor dies."""
    state = seed

    def r(scale):
        nonlocal state
        state = (state * 1103515245 + 12345) % 2 ** 31
        return round((state / 2 ** 31 - 0.5) * 2 * scale, 3)

    def mat(rows, cols, scale):
        return "[" + ", ".join("[" + ", ".join(str(r(scale)) for _ in range(cols)) + "]"
                               for _ in range(rows)) + "]"

    s = 1.5 / n ** 0.5
    xs = "[" + ", ".join("[" + ", ".join(str(r(1)) for _ in range(2)) + "]"
                         for _ in range(T)) + "]"
    ys = "[" + ", ".join(str(r(1)) for _ in range(T)) + "]"
    return (f"title: vector tanh RNN, n = {n}, T = {T}\nsteps: {T}\nequations:\n"
            "  h[t]: tanh(W_hh @ h[t-1] + W_xh @ x[t])\n  yhat[t]: W_y @ h[t]\n"
            "  L[t]: (yhat[t] - y[t])**2\n  L: sum(L[t])\n"
            f"given:\n  h[0]: [{', '.join('0' for _ in range(n))}]\n"
            f"  W_hh: {mat(n, n, s)}\n  W_xh: {mat(n, 2, 1)}\n  W_y: {mat(1, n, s)}\n"
            f"  x: {xs}\n  y: {ys}\n"
            "questions:\n  - find: d(L, W_hh)\n")


def torch_time(text: str) -> float:
    """PyTorch autograd (float64) on the same problem, forward and backward."""
    from .check import crosscheck
    from .lang.loader import loads
    problem = loads(text, "bench.yaml")
    q = problem.questions[0]
    crosscheck.value(problem, q)  # import and warm up
    t0 = time.perf_counter()
    crosscheck.value(problem, q)
    return time.perf_counter() - t0


def solve_only(text: str) -> float:
    from .calculus.questions import solve
    from .lang.loader import loads
    t0 = time.perf_counter()
    solve(loads(text, "bench.yaml"))
    return time.perf_counter() - t0


def solve_and_render(text: str) -> float:
    from .output import render
    from .calculus.questions import solve
    from .lang.loader import loads
    t0 = time.perf_counter()
    sol = solve(loads(text, "bench.yaml"))
    render.markdown(sol)
    return time.perf_counter() - t0


def main() -> None:
    exe = Path(sys.executable).parent / "derive"
    with tempfile.TemporaryDirectory() as out:
        cold, imp = _best_pair([str(exe), "solve", "problems/q1.yaml", "--no-check", "--out",
                                out], [sys.executable, "-c", "import sympy"])
        checked, torch_imp = _best_pair([str(exe), "solve", "problems/q1.yaml", "--out", out],
                                        [sys.executable, "-c", "import torch"], runs=5)
    print(f"cold `derive solve problems/q1.yaml --no-check`: {cold:.3f} s")
    print(f"`python -c 'import sympy'`:                      {imp:.3f} s")
    print(f"ratio: {cold / imp:.2f} (target: at most 2.5)")
    print(f"cold `derive solve problems/q1.yaml` (with the PyTorch check): {checked:.3f} s, "
          f"+{checked - cold:.3f} s; `python -c 'import torch'`: {torch_imp:.3f} s")
    t0 = time.perf_counter()
    subprocess.run([str(exe), "check", "problems"], check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL, cwd=ROOT)
    print(f"`derive check problems/` ({len(list((ROOT / 'problems').glob('*.key.yaml')))} "
          f"problems, cold): {time.perf_counter() - t0:.3f} s (target under 15 s)")
    solve_and_render(tanh_problem(5))  # warm sympy's caches and imports
    prev = None
    for T in (10, 100, 1000):
        t = min(solve_and_render(tanh_problem(T)) for _ in range(2))
        growth = f", x{t / prev:.1f} for 10x T" if prev else ""
        print(f"tanh RNN d(L, w), solved + Markdown, T = {T:>4}: {t:.3f} s{growth}")
        prev = t
    worst, name = 0.0, ""
    hostile = sorted((ROOT / "tests" / "hostile").glob("*.yaml"))
    with tempfile.TemporaryDirectory() as out:
        for f in hostile:
            t0 = time.perf_counter()
            subprocess.run([str(exe), "solve", str(f), "--out", out], check=False,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=ROOT)
            dt = time.perf_counter() - t0
            if dt > worst:
                worst, name = dt, f.name
    print(f"hostile files: {len(hostile)}, slowest rejection {worst:.3f} s ({name}), "
          "cold process included")
    small = vector_problem(8, 50)
    t = min(solve_and_render(small) for _ in range(2))
    print(f"vector tanh RNN n = 8, T = 50, d(L, W_hh) solved + Markdown: {t:.3f} s "
          f"(target under 2 s); PyTorch autograd: {torch_time(small):.4f} s")
    big = vector_problem(64, 100)
    t = solve_only(big)
    print(f"vector tanh RNN n = 64, T = 100, value of d(L, W_hh): {t:.3f} s "
          f"(target under 5 s); PyTorch autograd: {torch_time(big):.4f} s")


if __name__ == "__main__":
    main()
