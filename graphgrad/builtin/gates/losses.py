"""softmax, log_softmax and the losses of the lecture: cross-entropy, SVM hinge, L2."""

from __future__ import annotations

import numpy as np

from graphgrad.builtin.gates.reduction import normalize_axes
from graphgrad.gate import Gate, InputValueError, Shape

SMALL_DOT = 4096
"""Up to this many elements ``l2`` sums by ``np.dot``: a single-threaded BLAS call with
none of ``einsum``'s 3 us of Python (OpenBLAS threads a dot only from 10,000 elements)."""


class _AlongAxis(Gate):
    shape_rule = "the shape of a"

    complex_step = True
    axis: int = -1

    def shape(self, a: Shape) -> Shape:
        normalize_axes(self.axis, len(a))
        return a


def _softmax(a: np.ndarray, axis: int) -> np.ndarray:
    shifted = np.exp(a - a.max(axis=axis, keepdims=True))  # methods: no np.max wrapper (1 us a call)
    return shifted / shifted.sum(axis=axis, keepdims=True)


class Softmax(_AlongAxis):
    """e^a / sum e^a along ``axis``, shifted by the max so that it cannot overflow."""

    gradient = "s (upstream - sum(upstream x s)) along axis, s the output"

    op = "softmax"
    deterministic = True

    def forward(self, a):
        return _softmax(a, self.axis)

    def backward(self, grad, out, a):
        return (out * (grad - np.sum(grad * out, axis=self.axis, keepdims=True)),)

    def forward_code(self, code, a):
        return f"{code.helper('_softmax', SOFTMAX)}({a}, {self.axis})"

    def backward_code(self, code, grad, out, a):
        return (f"{out} * ({grad} - np.sum({grad} * {out}, axis={self.axis}, keepdims=True))",)


class LogSoftmax(_AlongAxis):
    """a - log sum e^a along ``axis``, computed stably."""

    gradient = "upstream - softmax(a) x sum(upstream) along axis"

    op = "log_softmax"
    deterministic = True

    def forward(self, a):
        shifted = a - np.max(a, axis=self.axis, keepdims=True)
        return shifted - np.log(np.sum(np.exp(shifted), axis=self.axis, keepdims=True))

    def backward(self, grad, out, a):
        return (grad - np.exp(out) * np.sum(grad, axis=self.axis, keepdims=True),)

    def forward_code(self, code, a):
        return f"{code.helper('_log_softmax', LOG_SOFTMAX)}({a}, {self.axis})"

    def backward_code(self, code, grad, out, a):
        return (f"{grad} - np.exp({out}) * np.sum({grad}, axis={self.axis}, keepdims=True)",)


class _ClassificationLoss(Gate):
    """A loss over scores [N, C] (or [C]) and integer labels [N] (or a scalar)."""

    shape_rule = "scalar; scores [N, C] with labels [N], or [C] with a scalar label"

    complex_step = True

    def shape(self, scores: Shape, labels: Shape) -> Shape:
        if len(scores) not in (1, 2):
            raise ValueError(f"scores must be [N, C] or [C], not {list(scores)}")
        expected = scores[:1] if len(scores) == 2 else ()
        if tuple(labels) != expected:
            raise ValueError(
                f"labels must have shape {list(expected)} for scores {list(scores)}, not {list(labels)}"
            )
        return ()

    def check_values(self, scores, labels) -> None:
        if labels is None:
            return
        if labels.dtype.kind not in "iu":
            raise InputValueError(
                1,
                f"labels must be int64, not {labels.dtype}: a list of numbers is float unless the "
                "input says dtype: int64, as in {value: [1, 0, 2], dtype: int64}",
            )
        classes = scores.shape[-1] if scores is not None else None
        if labels.size and (labels.min() < 0 or (classes is not None and labels.max() >= classes)):
            bad = labels.min() if labels.min() < 0 else labels.max()
            raise InputValueError(1, f"label {int(bad)} is outside [0, {classes})")

    def sample_inputs(self, rng):
        return [
            (rng.normal(size=(5, 4)), rng.integers(0, 4, 5)),
            (rng.normal(size=(3,)), np.int64(rng.integers(0, 3))),
        ]

    @staticmethod
    def _rows(scores, labels):
        if scores.ndim == 2:
            return scores, labels
        return np.atleast_2d(scores), np.atleast_1d(labels)


class CrossEntropy(_ClassificationLoss):
    """Mean over samples of -log softmax(scores)[label]."""

    gradient = "scores: (softmax(scores) - onehot(label)) / N x upstream; labels: none"

    op = "cross_entropy"
    deterministic = True

    def forward(self, scores, labels):
        s, y = self._rows(scores, labels)
        self.check_values(scores, labels)
        shifted = s - s.max(axis=1, keepdims=True)
        logp = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
        picked = logp[np.arange(len(y)), y]
        return -(picked.sum() / len(y))  # np.mean's arithmetic, without its 3 us of overhead

    def backward(self, grad, out, scores, labels, *, needs=(True, False)):
        if not needs[0]:
            return (None, None)
        s, y = self._rows(scores, labels)
        d = _softmax(s, 1)
        d[np.arange(len(y)), y] -= 1
        return (grad * d.reshape(scores.shape) / len(y), None)

    def forward_code(self, code, scores, labels):
        code.helper("_log_softmax", LOG_SOFTMAX)
        return f"{code.helper('_cross_entropy', _CROSS_ENTROPY)}({scores}, {labels})"

    def backward_code(self, code, grad, out, scores, labels):
        code.helper("_softmax", SOFTMAX)
        return f"{code.helper('_cross_entropy_grad', _CROSS_ENTROPY_GRAD)}({grad}, {scores}, {labels})", None


