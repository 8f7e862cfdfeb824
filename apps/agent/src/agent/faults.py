"""Fault injection, a test aid: with AGENT_FAULT_RATE > 0, that fraction of /v1 requests is
answered 500 `injected_fault` (counted in the metrics like a real failure), so a canary gate
can be tested against a canary that really fails. With the default 0 nothing is installed:
no per-request cost, no code path."""

from __future__ import annotations

import random

from flask import Flask

from agent.errors import ApiError


def install(app: Flask, blueprint: str, rate: float) -> None:
    """Answer `rate` of `blueprint`'s requests with a 500 before any other check runs."""
    if rate <= 0:
        return

    def inject_fault() -> None:
        if random.random() < rate:
            raise ApiError(500, "injected_fault",
                           "injected failure (AGENT_FAULT_RATE test aid is enabled)")

    app.before_request_funcs.setdefault(blueprint, []).insert(0, inject_fault)
