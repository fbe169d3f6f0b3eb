"""The hostile inputs are data for tests/test_service_abuse.py, not tests: the graphgrad
pytest plugin would otherwise collect huge_response.yaml (and --doctest-modules the gates)."""

collect_ignore_glob = ["*.yaml", "*_gate.py"]