class SvmLoss(_ClassificationLoss):
    """Multiclass hinge: mean over samples of sum_{j != y} max(0, s_j - s_y + margin)."""

    gradient = (
        "scores: upstream / N at each j whose margin term is active, minus their count at y; labels: none"
    )

    op = "svm_loss"
    deterministic = True
    margin: float = 1.0

    def _margins(self, s, y):
        rows = np.arange(len(y))
        m = s - s[rows, y][:, None] + self.margin
        m[rows, y] = 0
        return m

    def forward(self, scores, labels):
        s, y = self._rows(scores, labels)
        self.check_values(scores, labels)
        return np.maximum(self._margins(s, y), 0).sum() / len(y)

    def kinks(self, scores, labels):
        s, y = self._rows(scores, labels)
        m = self._margins(s, y)
        m[np.arange(len(y)), y] = 1.0
        return m

    def backward(self, grad, out, scores, labels, *, needs=(True, False)):
        if not needs[0]:
            return (None, None)
        s, y = self._rows(scores, labels)
        active = (self._margins(s, y) > 0).astype(s.dtype)
        active[np.arange(len(y)), y] = -active.sum(axis=1)
        return (grad * active.reshape(scores.shape) / len(y), None)

    def forward_code(self, code, scores, labels):
        code.helper("_svm_margins", _SVM_MARGINS)
        loss = code.helper("_svm_loss", _SVM_LOSS)
        return f"{loss}({scores}, {labels}, {code.number(self.margin)})"

    def backward_code(self, code, grad, out, scores, labels):
        code.helper("_svm_margins", _SVM_MARGINS)
        loss_grad = code.helper("_svm_loss_grad", _SVM_LOSS_GRAD)
        return f"{loss_grad}({grad}, {scores}, {labels}, {code.number(self.margin)})", None


class L2(Gate):
    """Sum of squares, the regulariser R(W); local gradient 2a."""

    deterministic = True

    gradient = "upstream x 2a"
    shape_rule = "scalar"

    op = "l2"
    complex_step = True

    def shape(self, a: Shape) -> Shape:
        return ()

    def forward(self, a):
        """The sum of products of the flattened input with itself, by ``einsum``: no
        temporary the size of the weights (a fresh 2.4 MB array cost up to 1.8 ms of page
        faults per run), no conjugation (complex-step checks still see sum(a * a)), and
        not BLAS's ``dot``, which runs a long vector on BLAS's threads: on a loaded
        machine waking them cost up to 1.6 ms a call, 16x the lecture's net at batch 1."""
        flat = np.ravel(a)
        if flat.size <= SMALL_DOT:
            return np.dot(flat, flat)  # no conjugation either; under BLAS's threading size
        return np.einsum("i,i->", flat, flat)

    def backward(self, grad, out, a):
        return (grad * 2 * a,)

    def forward_code(self, code, a):
        return f"np.sum({a} * {a})"

    def backward_code(self, code, grad, out, a):
        return (f"{grad} * 2 * {a}",)


SOFTMAX = """
def _softmax(a, axis):
    e = np.exp(a - np.max(a, axis=axis, keepdims=True))
    return e / np.sum(e, axis=axis, keepdims=True)
"""
LOG_SOFTMAX = """
def _log_softmax(a, axis):
    shifted = a - np.max(a, axis=axis, keepdims=True)
    return shifted - np.log(np.sum(np.exp(shifted), axis=axis, keepdims=True))
"""
_CROSS_ENTROPY = """
def _cross_entropy(s, y):
    s2, y1 = np.atleast_2d(s), np.atleast_1d(y)
    return -np.mean(_log_softmax(s2, 1)[np.arange(len(y1)), y1])
"""
_CROSS_ENTROPY_GRAD = """
def _cross_entropy_grad(g, s, y):
    s2, y1 = np.atleast_2d(s), np.atleast_1d(y)
    d = _softmax(s2, 1)
    d[np.arange(len(y1)), y1] -= 1
    return g * d.reshape(s.shape) / len(y1)
"""
_SVM_MARGINS = """
def _svm_margins(s, y, margin):
    s2, y1 = np.atleast_2d(s), np.atleast_1d(y)
    rows = np.arange(len(y1))
    m = s2 - s2[rows, y1][:, None] + margin
    m[rows, y1] = 0
    return m, rows, y1
"""
_SVM_LOSS = """
def _svm_loss(s, y, margin):
    m, rows, y1 = _svm_margins(s, y, margin)
    return np.maximum(m, 0).sum() / len(y1)
"""
_SVM_LOSS_GRAD = """
def _svm_loss_grad(g, s, y, margin):
    m, rows, y1 = _svm_margins(s, y, margin)
    active = (m > 0).astype(m.dtype)
    active[rows, y1] = -active.sum(axis=1)
    return g * active.reshape(s.shape) / len(y1)
"""

GATES: list[type[Gate]] = [Softmax, LogSoftmax, CrossEntropy, SvmLoss, L2]
