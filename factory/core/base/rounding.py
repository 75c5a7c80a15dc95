"""Numbers rounded to what their precision justifies, for metadata and printed tables:
digits beyond an interval's width are noise a reader should not have to skip."""

from __future__ import annotations

import math
from typing import Any

SIGNIFICANT = 3  # a number without an interval (a drift statistic, a share)
SECONDS = 1.0  # a timing varies by about a second from run to run: one decimal


def rounded(value: Any, width: float | None = None, digits: int = SIGNIFICANT) -> Any:
    """A float to one digit finer than `width` (an interval's width, or a clock's
    resolution: width 0.02 keeps 3 decimals), else to `digits` significant digits.
    Anything but a finite float (ints, bools, text, None) comes back unchanged."""
    if not isinstance(value, float) or not math.isfinite(value):
        return value
    value = float(value)  # numpy floats too
    if width is not None and math.isfinite(width) and width > 0:
        return round(value, 1 - math.floor(math.log10(width)))
    if value == 0:
        return 0.0
    return round(value, digits - 1 - math.floor(math.log10(abs(value))))


def rounded_row(row: dict[str, Any]) -> dict[str, Any]:
    """Every float of a row rounded: `x` with `x_low` and `x_high` beside it to the width
    of that interval (the three alike), a duration (`*seconds`) to one decimal, any other
    to 3 significant digits."""
    out = {}
    for key, value in row.items():
        base = key.removesuffix("_low").removesuffix("_high")
        low, high = row.get(f"{base}_low"), row.get(f"{base}_high")
        width = high - low if isinstance(low, (int, float)) and isinstance(high, (int, float)) else None
        out[key] = rounded(value, SECONDS if key.endswith("seconds") else width)
    return out
