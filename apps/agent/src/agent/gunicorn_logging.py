"""gunicorn logger whose access log lines are real JSON (values escaped), when enabled."""

from __future__ import annotations

import time
from typing import Any

from gunicorn.glogging import Logger

from agent import jsoncodec
from agent.jsonlog import utc_iso


class JsonAccessLogger(Logger):
    """Writes one JSON object per request to the access log (only if `accesslog` is set)."""

    def access(self, resp: Any, req: Any, environ: dict[str, Any], request_time: Any) -> None:
        if not self.cfg.accesslog:
            return
        atoms = self.atoms(resp, req, environ, request_time)
        status = str(atoms["s"])
        entry = {
            "ts": utc_iso(time.time()), "level": "info", "logger": "gunicorn.access",
            "remote_addr": atoms["h"], "method": atoms["m"], "path": atoms["U"],
            "query": atoms["q"], "status": int(status) if status.isdigit() else status,
            "bytes": atoms["B"], "duration_ms": round(request_time.total_seconds() * 1000, 2),
            "request_id": atoms.get("{x-request-id}o", "-"), "user_agent": atoms["a"],
        }
        try:
            self.access_log.info(jsoncodec.dumps(entry))
        except Exception:
            self.exception("cannot write the access log line")
