"""Batch ids: the spec's period, and a revision once an operator replaced a batch.

A batch id is a period in the spec's format (`2016-10` for a month), or a later revision
of it (`2016-10.r2`) once the first was retracted or quarantined: ids sort in time, and a
revision sorts right after its period. An id is checked before it names anything under
the root, so no id can leave it (`../x`) or sort as the newest batch (`October 2016!`).
"""

from __future__ import annotations

import re

from factory.core.base.errors import BatchIdError

# what a batch id of each period (the spec's `period`) looks like, and an example: a new period adds its line here
ID_SHAPES: dict[str, tuple[str, str]] = {
    "hour": (r"\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])T([01]\d|2[0-3])", "2016-07-04T13"),
    "day": (r"\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])", "2016-07-04"),
    "week": (r"\d{4}-W(0[1-9]|[1-4]\d|5[0-3])", "2016-W27"),
    "month": (r"\d{4}-(0[1-9]|1[0-2])", "2016-10"),
    "quarter": (r"\d{4}-Q[1-4]", "2016-Q3"),
    "rows": (r"rows-\d{6}", "rows-000123"),
}
_REVISION = re.compile(r"^(?P<period>.+?)(?:\.r(?P<n>[1-9]\d*))?$")


def check_batch_id(batch_id: str, period: str) -> str:
    """The id when it is a period in the spec's format (or a revision `.rN` of one, N >= 2);
    a BatchIdError naming the expected format otherwise."""
    if period not in ID_SHAPES:
        raise BatchIdError(f"batch period '{period}' has no id format (known: {sorted(ID_SHAPES)})")
    pattern, example = ID_SHAPES[period]
    match = _REVISION.match(batch_id) if isinstance(batch_id, str) else None
    if not match or not re.fullmatch(pattern, match["period"]) or (match["n"] and int(match["n"]) < 2):
        raise BatchIdError(
            f"batch id {batch_id!r} is not a {period} id: expected e.g. '{example}' "
            f"(or a revision '{example}.r2'); a batch id names a file under the root and sorts in time"
        )
    return batch_id


def is_batch_id(batch_id: str, period: str) -> bool:
    try:
        check_batch_id(batch_id, period)
    except BatchIdError:
        return False
    return True


def period_of(batch_id: str) -> str:
    """`2016-10.r2` -> `2016-10`."""
    return _REVISION.match(batch_id)["period"]


def revision_of(batch_id: str) -> int:
    """`2016-10` -> 1, `2016-10.r2` -> 2."""
    n = _REVISION.match(batch_id)["n"]
    return int(n) if n else 1


def revision_id(period: str, revision: int) -> str:
    return period if revision <= 1 else f"{period}.r{revision}"
