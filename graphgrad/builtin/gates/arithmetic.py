"""add, sub, mul, div, neg, pow: the lecture's distributor and swap-multiplier gates.

Backward results may have the broadcast shape; the engine sums them back to each
input's shape (see ``graphgrad.gate.sum_to``).
"""

from __future__ import annotations

from graphgrad.gate import Code, Gate, Shape, broadcast


class _Broadcasting(Gate):
    shape_rule = "NumPy broadcasting of the inputs"

    complex_step = True

    def shape(self, *shapes: Shape) -> Shape:
        return broadcast(*shapes)


class Add(_Broadcasting):
    """a + b + ...: passes the upstream gradient to every input (distributor)."""

    gradient = "upstream, to every input (distributor)"

    op = "add"
    deterministic = True
    pattern = "distributor"

    def forward(self, a, b, *rest):
        out = a + b
        for r in rest:
            out = out + r
        return out

    def backward(self, grad, out, *inputs):
        return (grad,) * len(inputs)

    def forward_code(self, code, *args):
        return " + ".join(args)

    def backward_code(self, code, grad, out, *args):
        return [code.sum_to(grad, i) for i in range(len(args))]


class Sub(_Broadcasting):
    """a - b."""

    gradient = "a: upstream; b: -upstream"

    op = "sub"
    deterministic = True

    def forward(self, a, b):
        return a - b

    def backward(self, grad, out, a, b, *, needs=(True, True)):
        return (grad if needs[0] else None), (-grad if needs[1] else None)

    def forward_code(self, code, a, b):
        return f"{a} - {b}"

    def backward_code(self, code, grad, out, a, b):
        return code.sum_to(grad, 0), code.sum_to(f"-{grad}", 1)


class Mul(_Broadcasting):
    """a * b: each input gets the other times the upstream (swap multiplier)."""

    gradient = "a: upstream x b; b: upstream x a (swap multiplier)"

    op = "mul"
    deterministic = True
    pattern = "swap multiplier"

    def forward(self, a, b):
        return a * b

    def backward(self, grad, out, a, b, *, needs=(True, True)):
        """Only the gradients used: ``mul(reg, 0.001)`` computes none for the literal."""
        return (grad * b if needs[0] else None), (grad * a if needs[1] else None)

    def forward_code(self, code, a, b):
        return f"{a} * {b}"

    def backward_code(self, code, grad, out, a, b):
        return code.sum_to(f"{grad} * {b}", 0), code.sum_to(f"{grad} * {a}", 1)


class Div(_Broadcasting):
    """a / b."""

    gradient = "a: upstream / b; b: -upstream x a / b^2"

    op = "div"
    deterministic = True

    def forward(self, a, b):
        return a / b

    def edges(self, a, b):
        return b

    def backward(self, grad, out, a, b, *, needs=(True, True)):
        gb = grad / b
        return (gb if needs[0] else None), (-gb * out if needs[1] else None)

    def forward_code(self, code, a, b):
        return f"{a} / {b}"

    def backward_code(self, code, grad, out, a, b):
        return code.sum_to(f"{grad} / {b}", 0), code.sum_to(f"-{grad} / {b} * {out}", 1)


class Neg(_Broadcasting):
    """-a."""

    gradient = "-upstream"
    shape_rule = "the shape of a"

    op = "neg"
    deterministic = True

    def forward(self, a):
        return -a

    def backward(self, grad, out, a):
        return (-grad,)

    def forward_code(self, code, a):
        return f"-{a}"

    def backward_code(self, code, grad, out, a):
        return (f"-{grad}",)


class Pow(_Broadcasting):
    """a ** exponent, for a constant exponent."""

    gradient = "upstream x exponent x a^(exponent - 1)"
    shape_rule = "the shape of a"

    op = "pow"
    deterministic = True
    examples = [{"exponent": 3.0}, {"exponent": 0.5}, {"exponent": -2.0}]
    exponent: float

    def forward(self, a):
        return a**self.exponent

    def edges(self, a):
        """0 ends the domain of a negative or fractional power (a pole, or a square root)."""
        return None if self.exponent >= 0 and float(self.exponent).is_integer() else a

    def backward(self, grad, out, a, *, needs=(True,)):
        if not needs[0]:
            return (None,)
        return (grad * self.exponent * a ** (self.exponent - 1),)

    def _power(self, code: Code, base: str, exponent: float) -> str:
        """``base ** exponent``; on floats ``np.power``, which falls back to NumPy for a
        negative base (where Python would give a complex number and NumPy NaN)."""
        if code.scalar:
            return f"np.power({base}, {code.number(exponent)})"
        return f"{base} ** {code.number(exponent)}"

    def forward_code(self, code, a):
        return self._power(code, a, self.exponent)

    def backward_code(self, code, grad, out, a):
        return (f"{grad} * {code.number(self.exponent)} * {self._power(code, a, self.exponent - 1)}",)


GATES: list[type[Gate]] = [Add, Sub, Mul, Div, Neg, Pow]
