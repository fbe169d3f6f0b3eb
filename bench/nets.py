"""The lecture's two-layer net as graph text at any size, and its floor: the same forward
and backward written by hand in NumPy."""

from __future__ import annotations

import numpy as np

TEMPLATE = """graphgrad: 1
name: two_layer_{loss}_bench
inputs:
  X:  {{shape: [{N}, {D}], init: normal, grad: {x_grad}}}
  y:  {{shape: [{N}], init: integers, high: {C}}}
  W1: {{shape: [{D}, {H}], init: normal, std: {std}}}
  W2: {{shape: [{H}, {C}], init: normal, std: {std}}}
nodes:
  h:    {{op: matmul, in: [X, W1]}}
  a:    {{op: relu, in: [h]}}
  s:    {{op: matmul, in: [a, W2]}}
  data: {{op: {op}, in: [s, y]}}
  r1:   {{op: l2, in: [W1]}}
  r2:   {{op: l2, in: [W2]}}
  reg:  {{op: add, in: [r1, r2]}}
  lreg: {{op: mul, in: [reg, {reg}]}}
  L:    {{op: add, in: [data, lreg]}}
output: L
{check}"""
LOSS_OPS = {"svm": "svm_loss", "softmax": "cross_entropy"}
REG = 0.001


def two_layer(
    N: int,
    D: int,
    H: int,
    C: int,
    *,
    loss: str = "svm",
    x_grad: bool = True,
    std: float = 0.01,
    wrt: list[str] | None = None,
) -> str:
    """s = W2 max(0, W1 x), SVM or softmax loss + 0.001 (R(W1) + R(W2)), batch N;
    ``wrt`` limits which inputs a check covers."""
    check = f"check: {{wrt: [{', '.join(wrt)}]}}\n" if wrt else ""
    return TEMPLATE.format(
        N=N,
        D=D,
        H=H,
        C=C,
        loss=loss,
        op=LOSS_OPS[loss],
        x_grad=str(x_grad).lower(),
        std=std,
        reg=REG,
        check=check,
    )


def numpy_floor(X, y, W1, W2, loss: str = "svm", reg: float = REG, x_grad: bool = True):
    """Loss and the gradients of W1, W2 and X (X's only with ``x_grad``: the lecture's
    net, where X is data, needs none), as a person writes them in NumPy."""
    N = X.shape[0]
    rows = np.arange(N)
    h = X @ W1
    a = np.maximum(h, 0)
    s = a @ W2
    if loss == "svm":
        margins = np.maximum(0, s - s[rows, y][:, None] + 1)
        margins[rows, y] = 0
        data = margins.sum() / N
        ds = (margins > 0).astype(s.dtype)
        ds[rows, y] = -ds.sum(axis=1)
        ds /= N
    else:
        shifted = s - s.max(axis=1, keepdims=True)
        exp = np.exp(shifted)
        total = exp.sum(axis=1, keepdims=True)
        data = (np.log(total[:, 0]) - shifted[rows, y]).sum() / N
        ds = exp / total
        ds[rows, y] -= 1
        ds /= N
    value = data + reg * (np.sum(W1 * W1) + np.sum(W2 * W2))
    dW2 = a.T @ ds + 2 * reg * W2
    dh = (ds @ W2.T) * (h > 0)
    dW1 = X.T @ dh + 2 * reg * W1
    if not x_grad:
        return value, dW1, dW2
    dX = dh @ W1.T
    return value, dW1, dW2, dX
