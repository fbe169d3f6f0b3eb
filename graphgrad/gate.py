"""The Gate base class that every gate type, built-in or from a plugin, subclasses.

A gate is a pydantic model: its fields are the node's attributes in the graph file, so
validating a node is ``GateClass.model_validate(attributes)``. One instance serves one
node. ``forward`` computes the output from NumPy arrays; ``backward`` returns one
downstream gradient per input (upstream x local), ``None`` where an input has none.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
from pydantic import BaseModel, ConfigDict

Shape = tuple[int, ...]


class InputValueError(ValueError):
    """Raised by ``Gate.check_values`` when the value of input ``index`` is unusable."""

    def __init__(self, index: int, message: str):
        self.index = index
        super().__init__(message)


class Gate(BaseModel):
    """A gate type. Subclass it, set ``op``, declare attributes as fields.

    >>> import numpy as np
    >>> class Double(Gate):
    ...     op = "double"
    ...     def forward(self, a):
    ...         return 2 * a
    ...     def backward(self, grad, out, a):
    ...         return (2 * grad,)
    >>> float(Double().forward(np.float64(3.0)))
    6.0
    >>> arity(Double)
    Arity(minimum=1, maximum=1)
    """

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True, defer_build=True)

    op: ClassVar[str]
    examples: ClassVar[list[dict[str, Any]]] = [{}]
    """Attribute sets that ``graphgrad gates --check`` builds the gate with."""
    complex_step: ClassVar[bool] = False
    """Whether forward accepts complex inputs and is analytic in them, so that the
    complex-step checker may use it (away from kinks)."""

    def forward(self, *inputs: np.ndarray) -> np.ndarray:
        raise NotImplementedError(f"gate {type(self).__name__} has no forward")

    def backward(
        self, grad: np.ndarray, out: np.ndarray, *inputs: np.ndarray
    ) -> tuple[np.ndarray | None, ...]:
        raise NotImplementedError(f"gate {type(self).__name__} has no backward")

    def kinks(self, *inputs: np.ndarray) -> np.ndarray | None:
        """Values whose sign flips where the gate is not differentiable (None: smooth).

        A checker compares them between the unperturbed and a perturbed point: a change
        of sign, or a zero, means the perturbation crossed a kink.
        """
        return None

    def edges(self, *inputs: np.ndarray) -> np.ndarray | None:
        """Values whose sign flips where the gate's domain ends (a pole, log or sqrt of 0).

        A perturbation must never cross one: a checker that sees it crossed (or sees a
        non-finite value) shrinks its step until it does not, then takes a step a thousand
        times smaller, so that the step scales with the distance to the edge.
        """
        return None

    def sample_inputs(self, rng: np.random.Generator) -> list[tuple[np.ndarray, ...]] | None:
        """Input sets for ``graphgrad gates --check``; None lets it try common shapes
        (with broadcasting) with values away from zero, then positive ones."""
        return None

    def check_values(self, *inputs: np.ndarray | None) -> None:
        """Check input values known before running (``None`` where not yet known).

        Raise :class:`InputValueError` for a bad one. The default accepts anything.
        """


@dataclass(frozen=True, slots=True)
class Arity:
    """How many inputs a gate takes; ``maximum`` is None for a variadic gate."""

    minimum: int
    maximum: int | None

    def accepts(self, n: int) -> bool:
        return n >= self.minimum and (self.maximum is None or n <= self.maximum)

    def __str__(self) -> str:
        if self.maximum is None:
            return f"{self.minimum} or more"
        return str(self.minimum)


def arity(gate_cls: type[Gate]) -> Arity:
    """The arity a gate class declares through the signature of its ``forward``."""
    params = list(inspect.signature(gate_cls.forward).parameters.values())[1:]
    fixed = [
        p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) and p.default is p.empty
    ]
    variadic = any(p.kind is p.VAR_POSITIONAL for p in params)
    return Arity(len(fixed), None if variadic else len(fixed))


def has_shape_rule(gate: Gate) -> bool:
    """Whether the gate infers output shapes at load time."""
    return callable(getattr(type(gate), "shape", None))


def broadcast(*shapes: Shape) -> Shape:
    """NumPy broadcasting of shapes, with a message that says which shapes clash."""
    try:
        return tuple(np.broadcast_shapes(*shapes))
    except ValueError:
        listed = ", ".join(str(list(s)) for s in shapes)
        raise ValueError(f"shapes {listed} cannot be broadcast together") from None


def sum_to(grad: np.ndarray, shape: Shape) -> np.ndarray:
    """Sum a broadcast gradient back to ``shape``: the backward of broadcasting."""
    grad = np.asarray(grad)
    if grad.shape == tuple(shape):
        return grad
    lead = grad.ndim - len(shape)
    if lead < 0 or any(g != s != 1 for g, s in zip(grad.shape[lead:], shape, strict=True)):
        raise ValueError(f"a gradient of shape {list(grad.shape)} does not broadcast to {list(shape)}")
    axes = tuple(range(lead)) + tuple(
        lead + i for i, n in enumerate(shape) if n == 1 and grad.shape[lead + i] != 1
    )
    out = grad.sum(axis=axes, keepdims=True) if axes else grad
    return out.reshape(shape)


def attributes(gate: Gate) -> dict[str, Any]:
    """A gate's attributes as the file would spell them."""
    return gate.model_dump(by_alias=True)
