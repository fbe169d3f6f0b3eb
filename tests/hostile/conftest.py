"""The hostile graph files here are inputs of tests/test_hostile_export.py, which says
what each must do; the pytest plugin does not collect them as graph tests (one is
invalid on purpose, one computes NaN on purpose)."""

collect_ignore_glob = ["*.yaml"]
