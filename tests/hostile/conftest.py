"""The hostile graph files here are inputs of tests/test_bounds.py (each must be refused)
and tests/test_hostile_export.py (which says what each must do); the pytest plugin does
not collect them as graph tests."""

collect_ignore_glob = ["*.yaml"]
