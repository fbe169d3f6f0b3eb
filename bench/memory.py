"""Peak memory per node of loading and running a scalar graph, in a fresh process:
the growth of the peak resident set over the process after its imports.

The peak is VmHWM from /proc/self/status where there is one: ru_maxrss is inherited
from the parent through fork and exec on Linux, so a child of a large benchmark process
would report the parent's peak.
"""

from __future__ import annotations

import json
import subprocess
import sys

CHILD = """
import json, resource, sys
import graphgrad
from bench.dag import scalar_dag_text

def peak_kib():
    try:
        with open("/proc/self/status") as status:
            return next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

text = scalar_dag_text(int(sys.argv[1]))
graphgrad.load("graphgrad: 1\\ninputs: {x: 1.0}\\nnodes:\\n  f: {op: exp, in: [x]}\\noutput: f\\n").run()
base = peak_kib()
graph = graphgrad.load(text)
graph.run()
peak = peak_kib()
print(json.dumps({"nodes": len(graph.definition.nodes), "kib": peak - base, "text_kib": len(text) // 1024}))
"""


def memory_per_node(n: int = 100_000) -> dict:
    """Kilobytes of peak resident memory per node (Linux reports ru_maxrss in KiB)."""
    out = subprocess.run([sys.executable, "-c", CHILD, str(n)], capture_output=True, text=True, check=True)
    doc = json.loads(out.stdout)
    doc["kib_per_node"] = doc["kib"] / doc["nodes"]
    return doc


if __name__ == "__main__":
    print(json.dumps(memory_per_node()))
