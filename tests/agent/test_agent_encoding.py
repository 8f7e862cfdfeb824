"""The service's JSON codec (orjson, with the standard library where orjson refuses) and its
one UTC timestamp format, against the standard library's results."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from agent import jsoncodec
from agent.jsonlog import utc_iso


@pytest.mark.parametrize("value", [
    {"role": "user", "content": "Zürich 東京 \"quoted\" \\ \n", "n": 1.5, "ok": True, "x": None},
    [1, -2, 2**63 - 1, 2**70, -(2**70)],  # past 64 bits: the standard library writes it
    {"decimal": Decimal("1.10"), "set": {1}},  # unknown types: str(value)
])
def test_dumps_is_compact_utf8_json_as_the_standard_library_writes_it(value) -> None:
    expected = json.dumps(value, ensure_ascii=False, default=str, separators=(",", ":"))
    assert jsoncodec.dumps(value) == expected
    assert jsoncodec.dumps_bytes(value, newline=True) == (expected + "\n").encode()


@pytest.mark.parametrize("data", [
    b'{"content": "hi", "a": [1, 2.5, null, true]}', b'"Z\\u00fcrich"',
    b"\xef\xbb\xbf{}", '{"a": 1}'.encode("utf-16"), b"[NaN, Infinity]", b'"\\ud800"',
])
def test_loads_reads_what_the_standard_library_reads(data: bytes) -> None:
    assert repr(jsoncodec.loads(data)) == repr(json.loads(data))


@pytest.mark.parametrize("data", [b"{not json", b"\xff\xfe", b"[1,]", b'{"a" 1}'])
def test_loads_fails_with_the_standard_library_errors(data: bytes) -> None:
    with pytest.raises((json.JSONDecodeError, UnicodeDecodeError)) as caught:
        jsoncodec.loads(data)
    with pytest.raises(type(caught.value)) as expected:
        json.loads(data)
    assert str(caught.value) == str(expected.value)


def test_utc_iso_matches_datetime_to_the_millisecond() -> None:
    stamps = [0.0, 1.5, 59.999, 1_765_055_581.0, 1_765_055_581.1234, 4_102_444_799.999]
    stamps += [random.uniform(0, 4e9) for _ in range(2000)]
    for stamp in stamps:
        expected = datetime.fromtimestamp(stamp, UTC).isoformat(timespec="milliseconds")
        formatted = utc_iso(stamp)
        assert formatted.endswith("Z") and len(formatted) == 24
        # equal, or one millisecond apart where the float sits on a microsecond's half
        difference = abs(datetime.fromisoformat(formatted.replace("Z", "+00:00"))
                         - datetime.fromisoformat(expected))
        assert difference.total_seconds() <= 0.001, (stamp, formatted, expected)
