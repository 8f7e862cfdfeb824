"""A small Kubernetes REST client: discovery, server-side apply (real or dry-run), delete.

Only what the throw-away cluster and `kustodian check --apiserver` need, over the standard
library's HTTPS client with the cluster's client certificate. Server-side apply answers are
returned whole (status code, decoded body, the `Warning` headers), never raised, so a caller
can turn every rejection and warning into a finding.
"""

from __future__ import annotations

import http.client
import json
import re
import ssl
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from typing import Any

from kustodian.errors import KustodianError

FIELD_MANAGER = "kustodian"


class KubeError(KustodianError):
    """The API server could not be reached or answered something unusable."""


@dataclass(frozen=True)
class ResourceType:
    """Where objects of one kind live in the REST API."""

    group_version: str     # "v1", "apps/v1"
    plural: str
    namespaced: bool

    def path(self, namespace: str | None, name: str | None = None) -> str:
        base = "/api/v1" if self.group_version == "v1" else f"/apis/{self.group_version}"
        if self.namespaced:
            base += f"/namespaces/{urllib.parse.quote(namespace or 'default', safe='')}"
        base += f"/{self.plural}"
        return base + (f"/{urllib.parse.quote(name, safe='')}" if name else "")


@dataclass
class Answer:
    """One API response: status, decoded JSON body (or None), warnings (Warning headers)."""

    status: int
    body: Any
    warnings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


_WARNING = re.compile(r'^\s*\d{3}\s+\S+\s+"(.*)"\s*$', re.S)


def _warning_text(header: str) -> str:
    """`299 - "text"` -> text (RFC 7234 warn-text, escaped quotes undone)."""
    match = _WARNING.match(header)
    return match.group(1).replace('\\"', '"') if match else header


class Kube:
    """A client of one API server (`server` is https://127.0.0.1:PORT)."""

    def __init__(self, server: str, ca_file: str, cert_file: str, key_file: str,
                 timeout: float = 30.0) -> None:
        parsed = urllib.parse.urlsplit(server)
        self.host = parsed.hostname or "127.0.0.1"
        self.port = parsed.port or 443
        self.timeout = timeout
        self._ssl = ssl.create_default_context(cafile=ca_file)
        self._ssl.load_cert_chain(cert_file, key_file)
        self._local = threading.local()
        self._types: dict[tuple[str, str], ResourceType] | None = None

    # --- transport ----------------------------------------------------------------------
    def _conn(self) -> http.client.HTTPSConnection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = http.client.HTTPSConnection(self.host, self.port, context=self._ssl,
                                               timeout=self.timeout)
            self._local.conn = conn
        return conn

    def request(self, method: str, path: str, body: bytes | None = None,
                content_type: str = "application/json") -> Answer:
        headers = {"Accept": "application/json"}
        if body is not None:
            headers["Content-Type"] = content_type
        for attempt in (1, 2):   # a kept-alive connection the server closed: once more
            conn = self._conn()
            try:
                conn.request(method, path, body=body, headers=headers)
                resp = conn.getresponse()
                raw = resp.read()
            except (OSError, http.client.HTTPException) as exc:
                conn.close()
                self._local.conn = None
                if attempt == 2:
                    raise KubeError(f"{method} {path}: {exc}") from None
                continue
            try:
                data = json.loads(raw) if raw else None
            except ValueError:
                data = raw.decode("utf-8", "replace")
            warnings = [_warning_text(v) for k, v in resp.getheaders() if k.lower() == "warning"]
            return Answer(resp.status, data, warnings)
        raise AssertionError("unreachable")

    def get(self, path: str) -> Answer:
        return self.request("GET", path)

    def wait_ready(self, timeout: float = 60.0, alive: Any = None) -> None:
        """Until /readyz answers ok (`alive()`, when given, False aborts the wait)."""
        deadline = time.monotonic() + timeout
        last: object = None
        while time.monotonic() < deadline:
            if alive is not None and not alive():
                raise KubeError("the API server exited while starting")
            try:
                answer = self.get("/readyz")
                if answer.ok:
                    return
                last = answer.body
            except KubeError as exc:
                last = exc
            time.sleep(0.2)
        raise KubeError(f"the API server was not ready within {timeout:.0f} s (last: {last})")

    # --- discovery ----------------------------------------------------------------------
    def resource_types(self, refresh: bool = False) -> dict[tuple[str, str], ResourceType]:
        """(apiVersion, kind) -> ResourceType, from the server's discovery documents."""
        if self._types is not None and not refresh:
            return self._types
        types: dict[tuple[str, str], ResourceType] = {}
        versions = ["v1"]
        groups = self.get("/apis")
        for group in (groups.body or {}).get("groups", []) if groups.ok else []:
            versions += [v["groupVersion"] for v in group.get("versions", [])]
        for gv in versions:
            answer = self.get("/api/v1" if gv == "v1" else f"/apis/{gv}")
            if not answer.ok:
                continue
            for res in answer.body.get("resources", []):
                if "/" in res["name"]:      # subresources
                    continue
                types[(gv, res["kind"])] = ResourceType(gv, res["name"],
                                                        bool(res.get("namespaced")))
        self._types = types
        return types

    def resource_type(self, api_version: str, kind: str) -> ResourceType | None:
        found = self.resource_types().get((api_version, kind))
        if found is None:     # a CRD installed since the last look
            found = self.resource_types(refresh=True).get((api_version, kind))
        return found

    # --- objects ------------------------------------------------------------------------
    def apply(self, obj: dict[str, Any], *, dry_run: bool, force: bool = False,
              field_manager: str = FIELD_MANAGER) -> Answer:
        """Server-side apply of one object (dry-run: nothing is stored)."""
        meta = obj.get("metadata") if isinstance(obj.get("metadata"), dict) else {}
        rtype = self.resource_type(str(obj.get("apiVersion") or ""), str(obj.get("kind") or ""))
        if rtype is None:
            return Answer(404, {"kind": "Status", "reason": "NotFound", "message":
                                f"the server does not serve {obj.get('kind')} in "
                                f"{obj.get('apiVersion')} (no such kind or API version)"})
        name = meta.get("name")
        if not isinstance(name, str) or not name:
            return Answer(422, {"kind": "Status", "reason": "Invalid",
                                "message": "metadata.name: Required value: name is required"})
        query = {"fieldManager": field_manager, "fieldValidation": "Strict"}
        if dry_run:
            query["dryRun"] = "All"
        if force:
            query["force"] = "true"
        path = rtype.path(meta.get("namespace") if rtype.namespaced else None, name)
        return self.request("PATCH", f"{path}?{urllib.parse.urlencode(query)}",
                            json.dumps(obj).encode(), "application/apply-patch+yaml")

    def delete(self, obj: dict[str, Any]) -> Answer:
        meta = obj.get("metadata") if isinstance(obj.get("metadata"), dict) else {}
        rtype = self.resource_type(str(obj.get("apiVersion") or ""), str(obj.get("kind") or ""))
        if rtype is None or not meta.get("name"):
            return Answer(404, None)
        return self.request("DELETE", rtype.path(meta.get("namespace"), meta["name"]) +
                            "?propagationPolicy=Background")
