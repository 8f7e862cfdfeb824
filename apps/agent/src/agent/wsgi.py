"""WSGI entry point for gunicorn: `agent.wsgi:app`. Exits with a clear message on bad config."""

from __future__ import annotations

import sys

from agent.app import create_app
from agent.config import ConfigError

try:
    app = create_app()
except ConfigError as error:
    print(error.render(), file=sys.stderr)
    raise SystemExit(2) from None
