"""The one table of layer kinds, for Keras and PyTorch, each with its own names and arguments.

An entry (:class:`LayerKind`) holds the arguments the framework's constructor takes (with their
defaults), and the rule that builds the layer on its input shape: the output shape and why, the
weight and bias tensors in the framework's own names and layout, the parameter formula (a
:class:`Group` of products, shown symbolically and with the numbers put in) and the notes where
Keras and PyTorch count differently.  Everything else only reads the table: adding a layer kind is
one ``register(LayerKind(...))``.

Shapes leave the batch out: ``(T, F)`` is a sequence of T steps of F features, ``(F,)`` one
vector, ``(T,)`` integer tokens before an Embedding.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable

#: The largest size of one axis (units, features, vocabulary) a problem may declare.
MAX_DIM = 1_000_000


class LayerError(ValueError):
    """A layer does not fit (unknown argument, wrong input shape); ``key`` says where."""

    def __init__(self, message: str, key: str) -> None:
        super().__init__(message)
        self.key = key


@dataclass(frozen=True)
class Arg:
    """A constructor argument: ``kind`` is "dim" (a whole number >= 1), "bool", "choice" (one
    of ``choices``), "rate" (a number from 0 to below 1), "int" (any whole number) or
    "activation"; ``default`` None means required (unless ``optional``)."""

    name: str
    kind: str
    default: object = None
    choices: tuple = ()
    optional: bool = False


@dataclass(frozen=True)
class LayerSpec:
    """One layer as the problem writes it: the kind, its arguments with the defaults filled in,
    the wrapped layer of a wrapper, and where it stands (``key``, ``line``)."""

    framework: str
    name: str
    args: dict = field(hash=False, compare=False)
    given: tuple  # the argument names the problem wrote, in its order
    inner: "LayerSpec | None"
    key: str
    line: int | None

    def __getitem__(self, name):
        return self.args[name]


@dataclass(frozen=True)
class Weight:
    name: str
    shape: tuple

    @property
    def size(self) -> int:
        return math.prod(self.shape)


#: A factor of a product: (LaTeX symbol or number, its value).
Factor = tuple


@dataclass(frozen=True)
class Group:
    """``mult · (term + term + ...)``: each term a product of factors; ``label`` names the part
    (a direction, a layer of a multi-layer RNN) or is empty."""

    mult: tuple  # of Factor
    terms: tuple  # of tuples of Factor
    label: str = ""

    @property
    def value(self) -> int:
        return math.prod(v for _, v in self.mult) * sum(math.prod(v for _, v in t)
                                                       for t in self.terms)


@dataclass(frozen=True)
class Built:
    """A layer built on its input: shapes, tensors, the formula of its count and the words."""

    spec: LayerSpec
    call: str  # the layer as code, e.g. GRU(64, return_sequences=True)
    in_shape: tuple
    out_shape: tuple
    weights: tuple  # of Weight
    formula: tuple  # of Group; empty when the layer has no parameters
    legend: tuple  # of (symbol, words, value)
    why: str  # Markdown with $...$ math: why the output has its shape
    notes: tuple = ()  # Keras and PyTorch differences, and other remarks

    @property
    def count(self) -> int:
        return sum(w.size for w in self.weights)


@dataclass(frozen=True)
class LayerKind:
    framework: str
    name: str
    args: tuple  # of Arg
    build: Callable  # (spec, in_shape, index) -> Built
    positional: str | None = None  # the argument a bare value gives (GRU: 64 -> units)
    wraps: tuple = ()  # the layer kinds a wrapper takes
    words: str = ""

    def arg(self, name: str) -> Arg | None:
        return next((a for a in self.args if a.name == name), None)


LAYERS: dict = {}


def register(kind: LayerKind) -> LayerKind:
    LAYERS[(kind.framework, kind.name)] = kind
    return kind


def names(framework: str) -> tuple:
    return tuple(sorted(n for f, n in LAYERS if f == framework))


#: Activation names each framework's ``activation`` argument (Keras) or layer (PyTorch) takes.
KERAS_ACTIVATIONS = ("elu", "exponential", "gelu", "hard_sigmoid", "linear", "log_softmax",
                     "relu", "selu", "sigmoid", "silu", "softmax", "softplus", "softsign",
                     "swish", "tanh")


def shape_text(shape: tuple) -> str:
    """(10, 64) as LaTeX; a one-axis shape keeps its comma, as Python and Keras print it."""
    return "(" + ", ".join(map(str, shape)) + ("," if len(shape) == 1 else "") + ")"


def _fail(spec: LayerSpec, message: str) -> LayerError:
    return LayerError(message, spec.key)


def _sequence_input(spec: LayerSpec, shape: tuple, previous: str) -> tuple[int, int]:
    """(T, F) of a recurrent layer's input, or the error that says what to change."""
    if len(shape) == 2:
        return shape
    if len(shape) == 1 and previous == "tokens":
        raise _fail(spec, f"{spec.name} needs a sequence of feature vectors (time steps, "
                          f"features); the input {shape_text(shape)} is integer tokens: put an "
                          "Embedding first, or give the input as [steps, 1]")
    raise _fail(spec, f"{spec.name} needs a sequence (time steps, features), but its input is "
                      f"{shape_text(shape)}" + (": the layer before returns only its last "
                                                "step (set return_sequences: true on it)"
                                                if previous == "last" else ""))


