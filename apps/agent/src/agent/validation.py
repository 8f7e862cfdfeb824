"""Request body parsing: invalid JSON -> 400, schema problems -> 422 listing every field."""

from __future__ import annotations

import json
from typing import Any

from flask import request

from agent import jsoncodec
from agent.errors import ApiError


def json_body(required: bool) -> dict[str, Any]:
    """The request body as a JSON object (an empty body is `{}` unless `required`)."""
    raw = request.get_data(cache=True)  # raises 413 past MAX_CONTENT_LENGTH
    if not raw.strip():
        if required:
            raise ApiError(400, "invalid_json", "request body is empty; send a JSON object "
                           "such as {\"content\": \"hello\"}")
        return {}
    try:
        data = jsoncodec.loads(raw)
    except UnicodeDecodeError as exc:
        raise ApiError(400, "invalid_json", "request body is not UTF-8 text") from exc
    except json.JSONDecodeError as exc:
        raise ApiError(400, "invalid_json", f"request body is not valid JSON: {exc.msg} at "
                       f"line {exc.lineno} column {exc.colno}") from exc
    if not isinstance(data, dict):
        raise ApiError(422, "validation_failed", "request body must be a JSON object",
                       details={"fields": [{"field": "$", "problem": "must be an object"}]})
    return data


def check_fields(data: dict[str, Any], rules: dict[str, dict[str, Any]]) -> None:
    """Validate `data` against simple rules {field: {required, type, min, max}}; 422 on errors."""
    problems = [{"field": name, "problem": "unknown field; allowed: "
                 + (", ".join(rules) or "none")} for name in data if name not in rules]
    for name, rule in rules.items():
        if name not in data:
            if rule.get("required"):
                problems.append({"field": name, "problem": "is required"})
            continue
        value = data[name]
        if rule["type"] is str:
            if not isinstance(value, str):
                problems.append({"field": name, "problem": "must be a string"})
            elif len(value.strip()) < rule.get("min", 0):
                problems.append({"field": name, "problem": "must not be empty"})
            elif len(value) > rule.get("max", len(value)):
                problems.append({"field": name,
                                 "problem": f"is longer than {rule['max']} characters"})
    if problems:
        listed = ", ".join(sorted({p["field"] for p in problems}))
        raise ApiError(422, "validation_failed", f"invalid request body; check: {listed}",
                       details={"fields": problems})
