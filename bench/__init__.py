"""graphgrad's benchmarks: run with ``python -m bench`` from the repository root.

BLAS runs on one thread here (unless the environment says otherwise), for graphgrad and
its floors alike: on a 2-core machine shared with other work, BLAS's worker threads
wait to be scheduled, and a call that wakes them took up to 1.6 ms instead of 0.02 ms,
so threaded figures measured the scheduler rather than the code. Set before NumPy is
imported, which is why it is here.
"""

import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")
