"""Data for tests/test_web.py, not tests: the plugin with a wrong gate is loaded by the
server under test (--plugins), so --doctest-modules must not import it here."""

collect_ignore_glob = ["*_gate.py", "screenshot.py"]
