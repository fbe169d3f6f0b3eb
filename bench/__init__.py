"""graphgrad's benchmarks: run with ``python -m bench`` from the repository root."""
