"""The hostile inputs here are data, not tests: tests/test_bounds.py (each file must be
refused), tests/test_hostile_export.py (what each must do) and tests/test_service_abuse.py
read them. The graphgrad pytest plugin would otherwise collect the graph files, and
--doctest-modules the gate modules."""

collect_ignore_glob = ["*.yaml", "*_gate.py"]
