import pytest

from derive.calculus.core import Core
from derive.calculus.graph import unroll
from derive.errors import SpecError
from derive.lang.loader import loads

NO_START = """title: t
steps: 2
equations:
  h[t]: tanh(W @ h[t-1] + U @ x[t])
  L: sum(h[T])
given:
{start}  x: [[1, 0], [0, 1]]
  W: [[1, 0], [0, 1]]
  U: [[1, 0], [0, 1]]
questions:
  - find: d(L, W)
"""


@pytest.mark.parametrize("start,message", [
    ("", "s.yaml: equations.h[t] (line 4): h[t] is a vector of 2: give its start h[0] as a "
         "vector of 2 (it is not given)"),
    ("  h[0]: 0\n", "s.yaml: given.h[0] (line 7): h[t] is a vector of 2, so h[0] must be given "
                    "as a vector of 2, not a number"),
])
def test_a_vector_state_needs_a_vector_start(start, message):
    with pytest.raises(SpecError) as e:
        Core(unroll(loads(NO_START.format(start=start), "s.yaml")))
    assert str(e.value) == message


def test_a_state_read_through_another_quantity_gets_the_same_hint():
    text = NO_START.format(start="").replace(
        "  h[t]: tanh(W @ h[t-1] + U @ x[t])\n",
        "  a[t]: W @ h[t-1] + U @ x[t]\n  h[t]: tanh(a[t])\n")
    with pytest.raises(SpecError, match=r"give its start h\[0\] as a vector of 2"):
        Core(unroll(loads(text, "s.yaml")))
