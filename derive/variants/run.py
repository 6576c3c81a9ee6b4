"""The variants of a problem with a ``vary:`` block (classroom spec, "Variants").

A run with seed S makes draws j = 0, 1, 2, ... (draw j from its own generator, seeded with
``draw_seed(S, j)``), skips a draw whose id was seen before (equal values, equal id), keeps
a draw when the problem's forward pass can be computed with its givens and ``require`` holds,
and numbers the kept draws 1..N in the order of j.  The checks are spread over worker
processes; which draws are kept is decided here, in the order of j, so the result never
depends on the number of workers.  At most ``20 N + 200`` draws are made (:func:`max_draws`).
"""

from __future__ import annotations

import dataclasses
import math
import multiprocessing
import os
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass

from ..errors import ExprError, SpecError
from ..lang.loader import _KEY_RE
from . import conditions
from .draw import draw, draw_seed, exact, manifest_value, plain_value, space, variant_id


@dataclass(frozen=True)
class Variant:
    index: int        # 1..N in the full run
    id: str           # 8 hex digits, a hash of the drawn values
    seed: int         # the seed of the kept draw
    given: dict       # drawn values keyed as in `vary`, as written in the manifest
    problem: object   # loader.Problem with that variant's givens and no vary
    solution: object  # derive.solve(problem)


@dataclass(frozen=True)
class Pick:
    """A kept draw before it is solved: ``given`` holds the exact drawn values."""

    index: int
    id: str
    seed: int
    given: dict


def max_draws(n: int) -> int:
    """The bound on the number of draws of a run that asks for n variants."""
    return 20 * n + 200


def with_given(problem, given: dict):
    """`problem` with some givens replaced (keys as in vary), re-validated; no vary block.

    A key is a given as the problem file writes it (``W_h``, ``h[0]``); a value is exact (a
    sympy number) or as the manifest writes it (int, decimal, ``"p/q"``, lists of them) and
    keeps the given's shape.  SpecError naming the key otherwise."""
    by_name = {(g.name, g.index): i for i, g in enumerate(problem.given)}
    vary = {v.key: (v.name, v.index) for v in problem.vary}
    new = list(problem.given)
    for key, value in given.items():
        target = vary.get(key) or _key(key, problem.steps)
        i = by_name.get(target)
        if i is None:
            raise problem.error(f"{key} is not a given of the problem", "given")
        old = problem.given[i]
        where = f"vary.{key}" if key in vary else f"given.{key}"
        try:
            v = exact(value, key)
        except ExprError as e:
            raise problem.error(str(e), where) from None
        if _shape(v) != _shape(old.value):
            raise problem.error(f"{key} has the shape {_shape(old.value) or 'of a number'}, "
                                f"the new value {_shape(v) or 'is a number'}", where)
        new[i] = dataclasses.replace(old, value=v)
    return dataclasses.replace(problem, given=tuple(new), vary=(), require=())


def _key(key: str, steps) -> tuple:
    m = _KEY_RE.match(str(key).strip())
    if not m:
        return (None, None)
    idx = m.group(2)
    if idx is None:
        return (m.group(1), None)
    idx = idx.replace(" ", "")
    if idx.lstrip("-").isdigit():
        return (m.group(1), int(idx))
    if idx.startswith("T") and steps is not None:
        rest = idx[1:]
        if not rest:
            return (m.group(1), steps)
        if rest[0] in "+-" and rest[1:].isdigit():
            return (m.group(1), steps + int(rest))
    return (None, None)


def _shape(v) -> tuple:
    return (len(v),) + _shape(v[0]) if isinstance(v, tuple) else ()


# ---- the worker side: the problem is sent once, then only givens ------------------------------

_STATE: dict = {}


def _init(problem, extra=None, parent: int | None = None) -> None:
    _STATE.pop("graph", None)
    _STATE["problem"] = problem
    _STATE["extra"] = extra
    if parent is not None:
        threading.Thread(target=_watch, args=(parent,), daemon=True).start()


def _watch(parent: int) -> None:
    """End this worker when the process that started it is gone (killed, not shut down):
    a worker of a fork server would otherwise finish its batch for nobody."""
    while True:
        time.sleep(1.0)
        try:
            os.kill(parent, 0)
        except ProcessLookupError:
            os._exit(1)
        except OSError:
            pass


def keeps(given: dict) -> bool:
    """Whether the worker's problem with these givens satisfies require and its forward pass
    can be computed (a draw that divides by zero or leaves a function's domain is not kept)."""
    problem = _STATE["problem"]
    if "graph" not in _STATE:  # unrolled once per worker, rebound to each draw's values
        try:
            from ..calculus.graph import unroll
            _STATE["graph"] = unroll(dataclasses.replace(problem, vary=(), require=()))
        except SpecError:
            _STATE["graph"] = None
    try:
        return conditions.check(with_given(problem, given), problem.require,
                                _STATE["graph"]) is None
    except (SpecError, ExprError, ArithmeticError, ValueError):
        return False


