"""derive: worked backpropagation-through-time solutions from declared recurrences."""

__version__ = "0.1.0"
