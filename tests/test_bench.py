"""The benchmark's floors and peers compute what graphgrad computes (no timing here:
figures come from `python -m bench`, not from tests)."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

import graphgrad
from bench.dag import scalar_dag_text
from bench.floor import floor_function
from bench.nets import numpy_floor, two_layer
from bench.timing import rotation
from tests.conftest import ROOT


@pytest.mark.parametrize("loss", ["svm", "softmax"])
def test_hand_written_numpy_floor_matches_the_engine(loss):
    g = graphgrad.load(two_layer(5, 12, 7, 4, loss=loss))
    v = {k: d.value for k, d in g.definition.inputs.items()}
    value, dW1, dW2, dX = numpy_floor(v["X"], v["y"], v["W1"], v["W2"], loss)
    r = g.run()
    assert float(r.value) == pytest.approx(value, rel=1e-12)
    for name, expected in (("W1", dW1), ("W2", dW2), ("X", dX)):
        np.testing.assert_allclose(r.grads[name], expected, rtol=1e-10, atol=1e-14)


@pytest.mark.parametrize("loss", ["svm", "softmax"])
def test_the_floor_of_the_lectures_net_computes_the_same_gradients(loss):
    """X with grad: false: the floor computes no dX, and the engine returns none."""
    g = graphgrad.load(two_layer(5, 12, 7, 4, loss=loss, x_grad=False))
    v = {k: d.value for k, d in g.definition.inputs.items()}
    value, dW1, dW2 = numpy_floor(v["X"], v["y"], v["W1"], v["W2"], loss, x_grad=False)
    r = g.run()
    assert set(r.grads) == {"W1", "W2"}
    assert float(r.value) == pytest.approx(value, rel=1e-12)
    for name, expected in (("W1", dW1), ("W2", dW2)):
        np.testing.assert_allclose(r.grads[name], expected, rtol=1e-10, atol=1e-14)


def test_straight_line_float_floor_matches_the_engine():
    g = graphgrad.load(scalar_dag_text(200))
    floor = floor_function(g.definition)
    value, grads = floor(*(float(d.value) for d in g.definition.inputs.values()))
    r = g.run()
    assert value == pytest.approx(float(r.value), rel=1e-12)
    for name, grad in grads.items():
        assert grad == pytest.approx(float(r.grads[name]), rel=1e-9, abs=1e-12)


PEERS_AGREE = """
import numpy as np, graphgrad
from bench.dag import scalar_dag_text
from bench.nets import numpy_floor, two_layer
from bench.peers import net_peers, scalar_peers
g = graphgrad.load(scalar_dag_text(60))
r = g.run()
for name, peer in scalar_peers(g.definition).items():
    if isinstance(peer, str):
        assert "not installed" in peer, name
        continue
    value, grads = peer()
    assert np.isclose(value, float(r.value), rtol=1e-9), name
    assert np.isclose(grads["x"], float(r.grads["x"]), rtol=1e-7, atol=1e-12), name
net = graphgrad.load(two_layer(3, 8, 5, 4))
v = {k: d.value for k, d in net.definition.inputs.items()}
expected = numpy_floor(v["X"], v["y"], v["W1"], v["W2"])
for name, peer in net_peers(v["X"], v["y"], v["W1"], v["W2"], "svm", 0.001).items():
    if isinstance(peer, str):
        assert "not installed" in peer, name
        continue
    for got, want in zip(peer(), expected, strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-12, err_msg=name)
print("ok")
"""


def test_every_installed_peer_agrees_and_a_missing_one_is_a_note():
    """In a child process: JAX's and PyTorch's threads must not meet the forks of later
    tests. Without the [bench] extra this still checks the networkx walk."""
    out = subprocess.run(
        [sys.executable, "-c", PEERS_AGREE], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr[-2000:]


def test_rotation_pairs_rounds():
    calls = []
    timing = rotation([lambda: calls.append("a"), lambda: calls.append("b")], 3)
    assert len(timing.rounds) == 3 and all(len(r) == 2 for r in timing.rounds)
    assert timing.ratio(0, 0) == 1.0
    assert calls.count("a") >= 4 and calls.count("b") >= 4


def test_bench_command_lists_its_suites():
    out = subprocess.run(
        [sys.executable, "-m", "bench", "--help"], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0 and "engine, check, dask, startup" in out.stdout
