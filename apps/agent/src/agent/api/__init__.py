"""HTTP blueprints: operational endpoints (`ops`) and the agent API under /v1 (`sessions`)."""
