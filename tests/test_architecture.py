"""The layers of docs and shared/design/architecture.md, held by import-linter:
the shells on top, the engine and the format at the bottom, each library behind its
own modules (contracts in .importlinter)."""

from __future__ import annotations

import shutil
import subprocess

from tests.conftest import ROOT


def test_imports_flow_one_way():
    program = shutil.which("lint-imports")
    assert program, "import-linter is a test dependency: pip install -e '.[test]'"
    proc = subprocess.run([program], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert "Contracts: 3 kept, 0 broken." in proc.stdout
