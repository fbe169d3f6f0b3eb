"""The validated graph: a NetworkX DAG built from the format; its JSON Schema and gate docs."""
