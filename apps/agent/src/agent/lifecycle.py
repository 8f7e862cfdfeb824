"""Process lifecycle state shared by the gunicorn worker and the app: are we draining?"""

from __future__ import annotations

import threading

_draining = threading.Event()


def begin_draining() -> None:
    """Mark this process as shutting down: /readyz answers 503 from now on."""
    _draining.set()


def is_draining() -> bool:
    return _draining.is_set()
