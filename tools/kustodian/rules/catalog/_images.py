"""Parse image references: registry/repository[:tag][@digest]."""

from __future__ import annotations


def split_image(image: str) -> tuple[str, str | None, str | None]:
    """(name, tag, digest) of an image reference."""
    name, _, digest_part = image.partition("@")
    digest = digest_part or None
    tag = None
    last = name.rsplit("/", 1)[-1]
    if ":" in last:
        tag = last.rsplit(":", 1)[1]
        name = name[: len(name) - len(tag) - 1]
    return name, tag or None, digest
