"""Model and data answers checked by the frameworks themselves.

The model: the same stack is built in PyTorch from the problem's layer names and arguments
(``torch.nn`` modules on the meta device, so no memory is allocated), its parameters are counted
and a zero input is pushed through for the output shapes.  A Keras stack is built in PyTorch with
the module that computes the same layer, counting the tensors Keras has: Keras's single bias of a
SimpleRNN, an LSTM or a GRU with ``reset_after=False`` is PyTorch's ``b_ih`` (``b_hh`` only ever
adds to it).  When the ``keras`` extra is installed (Keras 3 on the torch backend) a Keras problem
is also built in Keras and ``count_params()`` and the output shapes compared.  Nothing here reads
derive's counts, shapes or formulas.

The data: tokens from a vocabulary rebuilt here (``collections.Counter`` for frequency order),
padding with ``torch.nn.utils.rnn.pad_sequence``, one-hot rows with ``torch.nn.functional.one_hot``
and the Caesar shift with ``str.maketrans``.
"""

from __future__ import annotations

import os
import string
from collections import Counter

from .crosscheck import MAX_DIGITS, Check, Unavailable, _torch

#: An agreement is exact (counts, shapes, tokens, text): every digit of the JSON's "digits".
EXACT = MAX_DIGITS

#: Larger Keras models are not built (Keras allocates every weight).
KERAS_MAX_PARAMS = 20_000_000


def handles(problem, q) -> bool:
    return getattr(problem, "arch", None) is not None and q.id in problem.arch.queries


# ---- PyTorch ---------------------------------------------------------------------------------

def _torch_layer(th, spec, x):
    """(output, parameters counted in the problem's framework) of one layer on ``x``."""
    nn = th.nn
    meta = {"device": "meta"}
    a = spec.args
    if spec.framework == "keras":
        name = spec.name
        if name in ("SimpleRNN", "GRU", "LSTM", "Bidirectional"):
            rnn = spec.inner if name == "Bidirectional" else spec
            cls = {"SimpleRNN": nn.RNN, "GRU": nn.GRU, "LSTM": nn.LSTM}[rnn.name]
            both = name == "Bidirectional"
            m = cls(x.shape[-1], rnn["units"], bias=rnn["use_bias"], batch_first=True,
                    bidirectional=both, **meta)
            y = m(x)[0]
            u = rnn["units"]
            if both and spec["merge_mode"] != "concat":
                f, b = y[..., :u], y[..., u:]
                y = {"sum": f + b, "mul": f * b, "ave": (f + b) / 2}[spec["merge_mode"]]
            if not rnn["return_sequences"]:
                y = y[:, -1]
            one_bias = not (rnn.name == "GRU" and rnn["reset_after"])
            params = [p for n, p in m.named_parameters()
                      if not (one_bias and n.startswith("bias_hh"))]
            return y, params
        if name == "Embedding":
            m = nn.Embedding(a["input_dim"], a["output_dim"], **meta)
        elif name in ("Dense", "TimeDistributed"):
            d = spec.inner if name == "TimeDistributed" else spec
            m = nn.Linear(x.shape[-1], d["units"], bias=d["use_bias"], **meta)
        else:  # Activation, Dropout: no parameters, the shape kept
            m = nn.Identity()
        return m(x), list(m.parameters())
    name = spec.name
    if name in ("RNN", "GRU", "LSTM"):
        extra = {"nonlinearity": a["nonlinearity"]} if name == "RNN" else {}
        m = getattr(nn, name)(x.shape[-1], a["hidden_size"], num_layers=a["num_layers"],
                              bias=a["bias"], bidirectional=a["bidirectional"],
                              batch_first=True, **extra, **meta)
        return m(x)[0], list(m.parameters())
    if name == "Embedding":
        m = nn.Embedding(a["num_embeddings"], a["embedding_dim"], padding_idx=a["padding_idx"],
                         **meta)
    elif name == "Linear":
        m = nn.Linear(x.shape[-1], a["out_features"], bias=a["bias"], **meta)
    elif name in ("Softmax", "LogSoftmax"):
        m = getattr(nn, name)(dim=a["dim"])
    elif name == "Dropout":
        m = nn.Dropout(a["p"])
    else:
        m = getattr(nn, name)()
    return m(x), list(m.parameters())


def torch_stack(model) -> tuple[list, list]:
    """(parameter count, output shape) of every layer, by PyTorch."""
    th = _torch()
    shape = (1,) + tuple(model.input)
    x = th.zeros(shape, dtype=th.long if len(model.input) == 1 else th.get_default_dtype(),
                 device="meta")
    counts, shapes = [], []
    for spec in model.layers:
        x, params = _torch_layer(th, spec, x)
        counts.append(sum(p.numel() for p in params))
        shapes.append(list(x.shape[1:]))
    return counts, shapes


# ---- Keras -----------------------------------------------------------------------------------

