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
    ("  h[t]: h[t+1] + h[t-1]\n", "reads both h\\[t-1\\] and h\\[t\\+1\\]"),
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


def _err(eqs: str, given: str = "", find: str = "1", steps: int = 3) -> SpecError:
    text = (f"title: t\nsteps: {steps}\nequations:\n{eqs}" + (f"given:\n{given}" if given else "")
            + f"questions:\n  - find: {find}\n")
    with pytest.raises(SpecError) as e:
        unroll(loads(text, "p.yaml"))
    return e.value


def test_T_is_the_number_of_steps_in_any_expression():
    g = unroll(loads("title: t\nsteps: 4\nequations:\n  L[t]: x[t]\n  L: sum(L[t]) / T\n"
                     "given:\n  x: [1, 2, 3, 4]\nquestions:\n  - find: L\n"))
    assert g.given[sym("T")] == 4 and sym("T") in g.leaves
    assert g.nodes[sym("L")].partial(sym("L[1]")) == 1 / sym("T")


def test_T_needs_steps():
    with pytest.raises(SpecError, match="T needs 'steps'"):
        unroll(loads("title: t\nequations:\n  y: x / T\ngiven:\n  x: 1\nquestions:\n"
                     "  - find: y\n"))


def test_backward_recurrence_reads_later_steps_and_starts_after_T():
    g = unroll(loads("title: t\nsteps: 3\nequations:\n  hb[t]: w*hb[t+1] + x[t]\n"
                     "  L: sum(hb[t])\ngiven:\n  hb[T+1]: 1\n  x: [1, 2, 3]\n  w: 0.5\n"
                     "questions:\n  - find: d(L, hb[T+1])\n"))
    assert g.backward == {"hb"} and "hb" in g.recurrent
    assert set(g.nodes[sym("hb[3]")].deps) == {sym("w"), sym("hb[4]"), sym("x[3]")}
    assert g.given[sym("hb[4]")] == 1
    order = [s.name for s in g.nodes]
    assert order.index("hb[3]") < order.index("hb[2]") < order.index("hb[1]")


def test_a_recurrence_reading_both_ways_is_refused_by_name():
    e = _err("  h[t]: h[t-1] + h[t+1]\n")
    assert e.key == "equations.h[t]" and e.line == 4
    assert "h[t] reads both h[t-1] and h[t+1]" in str(e)
    # across quantities: the message names them all
    e = _err("  g[t]: h[t+1]\n  h[t]: g[t-1] + 1\n")
    assert "g, h read each other at both earlier and later steps" in str(e)
    assert "h[t+1] in g[t]" in str(e) and "g[t-1] in h[t]" in str(e)


def test_a_forward_state_has_no_later_step():
    e = _err("  h[t]: h[t-1] + 1\n  o[t]: h[t+1]\n")
    assert e.key == "equations.o[t]"
    assert "o[t] reads h[t+1], a later step, but h is no backward recurrence" in str(e)
    e = _err("  h[t]: h[t-1] + 1\n  y: h[T+1]\n")
    assert "h[4] is beyond the last step T = 3 (h runs forward" in str(e)


@pytest.mark.parametrize("eqs,given,words", [
    ("  h[t]: h[t-1] + 1\n", "  h[0]: 0\n  h[T+1]: 1\n",
     "h[T+1] (= h[4]) is given but nothing reads it: h runs forward from h[0]"),
    ("  hb[t]: hb[t+1] + 1\n", "  hb[0]: 0\n",
     "hb[0] is given but nothing reads it: hb[t] reads hb[t+1], so hb runs backward from "
     "hb[T+1]"),
    ("  h[t]: h[t-1] + 1\n", "  h[0]: 0\n  h[-1]: 1\n", "h[-1] is given but no equation reads"),
])
def test_a_start_that_nothing_reads_is_refused(eqs, given, words):
    e = _err(eqs, given)
    assert words in str(e) and e.key.startswith("given.") and e.line is not None
    assert e.key != "given.h[4]"  # named as written: given.h[T+1]


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
