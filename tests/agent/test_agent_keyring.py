"""The API key ring follows its key file: what it holds is always what the file held when the
ring last looked, even when the file was read first by someone else (the settings loader)."""

from __future__ import annotations

import os
import time

from agent.auth import KeyRing
from agent.config import load_settings


def test_a_rotation_between_the_settings_and_the_ring_is_not_missed(tmp_path) -> None:
    keys = tmp_path / "keys"
    keys.write_text("old-key-00001\n")
    settings = load_settings({"AGENT_API_KEYS_FILE": str(keys), "REDIS_URL": "redis://x:1/0"})
    assert settings.api_keys == ("old-key-00001",)
    # The secret is rotated while the worker is still booting: after the settings were read,
    # before the ring looks at the file. The ring must hold the file's keys from then on
    # (before, it kept the old keys and took the new file's stamp, so never re-read it).
    keys.write_text("new-key-00002\n")
    ring = KeyRing(settings.api_keys, settings.api_keys_file, check_seconds=0.1)
    assert ring.owner("new-key-00002") is not None and ring.owner("old-key-00001") is None
    time.sleep(0.15)
    ring.refresh()                                 # nothing changed since: the same keys
    assert ring.owner("new-key-00002") is not None and ring.owner("old-key-00001") is None
    keys.write_text("newer-key-0003\n")
    os.utime(keys, (time.time() + 5, time.time() + 5))
    time.sleep(0.15)
    ring.refresh()
    assert ring.owner("newer-key-0003") is not None and ring.owner("new-key-00002") is None


def test_a_weak_file_at_start_keeps_the_validated_keys(tmp_path) -> None:
    keys = tmp_path / "keys"
    keys.write_text("short\n")  # written after the settings validated the earlier keys
    ring = KeyRing(("old-key-00001",), str(keys), check_seconds=0.1)
    assert ring.owner("old-key-00001") is not None and ring.owner("short") is None