# ---- Keras -----------------------------------------------------------------------------------

_GATES = {"SimpleRNN": 1, "GRU": 3, "LSTM": 4}
_KERAS_GATE_ORDER = {"GRU": "update $z$, reset $r$, candidate $h$",
                     "LSTM": "input $i$, forget $f$, cell $c$, output $o$"}
_TORCH_GATE_ORDER = {"GRU": "reset $r$, update $z$, new $n$",
                     "LSTM": "input $i$, forget $f$, cell $g$, output $o$"}
_TORCH_NAME = {"SimpleRNN": "RNN", "GRU": "GRU", "LSTM": "LSTM"}


def _keras_rnn_args(name: str) -> tuple:
    gated = (Arg("recurrent_activation", "activation", "sigmoid"),) if name != "SimpleRNN" \
        else ()
    return (Arg("units", "dim"), Arg("return_sequences", "bool", False),
            Arg("use_bias", "bool", True), Arg("activation", "activation", "tanh")) + gated + \
        (Arg("dropout", "rate", 0), Arg("recurrent_dropout", "rate", 0),
         Arg("go_backwards", "bool", False)) + \
        ((Arg("reset_after", "bool", True),) if name == "GRU" else ())


#: Arguments each framework's constructor takes by position, in order (printed that way).
_POSITIONAL = {("keras", "Embedding"): ("input_dim", "output_dim"),
               ("pytorch", "RNN"): ("input_size", "hidden_size"),
               ("pytorch", "GRU"): ("input_size", "hidden_size"),
               ("pytorch", "LSTM"): ("input_size", "hidden_size"),
               ("pytorch", "Linear"): ("in_features", "out_features"),
               ("pytorch", "Embedding"): ("num_embeddings", "embedding_dim")}


def _call(spec: LayerSpec, inferred: dict | None = None, prefix: str = "") -> str:
    """The layer as its framework's code: ``GRU(64, return_sequences=True)``,
    ``nn.GRU(1, 64, num_layers=2)`` (an inferred input size is written in); ``prefix`` goes
    before a Keras layer's name and the one it wraps (``layers.``)."""
    kind = LAYERS[(spec.framework, spec.name)]
    pos = _POSITIONAL.get((spec.framework, spec.name),
                          (kind.positional,) if kind.positional in spec.given else ())
    vals = {**spec.args, **(inferred or {})}
    parts = [_call(spec.inner, None, prefix)] if spec.inner is not None else []
    parts += [_py(vals[p]) for p in pos]
    parts += [f"{n}={_py(spec.args[n])}" for n in spec.given if n not in pos]
    prefix = "nn." if spec.framework == "pytorch" else prefix
    return f"{prefix}{spec.name}({', '.join(parts)})"


def keras_code(spec: LayerSpec) -> str:
    """A Keras layer as a line of ``keras.Sequential([...])``: ``layers.GRU(64)``."""
    return _call(spec, None, "layers.")


