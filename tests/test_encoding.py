"""Data questions (derive/model/encoding.py): tokens, padding, one-hot rows and Caesar targets,
compared with the seed's answers and with Keras's own legacy Tokenizer, pad_sequences and
PyTorch's one_hot, called here by hand."""

import os

import pytest

from derive.errors import SpecError
from derive.lang.loader import loads
from derive.output import render

from conftest import ROOT, solve_text


@pytest.fixture(scope="module")
def keras():
    os.environ.setdefault("KERAS_BACKEND", "torch")
    import keras  # the keras extra: installed in CI, so never skipped
    return keras


def data(encoding: str, questions: str) -> dict:
    return render.answers(solve_text(f"title: t\nencoding:\n{encoding}questions:\n{questions}"))


def test_the_seed_answers():
    a = render.answers(solve_text((ROOT / "problems/caesar_data.yaml").read_text()))
    assert a["d2"]["value"] == [1, 14, 4, 20, 23, 15]
    assert a["e"]["value"] == [[15, 14, 5, 0, 0, 0], [1, 14, 4, 20, 23, 15]]
    rows = a["f"]["value"]
    assert len(rows) == 6 and all(len(r) == 27 for r in rows)
    assert [r.index(1) for r in rows] == [15, 14, 5, 0, 0, 0]
    assert a["t"]["exact"] == "dqgwzr" and a["t"]["value"] is None
    assert a["y"]["value"] == [4, 17, 7, 23, 26, 18]


TEXTS = ["one", "andtwo", "Hello World", "aabbc cba"]


def test_frequency_vocabulary_is_the_legacy_keras_tokenizer(keras):
    from keras.src.legacy.preprocessing.text import Tokenizer
    samples = ", ".join(f'"{t}"' for t in TEXTS)
    qs = "".join(f"  - {{id: t{k}, find: 'tokens[{k}]'}}\n  - {{id: y{k}, find: 'targets[{k}]'}}\n"
                 for k in range(1, len(TEXTS) + 1))
    a = data(f"  samples: [{samples}]\n  vocabulary: frequency\n  target: {{caesar: 3}}\n", qs)
    tok = Tokenizer(char_level=True)
    tok.fit_on_texts(TEXTS)
    want = tok.texts_to_sequences(TEXTS)
    assert [a[f"t{k}"]["value"] for k in range(1, len(TEXTS) + 1)] == want
    targets = ["rqh", "dqgwzr", "khoor zruog", "ddeef fed"]
    ttok = Tokenizer(char_level=True)  # the targets get a tokenizer of their own
    ttok.fit_on_texts(targets)
    assert [a[f"y{k}"]["value"] for k in range(1, len(TEXTS) + 1)] == \
        ttok.texts_to_sequences(targets)


@pytest.mark.parametrize("padding,length,truncating", [
    ("post", None, None), ("pre", None, None), ("pre", 8, None), ("post", 3, "pre"),
    ("pre", 4, "post")])
def test_padding_is_keras_pad_sequences(padding, length, truncating, keras, torch):
    extra = (f"  length: {length}\n" if length else "") + \
        (f"  truncating: {truncating}\n" if truncating else "")
    a = data(f"  samples: [one, andtwo, ab]\n  padding: {padding}\n{extra}",
             "  - {id: p, find: padded}\n  - {id: h, find: 'one_hot[2]'}\n")
    tokens = [[15, 14, 5], [1, 14, 4, 20, 23, 15], [1, 2]]
    want = keras.utils.pad_sequences(tokens, maxlen=length, padding=padding,
                                     truncating=truncating or "pre").tolist()
    assert a["p"]["value"] == want
    one_hot = torch.nn.functional.one_hot(torch.tensor(want[1]), num_classes=27).tolist()
    assert a["h"]["value"] == one_hot


def test_vocabulary_string_unknown_symbols_and_their_column():
    a = data('  samples: ["ab c", "ca"]\n  vocabulary: "cba"\n  unknown: skip\n',
             "  - {id: a, find: 'tokens[1]'}\n  - {id: b, find: 'tokens[2]'}\n")
    assert a["a"]["value"] == [3, 2, 1] and a["b"]["value"] == [1, 3]
    a = data('  samples: ["ab c"]\n  vocabulary: "abc"\n  unknown: 4\n',
             "  - {id: a, find: 'tokens[1]'}\n  - {id: h, find: 'one_hot[1]'}\n")
    assert a["a"]["value"] == [1, 2, 4, 3]
    assert [r.index(1) for r in a["h"]["value"]] == [1, 2, 4, 3] and \
        len(a["h"]["value"][0]) == 5


def test_caesar_wraps_round_and_keeps_case_and_other_symbols():
    a = data('  samples: ["xyz", "Ab c!"]\n  vocabulary: "abcdefghijklmnopqrstuvwxyzABZ !"\n'
             "  target: {caesar: -1}\n",
             "  - {id: a, find: 'target_text[1]'}\n  - {id: b, find: 'target_text[2]'}\n")
    assert a["a"]["exact"] == "wxy" and a["b"]["exact"] == "Za b!"


def test_the_solution_shows_the_tables():
    sol = solve_text("title: t\nencoding:\n  samples: [one, andtwo]\n  vocabulary: frequency\n"
                     "questions:\n  - {id: f, find: 'one_hot[1]'}\n")
    md = render.markdown(sol)
    assert r"| $\text{count}$ | $2$ | $2$ | $1$ |" in md  # o, n twice; then e ...
    assert r"$\text{pad}$" in md and r"| $4\colon 0$ | $1$ |" in md
    tex = render.latex(sol)
    assert r"\texttt{Tokenizer(char\_level=True)}" in tex


@pytest.mark.parametrize("encoding,questions,key,line,words", [
    ('  samples: ["one", "two!"]\n', "  - {id: a, find: 'tokens[1]'}\n",
     "encoding.samples[2]", 3, "sample 2 ('two!') has the symbol '!'"),
    ('  samples: ["One"]\n', "  - {id: a, find: 'tokens[1]'}\n",
     "encoding.samples[1]", 3, "write the sample in lower case"),
    ('  samples: ["ab"]\n  vocabulary: "ab"\n  target: {caesar: 1}\n',
     "  - {id: a, find: 'targets[1]'}\n", "encoding.target", 5, "the target of sample 1"),
    ('  samples: ["abc", "a"]\n  length: 2\n', "  - {id: a, find: padded}\n",
     "encoding.length", 4, "say truncating: pre"),
    ('  samples: ["abc"]\n', "  - {id: a, find: 'targets[1]'}\n",
     "questions.a.find", 5, "needs a target:"),
    ('  samples: ["abc"]\n', "  - {id: a, find: tokens}\n",
     "questions.a.find", 5, "needs a sample number"),
    ('  samples: ["abc"]\n', "  - {id: a, find: 'tokens[2]'}\n",
     "questions.a.find", 5, "there is 1 sample"),
    ('  samples: ["abc"]\n  vocabulary: "abca"\n', "  - {id: a, find: 'tokens[1]'}\n",
     "encoding.vocabulary", 4, "'a' twice"),
    ('  samples: ["abc"]\n  padding: middle\n', "  - {id: a, find: padded}\n",
     "encoding.padding", 4, "post or pre"),
])
def test_bad_data_names_the_key_and_line(encoding, questions, key, line, words):
    with pytest.raises(SpecError) as e:
        loads(f"title: t\nencoding:\n{encoding}questions:\n{questions}", "d.yaml")
    assert (e.value.key, e.value.line) == (key, line), str(e.value)
    assert words in e.value.message, e.value.message
