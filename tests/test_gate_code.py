"""One gate, one place: the code a gate gives (``forward_code``, ``backward_code``) is
what the flat export and the scalar fast path run, so for every registered gate that
gives code, built-in or from a plugin, that code must equal the gate's own forward and
backward: on NumPy arrays of several shapes (broadcasting ones where the shape rule
accepts them) and on Python floats, with a random upstream gradient."""

from __future__ import annotations

import ast
import math
from itertools import product

import numpy as np
import pytest

import graphgrad
from graphgrad.checking.gatecheck import SHAPE_POOL, attribute_sets
from graphgrad.engine.scalar import gate_function
from graphgrad.gate import Gate, arity, has_code, has_shape_rule, sum_to
from graphgrad.plugins.manager import build_registry, make_plugin_manager
from tests.conftest import ROOT

SWISH = ROOT / "plugins" / "graphgrad-swish" / "graphgrad_swish.py"
REGISTRY = build_registry(make_plugin_manager([SWISH], use_env=False))
WITH_CODE = [t for t in REGISTRY if has_code(t.cls)]


def _shape_sets(gate: Gate, n: int, rng: np.random.Generator) -> list[tuple]:
    """Every combination of ``SHAPE_POOL`` the shape rule accepts for up to two inputs
    (so that each input in turn is the one broadcast), a seeded sample of 60 beyond."""
    pool = list(product(SHAPE_POOL, repeat=n))
    if n > 2:
        pool = [pool[i] for i in rng.choice(len(pool), 60, replace=False)]
    accepted = []
    for shapes in pool:
        try:
            gate.shape(*shapes) if has_shape_rule(gate) else gate.forward(*[np.ones(s) for s in shapes])
        except Exception:
            continue
        accepted.append(shapes)
    return accepted


def _cases(gate: Gate, rng: np.random.Generator) -> list[tuple[np.ndarray, ...]]:
    """The gate's own sample inputs, else values of either sign on every shape set above
    (one more input for a variadic gate)."""
    custom = gate.sample_inputs(rng)
    if custom is not None:
        return [tuple(np.asarray(a) for a in case) for case in custom]
    a = arity(type(gate))
    counts = [a.minimum] + ([a.minimum + 1] if a.maximum is None else [])
    cases = []
    for n in counts:
        for shapes in _shape_sets(gate, n, rng):
            for positive in (False, True):
                values = tuple(
                    np.asarray(rng.uniform(0.3, 2.0, s) * (1 if positive else rng.choice([-1.0, 1.0], s)))
                    for s in shapes
                )
                with np.errstate(all="ignore"):
                    if np.isfinite(gate.forward(*values)).all():
                        cases.append(values)
                        break
    return cases


def _gates(cls: type[Gate], rng: np.random.Generator) -> list[Gate]:
    out = []
    for attrs in attribute_sets(cls, rng):
        try:
            out.append(cls.model_validate(attrs))
        except ValueError:
            continue
    return out


def _expected(gate: Gate, inputs, upstream):
    with np.errstate(all="ignore"):
        out = np.asarray(gate.forward(*inputs))
        grads = gate.backward(upstream, out, *inputs)
    return out, [
        None if g is None else sum_to(np.asarray(g), np.shape(x)) for g, x in zip(grads, inputs, strict=True)
    ]


def _compare(got, expected, what: str) -> None:
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-14, err_msg=what)


def test_the_gates_that_give_code_include_every_builtin_and_the_swish_plugin():
    ops = {t.op for t in WITH_CODE}
    assert {"swish", "softplus"} <= ops
    assert {t.op for t in REGISTRY if t.plugin.startswith("graphgrad.builtin.gates")} <= ops