def _keras_call(spec: LayerSpec) -> str:
    return _call(spec)


def _py(v) -> str:
    if isinstance(v, bool):
        return "True" if v else "False"
    if isinstance(v, str):
        return repr(v)
    return str(v)


def _keras_recurrent(spec: LayerSpec, shape: tuple, previous: str, prefix: str = "") -> Built:
    T, f = _sequence_input(spec, shape, previous)
    u, g = spec["units"], _GATES[spec.name]
    two = spec.name == "GRU" and spec["reset_after"]
    weights = [Weight(prefix + "kernel", (f, g * u)), Weight(prefix + "recurrent_kernel",
                                                             (u, g * u))]
    terms = [(("u", u), ("f", f)), (("u", u), ("u", u))]
    if spec["use_bias"]:
        weights.append(Weight(prefix + "bias", (2, g * u) if two else (g * u,)))
        terms.append(((("2", 2),) if two else ()) + (("u", u),))
    mult = (((str(g), g),) if g > 1 else ())
    out = (T, u) if spec["return_sequences"] else (u,)
    why = (f"`return_sequences=True`: the layer returns its state $h_t \\in \\mathbb{{R}}^{{{u}}}$ "
           f"at each of the {T} steps, so ${shape_text(out)}$."
           if spec["return_sequences"] else
           f"`return_sequences=False` (the default): only the last step's state "
           f"$h_{{{T}}} \\in \\mathbb{{R}}^{{{u}}}$ comes out, so ${shape_text(out)}$.")
    parts = {1: "The layer has no gates: it", 3: "Each of its 3 parts (the update gate, the "
             "reset gate and the candidate state)", 4: "Each of its 4 parts (the input, forget "
             "and output gates and the cell candidate)"}[g]
    notes = [f"{parts} has an input kernel ({f} × {u}), a recurrent kernel ({u} × {u})"
             + (" and a bias" + (" pair (input side and recurrent side)" if two else "")
                if spec["use_bias"] else "")
             + ("." if g == 1 else f"; Keras stores the {g} side by side along the last "
                f"axis, in the order {_KERAS_GATE_ORDER[spec.name]}.")]
    notes.append(_keras_vs_torch(spec.name, spec, u, f))
    legend = (("u", "`units`", u), ("f", "input features, the last axis of the input", f))
    return Built(spec, _keras_call(spec), shape, out, tuple(weights),
                 (Group(mult, tuple(terms)),), legend, why, tuple(n for n in notes if n))


def _keras_vs_torch(name: str, spec: LayerSpec, u: int, f: int) -> str:
    torch_name = _TORCH_NAME[name]
    g = _GATES[name]
    torch_count = g * (u * f + u * u + 2 * u)
    layout = (f" PyTorch also stores the weights transposed (`weight_ih_l0` is "
              f"({g * u} × {f}), `weight_hh_l0` ({g * u} × {u}))"
              + (f" with the gates in another order ({_TORCH_GATE_ORDER[name]})" if g > 1
                 else "") + ".")
    if not spec["use_bias"]:
        return (f"Without biases PyTorch's `nn.{torch_name}({f}, {u}, bias=False)` has the same "
                f"{g * (u * f + u * u)} weights." + layout)
    if name == "GRU" and spec["reset_after"]:
        return (f"PyTorch's `nn.GRU({f}, {u})` counts the same, {torch_count}: it too keeps two "
                "bias vectors per gate ($b_{ih}$ and $b_{hh}$), because it applies the reset "
                "gate after the recurrent product, as `reset_after=True` does." + layout)
    extra = g * u
    why = ("with `reset_after=False` the reset gate acts before the recurrent product, so one "
           "bias per gate suffices" if name == "GRU" else
           "Keras keeps one bias vector, where PyTorch keeps two ($b_{ih}$ and $b_{hh}$) that "
           "only ever appear as their sum")
    return (f"Keras and PyTorch differ here: PyTorch's `nn.{torch_name}({f}, {u})` has "
            f"{torch_count} parameters, {extra} more than Keras's {torch_count - extra}: "
            f"{why}; PyTorch always has both bias vectors"
            + (" (it computes the GRU in the `reset_after=True` form)." if name == "GRU"
               else ".") + layout)


