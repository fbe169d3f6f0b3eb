"""The hostile graph files here are read by tests/test_bounds.py, which expects each to be
refused; they are not graph tests of their own for graphgrad's pytest plugin."""

collect_ignore_glob = ["*.yaml"]
