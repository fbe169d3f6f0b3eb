"""The graph file format as pydantic models, and pydantic errors as located issues.

Validation runs in two stages (see docs/format.md): these models check the document's
structure, with each node's op a plain string; then each node's attributes are checked
by its own gate's model, located at the node.
"""

from __future__ import annotations

import bisect
import math
import re
from collections.abc import Iterable
from types import UnionType
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from graphgrad.errors import Issue
from graphgrad.format.source import Document

NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.]*")
"""A valid name, matched with ``fullmatch`` (``$`` would accept a final newline)."""
RESERVED = frozenset({"inf", "nan", "true", "false", "null"})
NONFINITE = {"nan": math.nan, "inf": math.inf, "-inf": -math.inf}
"""Where a number is expected, these strings are that number: JSON has no NaN or
infinity, so graphgrad writes them as strings (cli.md) and reads them back."""
FloatDtype = Literal["float64", "float32"]
Dtype = Literal["float64", "float32", "int64", "bool"]
Number = Annotated[float, Field(strict=True)] | Annotated[int, Field(strict=True)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, defer_build=True)


class NodeSpec(BaseModel):
    """One node: its gate, its ordered arguments, and the gate's attributes (extras)."""

    model_config = ConfigDict(
        extra="allow", strict=True, frozen=True, populate_by_name=True, defer_build=True
    )

    op: str
    args: list[str | Number] = Field(default_factory=list, alias="in")
    doc: str | None = None

    @property
    def attributes(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


class ExpectSpec(_Model):
    """Known answers, compared as ``numpy.allclose`` does."""

    value: Any = None
    grads: dict[str, Any] = Field(default_factory=dict)
    rtol: Annotated[float, Field(ge=0)] = 1e-7
    atol: Annotated[float, Field(ge=0)] = 1e-9


class CheckSpec(BaseModel):
    """How ``graphgrad check`` runs for this file; extra keys are the checker's options."""

    model_config = ConfigDict(extra="allow", strict=True, frozen=True, defer_build=True)

    checker: str = "auto"
    eps: Annotated[float, Field(gt=0)] | None = None
    rtol: Annotated[float, Field(ge=0)] | None = None
    atol: Annotated[float, Field(ge=0)] = 1e-8
    wrt: list[str] | None = None


class GraphSpec(_Model):
    """A whole graph file, format version 1."""

    graphgrad: Literal[1]
    name: str | None = None
    doc: str | None = None
    seed: Annotated[int, Field(ge=0)] = 0
    dtype: FloatDtype = "float64"
    inputs: dict[str, Any]
    nodes: dict[str, Any]
    output: str
    expect: ExpectSpec | None = None
    check: CheckSpec | None = None


class _InputBase(_Model):
    doc: str | None = None
    grad: bool | None = None


class ValueInput(_InputBase):
    """``{value: V, dtype: D, grad: G}``."""

    value: Any
    dtype: Dtype | None = None


class _InitInput(_InputBase):
    shape: list[Annotated[int, Field(ge=0)]]


class ConstantInit(_InitInput):
    """``zeros`` and ``ones``."""

    init: Literal["zeros", "ones"]
    dtype: Dtype | None = None


class NormalInit(_InitInput):
    """Normal draws with ``mean`` and ``std``."""

    init: Literal["normal"]
    dtype: FloatDtype | None = None
    mean: float = 0.0
    std: Annotated[float, Field(ge=0)] = 1.0


class UniformInit(_InitInput):
    """Uniform draws in [low, high)."""

    init: Literal["uniform"]
    dtype: FloatDtype | None = None
    low: float = -1.0
    high: float = 1.0


class IntegersInit(_InitInput):
    """Integers in [low, high), as int64 (labels)."""

    init: Literal["integers"]
    dtype: Literal["int64"] = "int64"
    low: int = 0
    high: int


INITS: dict[str, type[_InitInput]] = {
    "zeros": ConstantInit,
    "ones": ConstantInit,
    "normal": NormalInit,
    "uniform": UniformInit,
    "integers": IntegersInit,
}


class Suggester:
    """The names a "did you mean" chooses from, indexed so that each suggestion costs a
    bounded amount of work: a file with thousands of unknown names among thousands of
    valid ones must not take quadratic time (every name compared with every other).

    Up to ``SCAN`` names are all compared; past that, only the ``SCAN`` names nearest to
    the word (and to the word less its last character) in sorted order and in sorted
    order of the reversed names (those that share its beginning or its end: a typo keeps
    one of them), and after ``BUDGET`` words no
    more suggestions are looked for. Words longer than ``LONGEST`` are not compared.
    """

    SCAN = 60
    BUDGET = 1000
    LONGEST = 200

    def __init__(self, options: Iterable[object]):
        self.options = list(dict.fromkeys(str(o) for o in options))
        self._known = set(self.options)
        self._sorted: list[str] | None = None
        self._reversed: list[str] = []
        self._asked = 0

    def __contains__(self, name: object) -> bool:
        return name in self._known

    def __len__(self) -> int:
        return len(self.options)

    def closest(self, word: object) -> str | None:
        """The closest option to ``word`` (difflib's ratio of at least 0.6), or None."""
        word = str(word)
        self._asked += 1
        if len(word) > self.LONGEST or self._asked > self.BUDGET:
            return None
        candidates = self.options if len(self.options) <= self.SCAN else self._near(word)
        import difflib  # here: only a file with a mistake needs it

        close = difflib.get_close_matches(word, candidates, n=1, cutoff=0.6)
        return close[0] if close else None

    def _near(self, word: str) -> list[str]:
        if self._sorted is None:
            self._sorted = sorted(self.options)
            self._reversed = sorted(o[::-1] for o in self.options)
        half = self.SCAN // 6
        near = []
        for probe in (word, word[:-1]):  # word[:-1]: a character too many at the end
            i = bisect.bisect_left(self._sorted, probe)
            near += self._sorted[max(0, i - half) : i + half]
        j = bisect.bisect_left(self._reversed, word[::-1])
        near += [r[::-1] for r in self._reversed[max(0, j - half) : j + half]]
        return list(dict.fromkeys(near))


def did_you_mean(word: object, options: list[str] | Suggester) -> str:
    """A hint naming the closest valid option, or the list of options when none is close.
    Pass a :class:`Suggester` when asking about many words among many options.

    >>> did_you_mean("ouptut", ["inputs", "output", "nodes"])
    " (did you mean 'output'?)"
    """
    suggester = options if isinstance(options, Suggester) else Suggester(options)
    close = suggester.closest(word)
    if close:
        return f" (did you mean '{close}'?)"
    if not len(suggester):
        return " (none is valid here)"
    if len(suggester) <= 12:
        return f" (valid: {', '.join(suggester.options)})"
    return ""


def subject(loc: tuple) -> str:
    """Who an error is about: 'node q', 'input x' or the top-level key."""
    if len(loc) >= 2 and loc[0] in ("nodes", "inputs"):
        return f"{loc[0][:-1]} '{loc[1]}'"
    return f"'{loc[0]}'" if loc else "the document"


def translate(exc: ValidationError, doc: Document, model: type[BaseModel], root: tuple = ()) -> list[Issue]:
    """Turn a pydantic ValidationError into located issues.

    ``root`` is the key path at which ``model`` was validated inside the document. The
    errors of one union member each are merged into one issue for that key.
    """
    merged: dict[tuple, dict] = {}
    for err in exc.errors(include_url=False):
        loc = root + _real_loc(doc.data, root, err)
        if loc in merged and err["type"] not in ("missing", "extra_forbidden"):
            merged[loc]["msg"] += " or " + err["msg"].lower().removeprefix("input should be ")
        else:
            merged.setdefault(loc, dict(err))
    return [_issue(err, loc, doc, model, len(root)) for loc, err in merged.items()]


def _real_loc(data: Any, root: tuple, err: dict) -> tuple:
    """The error's path with pydantic's union-member tags left out: only the keys and
    indexes that exist in the document, plus the missing key of a 'missing' error."""
    current = data
    for part in root:
        current = current.get(part) if isinstance(current, dict) else None
    loc = err["loc"]
    out = []
    for i, part in enumerate(loc):
        if isinstance(current, dict) and part in current:
            current = current[part]
        elif isinstance(current, list) and isinstance(part, int) and 0 <= part < len(current):
            current = current[part]
        elif not (err["type"] == "missing" and i == len(loc) - 1):
            continue
        out.append(part)
    return tuple(out)


def _issue(err: dict, loc: tuple, doc: Document, model: type[BaseModel], depth: int) -> Issue:
    kind, who = err["type"], subject(loc)
    if loc[:1] in (("nodes",), ("inputs",)):
        field = ".".join(str(p) for p in loc[2:])
        where = f"{who}, key '{field}'" if field else who
    else:
        where = "'" + ".".join(str(p) for p in loc) + "'"
    if kind == "extra_forbidden":
        options = _fields_at(model, loc[depth:-1])
        hint = did_you_mean(loc[-1], options)
        if not len(options) and loc[:1] == ("nodes",) and len(loc) == 3:
            hint = " (this gate takes no attributes: a node's own keys are op, in and doc)"
        who = subject(loc[:-1]) if len(loc) > 1 else "the document"
        return doc.issue(loc, f"{who}: unknown key '{loc[-1]}'{hint}", key=True)
    if kind == "missing":
        if len(loc) == 1:
            return Issue(doc.path, 1, 1, f"the required key '{loc[0]}' is missing")
        return doc.issue(loc[:-1], f"{who}: the required key '{loc[-1]}' is missing")
    got = err.get("input")
    shown = repr(got) if not isinstance(got, dict | list) else type(got).__name__
    if len(shown) > 80:
        shown = f"{shown[:30]}...{shown[-30:]} ({len(shown)} characters)"
    return doc.issue(loc, f"{where}: {err['msg'].lower()}, got {shown}")


def _fields_at(model: type[BaseModel], loc: tuple) -> list[str]:
    """The keys allowed where ``loc`` points, walking nested models and dicts."""
    current: Any = model
    for part in loc:
        current = _unwrap(current)
        if isinstance(current, type) and issubclass(current, BaseModel):
            info = current.model_fields.get(str(part))
            current = info.annotation if info else None
        elif get_origin(current) is dict:
            current = get_args(current)[1]
        else:
            return []
    current = _unwrap(current)
    if isinstance(current, type) and issubclass(current, BaseModel):
        return [f.alias or name for name, f in current.model_fields.items()]
    return []


def _unwrap(annotation: Any) -> Any:
    """The model or dict inside an Optional or Union annotation."""
    if get_origin(annotation) in (Union, UnionType):
        for arg in get_args(annotation):
            if get_origin(arg) is dict or (isinstance(arg, type) and issubclass(arg, BaseModel)):
                return arg
    return annotation
