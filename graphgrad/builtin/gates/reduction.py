"""sum and mean over axes, NumPy style."""

from __future__ import annotations

import math

import numpy as np

from graphgrad.gate import Code, Gate, Shape


def normalize_axes(axis: int | list[int] | None, ndim: int) -> tuple[int, ...]:
    """Axes as non-negative ints, with NumPy's errors for out-of-range or repeated ones.

    >>> normalize_axes(-1, 3), normalize_axes(None, 2), normalize_axes([0, 2], 3)
    ((2,), (0, 1), (0, 2))
    """
    if axis is None:
        return tuple(range(ndim))
    raw = [axis] if isinstance(axis, int) else list(axis)
    out = []
    for a in raw:
        if not -ndim <= a < ndim:
            raise ValueError(f"axis {a} is out of range for an input of {ndim} dimensions")
        out.append(a % ndim)
    if len(set(out)) != len(out):
        raise ValueError(f"axis {raw} repeats an axis")
    return tuple(out)


class _Reduce(Gate):
    shape_rule = "a without the axes (kept as 1 with keepdims)"

    complex_step = True
    axis: int | list[int] | None = None
    keepdims: bool = False

    def shape(self, a: Shape) -> Shape:
        axes = normalize_axes(self.axis, len(a))
        if self.keepdims:
            return tuple(1 if i in axes else n for i, n in enumerate(a))
        return tuple(n for i, n in enumerate(a) if i not in axes)

    def _spread(self, grad, a):
        axes = normalize_axes(self.axis, a.ndim)
        if not self.keepdims:
            grad = np.expand_dims(grad, axes)
        return np.broadcast_to(grad, a.shape)

    def _forward_code(self, code: Code, function: str, a: str) -> str:
        axes = normalize_axes(self.axis, len(code.shapes[0]))
        return f"np.{function}({a}, axis={axes}, keepdims={self.keepdims})"

    def _spread_code(self, code: Code, grad: str, a: str, *, mean: bool) -> str:
        if code.scalar:
            return grad
        shape = code.shapes[0]
        axes = normalize_axes(self.axis, len(shape))
        spread = grad if self.keepdims else f"np.expand_dims({grad}, {axes})"
        expr = f"np.broadcast_to({spread}, {a}.shape)"
        if mean:
            expr += f" / {math.prod(shape[i] for i in axes)}"
        return expr


class Sum(_Reduce):
    """Sum over ``axis`` (all axes by default)."""

    gradient = "upstream spread back over the summed axes"

    op = "sum"
    deterministic = True

    def forward(self, a):
        return np.sum(a, axis=normalize_axes(self.axis, a.ndim), keepdims=self.keepdims)

    def backward(self, grad, out, a):
        return (self._spread(grad, a),)

    def forward_code(self, code, a):
        return self._forward_code(code, "sum", a)

    def backward_code(self, code, grad, out, a):
        return (self._spread_code(code, grad, a, mean=False),)


class Mean(_Reduce):
    """Mean over ``axis`` (all axes by default)."""

    gradient = "upstream spread back over the axes, divided by their size"

    op = "mean"
    deterministic = True

    def forward(self, a):
        return np.mean(a, axis=normalize_axes(self.axis, a.ndim), keepdims=self.keepdims)

    def backward(self, grad, out, a):
        count = math.prod(a.shape[i] for i in normalize_axes(self.axis, a.ndim))
        return (self._spread(grad, a) / count,)

    def forward_code(self, code, a):
        return self._forward_code(code, "mean", a)

    def backward_code(self, code, grad, out, a):
        return (self._spread_code(code, grad, a, mean=True),)


GATES: list[type[Gate]] = [Sum, Mean]
