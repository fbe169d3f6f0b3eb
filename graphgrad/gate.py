"""The Gate base class that every gate type, built-in or from a plugin, subclasses.

A gate is a pydantic model: its fields are the node's attributes in the graph file, so
validating a node is ``GateClass.model_validate(attributes)``. One instance serves one
node. ``forward`` computes the output from NumPy arrays; ``backward`` returns one
downstream gradient per input (upstream x local), ``None`` where an input has none. A
``backward`` that declares the keyword-only ``needs`` is told which inputs' gradients
are used (PyTorch's ``ctx.needs_input_grad``) and may skip the others; called without
it (gate checks, ``explain``), it computes them all.
"""

from __future__ import annotations

import functools
import inspect
import math
from collections.abc import Sequence
from dataclasses import dataclass
from types import UnionType
from typing import Annotated, Any, ClassVar, Literal, Union, get_args, get_origin

import numpy as np
from pydantic import BaseModel, ConfigDict, ValidationInfo, field_validator
from pydantic_core import PydanticCustomError

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
    deterministic: ClassVar[bool] = False
    """Whether forward and backward give bit-identical results for the same inputs and
    leave their inputs unchanged. ``check`` runs backward a second time to catch a gate
    that does not (a random draw, state kept between calls); a graph whose every gate
    says True (all built-in ones do) skips that run, a whole forward + backward pass.
    The claim is about code, so it is not inherited by a subclass that defines its own
    forward or backward: such a class says it again or is taken as False."""
    pattern: ClassVar[str] = ""
    """The gate's part in the lecture's gradient flow ("distributor", "swap multiplier",
    "router"), shown by ``graphgrad explain``; empty for none."""
    gradient: ClassVar[str] = ""
    """Each input's downstream gradient in words (upstream x local), for the gate table
    of docs/format.md and ``graphgrad gates``; empty: not described."""
    shape_rule: ClassVar[str] = ""
    """The output's shape in words, for the same table; empty: not described."""

    @field_validator("*", mode="before")
    @classmethod
    def _booleans_are_not_numbers(cls, value: Any, info: ValidationInfo) -> Any:
        """``axis: true`` is not the integer 1, nor ``keepdims: 1`` true (docs/format.md):
        pydantic's lax mode would convert both, silently. Everything else stays lax, so
        the Python builder keeps tuples and NumPy scalars, and a plugin its tuples and
        enums read from a file."""
        field = cls.model_fields.get(info.field_name or "")
        if field is not None:
            _refuse_bool_mixup(field.annotation, value)
        return value

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        """``deterministic`` does not pass to a class with its own forward or backward
        (a plugin's noisy subclass of ``tanh`` must not skip the determinism run)."""
        super().__pydantic_init_subclass__(**kwargs)
        own = cls.__dict__
        if "deterministic" not in own and ("forward" in own or "backward" in own):
            cls.deterministic = False

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

    def forward_code(self, code: Code, *args: str) -> str | None:
        """A Python expression for the output, given each input's expression: the line
        ``out = ...`` of the flat code (``export --to python``, on NumPy arrays) and of
        the scalar fast path (``code.scalar``: on Python floats). None (the default): the
        gate has no code, so a graph using it has no flat export and runs on the NumPy
        plan. Use ``np.`` functions, ``code.number`` for attributes, ``code.helper``
        for a function of your own."""
        return None

    def backward_code(self, code: Code, grad: str, out: str, *args: str) -> Sequence[str | None] | None:
        """One expression per input for its downstream gradient (``grad`` x local), given
        the expressions of the upstream gradient, the output and the inputs; None for an
        input with no gradient. A gradient of the broadcast shape goes through
        ``code.sum_to(expression, index)``. None (the default): no code, as above."""
        return None


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


@functools.cache
def takes_needs(gate_cls: type[Gate]) -> bool:
    """Whether the class's ``backward`` declares the keyword-only ``needs`` (plugins.md):
    then the engine tells it which input gradients are used. Inspected once per class."""
    param = inspect.signature(gate_cls.backward).parameters.get("needs")
    return param is not None and param.kind is param.KEYWORD_ONLY


def has_shape_rule(gate: Gate) -> bool:
    """Whether the gate infers output shapes at load time."""
    return callable(getattr(type(gate), "shape", None))


def has_code(gate_cls: type[Gate]) -> bool:
    """Whether the gate gives its code (both ``forward_code`` and ``backward_code``)."""
    return gate_cls.forward_code is not Gate.forward_code and gate_cls.backward_code is not Gate.backward_code


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


def number(value: float | int) -> str:
    """Python source for a number that evaluates to it: ``repr``, but ``float('nan')``,
    ``float('inf')`` and ``(-float('inf'))`` where ``repr`` would give a bare name."""
    if isinstance(value, bool | int | np.integer):
        return repr(int(value))
    value = float(value)
    if math.isfinite(value):
        return repr(value)
    if math.isnan(value):
        return "float('nan')"
    return "float('inf')" if value > 0 else "(-float('inf'))"


