"""The plugin manager factory: hook specs, the built-ins, entry points and local paths.

Plugins are imported one at a time and the registry is built only when all of them
loaded, so a failing plugin is reported by name and never leaves a half-built registry.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import os
import sys
from collections.abc import Iterable
from functools import lru_cache
from importlib.metadata import entry_points
from pathlib import Path
from types import ModuleType

import pluggy

import graphgrad.plugins.hookspecs as hookspecs
from graphgrad.errors import PluginError
from graphgrad.plugins.registry import Registry

BUILTINS = ("graphgrad.builtin.gates", "graphgrad.builtin.checkers", "graphgrad.builtin.exporters")
ENV_VAR = "GRAPHGRAD_PLUGINS"
PluginRef = str | os.PathLike | ModuleType


def make_plugin_manager(
    plugins: Iterable[PluginRef] = (), *, use_env: bool = True, use_entry_points: bool = True
) -> pluggy.PluginManager:
    """A plugin manager with the built-ins, installed plugins, ``$GRAPHGRAD_PLUGINS`` and
    ``plugins`` (modules, dotted names, or paths of .py files or folders) registered."""
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    for name in BUILTINS:
        pm.register(importlib.import_module(name), name=name)
    if use_entry_points:
        for ep in entry_points(group=hookspecs.PROJECT):
            label = f"entry point '{ep.name}' ({ep.value})"
            _register(pm, _guard(label, ep.load), label)
    refs = list(plugins)
    if use_env and os.environ.get(ENV_VAR):
        refs += [p for p in os.environ[ENV_VAR].split(os.pathsep) if p]
    for ref in refs:
        modules = _modules(ref)
        for module in modules:
            _register(pm, module, getattr(module, "__plugin_path__", module.__name__))
        _has_hooks(pm, ref, modules)
    try:
        pm.check_pending()
    except pluggy.PluginValidationError as exc:
        raise PluginError(_unknown_hook(pm, exc)) from None
    return pm


HOOKS = tuple(sorted(n for n in dir(hookspecs) if n.startswith(f"{hookspecs.PROJECT}_")))
"""The hook names a plugin may implement."""


def _has_hooks(pm: pluggy.PluginManager, ref: PluginRef, modules: list[ModuleType]) -> None:
    """A plugin given by path or name whose modules implement no hook adds nothing: most
    likely a hook without ``@graphgrad.hookimpl``, or a misspelt one. Say so rather than
    load it silently. (Modules registered already, as an installed plugin, count.)"""
    if not modules or any(not pm.is_registered(m) or pm.get_hookcallers(m) for m in modules):
        return
    name = ref.__name__ if isinstance(ref, ModuleType) else os.fspath(ref)
    undecorated = [n for m in modules for n in HOOKS if callable(getattr(m, n, None))]
    if undecorated:
        why = f"{', '.join(undecorated)} lacks the @graphgrad.hookimpl decorator"
    else:
        why = f"it defines none of {', '.join(HOOKS)}"
    raise PluginError(f"plugin {name} implements no hook: {why}")


def _unknown_hook(pm: pluggy.PluginManager, exc: pluggy.PluginValidationError) -> str:
    """pluggy's message for a misspelt hook, with the plugin's name and a did-you-mean."""
    from graphgrad.format.spec import did_you_mean

    for hookimpl in pm.hook.__dict__.values():
        if isinstance(hookimpl, pluggy.HookCaller) and not hookimpl.has_spec() and hookimpl.get_hookimpls():
            hint = did_you_mean(hookimpl.name, list(HOOKS))
            name = pm.get_name(exc.plugin) if exc.plugin is not None else "?"
            return f"plugin {name}: unknown hook '{hookimpl.name}'{hint}"
    return f"plugin {exc.plugin!r}: {exc}"


def build_registry(pm: pluggy.PluginManager) -> Registry:
    """The registry from every ``graphgrad_gates`` and ``graphgrad_checkers``
    implementation, conflicts refused."""
    return Registry(
        _collect(pm.hook.graphgrad_gates),
        _collect(pm.hook.graphgrad_checkers),
        _collect(pm.hook.graphgrad_exporters),
    )


def _collect(hook) -> list[tuple[str, list]]:
    contributions = []
    for impl in hook.get_hookimpls():
        classes = _guard(f"plugin {impl.plugin_name}", impl.function)
        contributions.append((impl.plugin_name, list(classes or [])))
    return contributions


def load_registry(plugins: Iterable[PluginRef] = ()) -> Registry:
    """The registry for these extra plugins (plus built-ins, entry points and the env)."""
    plugins = tuple(plugins)
    env = os.environ.get(ENV_VAR, "")
    if not plugins and not env:
        return default_registry()
    return _registry_for(plugins, env)


@lru_cache(maxsize=16)
def _registry_for(plugins: tuple[PluginRef, ...], env: str) -> Registry:
    """Built once per set of plugins, so that a batch of files does not rebuild it."""
    return build_registry(make_plugin_manager(plugins))


@lru_cache(maxsize=1)
def default_registry() -> Registry:
    """The registry of the built-ins and installed plugins, built once per process."""
    return build_registry(make_plugin_manager(use_env=False))


def _register(pm: pluggy.PluginManager, module: object, name: str) -> None:
    """Register once: a file given by path that is also installed counts as one plugin."""
    if pm.is_registered(module) or pm.has_plugin(name) or _source(module) in _sources(pm):
        return
    try:
        pm.register(module, name=name)
    except (ValueError, pluggy.PluginValidationError) as exc:
        raise PluginError(f"plugin {name}: {exc}") from None


def _source(module: object) -> Path | None:
    file = getattr(module, "__file__", None)
    return Path(file).resolve() if file else None


def _sources(pm: pluggy.PluginManager) -> set[Path]:
    return {src for p in pm.get_plugins() if (src := _source(p)) is not None}


def _guard(label: str, fn):
    try:
        return fn()
    except Exception as exc:
        raise PluginError(f"{label} failed to load: {type(exc).__name__}: {exc}") from exc


def _modules(ref: PluginRef) -> list[ModuleType]:
    if isinstance(ref, ModuleType):
        return [ref]
    text = os.fspath(ref)
    path = Path(text)
    if path.is_dir():
        if (path / "__init__.py").exists():
            return [_import_file(path / "__init__.py", path.name, package=True)]
        return [_import_file(p, p.stem) for p in sorted(path.glob("*.py"))]
    if path.suffix == ".py" or os.sep in text:
        if not path.is_file():
            raise PluginError(f"plugin {text}: no such file or folder")
        return [_import_file(path, path.stem)]
    return [_guard(f"plugin {text}", lambda: importlib.import_module(text))]


def _import_file(path: Path, stem: str, *, package: bool = False) -> ModuleType:
    """Import a plugin file under a private module name unique to its absolute path."""
    resolved = path.resolve()
    digest = hashlib.sha1(str(resolved).encode()).hexdigest()[:8]
    name = f"graphgrad_plugin_{stem}_{digest}"
    if name in sys.modules:
        return sys.modules[name]
    search = [str(resolved.parent)] if package else None
    spec = importlib.util.spec_from_file_location(name, resolved, submodule_search_locations=search)
    if spec is None or spec.loader is None:
        raise PluginError(f"plugin {path}: not an importable Python file")
    module = importlib.util.module_from_spec(spec)
    module.__plugin_path__ = str(path)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException as exc:
        del sys.modules[name]
        if isinstance(exc, KeyboardInterrupt):
            raise
        raise PluginError(f"plugin {path} failed to import: {type(exc).__name__}: {exc}") from exc
    return module


PluginBundle = tuple[tuple[str, tuple[tuple[str, bytes], ...] | None], ...]
"""Plugins packed to travel to another machine: for each ``--plugins`` reference as
given, the ``.py`` files under it (path relative to it, bytes), or None for a module
name, which the other machine must have installed."""


def pack_plugins(refs: Iterable[str]) -> PluginBundle:
    """The files of these plugin references, read here, so that a machine that does not
    share this one's disk (a Dask worker) can load the same plugins."""
    packed = []
    for ref in refs:
        path = Path(ref)
        if path.is_dir():
            files = tuple((str(p.relative_to(path)), p.read_bytes()) for p in sorted(path.rglob("*.py")))
            packed.append((ref, files))
        elif path.is_file():
            packed.append((ref, ((".", path.read_bytes()),)))
        else:
            packed.append((ref, None))
    return tuple(packed)


def unpack_plugins(bundle: PluginBundle, folder: str | os.PathLike) -> list[PluginRef]:
    """Write a bundle's files under ``folder`` and import them, each module named by the
    path it had where it was packed: its gates then say the same plugin, and a batch's
    rows are the same, on every machine. Module names are returned as they are."""
    refs: list[PluginRef] = []
    for i, (ref, files) in enumerate(bundle):
        if files is None:
            refs.append(ref)
            continue
        local = Path(folder) / str(i) / (Path(ref).name or "plugin")
        for rel, data in files:
            target = local if rel == "." else local / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
        try:
            modules = _modules(local)
        except PluginError as exc:
            raise PluginError(str(exc).replace(str(local), ref)) from None
        for module in modules:
            rel = Path(module.__plugin_path__).relative_to(local)
            module.__plugin_path__ = str(Path(ref) / rel)
        refs += modules
    return refs


def installed_plugins() -> tuple[str, ...]:
    """The names of the graphgrad plugins installed as packages (entry points) here."""
    return tuple(sorted(ep.name for ep in entry_points(group=hookspecs.PROJECT)))
