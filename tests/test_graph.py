import pytest

from derive.errors import SpecError
from derive.calculus.graph import sym, unroll
from derive.lang.loader import load, loads

from conftest import ROOT


def test_q1_unrolls_step_by_step():
    g = unroll(load(ROOT / "problems/q1.yaml"))
    assert [s.name for s in g.nodes] == ["h[1]", "yhat[1]", "L[1]", "h[2]", "yhat[2]", "L[2]",
                                         "L"]
    assert g.recurrent == frozenset({"h"})
    h2 = g.nodes[sym("h[2]")]
    assert set(h2.deps) == {sym("W_h"), sym("W_x"), sym("h[1]"), sym("x[2]")}
    assert str(h2.partial(sym("h[1]"))) == "W_h"
    assert sym("h[0]") in g.leaves


def test_tanh_partial_is_written_with_the_state():
    g = unroll(loads("title: t\nsteps: 2\nequations:\n  h[t]: tanh(w*h[t-1])\n"
                     "questions:\n  - find: h[2]\n"))
    assert str(g.nodes[sym("h[2]")].partial(sym("h[1]"))) == "w*(1 - h[2]**2)"


@pytest.mark.parametrize("eqs,words", [
    ("  a: b\n  b: a\n", "defined below"),
    ("  h[t]: h[t]\n", "itself"),
    ("  h[t]: h[t+1]\n", "later step"),
    ("  y: h\n  h[t]: y\n", "defined for every step"),
    ("  y: h[7]\n  h[t]: w\n", "beyond the last step"),
    ("  y: h[2]\n  h[t]: w\n", "defined below"),
])
def test_bad_references(eqs, words):
    with pytest.raises(SpecError, match=words):
        unroll(loads(f"title: t\nsteps: 2\nequations:\n{eqs}questions:\n  - find: 1\n"))


def test_cycle_through_earlier_steps_is_reported():
    text = ("title: t\nsteps: 3\nequations:\n  a[t]: b[t-1]\n  c: a[2]\n  b[t]: c\n"
            "questions:\n  - find: c\n")
    with pytest.raises(SpecError, match="cycle"):
        unroll(loads(text))


MISSPELT = """title: t
steps: 2
equations:
  h[t]: tanh(Whh*h[t-1] + W_xh*x[t])
  L: sum(h[t])
given:
  h[0]: 0
  x: [1, 2]
  W_hh: 0.5
  W_xh: 1
questions:
  - find: d(L, W_xh)
"""


def test_a_misspelt_name_is_reported_where_it_is_used():
    with pytest.raises(SpecError) as e:
        unroll(loads(MISSPELT, "m.yaml"))
    assert str(e.value) == ("m.yaml: equations.h[t] (line 4): unknown name Whh "
                            "(did you mean W_hh?)")


def test_a_free_name_far_from_every_given_stays_a_symbol():
    g = unroll(loads(MISSPELT.replace("Whh", "q").replace("  W_hh: 0.5\n", ""), "m.yaml"))
    assert sym("q") in g.leaves and sym("q") not in g.given
