"""The conventions every command follows (folder search, `-`, -q/-v, the check
overrides, exit 130, serve's port in use, help texts) and the messages that say what
to do next (labels without dtype, expect's tolerance, attributes of a gate that takes
none, plugin hooks, a checker that raises)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from graphgrad.cli import main
from tests.conftest import GRAPHS, ROOT, graphgrad_cli

SIMPLE = (GRAPHS / "simple.yaml").read_text()


def invoke(*args, input=None):
    return CliRunner().invoke(main, [str(a) for a in args], input=input)


# folders and stdin


def test_a_folder_yields_graph_files_only_and_an_empty_one_is_a_usage_error(tmp_path):
    (tmp_path / "ci").mkdir()
    (tmp_path / "ci" / "workflow.yml").write_text("on: push\njobs: {test: {runs-on: ubuntu}}\n")
    empty = invoke("check", tmp_path)
    assert empty.exit_code == 2 and "no graph file in" in empty.stderr and "graphgrad: 1" in empty.stderr
    (tmp_path / "g.yaml").write_text("# a comment first\n" + SIMPLE)
    result = invoke("check", tmp_path, "--json")
    assert result.exit_code == 0, result.output
    assert [f["file"] for f in json.loads(result.stdout)["files"]] == [str(tmp_path / "g.yaml")]
    assert invoke("validate", tmp_path).stdout.strip() == "1 valid, 0 invalid"
    named = invoke("validate", tmp_path / "ci" / "workflow.yml")  # named: read whatever it holds
    assert named.exit_code == 2


def test_dash_reads_stdin_in_every_command_that_takes_a_file():
    run = invoke("run", "-", "--json", input=SIMPLE)
    assert json.loads(run.stdout)["value"] == -12.0
    check = invoke("check", "-", GRAPHS / "copy_gate.yaml", "--json", input=SIMPLE)
    files = json.loads(check.stdout)["files"]
    assert [f["file"] for f in files] == ["<stdin>", str(GRAPHS / "copy_gate.yaml")]
    assert check.exit_code == 0
    assert invoke("validate", "-", input=SIMPLE).exit_code == 0
    assert "grad_q = grad_f * z" in invoke("export", "-", "--to", "python", input=SIMPLE).stdout
    bad = invoke("validate", "-", input=SIMPLE.replace("op: mul", "op: mull"))
    assert bad.exit_code == 2 and bad.stderr.startswith("<stdin>:")


def test_export_o_dash_writes_stdout_and_no_file(tmp_path):
    result = CliRunner().invoke(main, ["export", str(GRAPHS / "simple.yaml"), "--to", "json", "-o", "-"])
    assert json.loads(result.stdout)["output"] == "f"
    assert not os.path.exists("-")


# -q, -v and the check overrides


UNUSED = "graphgrad: 1\ninputs: {x: 1.0, u: 2.0}\nnodes:\n  f: {op: exp, in: [x]}\n  lone: {op: exp, in: [u]}\noutput: f\n"


def test_quiet_prints_only_failures_and_the_summary_and_verbose_adds_information(write):
    good, unused = write(SIMPLE, "good.yaml"), write(UNUSED, "unused.yaml")
    bad = write(SIMPLE.replace("z: 3}", "z: 4}"), "bad.yaml")
    quiet = invoke("check", good, unused, bad, "-q")
    assert quiet.exit_code == 1
    assert "FAILED" in quiet.stdout and "2 passed, 1 failed, 0 errors" in quiet.stdout
    assert "good.yaml" not in quiet.stdout and "info:" not in quiet.stdout
    assert "not used by the output: u, lone" in invoke("check", unused, "-v").stdout
    assert invoke("run", good, "-q").stdout == ""
    assert invoke("check", good, "-q", "-v").exit_code == 2


def test_eps_rtol_atol_and_seed_win_over_the_file(write):
    path = write("graphgrad: 1\ninputs: {x: 0.7}\nnodes:\n  f: {op: exp, in: [x]}\noutput: f\n")
    assert invoke("check", path).exit_code == 0
    coarse = json.loads(invoke("check", path, "--eps", "0.3", "--checker", "forward", "--json").stdout)
    check = coarse["files"][0]["checks"][0]
    assert check["max_rel_error"] > 1e-2 and coarse["failed"] == 1
    loose = invoke("check", path, "--eps", "0.3", "--checker", "forward", "--rtol", "0.5", "--json")
    assert json.loads(loose.stdout)["passed"] == 1
    rand = write(
        "graphgrad: 1\ninputs: {x: {shape: [3], init: normal}}\nnodes:\n  f: {op: l2, in: [x]}\noutput: f\n"
    )
    first = json.loads(invoke("check", rand, "--json").stdout)["files"][0]["checks"][0]["analytic"]
    again = json.loads(invoke("check", rand, "--json", "--seed", "0").stdout)["files"][0]["checks"][0]
    other = json.loads(invoke("check", rand, "--json", "--seed", "5").stdout)["files"][0]["checks"][0]
    assert again["analytic"] == first and other["analytic"] != first
    assert invoke("check", rand, "--eps", "0").exit_code == 2


# Ctrl-C and serve


HANG = '''
import sys, time
import graphgrad

class Hang(graphgrad.Gate):
    """Says it started, then waits for ever."""
    op = "hang_until_interrupted"
    def shape(self, a):
        return a
    def forward(self, a):
        print("hanging now", file=sys.stderr, flush=True)
        time.sleep(600)
        return a
    def backward(self, grad, out, a):
        return (grad,)

@graphgrad.hookimpl
def graphgrad_gates():
    return [Hang]
'''


def test_ctrl_c_reports_the_files_already_checked_and_exits_130(tmp_path):
    (tmp_path / "hang.py").write_text(HANG)
    (tmp_path / "a.yaml").write_text(SIMPLE)
    hang = "graphgrad: 1\ninputs: {x: 1.0}\nnodes:\n  f: {op: hang_until_interrupted, in: [x]}\noutput: f\n"
    (tmp_path / "b.yaml").write_text(hang)
    proc = subprocess.Popen(
        [sys.executable, "-m", "graphgrad", "check", "a.yaml", "b.yaml", "--jobs", "1", "--plugins", "hang.py"],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        for line in proc.stderr:  # the event: the second file's gate is running
            if "hanging now" in line:
                break
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 130, err
    assert "a.yaml" in out and "1 passed, 0 failed, 0 errors" in out
    assert "interrupted" in err and "Traceback" not in err


def test_a_port_in_use_is_a_usage_error_naming_the_port():
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = graphgrad_cli("serve", "--port", port)
    assert result.returncode == 2
    assert f"port {port} on 127.0.0.1 is in use" in result.stderr and "--port" in result.stderr


def test_help_texts_are_whole_and_plain():
    serve = invoke("serve", "--help").stdout
    assert "TCP port to listen on" in serve and "Address to listen on" in serve
    assert "`" not in invoke("schema", "--help").stdout
    top = invoke("--help").stdout
    assert "..." not in top.split("Commands:")[1]
    assert "_GRAPHGRAD_COMPLETE=bash_source graphgrad" in top
    completion = subprocess.run(
        [str(Path(sys.executable).parent / "graphgrad")], env={**os.environ, "_GRAPHGRAD_COMPLETE": "bash_source"},
        capture_output=True, text=True, cwd=ROOT, timeout=60,
    )  # fmt: skip
    assert "complete" in completion.stdout


# messages that say what to do next


def test_integer_labels_without_a_dtype_get_the_hint(write):
    path = write(
        "graphgrad: 1\ninputs: {s: [[1.0, 2.0]], y: [1]}\nnodes:\n  L: {op: cross_entropy, in: [s, y]}\noutput: L\n"
    )
    result = invoke("validate", path)
    assert "labels must be int64, not float64" in result.stderr and "dtype: int64" in result.stderr


def test_an_expect_mismatch_names_the_tolerance_in_force(write):
    path = write(
        "graphgrad: 1\ninputs: {x: 1.2345}\nnodes:\n  f: {op: exp, in: [x]}\noutput: f\nexpect: {value: 3.437}\n"
    )
    result = invoke("run", path)
    assert result.exit_code == 1 and "beyond rtol 1e-07, atol 1e-09; loosen with expect.rtol" in result.stderr
    loose = write(path.read_text().replace("{value: 3.437}", "{value: 3.437, rtol: 1.0e-3}"), "loose.yaml")
    assert invoke("run", loose).exit_code == 0


def test_an_attribute_on_a_gate_without_attributes_never_prints_an_empty_list(write):
    path = write("graphgrad: 1\ninputs: {x: [1.0]}\nnodes:\n  f: {op: exp, in: [x], axis: 0}\noutput: f\n")
    err = invoke("validate", path).stderr
    assert "unknown key 'axis' (this gate takes no attributes" in err and "(valid: )" not in err


def test_plugin_hooks_misspelt_or_missing_are_said(tmp_path):
    (tmp_path / "typo.py").write_text(
        "import graphgrad\n@graphgrad.hookimpl\ndef graphgrad_gate():\n    return []\n"
    )
    (tmp_path / "bare.py").write_text("def graphgrad_gates():\n    return []\n")
    (tmp_path / "none.py").write_text("X = 1\n")
    typo = invoke("gates", "--plugins", tmp_path / "typo.py")
    assert (
        typo.exit_code == 2
        and "unknown hook 'graphgrad_gate' (did you mean 'graphgrad_gates'?)" in typo.stderr
    )
    bare = invoke("gates", "--plugins", tmp_path / "bare.py")
    assert "implements no hook: graphgrad_gates lacks the @graphgrad.hookimpl decorator" in bare.stderr
    none = invoke("gates", "--plugins", tmp_path / "none.py")
    assert none.exit_code == 2 and "implements no hook: it defines none of graphgrad_checkers" in none.stderr


RAISING = """
import graphgrad