@pytest.mark.parametrize("gate_type", WITH_CODE, ids=lambda t: t.op)
def test_array_code_equals_forward_and_backward(gate_type):
    rng = np.random.default_rng(0)
    checked = 0
    for gate in _gates(gate_type.cls, rng):
        for inputs in _cases(gate, rng):
            function = gate_function(gate, [np.shape(x) for x in inputs], scalar=False)
            assert function is not None, f"{gate_type.op} gives code, yet none was compiled"
            out, expected = _expected(
                gate, inputs, upstream := rng.normal(size=np.shape(gate.forward(*inputs)))
            )
            with np.errstate(all="ignore"):
                got_out, got = function(*inputs, upstream)
            shapes = [list(np.shape(x)) for x in inputs]
            _compare(got_out, out, f"{gate_type.op} {shapes}: forward")
            assert len(got) == len(inputs)
            for k, (g, e) in enumerate(zip(got, expected, strict=True)):
                if e is None:
                    assert g is None, f"{gate_type.op}: input {k} has no gradient, the code gives one"
                    continue
                assert np.shape(g) == np.shape(inputs[k]), f"{gate_type.op} {shapes}: gradient {k} shape"
                _compare(g, e, f"{gate_type.op} {shapes}: gradient of input {k}")
            checked += 1
    assert checked >= 2


@pytest.mark.parametrize("gate_type", WITH_CODE, ids=lambda t: t.op)
def test_scalar_code_equals_forward_and_backward(gate_type):
    """On floats where the gate takes scalars; a value where floats and NumPy part ways
    must raise (the fast path then runs NumPy), never give another answer."""
    rng = np.random.default_rng(1)
    n = arity(gate_type.cls).minimum
    checked = 0
    for gate in _gates(gate_type.cls, rng):
        if ((),) * n not in _shape_sets(gate, n, rng):
            continue
        function = gate_function(gate, [()] * n, scalar=True)
        if function is None:
            continue  # its code calls a NumPy function floats lack: no fast path, by design
        values = [rng.uniform(0.3, 2.0, n) * rng.choice([-1.0, 1.0], n) for _ in range(8)]
        values += [rng.uniform(0.3, 2.0, n), np.zeros(n), np.full(n, -0.0), np.full(n, 800.0)]
        for row in values:
            inputs = [np.float64(v) for v in row]
            upstream = float(rng.normal())
            out, expected = _expected(gate, inputs, np.float64(upstream))
            try:
                got_out, got = function(*[float(v) for v in row], upstream)
            except (ArithmeticError, ValueError):
                continue
            what = f"{gate_type.op} at {[float(v) for v in row]}"
            assert isinstance(got_out, float), f"{what}: forward gave {type(got_out).__name__}, not a float"
            _compare(got_out, out, f"{what}: forward")
            for k, (g, e) in enumerate(zip(got, expected, strict=True)):
                if e is not None:
                    assert not isinstance(g, complex)
                    _compare(g, e, f"{what}: gradient of input {k}")
            checked += 1
    if gate_type.op in SCALAR_OPS:
        assert checked >= 5, f"{gate_type.op} should run on floats"


SCALAR_OPS = {
    "add", "sub", "mul", "div", "neg", "pow", "exp", "log", "sqrt", "square", "reciprocal", "abs",
    "relu", "leaky_relu", "sigmoid", "tanh", "max", "min", "sum", "mean", "l2", "swish", "softplus",
}  # fmt: skip
"""The gates whose code must run on floats: the fast path's coverage must not shrink."""


def test_no_op_table_outside_the_gates():
    """Nothing keyed by op name outside the gate classes: the modules that generate code,
    run the fast path and explain the flow name no built-in op in a string."""
    ops = {t.op for t in REGISTRY if t.plugin.startswith("graphgrad.builtin.gates")}
    for module in [
        "engine/codegen.py",
        "engine/scalar.py",
        "explain/flow.py",
        "explain/table.py",
        "builtin/exporters/flatcode.py",
    ]:
        tree = ast.parse((ROOT / "graphgrad" / module).read_text())
        keys = []  # what a table or a test on op names is made of
        for n in ast.walk(tree):
            if isinstance(n, ast.Dict):
                keys += n.keys
            elif isinstance(n, ast.Set | ast.List | ast.Tuple):
                keys += n.elts
            elif isinstance(n, ast.Compare):
                keys += n.comparators
        named = {k.value for k in keys if isinstance(k, ast.Constant) and k.value in ops}
        assert not named, f"graphgrad/{module} names the ops {sorted(named)}: that belongs on the gate"


