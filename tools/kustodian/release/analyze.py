"""The canary gate: compare the canary's error ratio and p95 latency with stable in Prometheus.

Verdicts (exit codes): promote 0, abort 1, not enough data 3. Prometheus unreachable or a
query error is a KustodianError (exit 2).
"""

from __future__ import annotations

import json
import math
import re
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import asdict, dataclass, field

from kustodian.errors import KustodianError

PROMOTE, ABORT, NOT_ENOUGH_DATA = 0, 1, 3
VERDICTS = {PROMOTE: "promote", ABORT: "abort", NOT_ENOUGH_DATA: "not enough data"}
DURATION_RE = re.compile(r"(\d+y)?(\d+w)?(\d+d)?(\d+h)?(\d+m)?(\d+s)?(\d+ms)?", re.ASCII)
LABEL_RE = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
REQUESTS = "http_requests_total"
BUCKETS = "http_request_duration_seconds_bucket"


@dataclass
class GateSettings:
    prometheus: str
    window: str = "5m"
    max_error_ratio: float = 0.01
    max_p95_ratio: float = 1.2
    min_requests: float = 100
    selector: str = ""
    track_label: str = "track"
    exclude_routes: str = "/metrics|/healthz|/readyz"
    timeout: float = 10.0

    def validate(self) -> None:
        parsed = urllib.parse.urlparse(self.prometheus)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise KustodianError(f"--prometheus {self.prometheus!r} is not an http(s) URL",
                                 hint="e.g. --prometheus http://prometheus.monitoring:9090")
        if not self.window or not DURATION_RE.fullmatch(self.window) or not re.search(r"[1-9]",
                                                                                    self.window):
            raise KustodianError(f"--window {self.window!r} is not a Prometheus duration",
                                 hint="e.g. 30s, 5m, 1h30m")
        if not LABEL_RE.fullmatch(self.track_label):
            raise KustodianError(f"--track-label {self.track_label!r} is not a label name")
        for name in ("max_error_ratio", "max_p95_ratio", "min_requests", "timeout"):
            value = getattr(self, name)
            if not math.isfinite(value) or value < 0:
                raise KustodianError(f"--{name.replace('_', '-')} must be a number >= 0")


@dataclass
class Check:
    name: str
    query: str
    value: float | None
    threshold: str
    passed: bool | None             # None: evidence only, or no data
    note: str = ""


@dataclass
class Verdict:
    code: int
    reason: str
    checks: list[Check] = field(default_factory=list)
    settings: dict = field(default_factory=dict)

    @property
    def name(self) -> str:
        return VERDICTS[self.code]

    def to_json(self) -> dict:
        return {"verdict": self.name, "exit_code": self.code, "reason": self.reason,
                "settings": self.settings,
                "checks": [{**asdict(c), "value": _json_number(c.value)} for c in self.checks]}


def _json_number(value: float | None) -> float | str | None:
    if value is None or math.isfinite(value):
        return value
    return str(value)


class Prometheus:
    """Instant queries against the Prometheus HTTP API."""

    def __init__(self, url: str, timeout: float) -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout

    def scalar(self, query: str) -> float | None:
        """The single value of `query`, None when the result is empty (no series)."""
        result = self.query(query)
        if not result:
            return None
        if len(result) > 1:
            raise KustodianError(f"query returned {len(result)} series, expected one: {query}")
        return float(result[0]["value"][1])

    def query(self, query: str) -> list:
        endpoint = f"{self.url}/api/v1/query?" + urllib.parse.urlencode({"query": query})
        try:
            with urllib.request.urlopen(endpoint, timeout=self.timeout) as resp:
                body = resp.read()
        except urllib.error.HTTPError as exc:
            body = exc.read()
            payload = _decode(body)
            if payload is None:
                raise KustodianError(f"Prometheus at {self.url} answered HTTP {exc.code} to "
                                     f"{query}", hint="is --prometheus the server's base URL?") \
                    from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise KustodianError(f"Prometheus at {self.url} is unreachable: {reason}",
                                 hint="check --prometheus (scheme, host, port) and that the "
                                      "server is up") from None
        payload = _decode(body)
        if payload is None:
            raise KustodianError(f"Prometheus at {self.url} did not answer JSON",
                                 hint="is --prometheus the server's base URL?")
        if payload.get("status") != "success":
            raise KustodianError(f"Prometheus rejected the query {query}: "
                                 f"{payload.get('errorType', 'error')}: {payload.get('error')}",
                                 hint="check --selector / --track-label / --exclude-routes")
        data = payload.get("data") or {}
        if data.get("resultType") == "scalar":
            return [{"value": data["result"]}]
        return data.get("result") or []