class Broken(graphgrad.Checker):
    name = "broken_example"
    def check(self, f, x, analytic, *, input):
        raise ZeroDivisionError("the checker divided by zero")

@graphgrad.hookimpl
def graphgrad_checkers():
    return [Broken]
"""


def test_a_checker_that_raises_is_one_error_row_with_the_exception(tmp_path):
    (tmp_path / "broken.py").write_text(RAISING)
    (tmp_path / "g.yaml").write_text(SIMPLE)
    result = graphgrad_cli(
        "check", "g.yaml", "--plugins", "broken.py", "--checker", "broken_example", "--json", cwd=tmp_path
    )
    doc = json.loads(result.stdout)
    assert result.returncode == 2 and doc["errors"] == 1
    [line] = doc["files"][0]["error"]
    assert "checker 'broken_example' raised ZeroDivisionError: the checker divided by zero" in line
    assert "Traceback" not in result.stderr and result.stderr.count("ZeroDivisionError") == 1


def test_ctrl_c_keeps_an_answer_already_sent_but_not_yet_read(tmp_path, monkeypatch):
    """Ctrl-C arriving just as a worker's answer arrives: the answer is in the pipe, not
    yet read. It is a file already checked, so it is reported (CI once lost it)."""
    import graphgrad.checking.batch as batch

    (tmp_path / "a.yaml").write_text(SIMPLE)
    real_wait = batch.wait

    def interrupted_wait(conns, timeout=None):
        if real_wait(conns, timeout=60):  # the answer is there: now the Ctrl-C
            raise KeyboardInterrupt
        return []

    monkeypatch.setattr(batch, "wait", interrupted_wait)
    seen = []
    with pytest.raises(KeyboardInterrupt):
        batch.check_files([str(tmp_path / "a.yaml")], batch.BatchOptions(), jobs=1, on_result=seen.append)
    assert [r.status for r in seen] == ["passed"]
