"""Reading the ``framework:``, ``model:`` and ``encoding:`` blocks of a problem file.

The loader calls :func:`read` with its YAML builder (for line numbers and the safe scalar
readers); every defect is one SpecError naming the file, the key and the line.  The model is
built layer by layer here, so a shape that does not fit is reported at load time, and the
encoding is computed here, so a symbol outside the vocabulary is too.
"""

from __future__ import annotations

from dataclasses import dataclass

import yaml

from ..errors import SpecError, unknown_name
from ..lang import expr as ex
from . import encoding as enc
from .layers import (KERAS_ACTIVATIONS, LAYERS, MAX_DIM, LayerError, LayerSpec, build_stack,
                     names)

FRAMEWORKS = ("keras", "pytorch")
MODEL_KEYS = ("input", "layers")
ENCODING_KEYS = ("samples", "vocabulary", "padding", "length", "truncating", "target",
                 "unknown")
#: The questions of each block, and whether they take a number: 1-based layer or sample.
MODEL_QUESTIONS = {"params": "optional", "shape": "optional"}
ENCODING_QUESTIONS = {"tokens": "required", "padded": "optional", "one_hot": "required",
                      "targets": "required", "target_text": "required"}
QUESTIONS = {**MODEL_QUESTIONS, **ENCODING_QUESTIONS}
MAX_LAYERS = 100
MAX_STEPS = 20000


@dataclass(frozen=True)
class Model:
    framework: str
    input: tuple
    layers: tuple  # of LayerSpec
    built: tuple  # of layers.Built, in order

    @property
    def total(self) -> int:
        return sum(b.count for b in self.built)


@dataclass(frozen=True)
class Query:
    """A model or data question: ``what`` (params, shape, tokens, ...) and its 1-based
    number (a layer or a sample), or None."""

    what: str
    index: int | None


@dataclass(frozen=True)
class Arch:
    """The model and data blocks of a problem and its questions about them (id -> Query)."""

    model: Model | None
    encoding: object  # encoding.Encoded or None
    queries: dict


def query_of(find) -> Query | None:
    """The Query a ``find`` asks (``params``, ``shape[1]``, ``tokens[2]``), or None."""
    if isinstance(find, ex.Name) and find.name in QUESTIONS:
        return Query(find.name, None)
    if isinstance(find, ex.Ref) and find.name in QUESTIONS and find.index.kind == "n":
        return Query(find.name, find.index.value)
    return None


def read(b, top: dict, questions: tuple, equations: tuple, given: tuple) -> Arch:
    """The blocks of ``top`` (key -> (key node, value node)) read with the loader's builder
    ``b``; the questions about them checked against what the blocks hold."""
    framework_node = top.get("framework")
    if framework_node is not None and "model" not in top:
        raise b.err("framework", framework_node[0], "framework goes with a model: block")
    model = _model(b, top["model"][1], framework_node) if "model" in top else None
    encoded = _encoding(b, top["encoding"][1]) if "encoding" in top else None
    for e in equations:
        if e.name in QUESTIONS:
            raise SpecError(f"{e.name} is the name of a model or data "
                            "question here; call the quantity something else", file=b.file,
                            key=f"equations.{e.key}", line=e.line)
    queries = {}
    for q in questions:
        if q.find is None:
            continue
        key = f"questions.{q.id}.find"
        line = b.lines.get(key)
        if isinstance(q.find, ex.Ref) and q.find.name in QUESTIONS and q.find.index.kind != "n":
            raise SpecError(f"{q.find.name}[...] takes a whole number (1 for the first)",
                            file=b.file, key=key, line=line)
        query = query_of(q.find)
        if query is None:
            continue
        _check_query(b, key, line, query, model, encoded)
        if getattr(q, "over", None) is not None:
            raise SpecError(f"over goes with a quantity that uses its index, not with "
                            f"{query.what}", file=b.file, key=f"questions.{q.id}.over",
                            line=b.lines.get(f"questions.{q.id}.over", line))
        queries[q.id] = query
    return Arch(model, encoded, queries)