for _name in ("SimpleRNN", "GRU", "LSTM"):
    register(LayerKind(
        "keras", _name,
        _keras_rnn_args(_name),
        lambda spec, shape, previous: _keras_recurrent(spec, shape, previous),
        positional="units",
        words=f"keras.layers.{_name}"))


def _bidirectional(spec: LayerSpec, shape: tuple, previous: str) -> Built:
    inner = _keras_recurrent(spec.inner, shape, previous)
    u = spec.inner["units"]
    mode = spec["merge_mode"]
    name = spec.inner.name.lower()
    weights = tuple(Weight(f"{d}_{name}/{w.name}", w.shape) for d in ("forward", "backward")
                    for w in inner.weights)
    group = inner.formula[0]
    formula = (Group((("2", 2),) + group.mult, group.terms),)
    last = inner.out_shape[:-1]
    out = last + ((2 * u,) if mode == "concat" else (u,))
    merged = {"concat": f"joined end to end, $2 \\cdot {u} = {2 * u}$",
              "sum": "added", "mul": "multiplied entry by entry",
              "ave": "averaged"}[mode]
    steps = ("at each step" if spec.inner["return_sequences"] else "at the last step")
    why = (f"Two copies of the layer read the sequence, one forward and one backward; with "
           f"`merge_mode='{mode}'`{' (the default)' if mode == 'concat' else ''} their states "
           f"{steps} are {merged}, so ${shape_text(out)}$.")
    notes = ("The forward and the backward layer each have their own weights, so the count "
             f"is twice the single layer's {group.value}.",) + inner.notes[1:]
    return Built(spec, _keras_call(spec), shape, out, weights, formula, inner.legend, why,
                 notes)


register(LayerKind("keras", "Bidirectional",
                   (Arg("merge_mode", "choice", "concat", ("concat", "sum", "mul", "ave")),),
                   _bidirectional, wraps=("SimpleRNN", "GRU", "LSTM"),
                   words="keras.layers.Bidirectional"))


def _embedding_input(spec: LayerSpec, shape: tuple, previous: str) -> int:
    if len(shape) != 1 or previous != "tokens":
        raise _fail(spec, f"{spec.name} takes integer tokens: the model's input must be "
                          f"(time steps,), as input: [10], and the Embedding comes first (its "
                          f"input here is {shape_text(shape)})")
    return shape[0]


def _keras_embedding(spec: LayerSpec, shape: tuple, previous: str) -> Built:
    T = _embedding_input(spec, shape, previous)
    n, d = spec["input_dim"], spec["output_dim"]
    out = (T, d)
    return Built(spec, _keras_call(spec), shape, out, (Weight("embeddings", (n, d)),),
                 (Group((), ((("n", n), ("d", d)),)),),
                 (("n", "`input_dim`, the vocabulary size", n),
                  ("d", "`output_dim`, the length of each token's vector", d)),
                 f"Each of the {T} tokens is replaced by its row of the table, a vector of "
                 f"{d}, so ${shape_text(out)}$.",
                 ("One row of $d$ numbers per token index $0, \\dots, n - 1$; PyTorch's "
                  f"`nn.Embedding({n}, {d})` has the same table (`weight`).",))


register(LayerKind("keras", "Embedding",
                   (Arg("input_dim", "dim"), Arg("output_dim", "dim"),
                    Arg("mask_zero", "bool", False)),
                   _keras_embedding, words="keras.layers.Embedding"))


