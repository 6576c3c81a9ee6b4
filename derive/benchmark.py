"""Benchmark figures (printed, never asserted): ``python -m derive.benchmark``.

Every headline figure is a ratio against a reference timed in the same run, in alternation
(reference, measured, reference, measured, ...), keeping the fastest of each, so that the
machine's load touches both alike:

- cold ``derive solve problems/q1.yaml --no-check`` against ``python -c "import sympy"``
  (target at most 1.8 times);
- a scalar tanh RNN, ``d(L, w)``, solved and written as Markdown by a cold ``derive solve
  --no-check --format md`` on a generated problem file, in both loss forms (``L: sum(L[t])``
  with ``L[t]: (v*h[t] - y[t])**2``, and inline ``L: sum((v*h[t] - y[t])**2)``), against
  ``import sympy``: T = 1000 (target 2.5 times) and T = 10000 (target 10 times); a run
  longer than 120 s is stopped and printed as "over 120 s";
- a vector tanh RNN, hidden size 64, T = 100: the value of ``d(L, W_hh)`` (loading included,
  in process, ``derive.solve``) against the same forward and backward pass in PyTorch autograd
  (float64), twice: built from the parsed equations as the cross-check does, and written by
  hand as a plain loop (target within 10 times).

derive's bytecode is compiled first, as an installed package has it.

Then the other figures: what the PyTorch cross-check adds to a cold run, ``derive check
problems/``, the in-process growth of the scalar RNN with T, the slowest rejection of a hostile
file, and the small vector RNN (hidden 8, T = 50) solved and rendered.

Then grading (``derive grade``): one student on q1 with the whole catalog and its pairs
(target under 2 s), a cold roster of 200 students on q1 (target under 60 s), and the
catalogs of larger problems.

Last, ``derive variants`` (also alone: ``python -m derive.benchmark variants``): 1000 variants
of problems/q1_vary.yaml with ``--format none --no-check`` on every core and on one (target at
most 60 s on two cores), and the time per variant of q1 and of vector RNNs with drawn weights
as the problem grows.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CAP = 120.0  # seconds; a cold run longer than this is stopped and reported as such
SYMPY = [sys.executable, "-c", "import sympy"]


def _derive() -> list[str]:
    exe = Path(sys.executable).parent / "derive"
    if exe.is_file():
        return [str(exe)]
    return [sys.executable, "-c", "from derive.cli import main; main()"]


class Failed(Exception):
    """The measured command exited with an error (its last line of stderr)."""


def _run(cmd: list[str], timeout: float | None = None, ok=(0,)) -> float | None:
    """Wall seconds of one run of ``cmd`` (stdout discarded); None when it hit ``timeout``;
    raises Failed when its exit status is not in ``ok``."""
    t0 = time.perf_counter()
    try:
        r = subprocess.run(cmd, check=False, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                           cwd=ROOT, timeout=timeout)
    except subprocess.TimeoutExpired:
        return None
    t = time.perf_counter() - t0
    if ok is not None and r.returncode not in ok:
        lines = r.stderr.decode("utf-8", "replace").strip().splitlines()
        raise Failed(f"exit {r.returncode}: {lines[-1] if lines else ''}")
    return t


def _best_pair(cmd: list[str], ref: list[str], runs: int = 9, timeout: float | None = None,
               long: float = 30.0) -> tuple[float | None, float]:
    """Fastest of up to ``runs`` timings of ``cmd`` and of ``ref``, alternating the two so that
    a change in the machine's load touches both alike.  ``cmd`` is None when a run hit
    ``timeout``; after a run longer than ``long`` seconds no more are made (the noise is small
    beside it)."""
    tc, tr = [], []
    for _ in range(runs):
        tr.append(_run(ref))
        t = _run(cmd, timeout)
        if t is None:
            return None, min(tr)
        tc.append(t)
        if t > long:
            break
    return min(tc), min(tr)


def _ratio_line(what: str, t: float | None, ref: float, ref_name: str, target: float) -> str:
    if isinstance(t, Failed):
        return f"{what}: FAILED ({t}); {ref_name}: {ref:.3f} s (target at most {target:g})"
    if t is None:
        return (f"{what}: over {CAP:.0f} s (stopped); {ref_name}: {ref:.3f} s; ratio over "
                f"{CAP / ref:.0f} (target at most {target:g})")
    return (f"{what}: {t:.3f} s; {ref_name}: {ref:.3f} s; ratio {t / ref:.2f} "
            f"(target at most {target:g})")


# ---- the problems -----------------------------------------------------------------------------

XS = ("-0.3", "-0.2", "-0.1", "0", "0.1", "0.2", "0.3")
YS = ("0.2", "-0.1", "0.4", "0", "-0.3")


def tanh_problem(T: int, inline: bool = False) -> str:
    """A scalar tanh RNN over T steps with question ``d(L, w)``; every given value is a short
    exact decimal and |w h + u x| < 0.55, so tanh stays well inside (-1, 1).  ``inline``: the
    loss as ``L: sum((v*h[t] - y[t])**2)`` instead of ``L[t]`` and ``L: sum(L[t])``."""
    xs = ", ".join(XS[k % len(XS)] for k in range(T))
    ys = ", ".join(YS[k % len(YS)] for k in range(T))
    loss = ("  L: sum((v*h[t] - y[t])**2)\n" if inline else
            "  L[t]: (v*h[t] - y[t])**2\n  L: sum(L[t])\n")
    return (f"title: tanh RNN, T = {T}\nsteps: {T}\nequations:\n"
            "  h[t]: tanh(w*h[t-1] + u*x[t])\n" + loss +
            f"given:\n  h[0]: 0\n  w: 0.5\n  u: 0.1\n  v: 1.5\n  x: [{xs}]\n  y: [{ys}]\n"
            "questions:\n  - find: d(L, w)\n")


def vector_given(n: int, T: int, seed: int = 1) -> dict:
    """Weights and data of a tanh RNN with hidden size n, input size 2 and a scalar output per
    step, from a fixed LCG, as short decimals (exact), scaled so the recurrence neither
    saturates nor dies: name -> list of rows (x: T rows of 2, y: T numbers)."""
    state = seed

    def r(scale):
        nonlocal state
        state = (state * 1103515245 + 12345) % 2 ** 31
        return round((state / 2 ** 31 - 0.5) * 2 * scale, 3)

    def mat(rows, cols, scale):
        return [[r(scale) for _ in range(cols)] for _ in range(rows)]

    s = 1.5 / n ** 0.5
    g = {"W_hh": mat(n, n, s), "W_xh": mat(n, 2, 1), "W_y": mat(1, n, s)}
    g["x"] = mat(T, 2, 1)
    g["y"] = [r(1) for _ in range(T)]
    return g


def vector_problem(n: int, T: int, seed: int = 1) -> str:
    g = vector_given(n, T, seed)

    def lst(v):
        return "[" + ", ".join(lst(x) if isinstance(x, list) else str(x) for x in v) + "]"

    return (f"title: vector tanh RNN, n = {n}, T = {T}\nsteps: {T}\nequations:\n"
            "  h[t]: tanh(W_hh @ h[t-1] + W_xh @ x[t])\n  yhat[t]: W_y @ h[t]\n"
            "  L[t]: (yhat[t] - y[t])**2\n  L: sum(L[t])\n"
            f"given:\n  h[0]: [{', '.join('0' for _ in range(n))}]\n"
            + "".join(f"  {k}: {lst(g[k])}\n" for k in ("W_hh", "W_xh", "W_y", "x", "y")) +
            "questions:\n  - find: d(L, W_hh)\n")


# ---- in-process timings -----------------------------------------------------------------------

def torch_rnn(n: int, T: int, seed: int = 1) -> float:
    """Seconds for the vector problem's forward and backward pass in PyTorch autograd (float64),
    written by hand, from the given lists to d(L, W_hh); fastest of 5 after a warm-up."""
    import torch

    g = vector_given(n, T, seed)

    def once():
        f64 = torch.float64
        W_hh = torch.tensor(g["W_hh"], dtype=f64, requires_grad=True)
        W_xh = torch.tensor(g["W_xh"], dtype=f64)
        W_y = torch.tensor(g["W_y"], dtype=f64)
        x = torch.tensor(g["x"], dtype=f64)
        y = torch.tensor(g["y"], dtype=f64)
        h = torch.zeros(n, dtype=f64)
        L = torch.zeros((), dtype=f64)
        for t in range(T):
            h = torch.tanh(W_hh @ h + W_xh @ x[t])
            L = L + ((W_y @ h)[0] - y[t]) ** 2
        (grad,) = torch.autograd.grad(L, W_hh)
        return grad

    once()
    best = float("inf")
    for _ in range(5):
        t0 = time.perf_counter()
        once()
        best = min(best, time.perf_counter() - t0)
    return best


def torch_time(text: str) -> float:
    """Seconds for PyTorch autograd (float64) on the loaded problem, forward and backward,
    built from the parsed equations as the cross-check does; fastest of 3 after a warm-up."""
    from .check import crosscheck
    from .lang.loader import loads
    problem = loads(text, "bench.yaml")
    q = problem.questions[0]
    crosscheck.value(problem, q)  # import and warm up
    best = float("inf")
    for _ in range(3):
        t0 = time.perf_counter()
        crosscheck.value(problem, q)
        best = min(best, time.perf_counter() - t0)
    return best


def solve_only(text: str) -> float:
    """Seconds to load the problem text and solve it (``derive.solve``), in process."""
    from . import solve
    from .lang.loader import loads
    t0 = time.perf_counter()
    solve(loads(text, "bench.yaml"))
    return time.perf_counter() - t0


def solve_and_render(text: str) -> float:
    from . import solve
    from .lang.loader import loads
    from .output import render
    t0 = time.perf_counter()
    render.markdown(solve(loads(text, "bench.yaml")))
    return time.perf_counter() - t0


# ---- the figures ------------------------------------------------------------------------------

def headline(tmp: Path) -> None:
    derive = _derive()
    out = str(tmp / "out")
    cold, imp = _best_pair(derive + ["solve", "problems/q1.yaml", "--no-check", "--out", out],
                           SYMPY)
    print(_ratio_line("cold `derive solve problems/q1.yaml --no-check`", cold, imp,
                      "`import sympy`", 1.8), flush=True)
    for T, target, runs in ((1000, 2.5, 5), (10000, 10, 3)):
        for inline in (False, True):
            f = tmp / f"tanh_{T}_{'inline' if inline else 'Lt'}.yaml"
            f.write_text(tanh_problem(T, inline), encoding="utf-8")
            try:
                t, imp = _best_pair(derive + ["solve", str(f), "--no-check", "--format", "md",
                                              "--out", out], SYMPY, runs=runs, timeout=CAP)
            except Failed as e:
                t, imp = e, _run(SYMPY)
            form = "L: sum((v*h[t] - y[t])**2)" if inline else "L: sum(L[t])"
            print(_ratio_line(f"cold tanh RNN T = {T}, d(L, w), solved + Markdown, {form}",
                              t, imp, "`import sympy`", target), flush=True)
    try:
        by_hand = torch_rnn(64, 100)
    except ImportError:
        print("vector tanh RNN n = 64, T = 100: torch is not installed, no reference")
        return
    big = vector_problem(64, 100)
    interpreted = torch_time(big)
    t = min(solve_only(big) for _ in range(3))
    what = "vector tanh RNN n = 64, T = 100, value of d(L, W_hh), loading included"
    print(_ratio_line(what, t, interpreted, "PyTorch autograd (float64) over the parsed "
                      "equations (the cross-check's forward pass)", 10))
    print(_ratio_line(what, t, by_hand, "PyTorch autograd (float64), the loop written by hand",
                      10), flush=True)


def others(tmp: Path) -> None:
    derive = _derive()
    out = str(tmp / "out")
    cold, _ = _best_pair(derive + ["solve", "problems/q1.yaml", "--no-check", "--out", out],
                         SYMPY, runs=5)
    checked, torch_imp = _best_pair(derive + ["solve", "problems/q1.yaml", "--out", out],
                                    [sys.executable, "-c", "import torch"], runs=5)
    print(f"cold `derive solve problems/q1.yaml` (with the PyTorch check): {checked:.3f} s, "
          f"+{checked - cold:.3f} s; `python -c 'import torch'`: {torch_imp:.3f} s")
    t0 = time.perf_counter()
    subprocess.run(derive + ["check", "problems"], check=False, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL, cwd=ROOT)
    print(f"`derive check problems/` ({len(list((ROOT / 'problems').glob('*.key.yaml')))} "
          f"problems, cold): {time.perf_counter() - t0:.3f} s (target under 15 s)", flush=True)
    solve_and_render(tanh_problem(5))  # warm sympy's caches and imports
    for inline, Ts in ((False, (10, 100, 1000)), (True, (10, 100))):
        prev = None
        for T in Ts:
            t = min(solve_and_render(tanh_problem(T, inline)) for _ in range(2))
            growth = f", x{t / prev:.1f} for 10x T" if prev else ""
            form = "inline loss" if inline else "L[t]"
            print(f"tanh RNN d(L, w), {form}, in process, solved + Markdown, T = {T:>4}: "
                  f"{t:.3f} s{growth}", flush=True)
            prev = t
    worst, name = 0.0, ""
    hostile = sorted((ROOT / "tests" / "hostile").glob("*.yaml"))
    for f in hostile:
        dt = _run(derive + ["solve", str(f), "--out", out], ok=None)
        if dt > worst:
            worst, name = dt, f.name
    print(f"hostile files: {len(hostile)}, slowest rejection {worst:.3f} s ({name}), "
          "cold process included")
    small = vector_problem(8, 50)
    t = min(solve_and_render(small) for _ in range(2))
    try:
        ref = (f"; PyTorch autograd: {torch_time(small):.4f} s over the parsed equations, "
               f"{torch_rnn(8, 50):.4f} s by hand")
    except ImportError:
        ref = ""
    print(f"vector tanh RNN n = 8, T = 50, d(L, W_hh) solved + Markdown: {t:.3f} s "
          f"(target under 2 s){ref}")


def vary_problem(n: int, T: int) -> str:
    """The vector tanh RNN of :func:`vector_problem` with every entry of W_hh and x drawn."""
    return (vector_problem(n, T) + "vary:\n  W_hh: {decimals: [-0.5, 0.5], step: 0.25}\n"
            "  x: {decimals: [-1, 1], step: 0.5}\nrequire:\n  - abs(L) < 1000\n")


def variants_figures(tmp: Path) -> None:
    """``derive variants`` (cold, ``--format none --no-check``): 1000 variants of
    problems/q1_vary.yaml on the cores this process may use and on one (target at most 60 s
    on two cores), then the time per variant as the problem grows."""
    import os
    from .variants.run import default_jobs
    derive = _derive()
    # the figures are wall times, so they say how busy the machine was
    print(f"load average before: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores",
          flush=True)
    out = str(tmp / "variants")
    base = derive + ["variants", "--format", "none", "--no-check", "--out", out]
    jobs = default_jobs()
    t = _run(base + ["problems/q1_vary.yaml", "-n", "1000", "--seed", "1"])
    t1 = _run(base + ["problems/q1_vary.yaml", "-n", "1000", "--seed", "1", "-j", "1"])
    print(f"`derive variants problems/q1_vary.yaml -n 1000 --format none --no-check`: {t:.1f} s "
          f"with {jobs} worker processes (target at most 60 s on two cores), {t1:.1f} s with "
          f"one ({t1 / t:.2f} times as long)", flush=True)
    rows = [("q1_vary (scalar, T = 2)", "problems/q1_vary.yaml")]
    for n, T in ((4, 4), (8, 8)):
        f = tmp / f"vary_{n}_{T}.yaml"
        f.write_text(vary_problem(n, T), encoding="utf-8")
        rows.append((f"vector tanh RNN n = {n}, T = {T}", str(f)))
    prev = None
    for what, f in rows:
        t = _run(base + [f, "-n", "100", "--seed", "1"])
        per = t / 100 * 1000
        grow = f", x{per / prev:.1f} the row before" if prev else ""
        print(f"  100 variants of {what}: {t:.1f} s cold, {per:.0f} ms a variant{grow}",
              flush=True)
        prev = per


def roster_csv(n: int) -> str:
    """A deterministic roster of n students for q1: the key, each single slip and pair of the
    catalog in turn, carried-forward answers, numbers nothing explains and blanks."""
    from .grade.catalog import Catalog
    from .grade.grade import plain
    from .lang.loader import load
    cat = Catalog(load(ROOT / "problems/q1.yaml"))
    ids = [q.id for q in cat.questions]
    kinds = [cat.key] + [m.answers for m in cat.singles + cat.pairs]
    lines = ["student," + ",".join(ids)]
    for i in range(n):
        answers = dict(kinds[i % len(kinds)])
        if i % 7 == 3:
            answers["a"], answers["b"] = 7, 5  # L right for the student's own ŷ_2
        if i % 11 == 5:
            answers["c"] = 1000 + i  # nothing explains it
        cells = ["" if i % 13 == 4 and q == "g" else str(plain(answers[q])) for q in ids]
        lines.append(f"s{i + 1:03d}," + ",".join(cells))
    return "\n".join(lines) + "\n"


def grading(tmp: Path) -> None:
    """One student on q1 with the whole catalog and its pairs (targets: under 2 s), a roster of
    200 students (under 60 s), and one student with pairs on larger problems."""
    from .grade.answers import Sheet
    from .grade.grade import Grader
    from .lang.loader import load
    seed = ROOT / "problems/q1.student002.answers.yaml"
    q1 = ROOT / "problems/q1.yaml"
    best = None
    for _ in range(3):
        t0 = time.perf_counter()
        g = Grader(load(q1))
        g.catalog.pairs  # the pairs too, whether this sheet needs them or not
        g.grade(Sheet(str(seed), "student002", {"a": 4, "b": 10, "c": -16, "d": -20}))
        t = time.perf_counter() - t0
        best = t if best is None else min(best, t)
    print(f"grade one student on q1, catalog ({len(g.catalog.singles)} slips) and pairs "
          f"({len(g.catalog.pairs)}), in process: {best:.2f} s (target under 2 s)", flush=True)
    cold = _run(_derive() + ["grade", str(q1), str(seed), "--json"])
    print(f"cold `derive grade problems/q1.yaml problems/q1.student002.answers.yaml --json`: "
          f"{cold:.2f} s", flush=True)
    roster = tmp / "roster200.csv"
    roster.write_text(roster_csv(200))
    t = _run(_derive() + ["grade", str(q1), str(roster), "--json", "--out",
                          str(tmp / "reports")])
    print(f"cold `derive grade` of a roster of 200 students on q1 with --out (reports and "
          f"summary written): {t:.2f} s (target under 60 s)", flush=True)
    for name in ("tanh_rnn", "vector_rnn", "lstm"):
        t0 = time.perf_counter()
        g = Grader(load(ROOT / f"problems/{name}.yaml"))
        singles = time.perf_counter() - t0
        pairs = len(g.catalog.pairs)
        t = time.perf_counter() - t0
        print(f"catalog of {name}: {len(g.catalog.singles)} slips {singles:.2f} s; with "
              f"{pairs} pairs {t:.2f} s (once per roster)", flush=True)


def main() -> None:
    """All figures; ``python -m derive.benchmark grading`` (or ``variants``) prints only the
    grading (or variants) ones."""
    import compileall
    import os
    # An installed package has its bytecode; with PYTHONDONTWRITEBYTECODE set (or a read-only
    # tree) an editable checkout would compile derive's sources in every cold run instead.
    compileall.compile_dir(str(ROOT / "derive"), quiet=1)
    print(f"python {sys.version.split()[0]}; fastest of alternating runs; caps at {CAP:.0f} s; "
          f"derive's bytecode compiled first (PYTHONDONTWRITEBYTECODE="
          f"{os.environ.get('PYTHONDONTWRITEBYTECODE', '')!r})", flush=True)
    if sys.argv[1:] == ["variants"]:  # python -m derive.benchmark variants: only these
        with tempfile.TemporaryDirectory() as d:
            variants_figures(Path(d))
        return
    with tempfile.TemporaryDirectory() as d:
        if sys.argv[1:] != ["grading"]:
            headline(Path(d))
            print("-- other figures", flush=True)
            others(Path(d))
        print("-- grading (derive grade)", flush=True)
        grading(Path(d))
        if sys.argv[1:] != ["grading"]:
            print("-- variants", flush=True)
            variants_figures(Path(d))


if __name__ == "__main__":
    main()
