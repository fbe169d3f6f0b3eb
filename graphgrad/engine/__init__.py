"""Running a graph: the compiled plan, backprop, the scalar fast path and its code."""
