"""What graphgrad writes and prints stays what it means, whatever a file or path holds:
no device replaced by a regular file, no path read as markup, no control character
passed to the terminal or into JUnit XML. Found by an adversarial pass."""

from __future__ import annotations

import os
import shutil
import stat
import threading
import xml.etree.ElementTree as ET

import pytest

from tests.conftest import GRAPHS, graphgrad_cli


@pytest.mark.skipif(os.geteuid() != 0, reason="making a device node needs root (CI runs as root)")
def test_export_to_a_device_leaves_it_a_device(tmp_path):
    """A copy of /dev/null, never the machine's own: as root, a write that replaced its
    target turned /dev/null into a regular file."""
    device = tmp_path / "null"
    os.mknod(device, 0o666 | stat.S_IFCHR, os.makedev(1, 3))
    done = graphgrad_cli("export", GRAPHS / "simple.yaml", "--to", "json", "-o", device)
    assert done.returncode == 0, done.stderr
    assert stat.S_ISCHR(os.stat(device).st_mode)


def test_export_to_a_fifo_writes_into_it(tmp_path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    got: list[bytes] = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_bytes()))
    reader.start()
    done = graphgrad_cli("export", GRAPHS / "simple.yaml", "--to", "json", "-o", fifo)
    reader.join(timeout=60)
    assert done.returncode == 0, done.stderr
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)
    assert b'"name": "simple"' in got[0]


def test_a_path_with_brackets_is_printed_as_it_is(tmp_path):
    folder = tmp_path / "x[" / "old]"
    folder.mkdir(parents=True)
    good = folder / "net[old].yaml"
    shutil.copy(GRAPHS / "simple.yaml", good)
    junit = tmp_path / "out.xml"
    done = graphgrad_cli("check", good, "--junit", junit)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "net[old].yaml" in done.stdout and "Traceback" not in done.stderr
    assert junit.exists()


def test_control_characters_in_a_file_reach_neither_terminal_nor_junit(tmp_path):
    path = tmp_path / "ctl.yaml"
    path.write_text(
        'graphgrad: 1\ninputs: {x: 1.0}\nnodes:\n  f: {op: "mu\\x01l\\x1bl", in: [x, x]}\noutput: f\n'
    )
    junit = tmp_path / "out.xml"
    done = graphgrad_cli("check", path, "--junit", junit)
    assert done.returncode == 2
    assert "\x1b" not in done.stderr and "\x01" not in done.stderr
    assert "mu\\x01l\\x1bl" in done.stderr
    ET.parse(junit)  # well-formed