def _dense(spec: LayerSpec, shape: tuple, previous: str, framework: str, per_step: bool,
           outer: LayerSpec | None = None) -> Built:
    if previous == "tokens":
        raise _fail(outer or spec, f"{(outer or spec).name} after integer tokens: put an "
                                   "Embedding first")
    keras = framework == "keras"
    units = spec["units"] if keras else spec["out_features"]
    f = shape[-1]
    if not keras and spec["in_features"] is not None and spec["in_features"] != f:
        raise LayerError(f"in_features is {spec['in_features']}, but the layer before gives "
                         f"{f} features", spec.key + ".in_features")
    u, fs = ("u", "f") if keras else ("o", "f")
    bias = spec["use_bias"] if keras else spec["bias"]
    if keras:
        weights = [Weight("kernel", (f, units))] + ([Weight("bias", (units,))] if bias else [])
    else:
        weights = [Weight("weight", (units, f))] + ([Weight("bias", (units,))] if bias else [])
    terms = (((u, units), (fs, f)),) + (((u, units),),) if bias else (((u, units), (fs, f)),)
    out = shape[:-1] + (units,)
    name = "Dense" if keras else "Linear"
    if outer is not None:
        why = (f"`TimeDistributed` applies the same `Dense({units})` at each of the {shape[0]} "
               f"steps, so ${shape_text(out)}$; the weights are shared by the steps and "
               "counted once.")
    elif len(shape) == 2:
        why = (f"`{name}` acts on the last axis, at each of the {shape[0]} steps with the same "
               f"weights, so ${shape_text(out)}$"
               + (" (the same as `TimeDistributed(Dense(...))`, with the same parameters)."
                  if keras else "."))
    else:
        why = f"{units} outputs, each a weighted sum of the {f} inputs: ${shape_text(out)}$."
    notes = ((f"PyTorch's `nn.Linear({f}, {units})` has the same count; it stores the weight "
              f"transposed, ({units} × {f})." if keras else
              f"Keras's `Dense({units})` has the same count; it stores the kernel transposed, "
              f"({f} × {units})."),)
    legend = ((u, "`units`" if keras else "`out_features`", units),
              (fs, "input features, the last axis of the input", f))
    return Built(outer or spec, _keras_call(outer or spec) if keras else _torch_call(spec, f),
                 shape, out, tuple(weights), (Group((), terms),), legend, why, notes)


register(LayerKind("keras", "Dense",
                   (Arg("units", "dim"), Arg("activation", "activation", "linear"),
                    Arg("use_bias", "bool", True)),
                   lambda spec, shape, previous: _dense(spec, shape, previous, "keras", False),
                   positional="units", words="keras.layers.Dense"))


def _time_distributed(spec: LayerSpec, shape: tuple, previous: str) -> Built:
    if len(shape) != 2:
        raise _fail(spec, f"TimeDistributed needs a sequence (time steps, features), but its "
                          f"input is {shape_text(shape)}"
                          + (": the layer before returns only its last step (set "
                             "return_sequences: true on it)" if previous == "last" else ""))
    return _dense(spec.inner, shape, previous, "keras", True, outer=spec)


register(LayerKind("keras", "TimeDistributed", (), _time_distributed, wraps=("Dense",),
                   words="keras.layers.TimeDistributed"))


def _no_parameters(words: Callable) -> Callable:
    def build(spec: LayerSpec, shape: tuple, previous: str) -> Built:
        call = _keras_call(spec) if spec.framework == "keras" else _torch_call(spec, None)
        return Built(spec, call, shape, shape, (), (), (), words(spec, shape))
    return build


register(LayerKind("keras", "Activation", (Arg("activation", "activation"),),
                   _no_parameters(lambda spec, shape: (
                       f"`{spec['activation']}` has no parameters and acts "
                       + ("over the entries of each step" if spec["activation"] in
                          ("softmax", "log_softmax") else "entry by entry")
                       + f": the shape stays ${shape_text(shape)}$.")),
                   positional="activation", words="keras.layers.Activation"))
register(LayerKind("keras", "Dropout", (Arg("rate", "rate"),),
                   _no_parameters(lambda spec, shape: (
                       f"Dropout zeroes a random share {spec['rate']} of the entries while "
                       f"training and has no parameters: the shape stays "
                       f"${shape_text(shape)}$.")),
                   positional="rate", words="keras.layers.Dropout"))


# ---- PyTorch ---------------------------------------------------------------------------------

_TORCH_GATES = {"RNN": 1, "GRU": 3, "LSTM": 4}
_KERAS_NAME = {"RNN": "SimpleRNN", "GRU": "GRU", "LSTM": "LSTM"}


