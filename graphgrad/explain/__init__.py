"""The gradient flow in the lecture's words: the flow, explain's table, the picture."""
