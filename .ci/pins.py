"""constraints.txt against the running environment: what CI checks and how the pins are updated.

    python .ci/pins.py check   exit 1 unless this environment holds exactly the pinned versions
    python .ci/pins.py diff    print each package whose version here differs from its pin
    python .ci/pins.py write   rewrite constraints.txt's pins from this environment (header kept)

Run it with the Python of the environment to compare (the CI venv's); the editable
installs (graphgrad, graphgrad-swish) are not pinned.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

CONSTRAINTS = Path(__file__).resolve().parents[1] / "constraints.txt"


def _canonical(name: str) -> str:
    """PEP 503 names: `PyYAML` and `pyyaml`, `typing_extensions` and `typing-extensions` are one."""
    return re.sub(r"[-_.]+", "-", name).lower()


def _parse(lines: list[str]) -> dict[str, tuple[str, str]]:
    """canonical name -> (name as written, version) for every `name==version` line."""
    pins = {}
    for line in lines:
        line = line.split("#", 1)[0].strip()
        if "==" in line:
            name, version = (part.strip() for part in line.split("==", 1))
            pins[_canonical(name)] = (name, version)
    return pins


def pinned() -> dict[str, tuple[str, str]]:
    """The pins of constraints.txt."""
    return _parse(CONSTRAINTS.read_text().splitlines())


def installed() -> dict[str, tuple[str, str]]:
    """What this Python has installed, editable installs left out."""
    out = subprocess.run(
        [sys.executable, "-m", "pip", "freeze", "--exclude-editable"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return _parse(out.splitlines())


def differences(pins: dict, here: dict) -> list[str]:
    """One line per package that is unpinned, missing or at another version."""
    lines = []
    for key in sorted(pins.keys() | here.keys()):
        name = (here.get(key) or pins[key])[0]
        want = pins[key][1] if key in pins else "not pinned"
        got = here[key][1] if key in here else "not installed"
        if want != got:
            lines.append(f"  {name}: {want} -> {got}")
    return lines


def write(here: dict) -> None:
    """Keep the header comment, replace every pin."""
    header = []
    for line in CONSTRAINTS.read_text().splitlines():
        if not line.startswith("#"):
            break
        header.append(line)
    pins = [f"{name}=={version}" for _, (name, version) in sorted(here.items())]
    CONSTRAINTS.write_text("\n".join(header + pins) + "\n")


def main(argv: list[str]) -> int:
    """Dispatch on the one argument; see the module docstring."""
    command = argv[0] if argv else ""
    if command == "write":
        here = installed()
        write(here)
        print(f"wrote {len(here)} pins to {CONSTRAINTS.name}")
        return 0
    if command not in ("check", "diff"):
        print(__doc__, file=sys.stderr)
        return 2
    lines = differences(pinned(), installed())
    if command == "diff":
        print("\n".join(lines) if lines else "  every package is at its pinned version")
        return 0
    if lines:
        print(f"{CONSTRAINTS.name} does not describe this environment (pin -> installed):", file=sys.stderr)
        print("\n".join(lines), file=sys.stderr)
        print("update the pins: bash .ci/newest --update-pins (docs/decisions.md)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
