"""Answers to model and data questions, as typed steps of :mod:`derive.solution`.

The numbers were worked out when the problem was loaded (:mod:`.spec` builds the stack and
encodes the samples); every count, shape and index shown here is read from those same objects.
"""

from __future__ import annotations

from ..solution import (CaesarTable, DataAnswer, DataTarget, LayerCount, ModelSummary,
                        OneHotTable, PaddedMatrix, QuestionSolution, ShapeWalk, TokenTable,
                        VocabularyTable)


def handles(problem, q) -> bool:
    """True when ``q`` is a question about the problem's model or data."""
    return problem.arch is not None and q.id in problem.arch.queries


def question(problem, q) -> QuestionSolution:
    query = problem.arch.queries[q.id]
    fn = {"params": _params, "shape": _shape, "tokens": _tokens, "padded": _padded,
          "one_hot": _one_hot, "targets": _targets, "target_text": _target_text}[query.what]
    target, steps, answer = fn(problem.arch, query.index)
    return QuestionSolution(q, target, tuple(steps), answer)


def _list(v) -> str:
    return "[" + ", ".join(_list(x) if isinstance(x, (tuple, list)) else str(x) for x in v) + "]"


def _as_list(v):
    return [_as_list(x) if isinstance(x, (tuple, list)) else x for x in v]


def _params(arch, k):
    m = arch.model
    if k is None:
        steps = [LayerCount(i, b, m.framework) for i, b in enumerate(m.built, start=1)]
        steps.append(ModelSummary(m, True))
        return (DataTarget("parameters", "How many parameters does the model have?"), steps,
                DataAnswer("count", m.total, str(m.total)))
    b = m.built[k - 1]
    return (DataTarget(f"parameters of layer {k}",
                       f"How many parameters does layer {k}, `{b.call}`, have?"),
            [LayerCount(k, b, m.framework)], DataAnswer("count", b.count, str(b.count)))


def _shape(arch, k):
    m = arch.model
    upto = len(m.built) if k is None else k
    shape = m.built[upto - 1].out_shape
    target = DataTarget("output shape" if k is None else f"output shape of layer {k}",
                        "What shape does the model output (batch left out)?" if k is None else
                        f"What shape does layer {k}, `{m.built[k - 1].call}`, output (batch "
                        "left out)?")
    return target, [ShapeWalk(m, upto)], DataAnswer("shape", list(shape), _list(shape))


def _tokens(arch, k):
    d = arch.encoding
    s = d.samples[k - 1]
    return (DataTarget(f"tokens of sample {k}", f"Tokenize sample {k}, {{sample}}.", s.text),
            [VocabularyTable(d.vocabulary, False), TokenTable(d, k, False)],
            DataAnswer("tokens", list(s.tokens), _list(s.tokens)))


def _padded(arch, k):
    d = arch.encoding
    if k is None:
        return (DataTarget("padded samples", "Pad the tokenized samples to one length."),
                [VocabularyTable(d.vocabulary, False), PaddedMatrix(d)],
                DataAnswer("matrix", _as_list(d.padded), _list(d.padded)))
    row = d.padded[k - 1]
    return (DataTarget(f"padded sample {k}", f"Pad sample {k}, {{sample}}.", d.samples[k - 1].text),
            [VocabularyTable(d.vocabulary, False), PaddedMatrix(d)],
            DataAnswer("tokens", list(row), _list(row)))


def _one_hot(arch, k):
    d = arch.encoding
    rows = d.one_hot(k)
    return (DataTarget(f"one-hot rows of sample {k}",
                       f"One-hot encode sample {k}, {{sample}}, after padding.",
                       d.samples[k - 1].text),
            [VocabularyTable(d.vocabulary, False), TokenTable(d, k, False), OneHotTable(d, k)],
            DataAnswer("onehot", _as_list(rows), _list(rows)))


def _targets(arch, k):
    d = arch.encoding
    t = d.targets[k - 1]
    steps = [CaesarTable(d, k)]
    if d.target_vocabulary is not d.vocabulary:
        steps.append(VocabularyTable(d.target_vocabulary, True))
    steps.append(TokenTable(d, k, True))
    return (DataTarget(f"target tokens of sample {k}",
                       f"What are the target tokens of sample {k}, {{sample}}?",
                       d.samples[k - 1].text),
            steps, DataAnswer("tokens", list(t.tokens), _list(t.tokens)))


def _target_text(arch, k):
    d = arch.encoding
    text = d.target_texts[k - 1]
    return (DataTarget(f"target text of sample {k}",
                       f"What is the target text of sample {k}, {{sample}}?",
                       d.samples[k - 1].text),
            [CaesarTable(d, k)], DataAnswer("text", None, text))