def _check_query(b, key, line, query: Query, model, encoded) -> None:
    def fail(msg):
        return SpecError(msg, file=b.file, key=key, line=line)

    what, k = query.what, query.index
    if what in MODEL_QUESTIONS:
        if model is None:
            raise fail(f"{what} is a question about a model: the file has no model: block")
        if k is not None and not 1 <= k <= len(model.built):
            raise fail(f"{what}[{k}]: the model has {len(model.built)} layer"
                       f"{'s' if len(model.built) > 1 else ''} (numbered from 1)")
        return
    if encoded is None:
        raise fail(f"{what} is a question about data: the file has no encoding: block")
    if ENCODING_QUESTIONS[what] == "required" and k is None:
        raise fail(f"{what} needs a sample number, as in {what}[1]")
    n = len(encoded.samples)
    if k is not None and not 1 <= k <= n:
        raise fail(f"{what}[{k}]: there {'are' if n > 1 else 'is'} {n} sample"
                   f"{'s' if n > 1 else ''} (numbered from 1)")
    if what in ("targets", "target_text") and encoded.targets is None:
        raise fail(f"{what} needs a target: in the encoding block (target: {{caesar: 3}})")


# ---- model ---------------------------------------------------------------------------------------

def _model(b, node, framework_node) -> Model:
    fields = {}
    for k, knode, v in b.mapping("model", node):
        if k not in MODEL_KEYS:
            raise b.err(f"model.{k}", knode, f"unknown key (allowed: {', '.join(MODEL_KEYS)})")
        fields[k] = (knode, v)
    for req in MODEL_KEYS:
        if req not in fields:
            raise b.err(f"model.{req}", node, f"the model needs '{req}'")
    shape = _input(b, fields["input"][1])
    items = _layer_items(b, fields["layers"][1])
    if framework_node is not None:
        fw = b.scalar("framework", framework_node[1], ("str",)).strip()
        fw = {"torch": "pytorch"}.get(fw, fw)
        if fw not in FRAMEWORKS:
            raise b.err("framework", framework_node[1], "framework is keras or pytorch")
    else:
        # absent: keras (the seeds' framework), unless a layer is PyTorch's only
        fw = "pytorch" if any(name in names("pytorch") and name not in names("keras")
                              for name, *_ in items) else "keras"
    layers = tuple(_layer(b, fw, item, f"model.layers[{i}]")
                   for i, item in enumerate(items, start=1))
    try:
        built = build_stack(layers, shape)
    except LayerError as e:
        line = next((s.line for s in _all_specs(layers) if e.key.startswith(s.key)), None)
        raise SpecError(str(e), file=b.file, key=e.key, line=line) from None
    return Model(fw, shape, layers, built)


def _all_specs(layers):
    for s in layers:
        if s.inner is not None:
            yield from _all_specs((s.inner,))
        yield s


def _input(b, node) -> tuple:
    b.check_node("model.input", node)
    items = node.value if isinstance(node, yaml.SequenceNode) else None
    if items is None or not 1 <= len(items) <= 2:
        raise b.err("model.input", node, "input is one sample's shape: [time steps, features], "
                                         "or [time steps] of integer tokens")
    out = []
    for i, n in enumerate(items):
        out.append(_whole(b, "model.input", n, 1, MAX_STEPS if i == 0 else MAX_DIM))
    return tuple(out)


def _whole(b, key, node, lo, hi) -> int:
    s = b.scalar(key, node, ("int",))
    try:
        v = int(s, 10)
    except ValueError:
        raise b.err(key, node, "expected a whole number") from None
    if not lo <= v <= hi:
        raise b.err(key, node, f"expected a whole number from {lo} to {hi}")
    return v


