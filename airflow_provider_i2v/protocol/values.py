"""Type checks on JSON values that Python's own types get wrong.

``isinstance(True, int)`` is true, and ``float("nan")`` is a float: a JSON reader that
trusts either treats ``true`` as a duration or NaN as progress. Every reader in the
provider (request bodies, answers, simulator settings, operator parameters) asks these
instead.
"""

from __future__ import annotations

import math
from typing import Any, TypeGuard


def is_int(value: Any) -> TypeGuard[int]:
    """An ``int`` that is not a ``bool``."""
    return isinstance(value, int) and not isinstance(value, bool)


def is_number(value: Any) -> TypeGuard[int | float]:
    """An ``int`` or ``float`` (never a ``bool``)."""
    return isinstance(value, int | float) and not isinstance(value, bool)


def finite_float(value: Any) -> float | None:
    """``value`` as a finite float, or ``None`` (not a number, NaN, infinite, or too large)."""
    if not is_number(value):
        return None
    try:
        result = float(value)
    except OverflowError:  # an integer of hundreds of digits
        return None
    return result if math.isfinite(result) else None