SUM_TO = '''
def _sum_to(g, shape):
    """Sum a broadcast gradient back to an input's shape."""
    lead = g.ndim - len(shape)
    axes = tuple(range(lead)) + tuple(
        lead + i for i, n in enumerate(shape) if n == 1 and g.shape[lead + i] != 1
    )
    return (g.sum(axis=axes, keepdims=True) if axes else g).reshape(shape)
'''


class Code:
    """What a gate's code templates (``forward_code``, ``backward_code``) know of the
    node they write for, and the functions they may call.

    ``scalar``: the code runs on Python floats (the fast path) rather than NumPy arrays
    (the flat export); there ``np.`` names are float versions of the NumPy functions
    (``graphgrad.engine.scalar.SHIM``) and a name it lacks means no fast path.
    ``shapes``: each input's shape; ``out_shape``: the output's.

    >>> code = Code(False, [(2, 3), (3,)], (2, 3))
    >>> code.sum_to("grad_f * a", 1), code.sum_to("grad_f", 0), code.number(float("inf"))
    ('_sum_to(grad_f * a, (3,))', 'grad_f', "float('inf')")
    """

    __slots__ = ("scalar", "shapes", "out_shape", "helpers")

    def __init__(self, scalar: bool, shapes: Sequence[Shape], out_shape: Shape, helpers: dict | None = None):
        self.scalar = scalar
        self.shapes = [tuple(s) for s in shapes]
        self.out_shape = tuple(out_shape)
        self.helpers: dict[str, str] = {} if helpers is None else helpers

    @staticmethod
    def number(value: float | int) -> str:
        """Source for a number, NaN and infinities included: write attributes with it."""
        return number(value)

    def helper(self, name: str, source: str) -> str:
        """Add the function ``name`` (``def name(...)`` in ``source``) to the generated
        module and return its name to call. The name starts with ``_`` and, for a
        plugin, with the op (``_swish_grad``), so that no graph name or other gate's
        helper meets it."""
        if not (name.startswith("_") and name.isidentifier() and not name.startswith("_np_")):
            raise ValueError(f"helper name {name!r} must be an identifier starting with '_' (not '_np_')")
        known = self.helpers.setdefault(name, source)
        if known != source:
            raise ValueError(f"two different helpers are called {name!r}")
        return name

    def sum_to(self, expr: str, index: int) -> str:
        """``expr`` summed back to input ``index``'s shape where the output broadcast it."""
        shape = self.shapes[index]
        if self.scalar or shape == self.out_shape:
            return expr
        return f"{self.helper('_sum_to', SUM_TO)}({expr}, {shape})"


def attributes(gate: Gate) -> dict[str, Any]:
    """A gate's attributes as the file would spell them."""
    return gate.model_dump(by_alias=True)


def _members(annotation: Any) -> list[Any]:
    """The types a field admits: a union's members, an Annotated's type."""
    origin = get_origin(annotation)
    if origin is Annotated:
        return _members(get_args(annotation)[0])
    if origin is Union or origin is UnionType:
        return [m for a in get_args(annotation) for m in _members(a)]
    return [annotation]


@functools.lru_cache(maxsize=1024)
def _known_members(annotation: Any) -> tuple[Any, ...]:
    """``_members``, once per annotation: the check runs on every attribute of every node."""
    return tuple(_members(annotation))


def _refuse_bool_mixup(annotation: Any, value: Any) -> None:
    """Raise where a boolean stands for a number, a number for a boolean, or text for a
    number (in a list too): the conversions pydantic's lax mode would make silently."""
    try:
        members = _known_members(annotation)
    except TypeError:  # an unhashable annotation: worked out each time
        members = tuple(_members(annotation))
    takes_bool = bool in members
    takes_number = any(m in (int, float) for m in members)
    is_bool = isinstance(value, bool | np.bool_)
    if is_bool and takes_number and not takes_bool:
        raise PydanticCustomError("bool_not_number", "Input should be a number, not true or false")
    if takes_bool and not takes_number and not is_bool and isinstance(value, int | float | np.number):
        raise PydanticCustomError("number_not_bool", "Input should be true or false, not a number")
    takes_text = any(m is str or get_origin(m) is Literal for m in members)
    if isinstance(value, str) and takes_number and not takes_text:
        raise PydanticCustomError("text_not_number", "Input should be a number, not text")
    if isinstance(value, list | tuple):
        for member in members:
            if get_origin(member) in (list, tuple) and get_args(member):
                for item in value:
                    _refuse_bool_mixup(get_args(member)[0], item)
