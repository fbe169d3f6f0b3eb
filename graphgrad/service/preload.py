"""Imported once by the forkserver of the service's workers, and nowhere else.

It imports what a worker needs and builds the registry for the server's plugins, so a
worker forked from it (a first one, or the replacement of one that crashed) is ready in
milliseconds: restarts stay off the request path even when requests crash workers often.
"""

from __future__ import annotations

import contextlib
import json
import os

from graphgrad.plugins.manager import load_registry
from graphgrad.service.pool import PRELOAD_ENV

# A plugin that fails to load fails each worker's own warm-up, with its message.
with contextlib.suppress(Exception):
    load_registry(tuple(json.loads(os.environ.get(PRELOAD_ENV) or "[]")))
