"""Pictures through Graphviz's ``dot`` program, with a clear message when it is missing."""

from __future__ import annotations

import shutil
import subprocess

from graphgrad.errors import GraphgradError

INSTALL = (
    "graphgrad render needs Graphviz's `dot` program, which is not on PATH. Install it: "
    "Debian/Ubuntu `apt-get install graphviz`, Fedora `dnf install graphviz`, macOS "
    "`brew install graphviz`, conda `conda install graphviz`. Or write DOT text with "
    "`graphgrad export FILE --to dot --values` and draw it elsewhere."
)


def draw(dot_text: str, fmt: str, out: str) -> None:
    """Run ``dot -T<fmt> -o <out>`` on the text."""
    program = shutil.which("dot")
    if program is None:
        raise GraphgradError(INSTALL)
    proc = subprocess.run(
        [program, f"-T{fmt}", "-o", out], input=dot_text.encode(), capture_output=True, timeout=120
    )
    if proc.returncode != 0:
        raise GraphgradError(f"dot failed: {proc.stderr.decode(errors='replace').strip()}")
