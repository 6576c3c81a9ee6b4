"""The one intermediate representation: a :class:`Solution` is the problem's forward pass
(shown once) and questions, each a sequence of typed steps.  Steps hold sympy objects
and chain trees; the renderer turns them into strings.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import sympy


# ---- chain trees: the chain rule as written, in a fixed order --------------------------------

@dataclass(frozen=True)
class One:
    """The empty product (the path ends at the variable itself)."""


@dataclass(frozen=True)
class Partial:
    """A local partial ∂of/∂wrt: ``of`` is a quantity symbol or an expression (the question's)."""

    of: sympy.Expr
    wrt: sympy.Symbol


@dataclass(frozen=True)
class Delta:
    """δ of a recurrent quantity, ∂L/∂h_t, carried by the backward recursion."""

    of: sympy.Symbol


@dataclass(frozen=True)
class Sum:
    items: tuple


@dataclass(frozen=True)
class Prod:
    items: tuple


def prod(*items):
    """A product with nested products flattened and empty factors dropped."""
    flat = []
    for it in items:
        if isinstance(it, One):
            continue
        flat.extend(it.items if isinstance(it, Prod) else (it,))
    if not flat:
        return One()
    return flat[0] if len(flat) == 1 else Prod(tuple(flat))


def total(items):
    items = tuple(items)
    if not items:
        return None
    return items[0] if len(items) == 1 else Sum(items)


# ---- steps ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class ForwardValues:
    """Forward equations in order: ``lhs = expr = (numbers put in) = value``."""

    rows: tuple  # of sympy symbols (nodes)
    detailed: bool  # show equation and substitution, or only the values


@dataclass(frozen=True)
class ForwardTable:
    """Forward values of the indexed quantities by step (long sequences)."""

    names: tuple  # equation names (columns)
    steps: tuple  # step numbers (rows)
    plain: tuple  # plain node symbols listed after the table


@dataclass(frozen=True)
class ForwardRef:
    """A question's forward values, read from the problem's one forward pass: ``rows`` are the
    quantities it reads (topological order), ``own`` the one it evaluates itself (a value
    question's own line, or None), not listed in the reference."""

    rows: tuple  # of node symbols
    own: object = None


@dataclass(frozen=True)
class Evaluate:
    """A value question over an expression: ``find = numbers = value``."""

    expr: sympy.Expr


@dataclass(frozen=True)
class Split:
    """∂L/∂w = ∂L_1/∂w + ∂L_2/∂w: the derivative of a sum is the sum of derivatives."""

    lhs: Partial
    terms: tuple  # of Partial


@dataclass(frozen=True)
class Chain:
    """One level of the expanded chain rule: ``mode`` is leibniz, local or values."""

    lhs: Partial
    tree: object
    mode: str
    deltas: dict | None = None  # values of the δ leaves, for mode "values"


@dataclass(frozen=True)
class Rules:
    """The local derivatives used, each once: (Partial, named expression), and function rules."""

    partials: tuple
    functions: tuple  # names of registry functions whose rule is used


@dataclass(frozen=True)
class Recurrence:
    """The backward recursion at a general step t (and its start at t = T)."""

    deltas: tuple  # of (Delta, tree) at general t, then (Delta, tree) at t = T
    last: int  # T
    rename: dict  # concrete symbol -> general-t symbol used in the general trees
    rename_last: dict  # concrete symbol -> T-relative symbol used in the trees at t = T
    first: tuple = ()  # positions in deltas of backward recurrences: their start is at t = 1


@dataclass(frozen=True)
class GradientSum:
    """∂L/∂w = Σ_t (per-step terms), general t, as Leibniz and local forms."""

    lhs: Partial
    tree: object
    rename: dict
    plain_tree: object  # terms from plain (timeless) quantities, or None


@dataclass(frozen=True)
class StepTable:
    """Per-step numbers of the backward pass.

    Each column is (kind, what, values by step): kind "value" (what: an equation name),
    "delta" (a state's name), "contrib" or "term" (what: the derivative, a Partial)."""

    columns: tuple
    steps: tuple


@dataclass(frozen=True)
class Result:
    """``lhs = term_1 + term_2 + ... = answer``."""

    lhs: object
    terms: tuple
    answer: sympy.Expr


@dataclass(frozen=True)
class Note:
    """A sentence of explanation (plain text with $...$ math, already safe)."""

    text: str


# ---- model and data questions (derive.model) ----------------------------------------------------

@dataclass(frozen=True)
class DataStep:
    """A step of a model or data question; the renderer dispatches these in one place."""


@dataclass(frozen=True)
class DataTarget:
    """What a model or data question asks: ``label`` (words, shown as the answer's left side)
    and ``question`` (the sentence printed when the problem gives no text: Markdown, where
    ``{sample}`` stands for the text ``sample``, shown as it is)."""

    label: str
    question: str
    sample: str | None = None


@dataclass(frozen=True)
class DataAnswer:
    """The answer of a model or data question: ``kind`` is count, shape, tokens, matrix,
    onehot (a matrix of one-hot rows) or text; ``value`` is an int, a list, a list of rows, or None for text; ``text`` is the exact
    answer as the JSON and the key hold it."""

    kind: str
    value: object
    text: str


@dataclass(frozen=True)
class LayerCount(DataStep):
    """One layer (a model.layers.Built, number ``index``): its tensors with their shapes, the
    formula with the numbers put in, the output shape and why, the notes."""

    index: int
    layer: object
    framework: str


@dataclass(frozen=True)
class ModelSummary(DataStep):
    """The summary table (layer, output shape, parameters) and, with ``total``, their sum."""

    model: object  # model.spec.Model
    total: bool


@dataclass(frozen=True)
class ShapeWalk(DataStep):
    """The output shape of layers 1..``upto``, each with why."""

    model: object
    upto: int


@dataclass(frozen=True)
class VocabularyTable(DataStep):
    """The vocabulary (symbol -> index, and counts for a frequency vocabulary)."""

    vocabulary: object  # model.encoding.Vocabulary
    targets: bool


@dataclass(frozen=True)
class TokenTable(DataStep):
    """One text step by step: symbol and index (``targets``: the target text of sample k)."""

    data: object  # model.encoding.Data
    k: int
    targets: bool


@dataclass(frozen=True)
class PaddedMatrix(DataStep):
    """All samples' tokens padded to one length."""

    data: object


@dataclass(frozen=True)
class OneHotTable(DataStep):
    """Sample k after padding, one row per step with its 1 in the token's column."""

    data: object
    k: int


@dataclass(frozen=True)
class CaesarTable(DataStep):
    """Sample k's letters and their shifted targets."""

    data: object
    k: int


@dataclass(frozen=True)
class BackwardRun:
    """Words: the named backward recurrences (hb[t] reads hb[t+1]) have a backward pass that
    runs forward in t."""

    names: tuple


@dataclass(frozen=True)
class VForward:
    """Forward values of vector quantities in order (``table``: by step, for long runs)."""

    rows: tuple  # node symbols
    table: bool


@dataclass(frozen=True)
class VBackward:
    """The backward equations in matrix form (forms of :mod:`derive.forms`).

    ``rows``: (lhs Adj, rhs form, when) with when "" (every step), "t < T", "T" or "plus at k";
    ``param``: (per-step form, plain form) of ∂root/∂parameter, or (form, None, k) for a given
    at step k, or None when the variable is a quantity (its value is read off the recursion)."""

    lhs: Partial
    rows: tuple
    param: tuple | None
    root: str | None


@dataclass(frozen=True)
class BackwardRef:
    """A gradient question's adjoints, read from the problem's one backward pass of the same
    loss (``Solution.backward``): ``lhs`` is the question's Partial (its loss names the pass),
    ``rows`` the adjoints it reads (form ``Adj`` items), in the order they are computed."""

    lhs: Partial
    rows: tuple


@dataclass(frozen=True)
class VTable:
    """Per-step values: columns (kind "adj" with a quantity name, or "contrib" with the
    Partial) and their values by step (sympy numbers or matrices, None where nothing flows)."""

    columns: tuple
    steps: tuple


@dataclass(frozen=True)
class VTruncated:
    """Truncated BPTT in matrix form: each loss term back-propagated alone through at most K
    steps.  ``kept``: per loss term (term as written, its step t or None, first and last step
    kept, its truncated gradient as shown)."""

    lhs: Partial
    K: int
    kept: tuple


@dataclass(frozen=True)
class VChain:
    """∂h_a/∂h_b = ∂h_a/∂h_{a-1} ⋯ ∂h_{b+1}/∂h_b: (step, local form, value) per factor."""

    lhs: Partial
    name: str
    factors: tuple
    product: object  # the Jacobian (the question's answer)
    by: int = -1  # each factor reads the step before (h[t-1]), or after (+1, hb[t+1])
    #: the steps at which a kinked function's diag(f'(·)) in the local Jacobian is I at the
    #: numbers (relu's diag(𝟏[z > 0]) when every z > 0), so the matrices shown drop it
    unit_steps: tuple = ()


@dataclass(frozen=True)
class VResult:
    """``lhs = Σ terms = answer``; ``kind`` says what the terms are (steps, loss terms)."""

    lhs: Partial
    terms: tuple
    answer: object
    kind: str


@dataclass(frozen=True)
class Additive:
    """The additive path of a gated state update: in ``name[t]``'s equation the term ``term``
    (a grammar tree) passes name[t-1] on with no squashing function; ``coefficient`` is its
    share of ∂name_t/∂name_{t-1} (a sympy expression, or a form for vectors)."""

    name: str
    term: object
    coefficient: object


@dataclass(frozen=True)
class GeneralFormula:
    """``form: general``: the T-step formula of ∂L/∂wrt through the state ``state`` with the
    local factor ∂h_j/∂h_{j−1} (sympy at step j, or a form for vectors), the direct partial
    ∂⁺h_k/∂wrt (sympy, or None), and the bound (activation, weight name, its norm or None)."""

    lhs: Partial
    state: str
    local: object
    direct: object
    activation: str | None
    weight: str | None
    norm: object


@dataclass(frozen=True)
class SweepTarget:
    """A question with ``over``: ``inner`` (a Partial, or the find's expression as sympy) with
    the index printed as ``var``, for var = first..last; ``norm`` says what each entry of the
    list is: "" (the answer itself, a scalar), "euclidean" (a vector's norm) or "spectral" (a
    matrix's largest singular value)."""

    inner: object
    var: str
    first: int
    last: int
    norm: str


@dataclass(frozen=True)
class SweepBound:
    """The bound drawn beside a sweep, read off the state's recurrence h_t = f(W h_{t-1} + …):
    γ = sup |f′| of the activation, ‖W‖ (|w|, or the largest singular value), ``local`` the
    factor ∂h_j/∂h_{j−1} at a general step j (sympy, a form for vectors, or None), ``gaps`` the
    number of factors between the two quantities at each k, and the bound per k:
    ``anchor_value`` × (γ‖W‖)^(gap(k) − gap(anchor)).  ``exact`` is True when it is the bound
    ‖∂h_a/∂h_b‖ ≤ (γ‖W‖)^(a−b) itself (anchor ∂h_a/∂h_a = I, value 1); otherwise the line is
    the rate the bound allows, drawn through the value at ``anchor``."""

    state: str
    activation: str
    gamma: sympy.Expr
    weight: str
    weight_norm: sympy.Expr
    local: object
    gap: sympy.Expr  # the number of factors, in T and the index (T - k)
    limits: tuple  # (lower, upper) of the product over j, sympy in T and the index
    gaps: tuple
    anchor: int | None  # the k where the line passes through the value (None: off range)
    anchor_value: sympy.Expr
    anchor_target: object  # the question at the anchor (a Partial), or None
    exact: bool
    values: tuple  # per k: a sympy number, or None where the gap is negative


@dataclass(frozen=True)
class Sweep:
    """The list a question with ``over`` asks for: per k in ``ks`` the answer (scalars) or its
    norm (``target.norm``), as sympy numbers (exact where exact); ``representative`` is the k
    whose derivation is shown before (or None); ``bound`` the line drawn beside the values in
    the plot (or None, with the reason in ``no_bound``)."""

    target: SweepTarget
    ks: tuple
    values: tuple
    representative: int | None
    bound: SweepBound | None
    no_bound: str


@dataclass(frozen=True)
class Answer:
    """The final answer: ``exact`` is None when its closed form is too long to be useful.
    A sweep's answer holds tuples (one entry per k: ``exact`` entries None where inexact, the
    whole None when none is exact) and ``value`` a list."""

    expr: sympy.Expr
    exact: sympy.Expr | None
    value: float | None


@dataclass(frozen=True)
class QuestionSolution:
    question: object  # loader.Question
    target: object  # Partial for derivatives, the sympy expression otherwise, None if conceptual
    steps: tuple
    answer: Answer | None


@dataclass(frozen=True)
class Solution:
    problem: object  # loader.Problem
    graph: object  # graph.Graph
    values: dict  # symbol -> forward value (exact, 50-digit float or symbolic)
    questions: tuple
    vector: object = None  # vengine.VectorInfo for problems with vectors or matrices
    checks: dict = field(default_factory=dict)  # question id -> crosscheck.Check
    loss: object = None  # with gradients: the loss symbol (the last plain quantity)
    gradients: dict = field(default_factory=dict)  # node symbol -> ∂loss/∂node (scalars)
    #: the problem's forward pass, shown once before the questions (ForwardValues,
    #: ForwardTable or VForward steps): every quantity a question's ForwardRef names
    forward: tuple = ()
    #: per loss that two or more gradient questions differentiate: its backward pass, shown
    #: once after the forward pass (a VBackward without the parameter's rule, and the VTable
    #: of its adjoints); each such question's BackwardRef names it
    backward: tuple = ()


#: What tables and matrices print: all rows up to MAX_TABLE_ROWS, else both ends.
MAX_MATRIX_SHOWN = 8
MAX_TABLE_ROWS = 40
ROWS_AT_ENDS = 8


def shown_rows(steps) -> tuple:
    """The rows a table prints: all of them, or both ends of a long one."""
    steps = tuple(steps)
    if len(steps) <= MAX_TABLE_ROWS:
        return steps
    return steps[:ROWS_AT_ENDS] + steps[-ROWS_AT_ENDS:]
