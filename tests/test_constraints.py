"""constraints.txt, the pins of a reproducible install, agrees with pyproject.toml's ranges."""

from __future__ import annotations

import re
import tomllib

from packaging.requirements import Requirement

from tests.conftest import ROOT


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _pins() -> dict[str, str]:
    pins = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, sep, version = line.partition("==")
            assert sep and version, f"constraints.txt: {line!r} is not NAME==VERSION"
            pins[_canonical(name)] = version.strip()
    return pins


def _requirements() -> list[Requirement]:
    """What the README's test command installs directly: the dependencies, the serve, dask
    and test extras, and the example plugin's dependencies."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    plugin = tomllib.loads((ROOT / "plugins" / "graphgrad-swish" / "pyproject.toml").read_text())["project"]
    texts = project["dependencies"] + project["optional-dependencies"]["serve"]
    texts += project["optional-dependencies"]["dask"]
    texts += project["optional-dependencies"]["test"] + plugin["dependencies"]
    return [r for r in map(Requirement, texts) if _canonical(r.name) != "graphgrad"]


def test_every_direct_dependency_is_pinned_within_its_range():
    pins = _pins()
    for req in _requirements():
        name = _canonical(req.name)
        assert name in pins, f"{req.name} is not pinned in constraints.txt (bash .ci/newest --update-pins)"
        assert req.specifier.contains(pins[name], prereleases=True), (
            f"constraints.txt pins {req.name}=={pins[name]}, outside pyproject.toml's {req}"
        )


def test_the_pins_leave_out_the_project_and_the_optional_bench_peers():
    pins = _pins()
    assert "graphgrad" not in pins and "graphgrad-swish" not in pins
    assert not {"torch", "jax", "micrograd", "autograd"} & pins.keys()
    assert len(pins) >= len(_requirements())
