"""Input specs to NumPy arrays: literals, nested lists and seeded initialisers.

Every input draws from its own random stream derived from (seed, input name), so adding
an input to a file does not change the values of the others.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from pydantic import BaseModel, ValidationError

from graphgrad.errors import Issue
from graphgrad.format.source import Document, Limits
from graphgrad.format.spec import INITS, NONFINITE, ValueInput, did_you_mean, translate

FORMS = "a number, a nested list of numbers, {value: V, dtype: D, grad: G} or {shape: [..], init: I}"


@dataclass(frozen=True, slots=True)
class InputDef:
    """A leaf of the graph: its value and whether it is differentiated."""

    name: str
    value: np.ndarray
    grad: bool
    doc: str | None = None


def stream(seed: int, name: str) -> np.random.Generator:
    """The random generator of one input, the same on every machine and run.

    >>> float(stream(0, "W1").normal()) == float(stream(0, "W1").normal())
    True
    """
    key = int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "little")
    return np.random.default_rng(np.random.SeedSequence([seed, key]))


def build_inputs(
    raw: dict[str, Any], doc: Document, *, dtype: str, seed: int, limits: Limits
) -> tuple[dict[str, InputDef], list[Issue]]:
    """Arrays for every input of a file; issues for every bad one."""
    defs: dict[str, InputDef] = {}
    issues: list[Issue] = []
    held = 0  # elements of the inputs made so far: none is made past the total limit
    for name, spec in raw.items():
        loc = ("inputs", name)
        try:
            defs[name] = _build(name, spec, loc, doc, dtype, seed, limits, held)
            held += defs[name].value.size
        except _Bad as bad:
            issues.extend(bad.issues)
    return defs, issues


class _Bad(Exception):
    def __init__(self, issues: list[Issue]):
        self.issues = issues


def _build(name, spec, loc, doc, dtype, seed, limits, held=0) -> InputDef:
    if isinstance(spec, dict):
        return _build_mapping(name, spec, loc, doc, dtype, seed, limits, held)
    if isinstance(spec, bool) or not isinstance(spec, int | float | list):
        shown = "nothing" if spec is None else repr(spec)
        raise _Bad([doc.issue(loc, f"input '{name}': expected {FORMS}, got {shown}")])
    value = to_array(spec, loc, doc, dtype, limits, who=f"input '{name}'")
    return InputDef(name, value, True)


def _build_mapping(name, spec, loc, doc, dtype, seed, limits, held=0) -> InputDef:
    if "init" in spec or "shape" in spec:
        init = spec.get("init")
        if init not in INITS:
            at = loc + ("init",) if "init" in spec else loc
            hint = did_you_mean(init, list(INITS)) if "init" in spec else ""
            shown = f"'{init}'" if "init" in spec else "no init"
            msg = f"input '{name}': init must be one of {', '.join(INITS)}, got {shown}{hint}"
            raise _Bad([doc.issue(at, msg)])
        model = _validate(INITS[init], spec, loc, doc)
        return _initialise(name, model, loc, doc, dtype, seed, limits, held)
    if "value" in spec:
        model = _validate(ValueInput, spec, loc, doc)
        kind = model.dtype or dtype
        value = to_array(model.value, loc + ("value",), doc, kind, limits, who=f"input '{name}'")
        return InputDef(name, value, _grad(name, model.grad, kind, loc, doc), model.doc)
    msg = f"input '{name}': a mapping needs 'value', or 'shape' and 'init'; expected {FORMS}"
    raise _Bad([doc.issue(loc, msg)])


def _validate(model: type[BaseModel], spec: dict, loc: tuple, doc: Document) -> Any:
    try:
        return model.model_validate(spec)
    except ValidationError as exc:
        raise _Bad(translate(exc, doc, model, root=loc)) from None


def _grad(name: str, grad: bool | None, kind: str, loc: tuple, doc: Document) -> bool:
    is_float = kind.startswith("float")
    if grad and not is_float:
        msg = f"input '{name}': grad: true needs a float dtype, not {kind}"
        raise _Bad([doc.issue(loc + ("grad",), msg)])
    return is_float if grad is None else grad


MAX_DIMS = 32
"""The most dimensions an array may have: NumPy 1 allows 32 (NumPy 2, 64)."""


def check_shape(shape: tuple[int, ...], limits: Limits) -> str | None:
    """Why an array of ``shape`` cannot be made, or None: too many dimensions, or more
    elements than ``max_elements``, counting a 0 in the shape as 1, since NumPy refuses
    ``[0, 10**20]`` as it refuses ``[1, 10**20]``."""
    if len(shape) > MAX_DIMS:
        return f"shape has {len(shape)} dimensions; an array has at most {MAX_DIMS}"
    for i, d in enumerate(shape):
        if d >= _INT64[1]:
            return f"dimension {i} of the shape is {_short(d)}, beyond int64: no array is that long"
    size = math.prod(shape)
    spread = math.prod(d for d in shape if d)
    if size > limits.max_elements:
        return (
            f"shape {_shown(shape)} has {size} elements, over the limit of {limits.max_elements} "
            "(raise it with --max-elements)"
        )
    if spread > limits.max_elements:
        return (
            f"shape {_shown(shape)} holds no element, but its other dimensions span {spread}, over the "
            f"limit of {limits.max_elements} elements (raise it with --max-elements)"
        )
    return None


def _shown(shape: tuple[int, ...]) -> str:
    text = str(list(shape))
    return text if len(text) <= 80 else text[:60] + " ... " + text[-15:]


_INT64 = (-(2**63), 2**63)


def _initialise(name, model, loc, doc, dtype, seed, limits, held=0) -> InputDef:
    shape = tuple(model.shape)
    problem = check_shape(shape, limits)
    if problem is not None:
        raise _Bad([doc.issue(loc + ("shape",), f"input '{name}': {problem}")])
    size = math.prod(shape)
    if held + size > limits.total_elements:
        msg = (
            f"input '{name}': its {size} elements would bring the inputs to {held + size}, over the "
            f"limit of {limits.total_elements} for all values and gradients together "
            "(raise it with --max-total-elements)"
        )
        raise _Bad([doc.issue(loc + ("shape",), msg)])
    kind = model.dtype or dtype
    if model.init == "zeros":
        value = np.zeros(shape, dtype=kind)
    elif model.init == "ones":
        value = np.ones(shape, dtype=kind)
    elif model.init == "normal":
        value = stream(seed, name).normal(model.mean, model.std, shape).astype(kind)
    elif model.init == "uniform":
        _check_range(name, model, loc, doc)
        value = stream(seed, name).uniform(model.low, model.high, shape).astype(kind)
    else:
        _check_range(name, model, loc, doc)
        value = stream(seed, name).integers(model.low, model.high, shape, dtype=np.int64)
    return InputDef(name, value, _grad(name, model.grad, kind, loc, doc), model.doc)


def _check_range(name: str, model: Any, loc: tuple, doc: Document) -> None:
    """``low`` and ``high`` that NumPy can draw between: finite for ``uniform`` (with a
    finite width), within int64 for ``integers``."""
    low, high = model.low, model.high
    if model.init == "uniform":
        for key in ("low", "high"):
            if not math.isfinite(getattr(model, key)):
                msg = f"input '{name}': {key} must be a finite number, got {getattr(model, key)}"
                raise _Bad([doc.issue(loc + (key,), msg)])
        if not math.isfinite(high - low):
            msg = f"input '{name}': high - low is {high - low}: the width must be a finite float64"
            raise _Bad([doc.issue(loc + ("high",), msg)])
    else:
        for key, value in (("low", low), ("high", high)):
            if not _INT64[0] <= value <= _INT64[1]:
                msg = (
                    f"input '{name}': {key} must lie in [-2**63, 2**63] (integers are drawn as int64), "
                    f"got {_short(value)}"
                )
                raise _Bad([doc.issue(loc + (key,), msg)])
    if not low < high:
        raise _Bad([doc.issue(loc + ("high",), f"input '{name}': high must exceed low")])


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else f"{text[:12]}...{text[-12:]} ({len(text)} digits)"


def to_array(
    data: Any, loc: tuple, doc: Document | None, dtype: str, limits: Limits, *, who: str
) -> np.ndarray:
    """A number or rectangular nested list as an array of ``dtype``, checked leaf by leaf."""
    shape = []
    probe = data
    while isinstance(probe, list):
        shape.append(len(probe))
        if not probe:
            break
        probe = probe[0]
    if len(shape) > MAX_DIMS:
        msg = f"{who}: lists nested {len(shape)} deep; an array has at most {MAX_DIMS} dimensions"
        raise _fail(doc, loc, msg)
    if math.prod(shape) > limits.max_elements:
        msg = f"{who}: more than {limits.max_elements} elements (raise it with --max-elements)"
        raise _fail(doc, loc, msg)
    todo = [(data, loc, 0)]
    while todo:
        item, at, depth = todo.pop()
        if depth < len(shape):
            if not isinstance(item, list) or len(item) != shape[depth]:
                got = f"a list of {len(item)}" if isinstance(item, list) else repr(item)
                raise _fail(doc, at, f"{who}: ragged list: expected {shape[depth]} elements here, got {got}")
            todo.extend((x, at + (i,), depth + 1) for i, x in enumerate(item))
        elif not _fits(item, dtype):
            shown = _short(item) if isinstance(item, int | float) else repr(item)[:80]
            raise _fail(doc, at, f"{who}: {shown} is not a valid {dtype} element")
    return np.array(data, dtype=dtype)


def _fits(item: Any, dtype: str) -> bool:
    if dtype == "bool":
        return isinstance(item, bool)
    if isinstance(item, bool):
        return False
    if dtype == "int64":
        return isinstance(item, int) and -(2**63) <= item < 2**63
    if isinstance(item, str):
        return item in NONFINITE
    if isinstance(item, int):
        try:
            float(item)  # an integer beyond float64's range would overflow in NumPy
        except OverflowError:
            return False
        return True
    return isinstance(item, float)


def _fail(doc: Document | None, loc: tuple, message: str) -> Exception:
    if doc is None:
        return ValueError(message)
    return _Bad([doc.issue(loc, message)])