def _keras():
    os.environ.setdefault("KERAS_BACKEND", "torch")
    try:
        import keras
    except ImportError as e:
        raise Unavailable("keras is not installed (pip install -e '.[keras]')") from e
    if keras.backend.backend() != "torch":
        raise Unavailable(f"keras runs on the {keras.backend.backend()} backend, not torch")
    return keras


def keras_version() -> str | None:
    """Keras's version when it can run here (torch backend), else None."""
    try:
        return _keras().__version__
    except Unavailable:
        return None


def _keras_layer(keras, spec):
    kwargs = dict(spec.args)
    cls = getattr(keras.layers, spec.name)
    if spec.inner is not None:
        return cls(_keras_layer(keras, spec.inner), **kwargs)
    return cls(**kwargs)


def keras_stack(model) -> tuple[list, list]:
    """(count_params(), output shape) of every layer, by Keras."""
    keras = _keras()
    inp = keras.Input(shape=tuple(model.input),
                      dtype="int32" if len(model.input) == 1 else "float32")
    m = keras.Sequential([inp] + [_keras_layer(keras, s) for s in model.layers])
    counts = [layer.count_params() for layer in m.layers]
    shapes = [list(layer.output.shape[1:]) for layer in m.layers]
    if sum(counts) != m.count_params():
        raise Unavailable("Keras's layer counts do not add up to count_params()")
    return counts, shapes


# ---- data ------------------------------------------------------------------------------------

def _vocabulary(spec, texts) -> dict:
    if spec.vocabulary == "letters":
        return {c: i for i, c in enumerate(string.ascii_lowercase, start=1)}
    if spec.vocabulary == "frequency":
        counts = Counter("".join(texts))  # most_common keeps first-seen order on ties
        return {c: i for i, (c, _) in enumerate(counts.most_common(), start=1)}
    return {c: i for i, c in enumerate(spec.vocabulary, start=1)}


def _tokens(spec, vocab: dict, text: str) -> list:
    out = []
    for c in text:
        if c in vocab:
            out.append(vocab[c])
        elif spec.unknown == "skip":
            continue
        elif spec.unknown is not None:
            out.append(spec.unknown)
        else:
            raise Unavailable(f"{c!r} is not in the vocabulary")
    return out


def torch_data(spec) -> dict:
    """tokens, padded, one_hot, targets and target_text of every sample, by this module's own
    tokenizer and PyTorch's padding and one-hot."""
    th = _torch()
    texts = [s.lower() for s in spec.samples] if spec.vocabulary == "frequency" else \
        list(spec.samples)
    vocab = _vocabulary(spec, texts)
    tokens = [_tokens(spec, vocab, t) for t in texts]
    length = spec.length or max(len(t) for t in tokens)
    cut = []
    for t in tokens:
        if len(t) > length:
            t = t[len(t) - length:] if spec.truncating == "pre" else t[:length]
        cut.append(th.tensor(t, dtype=th.long))
    if spec.padding == "pre":
        padded = th.nn.utils.rnn.pad_sequence([c.flip(0) for c in cut], batch_first=True)
        padded = padded.flip(1)
    else:
        padded = th.nn.utils.rnn.pad_sequence(cut, batch_first=True)
    if padded.shape[1] < length:
        padded = th.nn.functional.pad(padded, (length - padded.shape[1], 0) if
                                      spec.padding == "pre" else (0, length - padded.shape[1]))
    classes = max(len(vocab), spec.unknown if isinstance(spec.unknown, int) else 0) + 1
    one_hot = th.nn.functional.one_hot(padded, num_classes=classes)
    out = {"tokens": tokens, "padded": padded.tolist(), "one_hot": one_hot.tolist()}
    if spec.caesar is not None:
        k = spec.caesar % 26
        low, up = string.ascii_lowercase, string.ascii_uppercase
        table = str.maketrans(low + up, low[k:] + low[:k] + up[k:] + up[:k])
        out["target_text"] = [t.translate(table) for t in texts]
        tvocab = _vocabulary(spec, out["target_text"]) if spec.vocabulary == "frequency" \
            else vocab
        out["targets"] = [_tokens(spec, tvocab, t) for t in out["target_text"]]
    return out


