"""The tools a user would pick instead of graphgrad, on the same workloads.

Each peer is optional (``pip install -e '.[bench]'``); one that is not installed is
skipped with a note. Every peer's value and gradients are compared with the floor's
before it is timed, so a table never times a wrong computation.
"""

from __future__ import annotations

import importlib.util
import math
import sys
from collections.abc import Callable

import numpy as np

INSTALL = "not installed (pip install -e '.[bench]')"
JAX_SCALAR_LIMIT = 2_000


def missing(module: str) -> bool:
    return importlib.util.find_spec(module) is None


# ---- the scalar DAG -------------------------------------------------------------------


def scalar_peers(definition) -> dict[str, Callable[[], tuple[float, dict]] | str]:
    """name -> a function returning (value, {input: gradient}), or why it is skipped."""
    inputs = {name: float(d.value) for name, d in definition.inputs.items()}
    steps = [
        (name, definition.nodes[name].op, definition.nodes[name].args)
        for name in definition.order
        if name in definition.nodes
    ]
    output = definition.output
    peers: dict[str, Callable[[], tuple[float, dict]] | str] = {
        "networkx walk": _networkx_walk(definition, inputs, output)
    }
    peers["micrograd"] = INSTALL if missing("micrograd") else _micrograd(steps, inputs, output)
    peers["PyTorch eager"] = INSTALL if missing("torch") else _torch_scalar(steps, inputs, output)
    if missing("jax"):
        peers["JAX jit"] = INSTALL
    elif len(steps) > JAX_SCALAR_LIMIT:
        peers["JAX jit"] = f"run up to {JAX_SCALAR_LIMIT:,} nodes (jit compiles the unrolled graph; see docs)"
    else:
        peers["JAX jit"] = _jax_scalar(steps, inputs, output)
    return peers


FLOAT_OPS = {
    "add": lambda a, b: a + b,
    "mul": lambda a, b: a * b,
    "tanh": math.tanh,
    "sigmoid": lambda a: 1.0 / (1.0 + math.exp(-a)),
    "relu": lambda a: a if a > 0.0 else 0.0,
    "exp": math.exp,
}
FLOAT_LOCAL = {
    "add": lambda out, a, b: (1.0, 1.0),
    "mul": lambda out, a, b: (b, a),
    "tanh": lambda out, a: (1.0 - out * out,),
    "sigmoid": lambda out, a: (out * (1.0 - out),),
    "relu": lambda out, a: (1.0 if a > 0.0 else 0.0,),
    "exp": lambda out, a: (out,),
}


def _networkx_walk(definition, inputs: dict, output: str):
    """An interpreter that walks the NetworkX graph at run time, as a first version would."""
    import networkx as nx

    dag = definition.dag
    nodes = definition.nodes

    def run():
        values = dict(inputs)
        order = list(nx.topological_sort(dag))
        for name in order:
            node = nodes.get(name)
            if node is not None:
                values[name] = FLOAT_OPS[node.op](*(values[a] for a in node.args))
        grads = dict.fromkeys(values, 0.0)
        grads[output] = 1.0
        for name in reversed(order):
            node = nodes.get(name)
            if node is None:
                continue
            upstream = grads[name]
            local = FLOAT_LOCAL[node.op](values[name], *(values[a] for a in node.args))
            for arg, d in zip(node.args, local, strict=True):
                grads[arg] += d * upstream
        return values[output], {name: grads[name] for name in inputs}

    return run


def _micrograd(steps, inputs: dict, output: str):
    """micrograd's Value has add, mul, pow and relu; exp, tanh and sigmoid are added in its
    own style (a closure that adds the local gradient times the upstream)."""
    from micrograd.engine import Value

    def unary(fn, local):
        def apply(v):
            out = Value(fn(v.data), (v,), fn.__name__)

            def _backward():
                v.grad += local(out.data, v.data) * out.grad

            out._backward = _backward
            return out

        return apply

    ops = {
        "add": lambda a, b: a + b,
        "mul": lambda a, b: a * b,
        "relu": lambda a: a.relu(),
        "tanh": unary(math.tanh, lambda out, a: 1.0 - out * out),
        "exp": unary(math.exp, lambda out, a: out),
        "sigmoid": unary(FLOAT_OPS["sigmoid"], lambda out, a: out * (1.0 - out)),
    }
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 4 * len(steps) + 1000))

    def run():
        values = {name: Value(v) for name, v in inputs.items()}
        for name, op, args in steps:
            values[name] = ops[op](*(values[a] for a in args))
        values[output].backward()
        return values[output].data, {name: values[name].grad for name in inputs}

    return run


