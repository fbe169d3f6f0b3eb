"""A plugin gate whose backward pass is wrong: square's local gradient should be 2x and
this one gives x. The playground's Check must mark it in red."""

import graphgrad


class HalfSquare(graphgrad.Gate):
    """x**2 forward; backward forgets the factor 2."""

    op = "halfsquare"

    def forward(self, x):
        return x * x

    def backward(self, grad, out, x):
        return (grad * x,)


@graphgrad.hookimpl
def graphgrad_gates():
    return [HalfSquare]