def _layer_items(b, node) -> list:
    """(name, name node, value node, item node) of each layer, as written."""
    b.check_node("model.layers", node)
    if not isinstance(node, yaml.SequenceNode) or not node.value:
        raise b.err("model.layers", node, "layers is a non-empty list, one layer a line "
                                          "(- GRU: {units: 64})")
    if len(node.value) > MAX_LAYERS:
        raise b.err("model.layers", node, f"at most {MAX_LAYERS} layers")
    out = []
    for i, item in enumerate(node.value, start=1):
        key = f"model.layers[{i}]"
        if isinstance(item, yaml.ScalarNode):  # a bare name: - Tanh
            out.append((b.scalar(key, item, ("str",)).strip(), item, None, item))
            continue
        entries = b.mapping(key, item)
        if len(entries) != 1:
            raise b.err(key, item, "a layer is one name with its arguments, as "
                                   "GRU: {units: 64, return_sequences: true}")
        name, knode, v = entries[0]
        out.append((name, knode, v, item))
    return out


def _layer(b, fw: str, item, key: str) -> LayerSpec:
    name, knode, v, node = item
    kind = LAYERS.get((fw, name))
    if kind is None:
        known = names(fw)
        other = "pytorch" if fw == "keras" else "keras"
        hint = f" ({name} is a {other} layer; the framework here is {fw})" \
            if name in names(other) else ""
        msg = unknown_name(name, known).replace("unknown name", f"unknown {fw} layer")
        raise b.err(key, knode, f"{msg}{hint}; {fw} layers: {', '.join(known)}")
    key = f"{key}.{name}"
    args, given, inner = {}, [], None
    if v is None or (isinstance(v, yaml.ScalarNode) and v.tag.endswith(":null")):
        pass
    elif isinstance(v, yaml.MappingNode):
        for aname, anode, aval in b.mapping(key, v):
            if aname in kind.wraps:
                if inner is not None:
                    raise b.err(f"{key}.{aname}", anode, f"{name} wraps one layer")
                inner = _layer(b, fw, (aname, anode, aval, v), key)
                continue
            arg = kind.arg(aname)
            if arg is None:
                allowed = [a.name for a in kind.args] + list(kind.wraps)
                msg = unknown_name(aname, allowed).replace("unknown name", "unknown argument")
                raise b.err(f"{key}.{aname}", anode,
                            f"{msg} of {name} (allowed: {', '.join(allowed) or 'none'})")
            args[aname] = _arg(b, fw, arg, f"{key}.{aname}", aval)
            given.append(aname)
    else:
        if kind.positional is None:
            raise b.err(key, v, f"{name} takes no value here; write {name}: {{...}} with its "
                                "arguments, or the bare name")
        arg = kind.arg(kind.positional)
        args[arg.name] = _arg(b, fw, arg, key, v)
        given.append(arg.name)
    if kind.wraps and inner is None:
        raise b.err(key, knode, f"{name} wraps a layer: {name}: {{{kind.wraps[0]}: {{...}}}}")
    for arg in kind.args:
        if arg.name not in args:
            if arg.default is None and not arg.optional:
                raise b.err(key, knode, f"{name} needs '{arg.name}'")
            args[arg.name] = arg.default
    return LayerSpec(fw, name, args, tuple(given), inner, key, knode.start_mark.line + 1)


def _arg(b, fw, arg, key, node):
    if arg.kind == "dim":
        return _whole(b, key, node, 1, MAX_DIM)
    if arg.kind == "int":
        return _whole(b, key, node, -MAX_DIM, MAX_DIM)
    if arg.kind == "bool":
        s = b.scalar(key, node, ("bool",))
        return s.lower() in ("true", "yes", "on")
    if arg.kind == "rate":
        s = b.scalar(key, node, ("int", "float"))
        try:
            v = float(s)
        except ValueError:
            raise b.err(key, node, "expected a number from 0 to below 1") from None
        if not 0 <= v < 1:
            raise b.err(key, node, "expected a number from 0 to below 1")
        return int(v) if v == int(v) and "." not in s else v
    s = b.scalar(key, node, ("str",)).strip()
    choices = arg.choices if arg.kind == "choice" else KERAS_ACTIVATIONS
    if s not in choices:
        msg = unknown_name(s, choices).replace("unknown name", f"unknown {arg.name}")
        raise b.err(key, node, f"{msg} (one of: {', '.join(choices)})")
    return s