def _torch_scalar(steps, inputs: dict, output: str):
    import torch

    ops = {
        "add": torch.add,
        "mul": torch.mul,
        "tanh": torch.tanh,
        "sigmoid": torch.sigmoid,
        "relu": torch.relu,
        "exp": torch.exp,
    }

    def run():
        leaves = {n: torch.tensor(v, dtype=torch.float64, requires_grad=True) for n, v in inputs.items()}
        values = dict(leaves)
        for name, op, args in steps:
            values[name] = ops[op](*(values[a] for a in args))
        values[output].backward()
        return values[output].item(), {name: t.grad.item() for name, t in leaves.items()}

    return run


def _jax_scalar(steps, inputs: dict, output: str):
    import jax
    import jax.numpy as jnp

    jax.config.update("jax_enable_x64", True)
    ops = {
        "add": jnp.add,
        "mul": jnp.multiply,
        "tanh": jnp.tanh,
        "sigmoid": jax.nn.sigmoid,
        "relu": jax.nn.relu,
        "exp": jnp.exp,
    }
    names = list(inputs)

    def f(*args):
        values = dict(zip(names, args, strict=True))
        for name, op, node_args in steps:
            values[name] = ops[op](*(values[a] for a in node_args))
        return values[output]

    compiled = jax.jit(jax.value_and_grad(f, argnums=tuple(range(len(names)))))
    args = [jnp.float64(inputs[n]) for n in names]

    def run():
        value, grads = compiled(*args)
        value.block_until_ready()
        return float(value), {n: float(g) for n, g in zip(names, grads, strict=True)}

    return run


# ---- the two-layer net ----------------------------------------------------------------


def net_peers(X, y, W1, W2, loss: str, reg: float) -> dict[str, Callable[[], tuple] | str]:
    """name -> a function returning (loss, dW1, dW2, dX) as NumPy values, or why skipped."""
    return {
        "PyTorch": INSTALL if missing("torch") else _torch_net(X, y, W1, W2, loss, reg),
        "autograd": INSTALL if missing("autograd") else _autograd_net(X, y, W1, W2, loss, reg),
        "JAX jit": INSTALL if missing("jax") else _jax_net(X, y, W1, W2, loss, reg),
    }


def _torch_net(X, y, W1, W2, loss: str, reg: float):
    import torch
    import torch.nn.functional as F

    N = X.shape[0]
    rows = torch.arange(N)
    labels = torch.from_numpy(np.asarray(y, dtype=np.int64))
    tensors = [torch.from_numpy(a).requires_grad_(True) for a in (X, W1, W2)]

    def run():
        x, w1, w2 = tensors
        for t in tensors:
            t.grad = None
        s = torch.relu(x @ w1) @ w2
        if loss == "svm":
            data = (torch.clamp(s - s[rows, labels][:, None] + 1, min=0).sum() - N) / N
        else:
            data = F.cross_entropy(s, labels)
        total = data + reg * ((w1 * w1).sum() + (w2 * w2).sum())
        total.backward()
        return total.item(), w1.grad.numpy(), w2.grad.numpy(), x.grad.numpy()

    return run


def _autograd_net(X, y, W1, W2, loss: str, reg: float):
    import autograd.numpy as anp
    from autograd import value_and_grad

    N = X.shape[0]
    rows = np.arange(N)

    def objective(params):
        x, w1, w2 = params
        s = anp.dot(anp.maximum(anp.dot(x, w1), 0), w2)
        if loss == "svm":
            data = (anp.sum(anp.maximum(0, s - s[rows, y][:, None] + 1)) - N) / N
        else:
            shifted = s - anp.max(s, axis=1, keepdims=True)
            data = anp.sum(anp.log(anp.sum(anp.exp(shifted), axis=1)) - shifted[rows, y]) / N
        return data + reg * (anp.sum(w1 * w1) + anp.sum(w2 * w2))

    both = value_and_grad(objective)

    def run():
        value, (dX, dW1, dW2) = both((X, W1, W2))
        return value, dW1, dW2, dX

    return run


def _jax_net(X, y, W1, W2, loss: str, reg: float):
    import jax
    import jax.numpy as jnp

    jax.config.update("jax_enable_x64", True)
    N = X.shape[0]
    rows = jnp.arange(N)
    labels = jnp.asarray(y)

    def objective(x, w1, w2):
        s = jax.nn.relu(x @ w1) @ w2
        if loss == "svm":
            data = (jnp.sum(jnp.maximum(0, s - s[rows, labels][:, None] + 1)) - N) / N
        else:
            data = -jnp.sum(jax.nn.log_softmax(s)[rows, labels]) / N
        return data + reg * (jnp.sum(w1 * w1) + jnp.sum(w2 * w2))

    compiled = jax.jit(jax.value_and_grad(objective, argnums=(0, 1, 2)))
    args = [jnp.asarray(a) for a in (X, W1, W2)]

    def run():
        value, (dX, dW1, dW2) = compiled(*args)
        value.block_until_ready()
        return float(value), np.asarray(dW1), np.asarray(dW2), np.asarray(dX)

    return run
