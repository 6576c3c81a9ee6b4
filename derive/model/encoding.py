"""Text to tensors: a vocabulary, token indices, padding, one-hot rows and Caesar targets.

Index 0 is always padding.  ``letters`` maps a..z to 1..26; a vocabulary string maps its
symbols to 1, 2, ... in order; ``frequency`` is the legacy Keras ``Tokenizer(char_level=True)``:
texts lower-cased, symbols counted over all texts, the most frequent first and ties in the order
of first appearance (a stable sort by count), and the targets get a tokenizer of their own, fitted
on the target texts.
"""

from __future__ import annotations

from dataclasses import dataclass
from string import ascii_lowercase, ascii_uppercase


class EncodingError(ValueError):
    """A sample that cannot be encoded; ``key`` and ``sample`` (1-based, or 0) say where."""

    def __init__(self, message: str, key: str, sample: int = 0) -> None:
        super().__init__(message)
        self.key = key
        self.sample = sample


@dataclass(frozen=True)
class EncodingSpec:
    samples: tuple
    vocabulary: str  # "letters", "frequency" or the symbols in index order
    padding: str  # post | pre
    length: int | None
    truncating: str | None  # None: a sample longer than ``length`` is an error
    caesar: int | None
    unknown: object  # None (an error), "skip" or an index


@dataclass(frozen=True)
class Vocabulary:
    """``symbols[i]`` has index i + 1; ``counts`` (frequency only) is each symbol's count in
    the same order; ``fitted_on`` says which texts a frequency vocabulary was counted over."""

    kind: str
    symbols: tuple
    counts: tuple | None = None
    fitted_on: str = ""

    def index(self, symbol: str) -> int | None:
        try:
            return self.symbols.index(symbol) + 1
        except ValueError:
            return None


@dataclass(frozen=True)
class Encoded:
    """One text, step by step: (symbol, index or None when skipped), and its tokens."""

    text: str
    steps: tuple
    tokens: tuple


@dataclass(frozen=True)
class Data:
    """An encoding block worked out: the inputs, the padded matrix, the one-hot width, and the
    targets (texts and tokens) when the block asks for them."""

    spec: EncodingSpec
    vocabulary: Vocabulary
    samples: tuple  # of Encoded
    length: int
    padded: tuple  # of rows
    width: int  # one-hot columns: padding + the vocabulary (+ an unknown index past it)
    target_vocabulary: Vocabulary | None
    target_texts: tuple | None
    targets: tuple | None  # of Encoded

    def one_hot(self, k: int) -> tuple:
        """The one-hot rows of sample k (1-based) after padding."""
        return tuple(tuple(1 if j == i else 0 for j in range(self.width))
                     for i in self.padded[k - 1])


def caesar(text: str, k: int) -> str:
    """Letters shifted by k places (a->d for k = 3, x->a), case kept; other symbols unchanged."""
    out = []
    for c in text:
        for alphabet in (ascii_lowercase, ascii_uppercase):
            if c in alphabet:
                c = alphabet[(alphabet.index(c) + k) % 26]
                break
        out.append(c)
    return "".join(out)


def _frequency(texts, fitted_on: str) -> Vocabulary:
    counts: dict = {}
    for text in texts:
        for c in text:
            counts[c] = counts.get(c, 0) + 1  # a dict keeps first appearance
    order = sorted(counts.items(), key=lambda kv: -kv[1])  # stable: ties stay in order
    return Vocabulary("frequency", tuple(c for c, _ in order), tuple(n for _, n in order),
                      fitted_on)


def vocabulary_of(spec: EncodingSpec, texts, fitted_on: str) -> Vocabulary:
    if spec.vocabulary == "letters":
        return Vocabulary("letters", tuple(ascii_lowercase))
    if spec.vocabulary == "frequency":
        return _frequency(texts, fitted_on)
    return Vocabulary("string", tuple(spec.vocabulary))


def _tokens(spec: EncodingSpec, vocab: Vocabulary, text: str, key: str, k: int,
            target: bool = False) -> Encoded:
    steps = []
    for c in text:
        i = vocab.index(c)
        if i is None:
            if spec.unknown is None:
                hint = (" (the letters vocabulary is a..z: write the sample in lower case, "
                        "or give the vocabulary as a string)"
                        if c in ascii_uppercase and vocab.kind == "letters" else
                        "; say unknown: skip, or unknown: <an index>, to allow it")
                what = f"the target of sample {k}" if target else f"sample {k}"
                raise EncodingError(f"{what} ({text!r}) has the symbol {c!r}, which is not "
                                    f"in the vocabulary{hint}", key, 0 if target else k)
            i = None if spec.unknown == "skip" else spec.unknown
        steps.append((c, i))
    return Encoded(text, tuple(steps), tuple(i for _, i in steps if i is not None))


def _pad(spec: EncodingSpec, tokens: tuple, length: int, k: int) -> tuple:
    if len(tokens) > length:
        if spec.truncating is None:
            raise EncodingError(f"sample {k} has {len(tokens)} tokens, more than length "
                                f"{length}; say truncating: pre (drop the first ones, as "
                                "Keras's pad_sequences does) or post to cut it", "encoding.length",
                                0)
        tokens = tokens[len(tokens) - length:] if spec.truncating == "pre" else tokens[:length]
    zeros = (0,) * (length - len(tokens))
    return zeros + tokens if spec.padding == "pre" else tokens + zeros


def encode(spec: EncodingSpec) -> Data:
    """Every sample encoded (raises EncodingError for a symbol outside the vocabulary)."""
    lower = spec.vocabulary == "frequency"  # the legacy Tokenizer lower-cases (lower=True)
    texts = tuple(s.lower() if lower else s for s in spec.samples)
    vocab = vocabulary_of(spec, texts, "the samples")
    samples = tuple(_tokens(spec, vocab, t, f"encoding.samples[{k}]", k)
                    for k, t in enumerate(texts, start=1))
    length = spec.length or max(len(s.tokens) for s in samples)
    padded = tuple(_pad(spec, s.tokens, length, k) for k, s in enumerate(samples, start=1))
    width = len(vocab.symbols) + 1
    if isinstance(spec.unknown, int):
        width = max(width, spec.unknown + 1)
    tvocab = target_texts = targets = None
    if spec.caesar is not None:
        target_texts = tuple(caesar(t, spec.caesar) for t in texts)
        tvocab = vocab if spec.vocabulary != "frequency" else \
            vocabulary_of(spec, target_texts, "the target texts")
        targets = tuple(_tokens(spec, tvocab, t, "encoding.target", k, target=True)
                        for k, t in enumerate(target_texts, start=1))
    return Data(spec, vocab, samples, length, padded, width, tvocab, target_texts, targets)
