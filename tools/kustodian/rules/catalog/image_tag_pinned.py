"""image-tag-pinned: images carry an explicit, non-latest tag (or a digest)."""

from __future__ import annotations

from kustodian.rules.catalog._common import HIGH, Rule, Violation
from kustodian.rules.catalog._images import split_image


def check(w, ctx):
    for c in w.containers():
        image = c.spec.get("image")
        if not isinstance(image, str) or not image:
            yield Violation(f"container {c.name!r} has no image", (*c.path, "image"), c.name)
            continue
        _, tag, digest = split_image(image)
        if digest:
            continue
        if tag is None:
            yield Violation(f"container {c.name!r} image {image!r} has no tag (means latest)",
                            (*c.path, "image"), c.name)
        elif tag == "latest":
            yield Violation(f"container {c.name!r} image {image!r} uses the latest tag",
                            (*c.path, "image"), c.name)


RULE = Rule(
    id="image-tag-pinned", severity=HIGH, category="supply-chain",
    title="Images use an explicit, immutable-by-convention tag",
    rationale="`latest` (or no tag) makes what runs depend on when a node pulled the image: "
              "rollbacks and reviews lose their meaning.",
    remediation="Pin the image to a release tag (and a digest in prod), e.g. through the "
                "overlay's images: entry (newTag / digest).",
    check=check)
