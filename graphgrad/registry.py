"""Op name -> gate class, with the plugin each came from."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from .errors import PluginError
from .gate import Arity, Gate, arity


@dataclass(frozen=True, slots=True)
class GateType:
    """A registered gate class, its arity and the plugin that provides it."""

    cls: type[Gate]
    plugin: str
    arity: Arity

    @property
    def op(self) -> str:
        return self.cls.op


class Registry:
    """The gate types available to a graph, built from every loaded plugin.

    >>> from graphgrad.plugins import default_registry
    >>> reg = default_registry()
    >>> reg["mul"].arity.minimum, reg["add"].arity.maximum, "frobnicate" in reg
    (2, None, False)
    """

    def __init__(self, contributions: Iterable[tuple[str, Iterable[type[Gate]]]]):
        self._gates: dict[str, GateType] = {}
        for plugin, classes in contributions:
            for cls in classes:
                self._add(plugin, cls)

    def _add(self, plugin: str, cls: object) -> None:
        if not (isinstance(cls, type) and issubclass(cls, Gate)):
            raise PluginError(f"plugin {plugin} returned {cls!r}, which is not a graphgrad.Gate")
        op = getattr(cls, "op", None)
        if not isinstance(op, str) or not op:
            raise PluginError(f"plugin {plugin}: gate {cls.__name__} has no `op` name")
        if op in self._gates:
            first = self._gates[op].plugin
            raise PluginError(
                f"op '{op}' is registered by two plugins: {first} ({self._gates[op].cls.__name__})"
                f" and {plugin} ({cls.__name__})"
            )
        self._gates[op] = GateType(cls, plugin, arity(cls))

    def __getitem__(self, op: str) -> GateType:
        return self._gates[op]

    def __contains__(self, op: object) -> bool:
        return op in self._gates

    def __iter__(self) -> Iterator[GateType]:
        return iter(sorted(self._gates.values(), key=lambda g: g.op))

    def ops(self) -> list[str]:
        return sorted(self._gates)
