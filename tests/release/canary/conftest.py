"""The canary lab fixture: package-scoped, so it lives only while a worker runs this
package's tests (pytest tears it down when the next test is outside the package)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from support.processes import RedisServer

from .lab import SCENARIOS, Lab, start_lab


@pytest.fixture(scope="package")
def canary_lab() -> Iterator[Lab]:
    """Prometheus scraping a stable and a canary agent per scenario (lab.SCENARIOS), the
    agents on a real redis-server of their own."""
    redis = RedisServer().start()
    try:
        with start_lab(redis.url, SCENARIOS) as lab:
            yield lab
    finally:
        redis.stop()
