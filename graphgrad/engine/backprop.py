"""Forward and backward over a compiled plan, and :func:`run`, the one way a graph runs.

``run`` owns the choice between the scalar fast path (a generated function on Python
floats, when one is given) and the NumPy plan: Graph.run, checking, explain and the tests
all go through it. Forward visits the steps in topological order and writes each slot's value. Backward
seeds the output with ones (or a given cotangent) and visits the steps in reverse: each
input receives the gate's local gradient times the upstream one, and a slot read by several steps sums
what comes back (fan-out). A gate whose backward declares ``needs`` is told which of its
inputs' gradients are used, and computes only those (a matmul of the data X by W1
computes W1's gradient, not X's).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from graphgrad.engine.plan import Plan, Step
from graphgrad.errors import GateRuntimeError
from graphgrad.gate import InputValueError, sum_to

if TYPE_CHECKING:
    from graphgrad.engine.scalar import ScalarProgram


@dataclass(frozen=True, slots=True)
class Pass:
    """One forward and backward pass, per slot of the plan: ``values``, and ``grads``
    (None where a slot has no gradient). NumPy arrays from the plan; Python floats when
    ``program``, the scalar fast path, ran (it is None otherwise)."""

    values: list
    grads: list
    program: ScalarProgram | None = None


def run(plan: Plan, program: ScalarProgram | None = None, *, seed: np.ndarray | None = None) -> Pass:
    """Forward, then backward from the output seeded with ones, or with ``seed``.

    With a scalar ``program`` (``scalarplan.compile_scalar``) and no seed, the program
    runs first; where Python floats and NumPy would part ways it raises, and the NumPy
    plan decides. NumPy's floating-point warnings are silenced: a NaN or an infinity is
    a value in the result (which checking reports), not a warning on stderr.

    >>> import graphgrad
    >>> g = graphgrad.load("graphgrad: 1\\ninputs: {x: 3.0}\\nnodes:\\n"
    ...                    "  f: {op: square, in: [x]}\\noutput: f\\n")
    >>> p = run(g.plan)
    >>> float(p.values[g.plan.output]), float(p.grads[g.plan.slot["x"]]), p.program is None
    (9.0, 6.0, True)
    >>> run(g.plan, g.scalar_program).grads[g.plan.slot["x"]]
    6.0
    """
    if program is not None and seed is None:
        try:
            values, grads = program.run(plan.initial)
        except (ArithmeticError, ValueError):
            pass  # Python floats and NumPy part ways here: let NumPy decide
        else:
            return Pass(values, grads, program)
    with np.errstate(all="ignore"):
        values = forward(plan, list(plan.initial))
        return Pass(values, backward(plan, values, seed))


def forward(plan: Plan, values: list[np.ndarray | None]) -> list[np.ndarray | None]:
    """Fill ``values`` (a copy of ``plan.initial`` with any inputs replaced) in place."""
    ndarray = np.ndarray
    for step in plan.steps:
        try:
            out = step.forward(*[values[i] for i in step.ins])
        except Exception as exc:
            raise _failure(plan, step, "forward", exc) from exc
        values[step.out] = out if type(out) is ndarray else np.asarray(out)
    return values


def backward(
    plan: Plan, values: list[np.ndarray | None], seed: np.ndarray | None = None
) -> list[np.ndarray | None]:
    """Gradients of the output with respect to every slot that requires one (else None).

    The output's gradient is seeded with ones (``run``), or with ``seed``: checking a
    non-scalar output seeds a random cotangent u, so that what is differentiated is
    <output, u> and no error hides in a direction the plain sum cannot see.
    """
    grads: list[np.ndarray | None] = [None] * len(values)
    if not plan.requires_grad[plan.output]:
        return grads
    out = values[plan.output]
    grads[plan.output] = np.ones_like(out) if seed is None else np.asarray(seed, dtype=out.dtype).copy()
    requires, ndarray = plan.requires_grad, np.ndarray
    for step in reversed(plan.backward_steps):
        upstream = grads[step.out]
        if upstream is None:
            continue
        ins = step.ins
        args = [values[i] for i in ins]
        try:
            if step.needs is None:
                downstream = step.backward(upstream, values[step.out], *args)
            else:  # the gate skips the gradients nobody uses (plugins.md "needs")
                downstream = step.backward(upstream, values[step.out], *args, needs=step.needs)
        except Exception as exc:
            raise _failure(plan, step, "backward", exc) from exc
        if downstream is None or len(downstream) != len(ins):
            got = "None" if downstream is None else f"{len(downstream)} gradients"
            raise _failure(
                plan,
                step,
                "backward",
                ValueError(f"returned {got} for {len(ins)} inputs; return one per input (None for none)"),
            )
        for slot, grad in zip(ins, downstream, strict=False):  # lengths checked above
            if grad is None or not requires[slot]:
                continue
            value = values[slot]
            if type(grad) is not ndarray or grad.shape != value.shape or grad.dtype != value.dtype:
                grad = _fit(plan, step, grad, value)
            if grads[slot] is None:
                grads[slot] = grad
            else:
                _accumulate(grads, slot, grad)
    return grads


def _accumulate(grads: list[np.ndarray | None], slot: int, grad: np.ndarray) -> None:
    """Add ``grad`` to the array in ``grads[slot]``, in place when nothing else can see it.

    A fresh large array costs page faults on every run (a 2.4 MB sum took 2.4 ms in the
    two-layer net); adding in place avoids it. The array is safe to overwrite only when
    it owns its memory and no gate, value or other gradient holds it: then its only
    references are the list, ``current`` and getrefcount's argument (the same test
    NumPy uses to reuse temporaries).
    """
    current = grads[slot]
    if (
        sys.getrefcount(current) == 3
        and current.base is None
        and current.flags.writeable
        and current.shape == grad.shape
        and current.dtype == grad.dtype
    ):
        np.add(current, grad, out=current)
    else:
        grads[slot] = current + grad


def _fit(plan: Plan, step: Step, grad, value: np.ndarray) -> np.ndarray:
    """A gate's gradient summed back to its input's shape and cast to its dtype."""
    grad = np.asarray(grad)
    if grad.shape != value.shape:
        try:
            grad = sum_to(grad, value.shape)
        except ValueError:
            raise _failure(
                plan,
                step,
                "backward",
                ValueError(
                    f"returned a gradient of shape {list(grad.shape)} for an input of shape "
                    f"{list(value.shape)}"
                ),
            ) from None
    if grad.dtype != value.dtype:
        grad = grad.astype(value.dtype)
    return grad


def _failure(plan: Plan, step: Step, phase: str, exc: Exception) -> GateRuntimeError:
    if isinstance(exc, InputValueError) and 0 <= exc.index < len(step.ins):
        # A value the load-time check could not see (labels computed by a node): the
        # same message as at load time, naming the input.
        slot = step.ins[exc.index]
        who = plan.names[slot] if slot < len(plan.names) else "a literal"
        return GateRuntimeError(
            f"{plan.path}:{step.line}:1: node '{step.name}' ({step.op}): input '{who}': {exc} "
            "(a value computed by a node is checked when the graph runs)"
        )
    return GateRuntimeError(
        f"{plan.path}:{step.line}:1: node '{step.name}' ({step.op}): {phase} failed: "
        f"{type(exc).__name__}: {exc}"
    )
