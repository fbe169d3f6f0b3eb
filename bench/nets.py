"""The lecture's two-layer net as graph text, at any size."""

TEMPLATE = """graphgrad: 1
name: two_layer_svm_bench
inputs:
  X:  {{shape: [{N}, {D}], init: normal, grad: {x_grad}}}
  y:  {{shape: [{N}], init: integers, high: {C}}}
  W1: {{shape: [{D}, {H}], init: normal, std: {std}}}
  W2: {{shape: [{H}, {C}], init: normal, std: {std}}}
nodes:
  h:    {{op: matmul, in: [X, W1]}}
  a:    {{op: relu, in: [h]}}
  s:    {{op: matmul, in: [a, W2]}}
  data: {{op: svm_loss, in: [s, y]}}
  r1:   {{op: l2, in: [W1]}}
  r2:   {{op: l2, in: [W2]}}
  reg:  {{op: add, in: [r1, r2]}}
  lreg: {{op: mul, in: [reg, 0.001]}}
  L:    {{op: add, in: [data, lreg]}}
output: L
"""


def two_layer_svm(N: int, D: int, H: int, C: int, *, x_grad: bool = True, std: float = 0.01) -> str:
    """s = W2 max(0, W1 x), SVM loss + 0.001 (R(W1) + R(W2)), batch N."""
    return TEMPLATE.format(N=N, D=D, H=H, C=C, x_grad=str(x_grad).lower(), std=std)
