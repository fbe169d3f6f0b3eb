"""Start-up of ``graphgrad run`` (issue 13): what it does not import, and the collector
kept out of the process's imports."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import ROOT

START = """
import gc, runpy, sys
sys.argv = ["graphgrad", *sys.argv[1:]]
try:  # as `python -m graphgrad` runs it: the main program is graphgrad's own
    runpy.run_module("graphgrad", run_name="__main__", alter_sys=True)
finally:
    wanted = ("graphgrad.builtin.checkers.", "graphgrad.builtin.exporters.",
              "graphgrad.checking", "graphgrad.checker", "graphgrad.exporter", "graphgrad.explain",
              "graphgrad.service", "graphgrad.engine.scalar", "graphgrad.graph.schema")
    print(sorted(m for m in sys.modules if m.startswith(wanted)), gc.isenabled(), gc.get_freeze_count() > 0,
          file=sys.stderr)
"""


def test_run_imports_only_what_it_uses_and_freezes_its_imports():
    out = subprocess.run(
        [sys.executable, "-c", START, "run", "graphs/simple.yaml"],
        capture_output=True, text=True, cwd=ROOT, timeout=60,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert out.stderr.strip() == "[] True True"


def test_a_program_calling_the_command_line_keeps_its_collector():
    """CliRunner (a test, a program) passes its arguments: its collector is left alone."""
    code = (
        "import gc\nfrom click.testing import CliRunner\nfrom graphgrad.cli import main\n"
        "r = CliRunner().invoke(main, ['run', 'graphs/simple.yaml'])\n"
        "print(r.exit_code, gc.isenabled(), gc.get_freeze_count())\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert out.stdout.strip() == "0 True 0", out.stderr
