"""The service's JSON encoder, orjson (a maintained C library): the response bodies (through
`agent.app.OrjsonProvider`, Flask's JSON provider), the stored messages and the log lines.
For the small objects of a request it costs about a tenth of the standard library's encoder
(bench/README.md "Agent service").

The output is compact UTF-8, non-ASCII characters as themselves, keys in insertion order; a
value orjson does not know is written as `str(value)`; what orjson refuses (an integer past
64 bits) is written by the standard library with the same options. `loads` parses with orjson
and leaves what it refuses to `json` (which accepts a little more: NaN, a byte order mark,
UTF-16, lone surrogates; and words the errors clients see). Imports no Flask: the gunicorn
master's log formatter uses it.
"""

from __future__ import annotations

import json
from typing import Any

import orjson


def dumps_bytes(obj: Any, newline: bool = False) -> bytes:
    """`obj` as JSON bytes (with a final newline when `newline`)."""
    try:
        return orjson.dumps(obj, default=str,
                            option=orjson.OPT_APPEND_NEWLINE if newline else None)
    except orjson.JSONEncodeError:
        text = json.dumps(obj, ensure_ascii=False, default=str, separators=(",", ":"))
        return (text + "\n" if newline else text).encode()


def dumps(obj: Any) -> str:
    """`obj` as JSON text."""
    return dumps_bytes(obj).decode()


def loads(data: bytes | str) -> Any:
    """Parse JSON as `json.loads` does, with its errors (orjson reads an integer past 64 bits
    as a float; the request bodies' fields are strings)."""
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        return json.loads(data)