def _torch_call(spec: LayerSpec, f: int | None) -> str:
    first = {"Linear": "in_features"}.get(spec.name, "input_size")
    return _call(spec, {first: f} if f is not None else None)


def _torch_recurrent(spec: LayerSpec, shape: tuple, previous: str) -> Built:
    T, f = _sequence_input(spec, shape, previous)
    if spec["input_size"] is not None and spec["input_size"] != f:
        raise LayerError(f"input_size is {spec['input_size']}, but the layer before gives {f} "
                         "features", spec.key + ".input_size")
    h, g, L = spec["hidden_size"], _TORCH_GATES[spec.name], spec["num_layers"]
    D = 2 if spec["bidirectional"] else 1
    weights, groups = [], []
    for k in range(L):
        fin = f if k == 0 else D * h
        for sfx in ("", "_reverse")[:D]:
            weights += [Weight(f"weight_ih_l{k}{sfx}", (g * h, fin)),
                        Weight(f"weight_hh_l{k}{sfx}", (g * h, h))]
            if spec["bias"]:
                weights += [Weight(f"bias_ih_l{k}{sfx}", (g * h,)),
                            Weight(f"bias_hh_l{k}{sfx}", (g * h,))]
        fin_factor = ("f", f) if k == 0 else (("2h", D * h) if D == 2 else ("h", h))
        terms = [(("h", h), fin_factor), (("h", h), ("h", h))]
        if spec["bias"]:
            terms.append((("2", 2), ("h", h)))
        mult = ((("2", 2),) if D == 2 else ()) + (((str(g), g),) if g > 1 else ())
        if k == 0 or k == 1:
            count = 1 if k == 0 else L - 1
            label = ("layer 1" if L > 1 else "") if k == 0 else \
                ("layer 2" if L == 2 else f"layers 2 to {L}")
            groups.append(Group(((str(count), count),) + mult if count > 1 else mult,
                                tuple(terms), label))
    out = (T, D * h)
    why = (f"`nn.{spec.name}` returns `(output, h_n)`; the next layer reads `output`, the "
           + ("last layer's " if L > 1 else "") + f"state at every one of the {T} steps"
           + (f", both directions joined ($2 \\cdot {h} = {2 * h}$)" if D == 2 else "")
           + f", so ${shape_text(out)}$ (the batch left out).")
    notes = []
    if L > 1:
        notes.append(f"`num_layers={L}`: layer 1 reads the {f} input features, each later "
                     f"layer reads the {D * h} outputs of the layer below"
                     + (" (both directions)" if D == 2 else "") + ".")
    if D == 2:
        notes.append("`bidirectional=True`: each layer has a forward and a backward copy with "
                     "their own weights (the `_reverse` tensors), so its count doubles.")
    notes.append(_torch_vs_keras(spec, h, f, g))
    legend = (("h", "`hidden_size`", h), ("f", "input features, the last axis of the input", f))
    return Built(spec, _torch_call(spec, f), shape, out, tuple(weights), tuple(groups), legend,
                 why, tuple(notes))


def _torch_vs_keras(spec: LayerSpec, h: int, f: int, g: int) -> str:
    keras = _KERAS_NAME[spec.name]
    if not spec["bias"]:
        return f"Keras's `{keras}({h}, use_bias=False)` has the same weights."
    gate_words = (f" with the gates in the order {_TORCH_GATE_ORDER[spec.name]}"
                  if g > 1 else "")
    layout = (f" PyTorch stores `weight_ih` as ({g * h} × {f}){gate_words}; Keras stores the "
              f"kernel transposed, ({f} × {g * h}).")
    if spec.name == "GRU":
        return ("Keras's `GRU` counts the same with its default `reset_after=True` (two bias "
                f"vectors per gate); with `reset_after=False` it keeps one and has {3 * h} "
                "fewer per layer and direction." + layout)
    return (f"Keras and PyTorch differ here: Keras's `{keras}({h})` keeps one bias vector of "
            f"{g * h} where PyTorch keeps two ($b_{{ih}}$ and $b_{{hh}}$, which only ever "
            f"appear as their sum), so Keras has {g * h} fewer per layer and direction." + layout)


