"""OCI image references, validated against the distribution reference grammar.

Grammar (github.com/distribution/reference):
  name      := [domain '/'] path-component ['/' path-component]*
  tag       := [\\w][\\w.-]{0,127}
  digest    := algorithm ':' hex   (sha256: 64 lowercase hex, sha512: 128)

Every pattern is applied with `fullmatch`: `$` also matches before a trailing newline, so a
`re.match(...$)` check would let `1.0\n` through into a committed `newTag`. Only sha256 and
sha512 digests are accepted (what registries serve); `md5:`, `sha1:` or unknown algorithms
would let a weak or meaningless "pin" satisfy an environment that requires a digest.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from kustodian.errors import KustodianError

_ALNUM = r"[a-z0-9]+"
_SEPARATOR = r"(?:[._]|__|-+)"
_PATH_COMPONENT = rf"{_ALNUM}(?:{_SEPARATOR}{_ALNUM})*"
_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN = rf"(?:{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*|\[[0-9a-fA-F:.]+\])(?::[0-9]+)?"
NAME_RE = re.compile(rf"(?:{_DOMAIN}/)?{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*")
TAG_RE = re.compile(r"[\w][\w.-]{0,127}", re.ASCII)
DIGEST_RE = re.compile(r"sha256:[a-f0-9]{64}|sha512:[a-f0-9]{128}", re.ASCII)
NAME_MAX = 255


def validate_name(name: str) -> str:
    """An image name (`ghcr.io/acme/agent`, `agent-canary`), or a KustodianError."""
    if not name or len(name) > NAME_MAX or not NAME_RE.fullmatch(name):
        raise KustodianError(
            f"invalid image name {name!r}",
            hint="names are lowercase path components separated by '/', optionally after a "
                 "registry host (e.g. ghcr.io/acme/agent), at most 255 characters")
    # A domain is only recognised when the first component looks like a host; an upper-case
    # first component is only valid as a host (contains '.' or ':' or is localhost).
    first, _, rest = name.partition("/")
    if rest and first != first.lower() and not ("." in first or ":" in first):
        raise KustodianError(f"invalid image name {name!r}: repository names must be lowercase")
    return name


def validate_tag(tag: str) -> str:
    """A tag such as `1.4.2` or `v2-rc.1`, or a KustodianError."""
    if not isinstance(tag, str) or not TAG_RE.fullmatch(tag):
        raise KustodianError(
            f"invalid image tag {tag!r}",
            hint="a tag is 1-128 characters of [A-Za-z0-9_.-] and must not start with '.' or '-'")
    return tag


def validate_digest(digest: str) -> str:
    """A digest `sha256:<64 hex>` or `sha512:<128 hex>` (lowercase), or a KustodianError."""
    if isinstance(digest, str) and DIGEST_RE.fullmatch(digest):
        return digest
    algorithm, sep, hexpart = (digest or "").partition(":") if isinstance(digest, str) else \
        ("", "", "")
    if sep and algorithm in ("sha256", "sha512"):
        size = 64 if algorithm == "sha256" else 128
        raise KustodianError(
            f"invalid image digest {digest!r}: {algorithm} needs exactly {size} lowercase hex "
            f"characters, got {len(hexpart)}")
    raise KustodianError(
        f"invalid image digest {digest!r}",
        hint="a digest is sha256:<64 lowercase hex> or sha512:<128 lowercase hex>; other "
             "algorithms (md5, sha1, ...) do not pin an image")


@dataclass(frozen=True)
class ImageVersion:
    """What an `images:` entry pins: a tag, a digest, or both."""

    tag: str | None = None
    digest: str | None = None

    def __post_init__(self) -> None:
        if self.tag is not None:
            validate_tag(self.tag)
        if self.digest is not None:
            validate_digest(self.digest)

    @property
    def empty(self) -> bool:
        return self.tag is None and self.digest is None

    def __str__(self) -> str:
        text = self.tag or ""
        return text + (f"@{self.digest}" if self.digest else "")

    def short(self) -> str:
        """A label for branch names: the tag and/or the first 12 hex digits of the digest."""
        parts = [self.tag] if self.tag else []
        if self.digest:
            parts.append(self.digest.split(":", 1)[-1][:12])
        return "-".join(parts) or "none"


def split_new_tag(value: str) -> ImageVersion:
    """Interpret a kustomize `newTag` value, which may carry `tag@digest`."""
    tag, sep, digest = value.partition("@")
    return ImageVersion(tag=tag or None, digest=digest if sep else None)
