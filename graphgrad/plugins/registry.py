"""Op name -> gate class and checker name -> checker class, with the plugin of each.

A plugin returns classes from its hooks, or :class:`Deferred` references to them (a name
and where the class lives): a deferred class is imported when it is first used, and a
clash of names is still refused when the registry is built, since it is found by name.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable, Iterator
from typing import ClassVar

from graphgrad.errors import PluginError
from graphgrad.gate import Arity, Gate, arity

Contributions = Iterable[tuple[str, Iterable[object]]]


class Deferred:
    """A gate, checker or exporter class that a plugin names instead of importing: its
    ``name`` (the op, checker or exporter name) and the module and attribute it lives at.

    The registry imports it when it is first used, so that a plugin of many classes costs
    a command only the ones it uses (the built-in plugin: ``graphgrad run`` on a file of
    adds and muls imports one family of gates, no checker and no exporter). The class
    found there must declare that same name.

    >>> Deferred("add", "graphgrad.builtin.gates.arithmetic", "Add").load().op
    'add'
    """

    __slots__ = ("name", "module", "attr")

    def __init__(self, name: str, module: str, attr: str):
        self.name, self.module, self.attr = name, module, attr

    def __repr__(self) -> str:
        return f"Deferred({self.name!r}, {self.module!r}, {self.attr!r})"

    def load(self) -> type:
        """The class itself, its module imported."""
        return getattr(importlib.import_module(self.module), self.attr)


class _Registered:
    """A class registered by a plugin, imported on first use if it was :class:`Deferred`."""

    __slots__ = ("name", "plugin", "_cls", "_ref")
    attr: ClassVar[str]

    @staticmethod
    def base() -> type:
        """The base class every class of this kind subclasses."""
        raise NotImplementedError

    def __init__(self, name: str, plugin: str, cls: type | Deferred):
        self.name, self.plugin = name, plugin
        self._cls, self._ref = (None, cls) if isinstance(cls, Deferred) else (cls, None)

    @property
    def cls(self) -> type:
        if self._cls is None:
            self._cls = _load(self.plugin, self._ref, type(self))
        return self._cls

    @property
    def class_name(self) -> str:
        """The class's name, known without importing it (for messages)."""
        return self._ref.attr if self._cls is None else self._cls.__name__

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r}, plugin={self.plugin!r})"


class GateType(_Registered):
    """A registered gate class, its arity and the plugin that provides it."""

    __slots__ = ("_arity",)
    attr = "op"

    @staticmethod
    def base() -> type[Gate]:
        return Gate

    def __init__(self, name: str, plugin: str, cls: type[Gate] | Deferred):
        super().__init__(name, plugin, cls)
        self._arity: Arity | None = None if isinstance(cls, Deferred) else arity(cls)

    @property
    def op(self) -> str:
        return self.name

    @property
    def arity(self) -> Arity:
        if self._arity is None:
            self._arity = arity(self.cls)
        return self._arity


class CheckerType(_Registered):
    """A registered checker class and the plugin that provides it."""

    __slots__ = ()
    attr = "name"

    @staticmethod
    def base() -> type:
        """``graphgrad.Checker``, imported here: a command that checks nothing does without it."""
        from graphgrad.checker import Checker

        return Checker


class ExporterType(_Registered):
    """A registered export format and the plugin that provides it."""

    __slots__ = ()
    attr = "name"

    @staticmethod
    def base() -> type:
        """``graphgrad.Exporter``, imported here: a command that exports nothing does without it."""
        from graphgrad.exporter import Exporter

        return Exporter


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
        op = _name_of(plugin, cls, GateType)
        if op in self._gates:
            _conflict("op", op, self._gates[op], plugin, cls)
        self._gates[op] = GateType(op, plugin, cls)

    def _add_checker(self, plugin: str, cls: object) -> None:
        name = _name_of(plugin, cls, CheckerType)
        if name in self._checkers:
            _conflict("checker", name, self._checkers[name], plugin, cls)
        self._checkers[name] = CheckerType(name, plugin, cls)

    def _add_exporter(self, plugin: str, cls: object) -> None:
        name = _name_of(plugin, cls, ExporterType)
        if name in self._exporters:
            _conflict("exporter", name, self._exporters[name], plugin, cls)
        self._exporters[name] = ExporterType(name, plugin, cls)

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

    def load_all(self) -> None:
        """Import every class named by ``Deferred`` now: a long-running process (``serve``)
        refuses a broken plugin when it starts, with the error naming it, rather than
        answering a later request with a 500."""
        for registered in (*self._gates.values(), *self._checkers.values(), *self._exporters.values()):
            registered.cls  # noqa: B018 (the property imports it, or raises PluginError)


def _name_of(plugin: str, cls: object, kind: type[_Registered]) -> str:
    attr = kind.attr
    if isinstance(cls, Deferred):
        if not isinstance(cls.name, str) or not cls.name:
            raise PluginError(f"plugin {plugin}: {cls!r} has no `{attr}` name")
        return cls.name
    base = kind.base()
    if not (isinstance(cls, type) and issubclass(cls, base)):
        raise PluginError(f"plugin {plugin} returned {cls!r}, which is not a graphgrad.{base.__name__}")
    name = getattr(cls, attr, None)
    if not isinstance(name, str) or not name:
        raise PluginError(f"plugin {plugin}: {base.__name__.lower()} {cls.__name__} has no `{attr}` name")
    return name


def _load(plugin: str, ref: Deferred, kind: type[_Registered]) -> type:
    """A deferred class, imported and held to what its plugin said of it."""
    base, attr = kind.base(), kind.attr
    what = base.__name__.lower()
    try:
        cls = ref.load()
    except Exception as exc:
        raise PluginError(
            f"plugin {plugin}: {what} '{ref.name}' ({ref.module}.{ref.attr}) failed to load: "
            f"{type(exc).__name__}: {exc}"
        ) from exc
    if not (isinstance(cls, type) and issubclass(cls, base)):
        raise PluginError(f"plugin {plugin}: {ref.module}.{ref.attr} is not a graphgrad.{base.__name__}")
    if getattr(cls, attr, None) != ref.name:
        raise PluginError(
            f"plugin {plugin}: {what} '{ref.name}' is {ref.module}.{ref.attr}, whose {attr} is "
            f"{getattr(cls, attr, None)!r}"
        )
    return cls


def _conflict(kind: str, name: str, first: _Registered, second: str, second_cls: object) -> None:
    second_name = second_cls.attr if isinstance(second_cls, Deferred) else second_cls.__name__
    raise PluginError(
        f"{kind} '{name}' is registered by two plugins: {first.plugin} ({first.class_name})"
        f" and {second} ({second_name})"
    )
