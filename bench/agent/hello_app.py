"""The ceiling for the agent benchmark: a bare Flask app with one hello route.

Served by gunicorn with exactly the agent's settings (`-c python:agent.gunicorn_config`),
so the difference to the agent is the agent's own work (auth, rate limit, Redis, logging).
"""

from __future__ import annotations

from flask import Flask

app = Flask("hello")


@app.get("/hello")
def hello() -> dict[str, str]:
    return {"message": "hello"}
