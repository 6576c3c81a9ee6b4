"""Model and data questions (contract: architecture.md): the ``model:`` block (a stack of layers,
their parameter counts and output shapes) and the ``encoding:`` block (text to token indices,
padding, one-hot, Caesar targets).

``layers`` is the one table of layer kinds (each with its shape rule, its tensors, its parameter
formula, the words that explain it and its PyTorch and Keras constructors), ``spec`` reads the
blocks from the problem file, ``encoding`` tokenizes, and ``solve`` answers the questions with
typed steps of :mod:`derive.solution`.  Nothing here imports torch or keras: the cross-check
(:mod:`derive.check.modelcheck`) builds the same stack from the constructors only.
"""
