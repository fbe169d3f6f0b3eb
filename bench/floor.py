"""The floor for scalar graphs: the same forward and backward written as plain
straight-line Python on floats (what a person would write by hand, generated here)."""

from __future__ import annotations

FORWARD = {
    "add": "{0} + {1}",
    "mul": "{0} * {1}",
    "tanh": "math.tanh({0})",
    "sigmoid": "1.0 / (1.0 + math.exp(-{0}))",
    "relu": "{0} if {0} > 0.0 else 0.0",
    "exp": "math.exp({0})",
}
BACKWARD = {
    "add": ["{g}", "{g}"],
    "mul": ["{g} * {1}", "{g} * {0}"],
    "tanh": ["{g} * (1.0 - {o} * {o})"],
    "sigmoid": ["{g} * {o} * (1.0 - {o})"],
    "relu": ["{g} if {0} > 0.0 else 0.0"],
    "exp": ["{g} * {o}"],
}


def floor_function(definition):
    """A function of the inputs returning (output, {input: gradient}); scalars only."""
    names = {n: f"v{i}" for i, n in enumerate(definition.order)}
    lines = [f"def floor({', '.join(names[n] for n in definition.inputs)}):"]
    for name in definition.order:
        node = definition.nodes.get(name)
        if node is not None:
            args = [names[a] for a in node.args]
            lines.append(f"    {names[name]} = " + FORWARD[node.op].format(*args))
    grads = {definition.output: "1.0"}
    lines.append(f"    g{names[definition.output]} = 1.0")
    for name in reversed(definition.order):
        node = definition.nodes.get(name)
        if node is None or name not in grads:
            continue
        args = [names[a] for a in node.args]
        for arg, template in zip(node.args, BACKWARD[node.op], strict=True):
            expr = template.format(*args, g=f"g{names[name]}", o=names[name])
            target = f"g{names[arg]}"
            lines.append(f"    {target} = {target} + {expr}" if arg in grads else f"    {target} = {expr}")
            grads[arg] = target
    result = ", ".join(f"{n!r}: g{names[n]}" for n in definition.inputs)
    lines.append(f"    return {names[definition.output]}, {{{result}}}")
    namespace: dict = {}
    exec(compile("\n".join(lines), "<floor>", "exec"), {"math": __import__("math")}, namespace)
    return namespace["floor"]