def keras_data(spec) -> dict:
    """The same as :func:`torch_data` by Keras: the legacy ``Tokenizer(char_level=True)`` for a
    frequency vocabulary (a new one fitted on the target texts), ``pad_sequences`` and
    ``to_categorical``."""
    keras = _keras()
    from keras.src.legacy.preprocessing.text import Tokenizer  # kept in Keras 3, not exported

    def tokenize(texts):
        if spec.vocabulary != "frequency":
            vocab = _vocabulary(spec, texts)
            return [_tokens(spec, vocab, t) for t in texts]
        tok = Tokenizer(char_level=True)
        tok.fit_on_texts(list(texts))
        return tok.texts_to_sequences(list(texts))

    tokens = tokenize(spec.samples)
    length = spec.length or max(len(t) for t in tokens)
    padded = keras.utils.pad_sequences(tokens, maxlen=length, padding=spec.padding,
                                       truncating=spec.truncating or "pre", value=0)
    vocab = _vocabulary(spec, [s.lower() for s in spec.samples]
                        if spec.vocabulary == "frequency" else spec.samples)
    classes = max(len(vocab), spec.unknown if isinstance(spec.unknown, int) else 0) + 1
    one_hot = keras.utils.to_categorical(padded, num_classes=classes)
    out = {"tokens": tokens, "padded": padded.tolist(),
           "one_hot": [[[int(v) for v in row] for row in m] for m in one_hot.tolist()]}
    if spec.caesar is not None:
        k = spec.caesar % 26
        low, up = string.ascii_lowercase, string.ascii_uppercase
        table = str.maketrans(low + up, low[k:] + low[:k] + up[k:] + up[:k])
        texts = [s.lower() if spec.vocabulary == "frequency" else s for s in spec.samples]
        out["target_text"] = [t.translate(table) for t in texts]
        out["targets"] = tokenize(out["target_text"])
    return out


# ---- the answers -----------------------------------------------------------------------------

_BUILT: dict = {}


def _once(build, model):
    """build(model), once per model object (a problem's questions share its stack)."""
    key = (build.__name__, id(model))
    hit = _BUILT.get(key)
    if hit is None or hit[0] is not model:
        if len(_BUILT) > 64:
            _BUILT.clear()
        hit = _BUILT[key] = (model, build(model))
    return hit[1]


def _pick(query, counts, shapes):
    k = query.index
    if query.what == "params":
        return sum(counts) if k is None else counts[k - 1]
    return shapes[-1] if k is None else shapes[k - 1]


def value(problem, q, by=torch_data):
    """PyTorch's value of a model or data answer (the text of a target_text question); with
    ``by=keras_data`` Keras's value of a data answer."""
    query = problem.arch.queries[q.id]
    if query.what in ("params", "shape"):
        return _pick(query, *_once(torch_stack, problem.arch.model))
    data = by(problem.arch.encoding.spec)
    k = query.index
    if query.what == "padded":
        return data["padded"] if k is None else data["padded"][k - 1]
    return data[query.what][k - 1]


def check(problem, q, answer: dict) -> Check:
    """The check of one model or data answer (the spec's JSON answer ``answer``)."""
    query = problem.arch.queries[q.id]
    got = answer["exact"] if query.what == "target_text" else answer["value"]
    th = _torch()
    try:
        want = value(problem, q)
    except Exception as e:  # a stack PyTorch cannot build is a failure, not a skip
        return Check("disagrees", None, None, f"PyTorch could not build it ({type(e).__name__}: "
                                              f"{e})")
    if query.what not in ("params", "shape"):
        by = ("a tokenizer written apart from derive's, with PyTorch's pad_sequence and one_hot "
              f"(torch {th.__version__.split('+')[0]})")
        if got != want:
            return Check("disagrees", None, want, by=by)
        try:
            keras_want = value(problem, q, keras_data)
        except Unavailable as e:
            return Check("agrees", EXACT, want, by=by + f"; not checked against Keras: {e}")
        except Exception as e:
            return Check("disagrees", None, want, f"Keras could not encode it "
                                                  f"({type(e).__name__}: {e})", by=by)
        by += (f", and Keras {_keras().__version__} (" + ("the legacy Tokenizer(char_level="
               "True), " if problem.arch.encoding.spec.vocabulary == "frequency" else "")
               + "pad_sequences, to_categorical)")
        if got != keras_want:
            return Check("disagrees", None, keras_want, "Keras gives " + str(keras_want), by=by)
        return Check("agrees", EXACT, want, by=by)
    model = problem.arch.model
    by = f"PyTorch {th.__version__.split('+')[0]} (the stack built with torch.nn, " \
         "parameters counted, a zero input pushed through)"
    if got != want:
        return Check("disagrees", None, want, by=by)
    if model.framework != "keras":
        return Check("agrees", EXACT, want, by=by)
    if model.total > KERAS_MAX_PARAMS:
        return Check("agrees", EXACT, want, by=by + f"; not built in Keras (over "
                                                   f"{KERAS_MAX_PARAMS} parameters)")
    try:
        keras_want = _pick(query, *_once(keras_stack, model))
    except Unavailable as e:
        return Check("agrees", EXACT, want, by=by + f"; not checked against Keras: {e}")
    except Exception as e:
        return Check("disagrees", None, want, f"Keras could not build it ({type(e).__name__}: "
                                              f"{e})", by=by)
    by += f" and Keras {_keras().__version__} (count_params() and output shapes)"
    if got != keras_want:
        return Check("disagrees", None, keras_want, "Keras gives " + str(keras_want), by=by)
    return Check("agrees", EXACT, want, by=by)