# ---- encoding ------------------------------------------------------------------------------------

def _encoding(b, node):
    fields = {}
    for k, knode, v in b.mapping("encoding", node):
        if k not in ENCODING_KEYS:
            raise b.err(f"encoding.{k}", knode,
                        f"unknown key (allowed: {', '.join(ENCODING_KEYS)})")
        fields[k] = (knode, v)
    if "samples" not in fields:
        raise b.err("encoding", node, "the encoding needs 'samples' (a list of texts)")
    snode = fields["samples"][1]
    b.check_node("encoding.samples", snode)
    if not isinstance(snode, yaml.SequenceNode) or not snode.value:
        raise b.err("encoding.samples", snode, "samples is a non-empty list of texts")
    if len(snode.value) > 1000:
        raise b.err("encoding.samples", snode, "at most 1000 samples")
    samples = []
    for i, s in enumerate(snode.value, start=1):
        text = b.scalar(f"encoding.samples[{i}]", s, ("str", "int", "float"))
        if not text or len(text) > 1000:
            raise b.err(f"encoding.samples[{i}]", s, "a sample is 1 to 1000 characters")
        samples.append((text, s.start_mark.line + 1))

    def choice(key, options, default):
        if key not in fields:
            return default
        s = b.scalar(f"encoding.{key}", fields[key][1], ("str",)).strip()
        if s not in options:
            raise b.err(f"encoding.{key}", fields[key][1], f"{key} is {' or '.join(options)}")
        return s

    vocabulary = "letters"
    if "vocabulary" in fields:
        vnode = fields["vocabulary"][1]
        vocabulary = b.scalar("encoding.vocabulary", vnode, ("str", "int"))
        if vocabulary not in ("letters", "frequency"):
            dup = sorted({c for c in vocabulary if vocabulary.count(c) > 1})
            if dup:
                raise b.err("encoding.vocabulary", vnode, f"the vocabulary string has {dup[0]!r} "
                            "twice (each symbol once, in index order)")
            if len(vocabulary) > 10000:
                raise b.err("encoding.vocabulary", vnode, "the vocabulary is too long")
    padding = choice("padding", ("post", "pre"), "post")
    truncating = choice("truncating", ("post", "pre"), None)
    length = _whole(b, "encoding.length", fields["length"][1], 1, MAX_STEPS) \
        if "length" in fields else None
    caesar = None
    if "target" in fields:
        tnode = fields["target"][1]
        entries = b.mapping("encoding.target", tnode)
        if len(entries) != 1 or entries[0][0] != "caesar":
            raise b.err("encoding.target", tnode, "target is {caesar: K}, the letters of each "
                                                  "sample shifted by K")
        caesar = _whole(b, "encoding.target.caesar", entries[0][2], -1000, 1000)
    unknown = None
    if "unknown" in fields:
        unode = fields["unknown"][1]
        s = b.scalar("encoding.unknown", unode, ("str", "int")).strip()
        if s == "skip":
            unknown = "skip"
        else:
            unknown = int(s) if s.isdigit() and int(s) <= MAX_DIM else None
            if unknown is None:
                raise b.err("encoding.unknown", unode, "unknown is skip or an index (a whole "
                                                       "number)")
    spec = enc.EncodingSpec(tuple(t for t, _ in samples), vocabulary, padding, length,
                            truncating, caesar, unknown)
    try:
        return enc.encode(spec)
    except enc.EncodingError as e:
        node_of = {"vocabulary": fields.get("vocabulary", (None, node))[1],
                   "length": fields.get("length", (None, node))[1],
                   "target": fields.get("target", (None, node))[1]}
        line = samples[e.sample - 1][1] if e.sample else \
            (node_of.get(e.key.split(".")[1].split("[")[0]) or node).start_mark.line + 1
        raise SpecError(str(e), file=b.file, key=e.key, line=line) from None
