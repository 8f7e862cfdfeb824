"""image-digest-pinned: production images are pinned by a valid sha256/sha512 digest."""

from __future__ import annotations

import re

from kustodian.rules.catalog._common import HIGH, Rule, Violation
from kustodian.rules.catalog._images import split_image

# What a registry serves and Kubernetes pulls by: anything else (`@md5:...`, `@latest`,
# `@sha256:short`) is not a pin, even though it contains an `@`.
VALID_DIGEST = re.compile(r"sha256:[a-f0-9]{64}|sha512:[a-f0-9]{128}", re.ASCII)


def check(w, ctx):
    for c in w.containers():
        image = c.spec.get("image")
        if not isinstance(image, str) or not image:
            continue
        digest = split_image(image)[2]
        if not digest:
            yield Violation(f"container {c.name!r} image {image!r} is not pinned by digest",
                            (*c.path, "image"), c.name)
        elif not VALID_DIGEST.fullmatch(digest):
            yield Violation(f"container {c.name!r} image {image!r} has an invalid digest "
                            "(expected sha256:<64 hex> or sha512:<128 hex>)",
                            (*c.path, "image"), c.name)


RULE = Rule(
    id="image-digest-pinned", severity=HIGH, category="supply-chain", envs=("prod",),
    title="Production images are pinned by digest",
    rationale="Tags are mutable: a re-pushed tag changes production without a commit. A "
              "digest (`@sha256:...`) makes the deployed bytes part of the reviewed change; "
              "only sha256/sha512 digests of the right length count (an `@md5:` or truncated "
              "digest pins nothing).",
    remediation="Set the digest in the overlay's images: entry (`digest: sha256:...`), e.g. "
                "with `kustodian bump`.",
    check=check)
