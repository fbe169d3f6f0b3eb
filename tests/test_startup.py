"""Start-up of ``graphgrad run`` (issue 13): what it does not import, the table it prints
without rich (byte for byte rich's), and the collector kept out of the process's imports."""

from __future__ import annotations

import io
import os
import random
import subprocess
import sys
from contextlib import redirect_stdout

import pytest
from click.testing import CliRunner
from rich.console import Console
from rich.table import Table

from graphgrad.cli import common, main
from tests.conftest import GRAPHS, ROOT


def rich_table(lines: list[str], columns: tuple[str, ...], rows: list[tuple[str, ...]]) -> str:
    """What ``console()`` printed on a pipe before: rich, 160 columns."""
    buf = io.StringIO()
    out = Console(highlight=False, markup=False, width=common.PAGE_WIDTH, file=buf)
    for line in lines:
        out.print(line)
    if rows:
        table = Table(*columns, title=None, box=None, pad_edge=False)
        for row in rows:
            table.add_row(*row)
        out.print(table)
    return buf.getvalue()


def printed(lines: list[str], columns: tuple[str, ...], rows: list[tuple[str, ...]]) -> str:
    buf = io.StringIO()
    with redirect_stdout(buf):
        common.print_table(lines, columns, rows)
    return buf.getvalue()


def test_the_plain_table_is_rich_s_byte_for_byte():
    """Random text of every kind: where the plain path is taken, it writes what rich
    writes; where rich would change the text, rich prints it (and so agrees too)."""
    rng = random.Random(13)
    plain_chars = [chr(c) for c in range(32, 127)]
    odd_chars = [*plain_chars, "\t", "\n", "\x1b", "é", "日", ":"]
    taken = 0

    def text(longest: int) -> str:
        n = min(rng.choice([0, 1, 3, 8, 40, 100, 150, 156, 158, 159, 160, 161, 175]), longest)
        chars = odd_chars if rng.random() < 0.2 else plain_chars
        return "".join(rng.choice(chars) for _ in range(n))

    for _ in range(1500):
        width = rng.choice([1, 2, 3])
        columns = tuple(text(12) or "c" for _ in range(width))
        rows = [tuple(text(160) for _ in range(width)) for _ in range(rng.choice([0, 1, 2, 3]))]
        lines = [text(175) for _ in range(rng.choice([0, 1, 2]))]
        taken += common._plain_text(lines, columns, rows)
        assert printed(lines, columns, rows) == rich_table(lines, columns, rows), (lines, columns, rows)
    assert taken > 250  # the plain path was exercised, not only the fallback


@pytest.mark.parametrize("width", [158, 159, 160, 161])
def test_the_page_width_is_where_rich_starts_to_cut(width):
    columns = ("input", "shape", "gradient")
    rows = [("x", "[]", "g" * (width - 14))]  # 5 + 2 + 5 + 2 + the cell
    line = "f" * width
    assert common._plain_text([line], columns, rows) is (width <= common.PAGE_WIDTH)
    assert printed([line], columns, rows) == rich_table([line], columns, rows)


def test_run_prints_what_rich_printed_for_every_example(monkeypatch):
    files = sorted(GRAPHS.rglob("*.yaml"))
    plain = {f: CliRunner().invoke(main, ["run", str(f)]) for f in files}
    monkeypatch.setattr(common, "_plain_stdout", lambda: False)
    for f in files:
        with_rich = CliRunner().invoke(main, ["run", str(f)])
        assert (plain[f].stdout, plain[f].exit_code) == (with_rich.stdout, with_rich.exit_code), f


def test_a_terminal_still_gets_rich_s_table():
    """FORCE_COLOR makes rich treat the pipe as a terminal: the header is bold, as on a
    terminal, which only rich writes."""
    env = {**os.environ, "FORCE_COLOR": "1"}
    out = subprocess.run(
        [sys.executable, "-m", "graphgrad", "run", "graphs/simple.yaml"],
        capture_output=True, text=True, cwd=ROOT, env=env, timeout=60,
    )  # fmt: skip
    assert out.returncode == 0 and "\x1b[1m" in out.stdout and "gradients of f:" in out.stdout


START = """
import gc, sys
sys.argv = ["graphgrad", *sys.argv[1:]]
from graphgrad.cli import main
try:
    main()
finally:
    wanted = ("rich", "graphgrad.builtin.gates.", "graphgrad.builtin.checkers.", "graphgrad.builtin.exporters.",
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
    assert out.stderr.strip() == "['graphgrad.builtin.gates.arithmetic'] True True"


def test_a_program_calling_the_command_line_keeps_its_collector():
    """CliRunner (a test, a program) passes its arguments: its collector is left alone."""
    code = (
        "import gc\nfrom click.testing import CliRunner\nfrom graphgrad.cli import main\n"
        "r = CliRunner().invoke(main, ['run', 'graphs/simple.yaml'])\n"
        "print(r.exit_code, gc.isenabled(), gc.get_freeze_count())\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert out.stdout.strip() == "0 True 0", out.stderr
