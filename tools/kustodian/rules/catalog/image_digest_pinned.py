"""image-digest-pinned: production images are pinned by digest."""

from __future__ import annotations

from kustodian.rules.catalog._common import HIGH, Rule, Violation
from kustodian.rules.catalog._images import split_image


def check(w, ctx):
    for c in w.containers():
        image = c.spec.get("image")
        if isinstance(image, str) and image and not split_image(image)[2]:
            yield Violation(f"container {c.name!r} image {image!r} is not pinned by digest",
                            (*c.path, "image"), c.name)


RULE = Rule(
    id="image-digest-pinned", severity=HIGH, category="supply-chain", envs=("prod",),
    title="Production images are pinned by digest",
    rationale="Tags are mutable: a re-pushed tag changes production without a commit. A "
              "digest (`@sha256:...`) makes the deployed bytes part of the reviewed change.",
    remediation="Set the digest in the overlay's images: entry (`digest: sha256:...`), e.g. "
                "with `kustodian bump`.",
    check=check)
