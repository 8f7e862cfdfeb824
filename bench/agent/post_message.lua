-- wrk script: POST one builtin-agent message per request to the session in $AGENT_SESSION.
wrk.method = "POST"
wrk.body = '{"content": "what is 12 * (3 + 4)?"}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. os.getenv("AGENT_KEY")
wrk.path = "/v1/sessions/" .. os.getenv("AGENT_SESSION") .. "/messages"

local statuses = {}
response = function(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end
