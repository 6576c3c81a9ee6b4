"""derive: worked backpropagation-through-time solutions from declared recurrences.

``derive.solve(problem)`` is the one entry point for every kind of problem (load it first with
``derive.lang.loader.load``); it is imported on first use so that ``derive --help`` stays light.
"""

__version__ = "0.1.0"
__all__ = ["solve"]


def __getattr__(name: str):
    if name == "solve":
        from .calculus.questions import solve
        return solve
    raise AttributeError(f"module 'derive' has no attribute {name!r}")
