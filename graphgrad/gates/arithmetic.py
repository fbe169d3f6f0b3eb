"""add, sub, mul, div, neg, pow: the lecture's distributor and swap-multiplier gates.

Backward results may have the broadcast shape; the engine sums them back to each
input's shape (see ``graphgrad.gate.sum_to``).
"""

from __future__ import annotations

from ..gate import Gate, Shape, broadcast


class _Broadcasting(Gate):
    complex_step = True

    def shape(self, *shapes: Shape) -> Shape:
        return broadcast(*shapes)


class Add(_Broadcasting):
    """a + b + ...: passes the upstream gradient to every input (distributor)."""

    op = "add"

    def forward(self, a, b, *rest):
        out = a + b
        for r in rest:
            out = out + r
        return out

    def backward(self, grad, out, *inputs):
        return (grad,) * len(inputs)


class Sub(_Broadcasting):
    """a - b."""

    op = "sub"

    def forward(self, a, b):
        return a - b

    def backward(self, grad, out, a, b):
        return grad, -grad


class Mul(_Broadcasting):
    """a * b: each input gets the other times the upstream (swap multiplier)."""

    op = "mul"

    def forward(self, a, b):
        return a * b

    def backward(self, grad, out, a, b):
        return grad * b, grad * a


class Div(_Broadcasting):
    """a / b."""

    op = "div"

    def forward(self, a, b):
        return a / b

    def edges(self, a, b):
        return b

    def backward(self, grad, out, a, b):
        gb = grad / b
        return gb, -gb * out


class Neg(_Broadcasting):
    """-a."""

    op = "neg"

    def forward(self, a):
        return -a

    def backward(self, grad, out, a):
        return (-grad,)


class Pow(_Broadcasting):
    """a ** exponent, for a constant exponent."""

    op = "pow"
    examples = [{"exponent": 3.0}, {"exponent": 0.5}, {"exponent": -2.0}]
    exponent: float

    def forward(self, a):
        return a**self.exponent

    def edges(self, a):
        """0 ends the domain of a negative or fractional power (a pole, or a square root)."""
        return None if self.exponent >= 0 and float(self.exponent).is_integer() else a

    def backward(self, grad, out, a):
        return (grad * self.exponent * a ** (self.exponent - 1),)


GATES: list[type[Gate]] = [Add, Sub, Mul, Div, Neg, Pow]