def test_a_gate_without_code_gets_none():
    class Plain(graphgrad.Gate):
        op = "plain_example"

        def forward(self, a):
            return a

        def backward(self, grad, out, a):
            return (grad,)

    assert not has_code(Plain)
    assert gate_function(Plain(), [(3,)], scalar=False) is None


def test_code_on_floats_that_calls_a_numpy_function_floats_lack_gets_no_fast_path():
    class Cumulative(graphgrad.Gate):
        op = "cumsum_example"

        def shape(self, a):
            return a

        def forward(self, a):
            return np.cumsum(a)

        def backward(self, grad, out, a):
            return (np.cumsum(grad[::-1])[::-1],)

        def forward_code(self, code, a):
            return f"np.cumsum({a})"

        def backward_code(self, code, grad, out, a):
            return (f"np.cumsum({grad}[::-1])[::-1]",)

    assert gate_function(Cumulative(), [()], scalar=True) is None
    array = gate_function(Cumulative(), [(4,)], scalar=False)
    x, g = np.arange(4.0), np.ones(4)
    out, (grad,) = array(x, g)
    np.testing.assert_array_equal(out, [0, 1, 3, 6])
    np.testing.assert_array_equal(grad, [4, 3, 2, 1])


def test_helpers_of_two_gates_with_one_name_are_refused():
    code = graphgrad.Code(False, [(3,)], (3,))
    code.helper("_twice", "def _twice(a):\n    return 2 * a\n")
    with pytest.raises(ValueError, match="two different helpers are called '_twice'"):
        code.helper("_twice", "def _twice(a):\n    return a + a\n")
    with pytest.raises(ValueError, match="starting with '_'"):
        code.helper("twice", "def twice(a):\n    return 2 * a\n")


def test_backward_code_with_the_wrong_count_is_a_clear_error(tmp_path):
    plugin = tmp_path / "short.py"
    plugin.write_text(
        "import graphgrad\n\n"
        "class Short(graphgrad.Gate):\n"
        "    op = 'short_example'\n"
        "    def shape(self, a, b):\n        return a\n"
        "    def forward(self, a, b):\n        return a + b\n"
        "    def backward(self, grad, out, a, b):\n        return grad, grad\n"
        "    def forward_code(self, code, a, b):\n        return f'{a} + {b}'\n"
        "    def backward_code(self, code, grad, out, a, b):\n        return (grad,)\n\n"
        "@graphgrad.hookimpl\ndef graphgrad_gates():\n    return [Short]\n"
    )
    text = "graphgrad: 1\ninputs: {x: 1.0, y: 2.0}\nnodes:\n  f: {op: short_example, in: [x, y]}\noutput: f\n"
    g = graphgrad.load(text, plugins=[plugin])
    with pytest.raises(graphgrad.GraphgradError, match="backward_code gave 1 expression.*for 2 input"):
        g.export("python")
    assert math.isclose(float(g.run().grads["y"]), 1.0)


def test_a_plugin_gates_pattern_is_shown_by_explain(tmp_path):
    from graphgrad.explain.flow import MEANING, gradient_flow
    from graphgrad.explain.table import explain_rows

    plugin = tmp_path / "fork.py"
    plugin.write_text(
        "import graphgrad\n\n"
        "class Both(graphgrad.Gate):\n"
        "    op = 'both_example'\n"
        "    pattern = 'splitter'\n"
        "    def shape(self, a, b):\n        return a\n"
        "    def forward(self, a, b):\n        return a + b\n"
        "    def backward(self, grad, out, a, b):\n        return grad, grad\n\n"
        "@graphgrad.hookimpl\ndef graphgrad_gates():\n    return [Both]\n"
    )
    text = "graphgrad: 1\ninputs: {x: 1.0, y: 2.0}\nnodes:\n  f: {op: both_example, in: [x, y]}\noutput: f\n"
    rows = explain_rows(gradient_flow(graphgrad.load(text, plugins=[plugin])))
    assert [r.pattern for r in rows] == ["splitter", ""]
    assert MEANING["splitter"] and MEANING["router"].startswith("sends the whole upstream")
