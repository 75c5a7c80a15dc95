"""Values between stages as versioned JSON, never pickle: whoever can write to the
storage root must not be able to run code in the workers that read it.

A value is None, bool, int, float (NaN and infinities too), str, list, tuple, a dict,
or a dataclass of these. Tuples, non-finite floats and dataclasses are tagged so that
they come back as they went in. Decoding is told the type it expects and builds only
the dataclasses reachable from that type's fields: a stored file can name no other class.
"""

from __future__ import annotations

import dataclasses
import json
import math
import typing
from typing import Any

import numpy as np

from factory.core.base.errors import RefusedValue

FORMAT = "factory-value"
VERSION = 1  # bump when the encoding changes: older files are then refused, not misread
REBUILD = "re-materialise the asset that wrote it (or start from a fresh storage root)"


def type_name(value: Any) -> str:
    return type(value).__name__


def dumps(value: Any) -> bytes:
    """The value as JSON with its type name and the format version."""
    envelope = {"format": FORMAT, "version": VERSION, "type": type_name(value), "value": _encode(value, "value")}
    return json.dumps(envelope, indent=1, allow_nan=False).encode()


def loads(data: bytes, expected: Any = object) -> Any:
    """The value `dumps` wrote, checked against the type the reader expects. Anything
    else (a pickle, another format or version, a class the expected type does not
    reach) raises RefusedValue: nothing in the file is ever executed."""
    try:
        envelope = json.loads(data)
    except (UnicodeDecodeError, ValueError):
        raise RefusedValue(f"not a {FORMAT} JSON file (a pickle or another format): {REBUILD}") from None
    if not isinstance(envelope, dict) or envelope.get("format") != FORMAT:
        raise RefusedValue(f"JSON without the '{FORMAT}' envelope: {REBUILD}")
    if envelope.get("version") != VERSION:
        raise RefusedValue(f"{FORMAT} version {envelope.get('version')!r}, this code reads {VERSION}: {REBUILD}")
    allowed = reachable(expected)
    want = _name(expected)
    if want is not None and envelope.get("type") != want:
        raise RefusedValue(f"holds a {envelope.get('type')!r} where a {want!r} is expected: {REBUILD}")
    return _decode(envelope.get("value"), allowed)


def reachable(expected: Any) -> dict[str, type]:
    """The dataclasses a value of this type can hold, by name: the type itself and every
    dataclass its fields' hints name, transitively."""
    found: dict[str, type] = {}
    todo = [expected]
    while todo:
        tp = todo.pop()
        if isinstance(tp, type) and dataclasses.is_dataclass(tp):
            if found.get(tp.__name__) is tp:
                continue
            if tp.__name__ in found:
                raise TypeError(f"two dataclasses named {tp.__name__} are reachable from {expected}")
            found[tp.__name__] = tp
            todo.extend(typing.get_type_hints(tp).values())
        todo.extend(typing.get_args(tp))
    return found


def _name(expected: Any) -> str | None:
    """The type name a stored value must carry; None when any plain value will do."""
    if typing.get_origin(expected) is not None:  # Optional[X], X | None: no single name
        return None
    return expected.__name__ if isinstance(expected, type) and expected is not object else None


def _encode(value: Any, path: str) -> Any:
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else {"$float": repr(value)}
    if isinstance(value, np.generic):
        return _encode(value.item(), path)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        fields = {f.name: _encode(getattr(value, f.name), f"{path}.{f.name}") for f in dataclasses.fields(value)}
        return {"$type": type(value).__name__, **fields}
    if isinstance(value, tuple):
        return {"$tuple": [_encode(v, f"{path}[{i}]") for i, v in enumerate(value)]}
    if isinstance(value, list):
        return [_encode(v, f"{path}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, dict):
        if all(isinstance(k, str) and not k.startswith("$") for k in value):
            return {k: _encode(v, f"{path}[{k!r}]") for k, v in value.items()}
        return {"$dict": [[_encode(k, path), _encode(v, f"{path}[{k!r}]")] for k, v in value.items()]}
    raise TypeError(f"{path}: a {type_name(value)} cannot be stored as JSON (plain values and dataclasses only)")


def _decode(value: Any, allowed: dict[str, type]) -> Any:
    if isinstance(value, list):
        return [_decode(v, allowed) for v in value]
    if not isinstance(value, dict):
        return value
    if "$type" in value:
        name = value["$type"]
        if name not in allowed:
            raise RefusedValue(f"names the class {name!r}, which the expected type does not hold: {REBUILD}")
        fields = {k: _decode(v, allowed) for k, v in value.items() if k != "$type"}
        try:
            return allowed[name](**fields)
        except TypeError as exc:
            raise RefusedValue(f"a {name} with other fields than this code's ({exc}): {REBUILD}") from None
    if "$tuple" in value:
        return tuple(_decode(v, allowed) for v in value["$tuple"])
    if "$float" in value:
        return float(value["$float"])
    if "$dict" in value:
        return {_decode(k, allowed): _decode(v, allowed) for k, v in value["$dict"]}
    return {k: _decode(v, allowed) for k, v in value.items()}
