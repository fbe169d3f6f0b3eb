"""A plugin gate that kills the process running it (a segfault in a native extension,
as far as the server can tell): the service must answer, replace the worker, and keep
serving everyone else."""

import os
import signal

import graphgrad


class Crash(graphgrad.Gate):
    """Crashes its process with SIGSEGV when it runs."""

    op = "crash"

    def shape(self, x):
        return x

    def forward(self, x):
        os.kill(os.getpid(), signal.SIGSEGV)
        return x

    def backward(self, grad, out, x):
        return (grad,)


@graphgrad.hookimpl
def graphgrad_gates():
    return [Crash]