class Workers:
    """Worker processes holding one problem (and ``extra``, for the CLI's files), or the
    calling process when ``jobs`` is 1.  ``map`` keeps the order of its items."""

    def __init__(self, problem, jobs: int = 1, extra=None) -> None:
        self.problem, self.jobs, self.extra = problem, max(1, jobs), extra
        self.pool = None
        self.saved = None

    def __enter__(self) -> "Workers":
        if self.jobs > 1:
            # a fresh server process, not fork: the caller may hold torch's threads
            ctx = multiprocessing.get_context(
                "forkserver" if "forkserver" in multiprocessing.get_all_start_methods()
                else "spawn")
            # the server imports the engine once; each worker forks from it ready to solve
            if ctx.get_start_method() == "forkserver":
                ctx.set_forkserver_preload(["derive.variants.files",
                                            "derive.calculus.questions", "derive.output.render"])
            self.pool = ProcessPoolExecutor(self.jobs, mp_context=ctx, initializer=_init,
                                            initargs=(self.problem, self.extra, os.getpid()))
        else:
            self.saved = dict(_STATE)
            _init(self.problem, self.extra)
        return self

    def __exit__(self, *exc) -> None:
        if self.pool is not None:
            self.pool.shutdown(cancel_futures=True)
        else:
            _STATE.clear()
            _STATE.update(self.saved)

    def map(self, fn, items: list, tick=None) -> list:
        """``[fn(x) for x in items]``; ``tick()`` after each result."""
        out = []
        if self.pool is None:
            for x in items:
                out.append(fn(x))
                if tick:
                    tick()
            return out
        chunk = max(1, min(32, len(items) // (4 * self.jobs)))
        for r in self.pool.map(fn, items, chunksize=chunk):
            out.append(r)
            if tick:
                tick()
        return out


def default_jobs() -> int:
    """The cores this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def select(problem, n: int, seed: int, workers: Workers | None = None, tick=None) -> tuple:
    """The first n distinct kept draws of the run (:class:`Pick`, index 1..n); SpecError saying
    how many were found when there are fewer within :func:`max_draws`."""
    if not problem.vary:
        raise problem.error("the problem has no vary block, so it has no variants")
    if n < 1:
        raise problem.error(f"the number of variants must be at least 1 (got {n})")
    if problem.require:
        # the author's own givens: a condition that cannot be evaluated is an error of the file
        conditions.check(dataclasses.replace(problem, vary=()))
    total = space(problem)
    budget = max_draws(n)
    seen: set = set()
    kept: list = []
    j, rate = 0, 1.0
    own = workers is None
    if own:
        workers = Workers(problem).__enter__()
    try:
        while len(kept) < n and j < budget and len(seen) < total:
            need = n - len(kept)
            want = max(2 * workers.jobs, math.ceil(need / max(rate, 0.05) * 1.1))
            batch = []
            while len(batch) < want and j < budget and len(seen) < total:
                s = draw_seed(seed, j)
                j += 1
                given = draw(problem, s)
                vid = variant_id(given)
                if vid in seen:
                    continue
                seen.add(vid)
                batch.append((vid, s, given))
            oks = workers.map(keeps, [{k: manifest_value(v) for k, v in g.items()}
                                      for _, _, g in batch])
            rate = max(sum(oks), 1) / max(len(batch), 1)
            for (vid, s, given), ok in zip(batch, oks):
                if ok and len(kept) < n:
                    kept.append(Pick(len(kept) + 1, vid, s, given))
                    if tick:
                        tick()
    finally:
        if own:
            workers.__exit__(None, None, None)
    if len(kept) < n:
        why = (f"only {len(kept)} distinct variant{'s' if len(kept) != 1 else ''} satisfy "
               f"require" if problem.require else
               f"the vary block has only {len(kept)} distinct variant"
               f"{'s' if len(kept) != 1 else ''}")
        where = (f"within {j} draws, the most made for {n}" if len(seen) < total else
                 f"among all {total} possible draws")
        raise problem.error(f"{why} {where}, but {n} were asked for; loosen vary or require, "
                            "or ask for fewer", "require" if problem.require else "vary")
    return tuple(kept)


def shard_of(index: int, shard: tuple[int, int] | None) -> bool:
    """Whether variant ``index`` belongs to shard (I, K): index = I modulo K."""
    return shard is None or index % shard[1] == shard[0] % shard[1]


def generate(problem, n: int, seed: int, shard: tuple[int, int] | None = None, *,
             jobs: int = 1) -> tuple[Variant, ...]:
    """The variants of a problem with a vary block (SpecError, exit 2 in the CLI, when fewer than n
    distinct variants satisfy require within the bounded number of draws).

    ``shard`` (I, K) keeps the variants whose index is I modulo K, numbered as in the full
    run.  ``jobs`` > 1 checks require in that many worker processes (same result); they start
    from a fork server, so, as always with multiprocessing, a calling script keeps its work
    under ``if __name__ == "__main__":``."""
    from ..calculus.questions import solve

    if shard is not None and not (shard[1] >= 1 and 1 <= shard[0] <= shard[1]):
        raise ValueError(f"shard (I, K) needs 1 <= I <= K (got {shard})")
    with Workers(problem, jobs) as w:
        picks = select(problem, n, seed, w)
    out = []
    for p in picks:
        if not shard_of(p.index, shard):
            continue
        given = {k: plain_value(v) for k, v in p.given.items()}
        prob = with_given(problem, given)
        out.append(Variant(p.index, p.id, p.seed, given, prob, solve(prob)))
    return tuple(out)
