"""The model and data cross-check (derive/check/modelcheck.py): PyTorch and Keras agree with the
answers, a wrong answer is caught, a Keras stack counted in PyTorch gives Keras's count; and the
command line on model and data problems (exit 2 with one line for bad ones)."""

import json
import os

import pytest
from typer.testing import CliRunner

from derive.check import crosscheck, modelcheck
from derive.cli import app
from derive.lang.loader import load, loads
from derive.output import render
from derive.calculus.questions import solve

from conftest import ROOT

runner = CliRunner()


@pytest.fixture(scope="module")
def keras():
    os.environ.setdefault("KERAS_BACKEND", "torch")
    import keras  # the keras extra: installed in CI, so never skipped
    return keras


def test_the_seed_model_agrees_with_pytorch_and_keras(keras):
    p = load(ROOT / "problems/caesar_model.yaml")
    checks = crosscheck.check(p, render.answers(solve(p)))
    assert {q: c.status for q, c in checks.items()} == {f"g{i}": "agrees" for i in range(1, 7)}
    assert all(f"Keras {keras.__version__}" in c.by for c in checks.values())
    assert checks["g1"].torch == 14554 and checks["g5"].torch == [10, 26]


def test_the_seed_data_agrees_with_pytorch_and_keras(keras):
    p = load(ROOT / "problems/caesar_data.yaml")
    checks = crosscheck.check(p, render.answers(solve(p)))
    assert checks and all(c.status == "agrees" and "Keras" in c.by for c in checks.values())
    assert checks["t"].torch == "dqgwzr"


def test_a_wrong_count_or_token_is_caught(keras):
    p = load(ROOT / "problems/caesar_model.yaml")
    answers = render.answers(solve(p))
    answers["g2"] = dict(answers["g2"], value=12672, exact="12672")  # one bias: reset_after=False
    c = crosscheck.check(p, answers)["g2"]
    assert c.status == "disagrees" and c.torch == 12864
    p = load(ROOT / "problems/caesar_data.yaml")
    answers = render.answers(solve(p))
    answers["d2"] = dict(answers["d2"], value=[2, 14, 5, 12, 22, 15])  # seed 001's tokens
    assert crosscheck.check(p, answers)["d2"].status == "disagrees"


KERAS_STACKS = [
    ((7, 3), "\n    - SimpleRNN: {units: 5, return_sequences: true}\n    - LSTM: 4\n    - Dense: 2"),
    ((6, 2), "\n    - GRU: {units: 3, reset_after: false, return_sequences: true}"
             "\n    - Bidirectional: {GRU: {units: 4}, merge_mode: mul}"),
    ((9,), "\n    - Embedding: {input_dim: 30, output_dim: 6}"
           "\n    - Bidirectional: {SimpleRNN: {units: 3, use_bias: false}}"),
]


@pytest.mark.parametrize("shape,layers", KERAS_STACKS)
def test_keras_stacks_counted_in_pytorch_give_keras_counts(shape, layers, keras):
    text = f"title: t\nframework: keras\nmodel:\n  input: {list(shape)}\n  layers:{layers}\n" \
           "questions:\n  - {id: a, find: params}\n"
    model = loads(text).arch.model
    assert modelcheck.torch_stack(model) == modelcheck.keras_stack(model)
    assert modelcheck.torch_stack(model)[0] == [b.count for b in model.built]


def test_json_values_are_integers_and_lists(tmp_path):
    r = runner.invoke(app, ["solve", str(ROOT / "problems/caesar_model.yaml"), "--json",
                            "--no-check", "--out", str(tmp_path)])
    assert r.exit_code == 0, r.output
    a = json.loads(r.stdout)["answers"]
    assert a["g1"] == {"find": "params", "exact": "14554", "latex": "14554", "value": 14554}
    assert a["g6"]["value"] == [10, 64] and a["g6"]["exact"] == "[10, 64]"


def test_check_covers_the_model_and_data_problems(keras):
    r = runner.invoke(app, ["check", str(ROOT / "problems/caesar_model.yaml"),
                            str(ROOT / "problems/caesar_data.yaml")])
    assert r.exit_code == 0, r.output
    assert "all 12 answers of 2 problems match their keys and PyTorch" in r.stdout
    assert "params[1]" in r.stdout and "torch, keras: equal" in r.stdout


@pytest.mark.parametrize("body,where", [
    ("model:\n  input: [10, 1]\n  layers:\n    - GRU: {units: 64, return_sequence: true}\n",
     "m.yaml: model.layers[1].GRU.return_sequence (line 5): unknown argument"),
    ("model:\n  input: [10, 1]\n  layers:\n    - Conv1D: 8\n",
     "m.yaml: model.layers[1] (line 5): unknown keras layer Conv1D"),
    ("model:\n  input: [10, 1]\n  layers:\n    - GRU: 8\n    - GRU: 8\n",
     "m.yaml: model.layers[2].GRU (line 6): GRU needs a sequence"),
    ("encoding:\n  samples: [one, 'tw0']\n",
     "m.yaml: encoding.samples[2] (line 3): sample 2 ('tw0') has the symbol '0'"),
])
def test_bad_model_or_data_exits_2_with_one_line(body, where, tmp_path):
    f = tmp_path / "m.yaml"
    f.write_text(f"title: t\n{body}questions:\n  - {{id: a, find: 'params'}}\n"
                 if "model" in body else f"title: t\n{body}questions:\n"
                 "  - {id: a, find: 'tokens[1]'}\n")
    r = runner.invoke(app, ["solve", str(f), "--out", str(tmp_path / "out")])
    assert r.exit_code == 2, r.output
    assert r.stderr.startswith(f"error: {f.parent}/{where}".replace(f"{f.parent}/", str(f.parent)
                                                                   + "/")), r.stderr
    assert r.stderr.count("\n") == 1 and not (tmp_path / "out").exists()