for _name in ("RNN", "GRU", "LSTM"):
    register(LayerKind(
        "pytorch", _name,
        (Arg("hidden_size", "dim"), Arg("num_layers", "dim", 1), Arg("bias", "bool", True),
         Arg("bidirectional", "bool", False), Arg("batch_first", "bool", False),
         Arg("dropout", "rate", 0), Arg("input_size", "dim", optional=True))
        + ((Arg("nonlinearity", "choice", "tanh", ("tanh", "relu")),) if _name == "RNN" else ()),
        _torch_recurrent, positional="hidden_size", words=f"torch.nn.{_name}"))


def _torch_embedding(spec: LayerSpec, shape: tuple, previous: str) -> Built:
    T = _embedding_input(spec, shape, previous)
    n, d = spec["num_embeddings"], spec["embedding_dim"]
    out = (T, d)
    notes = ["Keras's `Embedding(input_dim=" f"{n}, output_dim={d})` has the same table."]
    if spec["padding_idx"] is not None:
        notes.append(f"`padding_idx={spec['padding_idx']}`: that row stays zero and gets no "
                     "gradient, but it is still a parameter and is counted.")
    return Built(spec, _torch_call(spec, None), shape, out, (Weight("weight", (n, d)),),
                 (Group((), ((("n", n), ("d", d)),)),),
                 (("n", "`num_embeddings`, the vocabulary size", n),
                  ("d", "`embedding_dim`, the length of each token's vector", d)),
                 f"Each of the {T} tokens is replaced by its row of the table, a vector of "
                 f"{d}, so ${shape_text(out)}$.", tuple(notes))


register(LayerKind("pytorch", "Embedding",
                   (Arg("num_embeddings", "dim"), Arg("embedding_dim", "dim"),
                    Arg("padding_idx", "int", optional=True)),
                   _torch_embedding, words="torch.nn.Embedding"))
register(LayerKind("pytorch", "Linear",
                   (Arg("out_features", "dim"), Arg("bias", "bool", True),
                    Arg("in_features", "dim", optional=True)),
                   lambda spec, shape, previous: _dense(spec, shape, previous, "pytorch",
                                                        False),
                   positional="out_features", words="torch.nn.Linear"))

_TORCH_ACTIVATIONS = {"Tanh": "tanh", "ReLU": "relu", "Sigmoid": "sigmoid",
                      "Softmax": "softmax", "LogSoftmax": "log_softmax", "GELU": "gelu",
                      "ELU": "elu", "SiLU": "silu", "Softplus": "softplus",
                      "LeakyReLU": "leaky relu", "Identity": "the identity"}
for _name, _words in _TORCH_ACTIVATIONS.items():
    register(LayerKind(
        "pytorch", _name,
        (Arg("dim", "int", -1),) if _name in ("Softmax", "LogSoftmax") else (),
        _no_parameters(lambda spec, shape, w=_words: (
            f"{w} has no parameters and acts "
            + ("over the entries of each step" if spec.name in ("Softmax", "LogSoftmax")
               else "entry by entry") + f": the shape stays ${shape_text(shape)}$.")),
        positional="dim" if _name in ("Softmax", "LogSoftmax") else None,
        words=f"torch.nn.{_name}"))
register(LayerKind("pytorch", "Dropout", (Arg("p", "rate", 0.5),),
                   _no_parameters(lambda spec, shape: (
                       f"Dropout zeroes a random share {spec['p']} of the entries while "
                       f"training and has no parameters: the shape stays "
                       f"${shape_text(shape)}$.")),
                   positional="p", words="torch.nn.Dropout"))


def build_stack(layers, input_shape: tuple) -> tuple:
    """Every layer built on the output of the one before: a tuple of :class:`Built` (raises
    LayerError where a layer does not fit)."""
    out, shape = [], tuple(input_shape)
    previous = "tokens" if len(shape) == 1 else "input"
    for spec in layers:
        built = LAYERS[(spec.framework, spec.name)].build(spec, shape, previous)
        out.append(built)
        if built.out_shape != shape or built.weights:
            previous = "last" if len(built.out_shape) == 1 and len(shape) == 2 else "layer"
        shape = built.out_shape
    return tuple(out)