def _decode(body: bytes) -> dict | None:
    try:
        payload = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None
    return payload if isinstance(payload, dict) else None


def matchers(settings: GateSettings, track: str, extra: str = "") -> str:
    parts = [p for p in (settings.selector.strip().strip("{}").strip(),) if p]
    if settings.exclude_routes:
        parts.append(f'route!~"{settings.exclude_routes}"')
    parts.append(f'{settings.track_label}="{track}"')
    if extra:
        parts.append(extra)
    return "{" + ",".join(parts) + "}"


def queries(settings: GateSettings, track: str) -> dict[str, str]:
    w = settings.window
    total = f"sum(increase({REQUESTS}{matchers(settings, track)}[{w}]))"
    server_errors = matchers(settings, track, 'status=~"5.."')
    errors = f"sum(increase({REQUESTS}{server_errors}[{w}]))"
    return {
        "requests": total,
        "error_ratio": f"({errors} or vector(0)) / {total}",
        "p95": (f"histogram_quantile(0.95, sum by (le) "
                f"(rate({BUCKETS}{matchers(settings, track)}[{w}])))"),
    }


def analyze(settings: GateSettings) -> Verdict:
    """Run the queries and decide."""
    settings.validate()
    prom = Prometheus(settings.prometheus, settings.timeout)
    q = {track: queries(settings, track) for track in ("canary", "stable")}
    v = {track: {name: _finite(prom.scalar(query)) for name, query in qs.items()}
         for track, qs in q.items()}
    checks: list[Check] = []
    enough = True
    for track in ("canary", "stable"):
        count = v[track]["requests"]
        ok = count is not None and count >= settings.min_requests
        enough &= ok
        checks.append(Check(f"requests[{track}]", q[track]["requests"], count,
                            f">= {settings.min_requests:g}", ok))
    err = v["canary"]["error_ratio"]
    err_ok = None if err is None else err <= settings.max_error_ratio
    checks.append(Check("error_ratio[canary]", q["canary"]["error_ratio"], err,
                        f"<= {settings.max_error_ratio:g}", err_ok))
    checks.append(Check("error_ratio[stable]", q["stable"]["error_ratio"],
                        v["stable"]["error_ratio"], "evidence", None))
    p95c, p95s = v["canary"]["p95"], v["stable"]["p95"]
    ratio = _ratio(p95c, p95s)
    p95_ok = None if ratio is None else ratio <= settings.max_p95_ratio
    checks.append(Check("p95_seconds[canary]", q["canary"]["p95"], p95c, "evidence", None))
    checks.append(Check("p95_seconds[stable]", q["stable"]["p95"], p95s, "evidence", None))
    checks.append(Check("p95_ratio[canary/stable]", "p95_seconds[canary] / p95_seconds[stable]",
                        ratio, f"<= {settings.max_p95_ratio:g}", p95_ok))
    info = {k: v for k, v in asdict(settings).items() if k != "timeout"}
    if not enough:
        low = [c.name for c in checks if c.name.startswith("requests") and not c.passed]
        return Verdict(NOT_ENOUGH_DATA, f"fewer than {settings.min_requests:g} requests in "
                       f"{settings.window} for {', '.join(low)}", checks, info)
    if err_ok is None or p95_ok is None:
        return Verdict(NOT_ENOUGH_DATA, "no error ratio or latency data", checks, info)
    failed = [c.name for c in checks if c.passed is False]
    if failed:
        return Verdict(ABORT, f"canary fails {', '.join(failed)}", checks, info)
    return Verdict(PROMOTE, "canary is within every threshold", checks, info)


def _finite(value: float | None) -> float | None:
    return None if value is None or math.isnan(value) else value


def _ratio(canary: float | None, stable: float | None) -> float | None:
    if canary is None or stable is None:
        return None
    if stable == 0:
        return 1.0 if canary == 0 else math.inf
    return canary / stable


def format_text(verdict: Verdict) -> str:
    s = verdict.settings
    lines = [f"canary analysis over {s['window']} at {s['prometheus']} "
             f"({s['track_label']}=\"canary\" vs \"stable\")"]
    for check in verdict.checks:
        idle = "-" if check.threshold == "evidence" else "no data"
        mark = {True: "ok", False: "FAIL", None: idle}
        value = "no data" if check.value is None else f"{check.value:.6g}"
        lines.append(f"  {check.name:<26} {value:>12}  {check.threshold:<10} {mark[check.passed]}")
        lines.append(f"      query: {check.query}")
    lines.append(f"verdict: {verdict.name} (exit {verdict.code}): {verdict.reason}")
    return "\n".join(lines)
