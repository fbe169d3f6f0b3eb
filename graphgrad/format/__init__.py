"""The graph file format: YAML with positions, the spec, inputs, expect, writers."""
