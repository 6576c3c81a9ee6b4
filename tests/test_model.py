"""Model questions (derive/model/layers.py, spec.py, solve.py): parameter counts and output shapes
of many stacks, compared with the numbers Keras and PyTorch themselves report for the same
stack written here by hand; the formulas shown add up to the counts; bad models are refused with
one message naming the key and the line."""

import os

import pytest

from derive.errors import SpecError
from derive.lang.loader import loads
from derive.output import render

from conftest import solve_text


@pytest.fixture(scope="module")
def keras():
    # the keras extra (Keras 3 on the torch backend): CI installs it, so a missing one fails
    # here and is never skipped
    os.environ.setdefault("KERAS_BACKEND", "torch")
    import keras
    assert keras.backend.backend() == "torch"
    return keras


def problem(framework: str, input_shape, layers: str, extra_questions: int = 0) -> str:
    n = layers.count("\n    - ")
    qs = "\n".join(f"  - {{id: p{i}, find: 'params[{i}]'}}\n  - {{id: s{i}, find: 'shape[{i}]'}}"
                   for i in range(1, n + 1))
    return (f"title: t\nframework: {framework}\nmodel:\n  input: {list(input_shape)}\n"
            f"  layers:{layers}\nquestions:\n  - {{id: total, find: params}}\n"
            f"  - {{id: out, find: shape}}\n{qs}\n")


def derived(text: str) -> tuple[list, list, int, list]:
    a = render.answers(solve_text(text))
    n = sum(1 for k in a if k.startswith("p"))
    return ([a[f"p{i}"]["value"] for i in range(1, n + 1)],
            [a[f"s{i}"]["value"] for i in range(1, n + 1)], a["total"]["value"],
            a["out"]["value"])


def keras_numbers(keras, input_shape, layers, dtype="float32"):
    m = keras.Sequential([keras.Input(shape=input_shape, dtype=dtype)] + layers)
    return ([la.count_params() for la in m.layers],
            [list(la.output.shape[1:]) for la in m.layers], m.count_params())


def torch_numbers(torch, input_shape, modules, tokens=False):
    """Counts and shapes of a PyTorch stack run on zeros; recurrent modules pass on output."""
    x = torch.zeros((1,) + tuple(input_shape),
                    dtype=torch.long if tokens else torch.get_default_dtype())
    counts, shapes = [], []
    for m in modules:
        y = m(x)
        x = y[0] if isinstance(y, tuple) else y
        counts.append(sum(p.numel() for p in m.parameters()))
        shapes.append(list(x.shape[1:]))
    return counts, shapes, sum(counts)


# ---- Keras stacks --------------------------------------------------------------------------------

def _keras_cases(L):
    return [
        ("seed 001: GRU, TimeDistributed Dense, softmax", (10, 1), """
    - GRU: {units: 64, return_sequences: true}
    - TimeDistributed: {Dense: {units: 26}}
    - Activation: softmax""",
         [L.GRU(64, return_sequences=True), L.TimeDistributed(L.Dense(26)),
          L.Activation("softmax")], "float32"),
        ("SimpleRNN, last step, Dense", (7, 3), """
    - SimpleRNN: 32
    - Dense: {units: 5, activation: softmax}""",
         [L.SimpleRNN(32), L.Dense(5, activation="softmax")], "float32"),
        ("two LSTM layers", (12, 4), """
    - LSTM: {units: 16, return_sequences: true}
    - LSTM: {units: 8}
    - Dense: 1""",
         [L.LSTM(16, return_sequences=True), L.LSTM(8), L.Dense(1)], "float32"),
        ("GRU reset_after false, Dropout", (6, 2), """
    - GRU: {units: 20, reset_after: false, return_sequences: true}
    - Dropout: 0.2
    - TimeDistributed: {Dense: 3}""",
         [L.GRU(20, reset_after=False, return_sequences=True), L.Dropout(0.2),
          L.TimeDistributed(L.Dense(3))], "float32"),
        ("Embedding, bidirectional LSTM", (10,), """
    - Embedding: {input_dim: 27, output_dim: 8}
    - Bidirectional: {LSTM: {units: 16, return_sequences: true}}
    - TimeDistributed: {Dense: {units: 27, activation: softmax}}""",
         [L.Embedding(27, 8), L.Bidirectional(L.LSTM(16, return_sequences=True)),
          L.TimeDistributed(L.Dense(27, activation="softmax"))], "int32"),
        ("bidirectional GRU summed, bidirectional SimpleRNN averaged", (5, 3), """
    - Bidirectional: {SimpleRNN: {units: 6, return_sequences: true}, merge_mode: ave}
    - Bidirectional: {GRU: 12, merge_mode: sum}
    - Dense: 4""",
         [L.Bidirectional(L.SimpleRNN(6, return_sequences=True), merge_mode="ave"),
          L.Bidirectional(L.GRU(12), merge_mode="sum"), L.Dense(4)], "float32"),
        ("no biases, Dense on a sequence", (4, 2), """
    - GRU: {units: 10, use_bias: false, return_sequences: true}
    - Dense: {units: 2, use_bias: false}""",
         [L.GRU(10, use_bias=False, return_sequences=True), L.Dense(2, use_bias=False)],
         "float32"),
    ]


