-- wrk script: POST one builtin-agent message per request to the session in $AGENT_SESSION.
wrk.method = "POST"
wrk.body = '{"content": "what is 12 * (3 + 4)?"}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. os.getenv("AGENT_KEY")
wrk.path = "/v1/sessions/" .. os.getenv("AGENT_SESSION") .. "/messages"
-- No response() callback: wrk then counts non-2xx answers itself, without handing each
-- response to Lua (the ceiling's scenario runs no script; both should cost wrk alike).
