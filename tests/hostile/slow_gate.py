"""A plugin gate that sleeps as long as its input says: a stand-in for an expensive
computation (the time limit, saturation, and clients that give up while it runs)."""

import time

import graphgrad


class Slow(graphgrad.Gate):
    """Sleeps ``x`` seconds, then passes ``x`` through."""

    op = "slow"

    def shape(self, x):
        return x

    def forward(self, x):
        time.sleep(float(x))
        return x

    def backward(self, grad, out, x):
        return (grad,)


@graphgrad.hookimpl
def graphgrad_gates():
    return [Slow]
