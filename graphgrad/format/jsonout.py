"""Arrays and results as JSON, as cli.md says: nested lists, full-precision floats,
and NaN and infinities as the strings "nan", "inf", "-inf"."""

from __future__ import annotations

import json
from typing import Any

import numpy as np

_NONFINITE = {"nan": "nan", "inf": "inf", "-inf": "-inf"}


def to_json(value: Any) -> Any:
    """An array (or number) as JSON-ready nested lists.

    >>> to_json(np.array([1.5, np.nan, -np.inf]))
    [1.5, 'nan', '-inf']
    """
    arr = np.asarray(value)
    if arr.dtype.kind == "f" and not np.isfinite(arr).all():
        obj = arr.astype(object)
        bad = ~np.isfinite(arr)
        obj[bad] = [str(float(x)) for x in arr[bad]]
        return obj.tolist()
    return arr.tolist()


def dumps(document: Any, **kwargs: Any) -> str:
    """One JSON document; floats round-trip to the same float64."""
    return json.dumps(document, allow_nan=False, **kwargs)


def clean(obj: Any) -> Any:
    """A structure with every non-finite float written as "nan", "inf" or "-inf"."""
    if isinstance(obj, float):
        return obj if np.isfinite(obj) else str(obj)
    if isinstance(obj, dict):
        return {k: clean(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [clean(v) for v in obj]
    return obj