KERAS_IDS = ["seed", "simplernn", "two-lstm", "gru-reset-after-false", "embedding-bilstm",
             "bidirectional-merges", "no-bias"]


@pytest.mark.parametrize("i", range(len(KERAS_IDS)), ids=KERAS_IDS)
def test_keras_stack_counts_and_shapes_are_keras_own(i, keras):
    name, shape, layers, built, dtype = _keras_cases(keras.layers)[i]
    counts, shapes, total, out = derived(problem("keras", shape, layers))
    k_counts, k_shapes, k_total = keras_numbers(keras, shape, built, dtype)
    assert (counts, shapes, total, out) == (k_counts, k_shapes, k_total, k_shapes[-1]), name


def test_the_seed_figures(keras):
    text = problem("keras", (10, 1), _keras_cases(keras.layers)[0][2])
    counts, shapes, total, out = derived(text)
    assert counts == [12864, 1690, 0] and total == 14554
    assert shapes[0] == [10, 64] and shapes[1] == [10, 26] and out == [10, 26]
    md = render.markdown(solve_text(text))
    assert r"3\,\left(64 \cdot 1 + 64 \cdot 64 + 2 \cdot 64\right)" in md
    assert "12864 + 1690 + 0 = 14554" in md and "(2, 192)" in md and "(64, 192)" in md


# ---- PyTorch stacks ------------------------------------------------------------------------------

def _torch_cases(nn):
    return [
        ("GRU, Linear, Softmax", (10, 1), """
    - GRU: {hidden_size: 64}
    - Linear: {out_features: 26}
    - Softmax: {dim: -1}""",
         [nn.GRU(1, 64, batch_first=True), nn.Linear(64, 26), nn.Softmax(dim=-1)], False),
        ("two-layer bidirectional LSTM", (7, 3), """
    - LSTM: {hidden_size: 32, num_layers: 2, bidirectional: true}
    - Linear: 5""",
         [nn.LSTM(3, 32, num_layers=2, bidirectional=True, batch_first=True),
          nn.Linear(64, 5)], False),
        ("Embedding, relu RNN without bias", (10,), """
    - Embedding: {num_embeddings: 27, embedding_dim: 8, padding_idx: 0}
    - RNN: {hidden_size: 16, nonlinearity: relu, bias: false}
    - Linear: {out_features: 27}
    - LogSoftmax: {dim: -1}""",
         [nn.Embedding(27, 8, padding_idx=0),
          nn.RNN(8, 16, nonlinearity="relu", bias=False, batch_first=True),
          nn.Linear(16, 27), nn.LogSoftmax(dim=-1)], True),
        ("three-layer RNN, activations", (4, 2), """
    - RNN: {hidden_size: 10, num_layers: 3}
    - Tanh
    - Dropout: 0.1
    - Linear: {out_features: 1, in_features: 10}""",
         [nn.RNN(2, 10, num_layers=3, batch_first=True), nn.Tanh(), nn.Dropout(0.1),
          nn.Linear(10, 1)], False),
        ("bidirectional two-layer GRU without bias", (6, 3), """
    - GRU: {hidden_size: 5, num_layers: 2, bidirectional: true, bias: false}""",
         [nn.GRU(3, 5, num_layers=2, bidirectional=True, bias=False, batch_first=True)],
         False),
    ]


TORCH_IDS = ["gru-linear", "bilstm-2", "embedding-relu-rnn", "rnn-3", "bigru-nobias"]


@pytest.mark.parametrize("i", range(len(TORCH_IDS)), ids=TORCH_IDS)
def test_pytorch_stack_counts_and_shapes_are_torch_own(i, torch):
    name, shape, layers, modules, tokens = _torch_cases(torch.nn)[i]
    counts, shapes, total, out = derived(problem("pytorch", shape, layers))
    t_counts, t_shapes, t_total = torch_numbers(torch, shape, modules, tokens)
    assert (counts, shapes, total, out) == (t_counts, t_shapes, t_total, t_shapes[-1]), name


def test_framework_is_inferred_from_pytorch_layer_names(torch):
    text = problem("keras", (5, 2), "\n    - RNN: 4\n    - Linear: 1").replace(
        "framework: keras\n", "")
    counts, _, _, _ = derived(text)
    assert counts == [sum(p.numel() for p in torch.nn.RNN(2, 4).parameters()), 5]


# ---- what the solution says ----------------------------------------------------------------------

def test_every_formula_adds_up_to_the_tensors(keras, torch):
    texts = [problem("keras", c[1], c[2]) for c in _keras_cases(keras.layers)] + \
        [problem("pytorch", c[1], c[2]) for c in _torch_cases(torch.nn)]
    for text in texts:
        for b in loads(text).arch.model.built:
            assert sum(g.value for g in b.formula) == b.count, b.call


