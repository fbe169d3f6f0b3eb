"""matmul, transpose, reshape: gates that move elements rather than change them."""

from __future__ import annotations

import math

import numpy as np
from pydantic import Field

from graphgrad.gate import SUM_TO, Gate, Shape, broadcast, sum_to


class Matmul(Gate):
    """``numpy.matmul``: vectors, matrices and broadcast batches of matrices."""

    deterministic = True

    gradient = "a: upstream @ b^T; b: a^T @ upstream (batches summed back)"
    shape_rule = "numpy.matmul's: [n, k] @ [k, m] = [n, m]; vectors and batches too"

    op = "matmul"
    complex_step = True

    def shape(self, a: Shape, b: Shape) -> Shape:
        if not a or not b:
            raise ValueError("matmul does not take a scalar; use mul")
        a2 = (1,) + a if len(a) == 1 else a
        b2 = b + (1,) if len(b) == 1 else b
        if a2[-1] != b2[-2]:
            raise ValueError(
                f"matmul of shapes {list(a)} and {list(b)}: inner dimensions {a2[-1]} and {b2[-2]} differ"
            )
        out = broadcast(a2[:-2], b2[:-2]) + (a2[-2], b2[-1])
        if len(b) == 1:
            out = out[:-1]
        if len(a) == 1:
            out = out[:-2] + out[-1:] if len(b) > 1 else out[:-1]
        return out

    def forward(self, a, b):
        return np.matmul(a, b)

    def backward(self, grad, out, a, b, *, needs=(True, True)):
        """Only the gradients used: for ``X @ W1`` with data X, W1's alone (dX = grad @ W1.T
        would cost as much as the forward)."""
        if a.ndim == 2 and b.ndim == 2:
            return (grad @ b.T if needs[0] else None), (a.T @ grad if needs[1] else None)
        a2 = a[None, :] if a.ndim == 1 else a
        b2 = b[:, None] if b.ndim == 1 else b
        g2 = grad
        if a.ndim == 1:
            g2 = np.expand_dims(g2, -2 if b.ndim > 1 else -1)
        if b.ndim == 1:
            g2 = np.expand_dims(g2, -1)
        ga = gb = None
        if needs[0]:
            ga = sum_to(np.matmul(g2, np.swapaxes(b2, -1, -2)), a2.shape).reshape(a.shape)
        if needs[1]:
            gb = sum_to(np.matmul(np.swapaxes(a2, -1, -2), g2), b2.shape).reshape(b.shape)
        return ga, gb

    def forward_code(self, code, a, b):
        return f"np.matmul({a}, {b})"

    def backward_code(self, code, grad, out, a, b):
        code.helper("_sum_to", SUM_TO)
        code.helper("_matmul_2d", _MATMUL_2D)
        grad_a = code.helper("_matmul_grad_a", _MATMUL_GRAD_A)
        grad_b = code.helper("_matmul_grad_b", _MATMUL_GRAD_B)
        return f"{grad_a}({grad}, {a}, {b})", f"{grad_b}({grad}, {a}, {b})"


_MATMUL_2D = '''
def _matmul_2d(g, a, b):
    """a and b as matrices and g to match: numpy.matmul's treatment of vectors."""
    a2 = a[None, :] if a.ndim == 1 else a
    b2 = b[:, None] if b.ndim == 1 else b
    if a.ndim == 1:
        g = np.expand_dims(g, -2 if b.ndim > 1 else -1)
    if b.ndim == 1:
        g = np.expand_dims(g, -1)
    return g, a2, b2
'''
_MATMUL_GRAD_A = """
def _matmul_grad_a(g, a, b):
    g2, a2, b2 = _matmul_2d(g, a, b)
    return _sum_to(np.matmul(g2, np.swapaxes(b2, -1, -2)), a2.shape).reshape(a.shape)
"""
_MATMUL_GRAD_B = """
def _matmul_grad_b(g, a, b):
    g2, a2, b2 = _matmul_2d(g, a, b)
    return _sum_to(np.matmul(np.swapaxes(a2, -1, -2), g2), b2.shape).reshape(b.shape)
"""


class Transpose(Gate):
    """Permute axes; without ``axes``, reverse them all."""

    deterministic = True

    gradient = "upstream with the inverse permutation"
    shape_rule = "a's axes permuted"

    op = "transpose"
    examples = [{}, {"axes": [1, 0]}]
    complex_step = True
    axes: list[int] | None = None

    def _perm(self, ndim: int) -> list[int]:
        if self.axes is None:
            return list(reversed(range(ndim)))
        perm = [a % ndim if -ndim <= a < ndim else a for a in self.axes]
        if sorted(perm) != list(range(ndim)):
            raise ValueError(f"axes {self.axes} is not a permutation of the {ndim} axes of the input")
        return perm

    def shape(self, a: Shape) -> Shape:
        return tuple(a[i] for i in self._perm(len(a)))

    def forward(self, a):
        return np.transpose(a, self._perm(a.ndim))

    def backward(self, grad, out, a):
        return (np.transpose(grad, np.argsort(self._perm(a.ndim))),)

    def forward_code(self, code, a):
        return f"np.transpose({a}, {self._perm(len(code.shapes[0]))})"

    def backward_code(self, code, grad, out, a):
        inverse = [int(i) for i in np.argsort(self._perm(len(code.shapes[0])))]
        return (f"np.transpose({grad}, {inverse})",)


class Reshape(Gate):
    """Give the elements a new shape; one dimension may be -1."""

    deterministic = True

    gradient = "upstream reshaped to a's shape"
    shape_rule = "shape, with one -1 inferred"

    op = "reshape"
    examples = [{"shape": [-1]}]
    complex_step = True
    target: list[int] = Field(alias="shape")

    def shape(self, a: Shape) -> Shape:
        size = math.prod(a)
        if self.target.count(-1) > 1 or any(n < -1 for n in self.target):
            raise ValueError(f"shape {self.target} may hold one -1 and no other negative")
        known = math.prod(n for n in self.target if n != -1)
        if -1 in self.target:
            if known == 0 or size % known:
                raise ValueError(f"cannot reshape {size} elements into {self.target}")
            return tuple(size // known if n == -1 else n for n in self.target)
        if known != size:
            raise ValueError(f"cannot reshape {size} elements ({list(a)}) into {self.target}")
        return tuple(self.target)

    def forward(self, a):
        return np.reshape(a, self.target)

    def backward(self, grad, out, a):
        return (np.reshape(grad, a.shape),)

    def forward_code(self, code, a):
        return f"np.reshape({a}, {[int(n) for n in self.target]})"

    def backward_code(self, code, grad, out, a):
        return (f"np.reshape({grad}, {a}.shape)",)


GATES: list[type[Gate]] = [Matmul, Transpose, Reshape]
