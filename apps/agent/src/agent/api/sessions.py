"""The agent API under /v1 (Bearer API key, rate limited per key)."""

from __future__ import annotations

from flask import Blueprint, Response, g, jsonify, request

from agent import metrics
from agent.backends import Backend, BackendError, BackendTimeout, Reply, Turn
from agent.errors import ApiError
from agent.services import services
from agent.sessions import Session, utc_now
from agent.validation import check_fields, json_body

bp = Blueprint("v1", __name__, url_prefix="/v1")

# Endpoints that count the rate limit in their own first Redis call (one round trip for the
# limit and the session): every other /v1 request is counted by `guard`.
LIMITED_BY_THEIR_HANDLER = frozenset({"v1.post_message"})


@bp.before_request
def guard() -> None:
    """Authentication, then the shared rate limit (fault injection, when enabled, runs
    before this: `agent.faults`)."""
    svc = services()
    g.owner = svc.keys.authenticate()
    if request.endpoint not in LIMITED_BY_THEIR_HANDLER:
        svc.limiter.check(g.owner)


def _not_found(session_id: str) -> ApiError:
    shown = session_id if len(session_id) <= 64 else session_id[:64] + "..."
    return ApiError(404, "session_not_found",
                    f"no session {shown!r} (it never existed, expired or was deleted); "
                    "create one with POST /v1/sessions")


def _session_or_404(session_id: str) -> Session:
    session = services().sessions.get(session_id, g.owner)
    if session is None:
        raise _not_found(session_id)
    return session


@bp.post("/sessions")
def create_session() -> tuple[Response, int]:
    check_fields(json_body(required=False), {})
    svc = services()
    session = svc.sessions.create(g.owner)
    return jsonify({"id": session.id, "created_at": session.created_at,
                    "ttl_seconds": svc.settings.session_ttl_seconds}), 201


@bp.get("/sessions/<session_id>")
def get_session(session_id: str) -> Response:
    session = _session_or_404(session_id)
    store = services().sessions
    return jsonify({"id": session.id, "created_at": session.created_at,
                    "ttl_seconds": store.ttl_left(session.id),
                    "messages": store.history(session.id)})


@bp.delete("/sessions/<session_id>")
def delete_session(session_id: str) -> tuple[str, int]:
    session = _session_or_404(session_id)
    services().sessions.delete(session.id)
    return "", 204


@bp.post("/sessions/<session_id>/messages")
def post_message(session_id: str) -> Response:
    svc = services()
    received_at = utc_now()
    try:
        body = json_body(required=True)
        check_fields(body, {"content": {"type": str, "required": True, "min": 1,
                                        "max": svc.settings.max_message_chars}})
    except Exception:
        svc.limiter.check(g.owner)  # a refused body counts as a hit too; a 429 comes first
        raise
    content, backend = body["content"], svc.backend
    if not backend.reads_session(content):
        # The reply needs nothing from the session (and is pure): compute it first, then
        # count the rate limit, check the session and write the turn in one script.
        reply = backend.reply(Turn(content=content))
        answer = _answer(reply)
        if not svc.sessions.write_turn(session_id, g.owner, svc.limiter,
                                       [_user(content, received_at), answer], reply.memory):
            raise _not_found(session_id)
        _count_call(backend, reply)
        return _turn_response(session_id, answer, reply)

    loaded = svc.sessions.open_turn(session_id, g.owner, svc.limiter, backend.history_window)
    if loaded is None:
        raise _not_found(session_id)
    _, history, memory = loaded
    turn = Turn(content=content,
                history=[{"role": m["role"], "content": m["content"]} for m in history],
                memory=memory)
    reply = _run_backend(turn)
    answer = _answer(reply)
    if not svc.sessions.append_turn(session_id, [_user(content, received_at), answer],
                                    reply.memory):
        raise ApiError(404, "session_not_found",
                       f"session {session_id!r} was deleted or expired during the request")
    return _turn_response(session_id, answer, reply)


def _user(content: str, received_at: str) -> dict[str, str]:
    return {"role": "user", "content": content, "created_at": received_at}


def _answer(reply: Reply) -> dict[str, str]:
    return {"role": "assistant", "content": reply.content, "created_at": utc_now()}


def _turn_response(session_id: str, answer: dict[str, str], reply: Reply) -> Response:
    usage = {"prompt_tokens": reply.prompt_tokens, "completion_tokens": reply.completion_tokens}
    return jsonify({"session_id": session_id, "message": answer, "usage": usage})


def _count_call(backend: Backend, reply: Reply) -> None:
    metrics.record_llm_call(backend.name, backend.model, "ok",
                            reply.prompt_tokens, reply.completion_tokens)


def _run_backend(turn: Turn) -> Reply:
    backend = services().backend
    try:
        reply = backend.reply(turn)
    except BackendTimeout as exc:
        metrics.record_llm_call(backend.name, backend.model, "timeout")
        raise ApiError(504, "upstream_timeout", f"the agent backend timed out: {exc}") from exc
    except BackendError as exc:
        metrics.record_llm_call(backend.name, backend.model, "error")
        raise ApiError(502, "upstream_error", f"the agent backend failed: {exc}") from exc
    _count_call(backend, reply)
    return reply
