"""Random problem files: derive either solves them or answers with one SpecError, never a crash."""

from hypothesis import HealthCheck, given, settings, strategies as st

from derive.output import render
from derive.calculus.questions import solve
from derive.errors import SpecError
from derive.lang.loader import loads

ATOMS = ["x", "w", "h[t-1]", "h[0]", "x[t]", "0", "1", "0.5", "-2", "1/3", "h[1]", "y[t]",
         "z", "T", "t", "h[t]", "1e5", "W_x", "x[2]"]
FUNCS = ["tanh", "sigmoid", "relu", "exp", "log", "sqrt", "abs", "softmax", "hardmax", "sum",
         "dot", "d", "open", "__import__"]
OPS = ["+", "-", "*", "/", "**", "@", "**-1*", " if ", ".T+", "[", "]", ",", ")", "("]


def grammar(atoms, funcs, ops, depth_limit):
    """A strategy for expression text built from the given atoms, functions and operators."""
    @st.composite
    def expressions(draw, depth=0):
        if depth > depth_limit or draw(st.booleans()):
            return draw(st.sampled_from(atoms))
        kind = draw(st.integers(0, 2))
        if kind == 0:
            return f"{draw(st.sampled_from(funcs))}({draw(expressions(depth + 1))})"
        if kind == 1:
            return f"({draw(expressions(depth + 1))}{draw(st.sampled_from(ops))}" \
                   f"{draw(expressions(depth + 1))})"
        return f"-{draw(expressions(depth + 1))}"
    return expressions()


expressions = grammar(ATOMS, FUNCS, OPS, 3)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(h=expressions, y=expressions, find=expressions, wrt=st.sampled_from(
    ["w", "h[1]", "x[1]", "h[0]", "z", "L", "2*w"]), steps=st.sampled_from(["", "steps: 2\n"]))
def test_random_problems_never_crash(h, y, find, wrt, steps):
    text = (f"title: fuzz\n{steps}equations:\n  h[t]: '{h}'\n  L: '{y}'\n"
            f"given:\n  x: [1, 2]\n  w: 0.5\nquestions:\n  - find: '{find}'\n"
            f"  - find: 'd(L, {wrt})'\n")
    try:
        sol = solve(loads(text, "fuzz.yaml"))
        render.markdown(sol)
        render.latex(sol)
        render.answers(sol)
    except SpecError as e:
        assert "\n" not in str(e) and str(e).startswith("fuzz.yaml")


VALID_ATOMS = ["x[t]", "w", "h[t-1]", "0.5", "-2", "1/3", "u"]
VALID_FUNCS = ["tanh", "sigmoid", "relu", "exp", "log", "sqrt", "abs"]
VALID_OPS = ["+", "-", "*", "/", "@"]


valid_expressions = grammar(VALID_ATOMS, VALID_FUNCS, VALID_OPS, 2)


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(extra=valid_expressions, T=st.sampled_from([1, 2, 3, 6]),
       xs=st.lists(st.sampled_from([1, -1, 0.5, 2]), min_size=6, max_size=6))
def test_random_valid_recurrences_agree_with_torch(extra, T, xs, torch):
    from derive.check import crosscheck
    text = (f"title: fuzz\nsteps: {T}\nequations:\n  h[t]: 'u*x[t] + w*h[t-1] + {extra}'\n"
            "  L[t]: (h[t] - y[t])**2\n  L: sum(L[t])\n"
            f"given:\n  h[0]: 0.25\n  x: {xs[:T]}\n  y: {[0.1] * T}\n  w: 0.5\n  u: 1.5\n"
            "questions:\n  - find: d(L, w)\n  - find: d(L, h[1])\n  - find: d(L, u)\n"
            "    truncate: 2\n  - find: L\n")
    try:
        problem = loads(text, "fuzz.yaml")
        answers = render.answers(solve(problem))
    except SpecError:
        return
    for q in problem.questions:
        want = crosscheck.value(problem, q)
        got = answers[q.id]["value"]
        if want != want:  # torch's nan where a term is identically zero (sqrt(0)**2 and such)
            continue
        assert abs(got - want) <= 1e-8 * max(abs(want), 1e-3), (extra, q.find_text, got, want)
