"""Op name -> gate class and checker name -> checker class, with the plugin of each."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from graphgrad.checker import Checker
from graphgrad.errors import PluginError
from graphgrad.exporter import Exporter
from graphgrad.gate import Arity, Gate, arity

Contributions = Iterable[tuple[str, Iterable[type]]]


@dataclass(frozen=True, slots=True)
class GateType:
    """A registered gate class, its arity and the plugin that provides it."""

    cls: type[Gate]
    plugin: str
    arity: Arity

    @property
    def op(self) -> str:
        return self.cls.op


@dataclass(frozen=True, slots=True)
class CheckerType:
    """A registered checker class and the plugin that provides it."""

    cls: type[Checker]
    plugin: str

    @property
    def name(self) -> str:
        return self.cls.name


@dataclass(frozen=True, slots=True)
class ExporterType:
    """A registered export format and the plugin that provides it."""

    cls: type[Exporter]
    plugin: str

    @property
    def name(self) -> str:
        return self.cls.name


class Registry:
    """The gate types and checkers available to a graph, from every loaded plugin.

    >>> from graphgrad.plugins.manager import default_registry
    >>> reg = default_registry()
    >>> reg["mul"].arity.minimum, reg["add"].arity.maximum, "frobnicate" in reg
    (2, None, False)
    >>> reg.checker("central").plugin
    'graphgrad.builtin.checkers'
    """

    def __init__(self, gates: Contributions, checkers: Contributions = (), exporters: Contributions = ()):
        self._gates: dict[str, GateType] = {}
        self._checkers: dict[str, CheckerType] = {}
        self._exporters: dict[str, ExporterType] = {}
        for plugin, classes in exporters:
            for cls in classes:
                self._add_exporter(plugin, cls)
        for plugin, classes in gates:
            for cls in classes:
                self._add_gate(plugin, cls)
        for plugin, classes in checkers:
            for cls in classes:
                self._add_checker(plugin, cls)

    def _add_gate(self, plugin: str, cls: object) -> None:
        op = _name_of(plugin, cls, Gate, "op")
        if op in self._gates:
            _conflict("op", op, self._gates[op].plugin, self._gates[op].cls, plugin, cls)
        self._gates[op] = GateType(cls, plugin, arity(cls))

    def _add_checker(self, plugin: str, cls: object) -> None:
        name = _name_of(plugin, cls, Checker, "name")
        if name in self._checkers:
            _conflict("checker", name, self._checkers[name].plugin, self._checkers[name].cls, plugin, cls)
        self._checkers[name] = CheckerType(cls, plugin)

    def _add_exporter(self, plugin: str, cls: object) -> None:
        name = _name_of(plugin, cls, Exporter, "name")
        if name in self._exporters:
            first = self._exporters[name]
            _conflict("exporter", name, first.plugin, first.cls, plugin, cls)
        self._exporters[name] = ExporterType(cls, plugin)

    def exporter(self, name: str) -> ExporterType:
        return self._exporters[name]

    def exporters(self) -> list[ExporterType]:
        return sorted(self._exporters.values(), key=lambda e: e.name)

    def __getitem__(self, op: str) -> GateType:
        return self._gates[op]

    def __contains__(self, op: object) -> bool:
        return op in self._gates

    def __iter__(self) -> Iterator[GateType]:
        return iter(sorted(self._gates.values(), key=lambda g: g.op))

    def ops(self) -> list[str]:
        return sorted(self._gates)

    def checker(self, name: str) -> CheckerType:
        return self._checkers[name]

    def checkers(self) -> list[CheckerType]:
        return sorted(self._checkers.values(), key=lambda c: c.name)


def _name_of(plugin: str, cls: object, base: type, attr: str) -> str:
    if not (isinstance(cls, type) and issubclass(cls, base)):
        raise PluginError(f"plugin {plugin} returned {cls!r}, which is not a graphgrad.{base.__name__}")
    name = getattr(cls, attr, None)
    if not isinstance(name, str) or not name:
        raise PluginError(f"plugin {plugin}: {base.__name__.lower()} {cls.__name__} has no `{attr}` name")
    return name


def _conflict(kind: str, name: str, first: str, first_cls: type, second: str, second_cls: type) -> None:
    raise PluginError(
        f"{kind} '{name}' is registered by two plugins: {first} ({first_cls.__name__})"
        f" and {second} ({second_cls.__name__})"
    )
