"""gunicorn config of one lifecycle test: the agent's own (agent.gunicorn_config), except
that the second worker, once its signal handlers are installed and its app loaded, waits
before entering its loop until the file AGENT_TEST_BOOT_GATE exists: a worker still booting
when SIGTERM arrives, at a moment the test chooses."""

from __future__ import annotations

import os
import time
from typing import Any

from agent.gunicorn_config import *  # noqa: F403 - every setting and hook of the real config


def post_worker_init(worker: Any) -> None:
    gate = os.environ.get("AGENT_TEST_BOOT_GATE", "")
    deadline = time.monotonic() + 30
    while worker.age == 2 and gate and not os.path.exists(gate) and time.monotonic() < deadline:
        time.sleep(0.01)