def test_keras_and_pytorch_differences_are_stated_with_torch_numbers(torch):
    text = problem("keras", (12, 4), """
    - LSTM: {units: 16, return_sequences: true}
    - SimpleRNN: 8
    - GRU: {units: 3, reset_after: false}""".replace("- GRU", "- Dense: 3\n    - GRU")
                   .replace("SimpleRNN: 8", "SimpleRNN: {units: 8, return_sequences: true}"))
    built = loads(text).arch.model.built
    lstm = sum(p.numel() for p in torch.nn.LSTM(4, 16).parameters())
    rnn = sum(p.numel() for p in torch.nn.RNN(32 // 2, 8).parameters())
    gru = sum(p.numel() for p in torch.nn.GRU(3, 3).parameters())
    notes = [" ".join(b.notes) for b in built]
    assert f"has {lstm} parameters, {lstm - built[0].count} more" in notes[0]
    assert lstm - built[0].count == 4 * 16
    assert f"has {rnn} parameters, {rnn - built[1].count} more" in notes[1]
    assert f"has {gru} parameters, {gru - built[3].count} more" in notes[3]
    assert "reset_after=False" in notes[3]


def test_keras_gru_reset_after_true_counts_as_pytorch(torch):
    text = problem("keras", (10, 1), "\n    - GRU: 64")
    b = loads(text).arch.model.built[0]
    assert b.count == sum(p.numel() for p in torch.nn.GRU(1, 64).parameters())
    assert "counts the same" in " ".join(b.notes)
    assert [w.shape for w in b.weights] == [(1, 192), (64, 192), (2, 192)]


def test_summary_and_shapes_in_the_latex():
    text = problem("keras", (10, 1), """
    - GRU: {units: 64, return_sequences: true}
    - TimeDistributed: {Dense: {units: 26}}""")
    tex = render.latex(solve_text(text))
    assert r"\texttt{recurrent\_kernel}" in tex and "(10, 64)" in tex
    assert r"\texttt{return\_sequences=True}" in tex


# ---- bad models ----------------------------------------------------------------------------------

@pytest.mark.parametrize("layers,key,line,words", [
    ("\n    - GRUU: 64", "model.layers[1]", 6, "unknown keras layer GRUU (did you mean GRU?)"),
    ("\n    - GRU: {units: 64, return_sequence: true}", "model.layers[1].GRU.return_sequence",
     6, "unknown argument return_sequence (did you mean return_sequences?)"),
    ("\n    - GRU: 64\n    - GRU: 8", "model.layers[2].GRU", 7, "set return_sequences: true"),
    ("\n    - Linear: 4", "model.layers[1]", 6, "Linear is a pytorch layer"),
    ("\n    - Embedding: {input_dim: 27, output_dim: 4}", "model.layers[1].Embedding", 6,
     "takes integer tokens"),
    ("\n    - GRU: {units: 0}", "model.layers[1].GRU.units", 6, "from 1 to"),
    ("\n    - TimeDistributed: {GRU: 4}", "model.layers[1].TimeDistributed.GRU", 6,
     "unknown argument GRU"),
    ("\n    - GRU: {units: 4, reset_after: maybe}", "model.layers[1].GRU.reset_after", 6,
     "expected bool"),
])
def test_bad_keras_layers_name_the_key_and_line(layers, key, line, words):
    with pytest.raises(SpecError) as e:
        loads(problem("keras", (10, 1), layers), "m.yaml")
    assert e.value.key == key and e.value.line == line, str(e.value)
    assert words in e.value.message, e.value.message


def test_bad_pytorch_input_size_names_the_argument():
    text = problem("pytorch", (10, 3), "\n    - GRU: {hidden_size: 4, input_size: 2}")
    with pytest.raises(SpecError) as e:
        loads(text, "m.yaml")
    assert e.value.key == "model.layers[1].GRU.input_size" and "gives 3" in e.value.message


def test_model_questions_need_a_model_and_a_layer_that_exists():
    with pytest.raises(SpecError) as e:
        loads(problem("keras", (10, 1), "\n    - GRU: 64").replace("params[1]", "params[9]"))
    assert e.value.key == "questions.p1.find" and "1 layer" in e.value.message
    text = "title: t\nencoding: {samples: [ab]}\nquestions:\n  - {id: a, find: params}\n"
    with pytest.raises(SpecError) as e:
        loads(text)
    assert e.value.line == 4 and "no model: block" in e.value.message


def test_a_problem_with_equations_and_a_model():
    text = """title: both
steps: 2
model:
  input: [2, 1]
  layers:
    - SimpleRNN: 3
equations:
  h[t]: w*h[t-1] + x[t]
given: {"h[0]": 0, w: 2, x: [1, 1]}
questions:
  - {id: a, find: 'h[2]'}
  - {id: b, find: params}
"""
    a = render.answers(solve_text(text))
    assert a["a"]["value"] == 3 and a["b"]["value"] == 3 * (1 + 3 + 1)
