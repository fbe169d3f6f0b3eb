"""Checking one graph: expectations, finiteness, determinism, numerical gradients, blame.

A failed check names more than the input: every gate is re-checked locally (its
backward against finite differences of that gate alone, at the values it saw in the
forward pass), so the report says which node, op, plugin and line is wrong.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

import graphgrad.engine.backprop as engine
from graphgrad.api import Graph
from graphgrad.checker import Checker, Verdict, check_scope
from graphgrad.checking.gatecheck import check_step, float32_tolerance
from graphgrad.checking.objective import GraphObjective, widened
from graphgrad.engine.plan import Plan
from graphgrad.errors import GateRuntimeError, GraphgradError
from graphgrad.format.expect import Mismatch, compare

AUTO_THRESHOLD = 1_000
"""``auto`` runs ``central`` while the checked inputs hold at most this many elements in
all (graph-format.md "check"); above, random directions plus every gate alone."""
AUTO_DIRECTIONS = 1
"""Random directions per input for ``auto`` above the threshold: one, as each gate then
gets its own (the file's ``check: {checker: directional, directions: N}`` asks for more).
Two cost 11-16 passes' time on the 10^6-parameter net, over the issue's 10."""
BLAME_DIRECTIONS = 1
"""Random directions per argument when every gate is checked alone after checks that
passed (quick blame): each gate's own check is a fresh direction, and a failing one is
checked again with ``central`` where its input is small enough to name the element."""


@dataclass(slots=True)
class GateFault:
    """A gate whose backward disagrees with finite differences of its own forward."""

    node: str
    op: str
    plugin: str
    line: int
    argument: str
    verdict: Verdict
    seed: int = 0
    """Blame's seed: the gate's upstream is ``default_rng([seed, index])``'s normal draw."""
    index: int = 0
    """The gate's place among the plan's steps (its stream of the seed)."""
    upstream: np.ndarray | None = field(default=None, repr=False)
    arguments: dict[str, np.ndarray] = field(default_factory=dict, repr=False)
    """The values the gate saw, by argument name: what replays it alone."""

    def __str__(self) -> str:
        v = self.verdict
        at = f" at {list(v.worst_index)}" if v.worst_index else ""
        return (
            f"line {self.line}: node '{self.node}' ({self.op}, plugin {self.plugin}): gradient for "
            f"input '{self.argument}'{at} is {v.analytic!r}, finite differences give {v.numeric!r} "
            f"(relative error {v.max_rel_error:.3g})"
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "node": self.node,
            "op": self.op,
            "plugin": self.plugin,
            "line": self.line,
            "input": self.argument,
            "check": self.verdict.as_dict(),
            "message": str(self),
            "replay": self.replay(),
        }

    def replay(self) -> dict[str, Any]:
        """What replays this fault exactly: the seed, the upstream gradient and the gate's
        input values, inline when small; larger ones by shape (``check --shrink`` writes
        them into a file of their own)."""
        drawn = f"normal, numpy.random.default_rng([{self.seed}, {self.index}])"
        return {
            "seed": self.seed,
            "upstream": small_value(self.upstream, drawn),
            "inputs": {n: small_value(v, SAVED_BY_SHRINK) for n, v in self.arguments.items()},
        }

    def replay_line(self) -> str:
        """The replay details in one line of text."""
        r = self.replay()
        inputs = ", ".join(f"{n} = {_said(v)}" for n, v in r["inputs"].items())
        return f"replay: seed {self.seed}, upstream {_said(r['upstream'])}" + (
            f", inputs {inputs}" if inputs else ""
        )


REPLAY_INLINE = 16
"""Values up to this many elements are written out in blame's replay details."""
SAVED_BY_SHRINK = "check --shrink FILE writes it"


def small_value(value: np.ndarray | None, where: str) -> Any:
    """A value inline when it has at most ``REPLAY_INLINE`` elements, else its shape, dtype
    and where it can be had."""
    if value is None:
        return None
    value = np.asarray(value)
    if value.size <= REPLAY_INLINE:
        return value.tolist()
    return {"shape": list(value.shape), "dtype": str(value.dtype), "where": where}


def _said(value: Any) -> str:
    if isinstance(value, dict):
        return f"shape {value['shape']} ({value['where']})"
    return repr(value)


@dataclass(slots=True)
class FileReport:
    """Everything checked for one file; ``status`` is passed, failed, inconclusive or error."""

    file: str
    name: str
    status: str = "passed"
    error: list[str] | None = None
    checks: list[Verdict] = field(default_factory=list)
    expect: list[Mismatch] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    blame: list[GateFault] = field(default_factory=list)
    unused: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0
    seed: int = 0
    cotangent: Any = None
    """The check's random cotangent u as replay details give it (``small_value``: inline
    when small, else its shape and stream; None for a scalar output): a report crosses
    processes, and a large u need not."""
    shrink: dict[str, Any] | None = None
    """What ``check --shrink`` found (``shrink.ShrinkResult.as_dict``), when asked."""

    @property
    def worst(self) -> float:
        errs = [c.max_rel_error for c in self.checks if not c.passed]
        return max(errs, default=0.0)

    def messages(self) -> list[str]:
        """What a person needs to read about a failure, one line each."""
        out = list(self.error or [])
        out += [f"expect: {m}" for m in self.expect]
        out += self.problems
        for c in self.checks:
            if not c.passed:
                at = f" worst element {list(c.worst_index)}:" if c.worst_index else ""
                out.append(
                    f"input '{c.input}' ({c.checker}{', inconclusive' if c.inconclusive else ''}):{at} "
                    f"analytic {c.analytic!r}, numeric "
                    f"{c.numeric!r}, relative error {c.max_rel_error:.3g}"
                    + (f" ({c.note})" if c.note else "")
                )
        for b in self.blame:
            out += [f"blame: {b}", f"  {b.replay_line()}"]
        if self.blame:
            out.append(f"replay: {self.replay()['cotangent_said']}")
        return out

    def replay(self) -> dict[str, Any]:
        """The seed and cotangent of the check: ``check --seed`` with this seed replays it."""
        u = self.cotangent
        said = "the output is a scalar (no cotangent)" if u is None else f"cotangent {_said(u)}"
        return {"seed": self.seed, "cotangent": u, "cotangent_said": f"--seed {self.seed}; {said}"}

    def as_dict(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "name": self.name,
            "status": self.status,
            "error": self.error,
            "checks": [c.as_dict() for c in self.checks],
            "expect": [str(m) for m in self.expect],
            "problems": self.problems,
            "blame": [b.as_dict() for b in self.blame],
            "unused": self.unused,
            "notes": self.notes,
            "seconds": self.seconds,
            **({"replay": _without_said(self.replay())} if self.blame else {}),
            **({"shrink": self.shrink} if self.shrink is not None else {}),
        }


def _without_said(replay: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in replay.items() if k != "cotangent_said"}


STATUSES = ("passed", "failed", "inconclusive", "error")


def counts(reports: list[FileReport]) -> dict[str, int]:
    """How many reports have each status."""
    return {s: sum(r.status == s for r in reports) for s in STATUSES}


def check_document(reports: list[FileReport]) -> dict[str, Any]:
    """The JSON document of ``check`` (cli.md), the same from the CLI and the service."""
    n = counts(reports)
    return {
        "passed": n["passed"],
        "failed": n["failed"],
        "inconclusive": n["inconclusive"],
        "errors": n["error"],
        "files": [r.as_dict() for r in reports],
    }


def exit_code(reports: list[FileReport]) -> int:
    """2 for an invalid file, 1 for a failed or inconclusive one, else 0 (cli.md)."""
    n = counts(reports)
    return 2 if n["error"] else 1 if n["failed"] or n["inconclusive"] else 0


def check_graph(graph: Graph, *, checker: str | None = None, file: str | None = None) -> FileReport:
    """Check a loaded graph. ``checker`` overrides the file's ``check.checker``.

    >>> import graphgrad
    >>> text = "graphgrad: 1\\ninputs: {x: 2.0}\\nnodes:\\n  f: {op: square, in: [x]}\\noutput: f\\n"
    >>> g = graphgrad.load(text)
    >>> r = check_graph(g)
    >>> r.status, r.checks[0].checker, r.checks[0].evals
    ('passed', 'central', 2)
    """
    start = time.perf_counter()
    report = FileReport(file or graph.definition.path, graph.name)
    try:
        with check_scope():
            _check(graph, checker, report)
    except GateRuntimeError as exc:
        report.status, report.error = "error", [str(exc)]
    report.seconds = time.perf_counter() - start
    return report


def _check(graph: Graph, checker_name: str | None, report: FileReport) -> None:
    definition, plan = graph.definition, graph.plan
    report.unused = _unused(graph)
    values, grads = _run(plan)
    if graph.definition.expected is not None:
        named = {n: grads_or_zero(plan, grads, values, n) for n, d in definition.inputs.items() if d.grad}
        report.expect = compare(definition.expected, values[plan.output], named)
    u = cotangent(values[plan.output], definition.spec.seed)
    drawn = f"standard normal, numpy.random.default_rng([{definition.spec.seed}, {COTANGENT_STREAM}])"
    report.seed, report.cotangent = definition.spec.seed, small_value(u, drawn)
    if u is not None:
        _, grads = _run(plan, u)  # the same forward again: runs are deterministic, or the check says so
    report.problems += _nonfinite(plan, values, grads)
    if not report.problems and not all(type(s.gate).deterministic for s in plan.steps):
        report.problems += _nondeterministic(plan, values, grads, u)
    if not report.problems:
        report.checks = _numerical(graph, values, grads, checker_name, u)
        large = _checked_size(graph) > AUTO_THRESHOLD
        auto = _chosen(graph, checker_name) == "auto"
        passed = all(c.passed for c in report.checks)
        if not passed or (auto and large):
            report.blame = blame(graph, values, seed=definition.spec.seed, quick=passed, notes=report.notes)
    failed = report.expect or report.problems or report.blame
    failed = failed or any(c.status == "failed" for c in report.checks)
    unsure = any(c.inconclusive for c in report.checks)
    report.status = "failed" if failed else "inconclusive" if unsure else "passed"


def _run(plan: Plan, u: np.ndarray | None = None) -> tuple[list, list]:
    """Values and gradients (seeded with ``u``) as NumPy arrays per slot: the plan, never
    the scalar fast path, as checkers and blame re-run parts of the plan on arrays."""
    done = engine.run(plan, seed=u)
    return done.values, done.grads


COTANGENT_STREAM = 0x636F74  # "cot": u's own stream, apart from every input's


def cotangent(out: np.ndarray, seed: int) -> np.ndarray | None:
    """The check's random cotangent u for a non-scalar output (None for a scalar one).

    Standard normal, drawn from the file's ``seed`` (graph-format.md "check"), in the
    output's float dtype so that the engine's backward and the objective see the same u.

    >>> cotangent(np.zeros(()), 0) is None, cotangent(np.zeros((2, 3)), 0).shape
    (True, (2, 3))
    """
    if out.size <= 1 or out.dtype.kind not in "fc":
        return None
    dtype = np.float32 if out.dtype in (np.float32, np.complex64) else np.float64
    return np.random.default_rng([seed, COTANGENT_STREAM]).standard_normal(out.shape).astype(dtype)


def grads_or_zero(plan: Plan, grads: list, values: list, name: str) -> np.ndarray:
    g = grads[plan.slot[name]]
    return np.zeros_like(values[plan.slot[name]]) if g is None else g


def _unused(graph: Graph) -> list[str]:
    keep = graph.definition.reaching_output()
    return [n for n in graph.definition.order if n not in keep]


def _nonfinite(plan: Plan, values: list, grads: list) -> list[str]:
    """Name the first node where a NaN or infinity appears, forward then backward."""
    problems = []
    for name in plan.names:
        v = values[plan.slot[name]]
        if v.dtype.kind in "fc" and not np.isfinite(v).all():
            step = next((s for s in plan.steps if s.name == name), None)
            where = f"node '{name}' ({step.op}, line {step.line})" if step else f"input '{name}'"
            problems.append(f"non-finite value: {_kind(v)} first appears in the value of {where}")
            break
    for step in reversed(plan.backward_steps):
        for i in step.ins:
            g = grads[i]
            if g is not None and not np.isfinite(g).all():
                problems.append(
                    f"non-finite gradient: {_kind(g)} first appears in the backward of node "
                    f"'{step.name}' ({step.op}, line {step.line}), for its input '{plan.names[i]}'"
                )
                return problems
    return problems


def _kind(a: np.ndarray) -> str:
    return "NaN" if np.isnan(a).any() else "infinity"


def _nondeterministic(plan: Plan, values: list, grads: list, u: np.ndarray | None) -> list[str]:
    """A second run, for graphs with a gate that does not declare ``Gate.deterministic``.
    The gradients are finite here (``_nonfinite`` ran first), so a NaN in the second run
    is a difference, and the comparison needs no ``equal_nan`` (4 ms at 10^6 elements)."""
    _, again = _run(plan, u)
    for name, i in plan.slot.items():
        if grads[i] is not None and not np.array_equal(grads[i], again[i]):
            return [f"backward is not deterministic: the gradient of '{name}' differs between two runs"]
    return []


def _chosen(graph: Graph, override: str | None) -> str:
    spec = graph.definition.spec.check
    return override or (spec.checker if spec else "auto")


def checker_for(
    graph: Graph,
    name: str,
    dtype: np.dtype,
    analytic: np.ndarray | None = None,
    *,
    directions: int | None = None,
) -> Checker:
    """The named checker with the file's eps, rtol, atol and (for its own checker) options.

    For a float32 input the numerical side runs in float64 (``objective.widened``), so the
    checker is given the widened input and its step is float64's; its tolerance stays
    float32's (``float32_tolerance``) unless the file sets one."""
    spec = graph.definition.spec.check
    settings: dict[str, Any] = {}
    if spec is not None:
        settings = {k: v for k, v in (("eps", spec.eps), ("rtol", spec.rtol)) if v is not None}
        settings["atol"] = spec.atol
        if spec.checker == name:
            settings.update(spec.model_extra or {})
    if directions is not None and name == "directional":
        settings.setdefault("directions", directions)
    try:
        cls = graph.registry.checker(name).cls
    except KeyError:
        known = ", ".join(c.name for c in graph.registry.checkers())
        raise GraphgradError(f"no checker named '{name}' (registered: auto, {known})") from None
    return float32_tolerance(cls, settings, dtype, analytic)


def _checked(graph: Graph) -> list[str]:
    """The inputs a check covers: ``check.wrt``, else every differentiable input."""
    definition = graph.definition
    spec = definition.spec.check
    if spec and spec.wrt is not None:
        return list(spec.wrt)
    return [n for n, d in definition.inputs.items() if d.grad]


def _checked_size(graph: Graph) -> int:
    """How many elements the checked inputs hold in all: what ``auto`` decides on."""
    return sum(graph.definition.inputs[n].value.size for n in _checked(graph))


def _numerical(
    graph: Graph, values: list, grads: list, override: str | None, u: np.ndarray | None
) -> list[Verdict]:
    plan = graph.plan
    name = _chosen(graph, override)
    total = _checked_size(graph)
    verdicts = []
    for input_name in _checked(graph):
        slot = plan.slot[input_name]
        x, g = values[slot], grads_or_zero(plan, grads, values, input_name)
        objective = GraphObjective(plan, values, slot, u)
        for checker_name in _plan_checkers(name, total):
            checker = checker_for(graph, checker_name, x.dtype, g, directions=_auto_directions(name))
            verdicts.append(checker.check(objective, widened(x), g, input=input_name))
    return verdicts


def _plan_checkers(name: str, size: int) -> list[str]:
    """``auto``: central while the checked inputs hold at most ``AUTO_THRESHOLD`` elements
    in all (``size``); above, directional on each, whatever its own size, so that the cost
    stays a few passes (docs/decisions.md says why sparse samples are not added there)."""
    if name != "auto":
        return [name]
    return ["central"] if size <= AUTO_THRESHOLD else ["directional"]


def _auto_directions(name: str) -> int | None:
    """How many random directions ``auto`` draws per input above its threshold (None:
    the checker's own default, for a checker named outright)."""
    return AUTO_DIRECTIONS if name == "auto" else None


BLAME_ARGUMENTS = 16
BLAME_SECONDS = 30.0


def blame(
    graph: Graph,
    values: list,
    *,
    seed: int = 0,
    quick: bool = False,
    notes: list[str] | None = None,
    seconds: float = BLAME_SECONDS,
) -> list[GateFault]:
    """Re-check every gate alone at the values it saw; return the ones that are wrong.

    ``quick`` (after checks that passed): directional first on every argument, central
    only where it fails (``gatecheck.check_step``). Bounded: a gate with more than
    ``BLAME_ARGUMENTS`` differentiable arguments (an add of 10^5 references) has that
    many of them checked, drawn from ``seed``, and blame stops after ``seconds``; both
    are said in ``notes``, as is a gate whose own check was inconclusive."""
    plan = graph.plan
    faults: list[GateFault] = []
    notes = notes if notes is not None else []
    deadline = time.perf_counter() + seconds
    for index, step in enumerate(plan.steps):
        if time.perf_counter() > deadline:
            notes.append(
                f"blame stopped after {seconds:g} s, before node '{step.name}' (line {step.line}): "
                f"{index} of {len(plan.steps)} gates checked alone"
            )
            break
        out = values[step.out]
        if out.dtype.kind != "f":
            continue
        args = [values[i] for i in step.ins]
        rng = np.random.default_rng([seed, index])
        upstream = rng.normal(size=out.shape).astype(out.dtype)
        names = [plan.names[i] if i < len(plan.names) else "literal" for i in step.ins]
        plugin = graph.registry[step.op].plugin
        make = lambda name, dtype, g: checker_for(  # noqa: E731
            graph, name, dtype, g, directions=BLAME_DIRECTIONS if quick else None
        )
        needed = [plan.requires_grad[i] and args[k].dtype.kind == "f" for k, i in enumerate(step.ins)]
        wanted = [k for k, n in enumerate(needed) if n]
        if len(wanted) > BLAME_ARGUMENTS:
            keep = set(rng.choice(wanted, size=BLAME_ARGUMENTS, replace=False).tolist())
            needed = [k in keep for k in range(len(needed))]
            notes.append(
                f"blame: node '{step.name}' (line {step.line}) has {len(wanted)} differentiable "
                f"arguments; {BLAME_ARGUMENTS} of them, drawn from seed {seed}, were checked alone"
            )
        for verdict in check_step(step, args, upstream, names, make, needed, quick, out):
            if verdict.status == "failed":
                given = dict(zip(names, args, strict=True))
                given.pop("literal", None)
                faults.append(
                    GateFault(
                        step.name,
                        step.op,
                        plugin,
                        step.line,
                        verdict.input,
                        verdict,
                        seed,
                        index,
                        upstream,
                        given,
                    )
                )
                break
            if verdict.inconclusive:
                notes.append(
                    f"blame: node '{step.name}' (line {step.line}), input '{verdict.input}': {verdict.note}"
                )
    return faults
