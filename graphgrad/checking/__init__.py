"""Checking gradients: one graph, one gate, the objective, batches, workers, Dask, JUnit."""
