"""Start-up of the command line, in fresh processes, against ``python -c "import numpy"``.

The children may write bytecode caches (PYTHONDONTWRITEBYTECODE is dropped for them),
as on a user's machine; the warm-up call of each command writes them.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from .timing import rotation

ROOT = Path(__file__).resolve().parents[1]


def _command(*args: str) -> list[str]:
    """The ``graphgrad`` script of this Python's environment (not whichever is first on
    PATH), or ``python -m graphgrad``."""
    beside = Path(sys.executable).with_name("graphgrad")
    script = str(beside) if beside.exists() else shutil.which("graphgrad")
    return [script, *args] if script else [sys.executable, "-m", "graphgrad", *args]


LIBRARIES = 'python -c "import numpy, networkx, pydantic, yaml"'
COMMANDS = {
    'python -c "import numpy"': [sys.executable, "-c", "import numpy"],
    LIBRARIES: [sys.executable, "-c", "import numpy, networkx, pydantic, yaml"],
    "graphgrad --version": _command("--version"),
    "graphgrad run graphs/simple.yaml": _command("run", "graphs/simple.yaml"),
}


def startup(repeats: int = 7) -> list[dict]:
    """Median wall time of each command; ratios to importing NumPy, and to importing the
    libraries a run needs (issue 13's floor for ``graphgrad run``)."""

    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}

    def runner(argv: list[str]):
        return lambda: subprocess.run(argv, cwd=ROOT, env=env, check=True, capture_output=True)

    timing = rotation([runner(argv) for argv in COMMANDS.values()], repeats)
    return [
        {
            "command": name,
            "seconds": t,
            "ratio_to_numpy_import": timing.ratio(i, 0),
            "ratio_to_libraries_import": timing.ratio(i, 1),
        }
        for i, (name, t) in enumerate(zip(COMMANDS, timing.medians, strict=True))
    ]
