"""OCI reference grammar (github.com/distribution/reference) as kustodian validates it."""

from __future__ import annotations

import pytest
from kustodian.errors import KustodianError
from kustodian.release.reference import (
    ImageVersion,
    split_new_tag,
    validate_digest,
    validate_name,
    validate_tag,
)

SHA = "sha256:" + "0123456789abcdef" * 4


@pytest.mark.parametrize("name", [
    "agent", "agent-canary", "ghcr.io/acme/agent", "localhost:5000/a/b", "a__b", "a.b_c--d",
    "registry.example.com:443/team/app", "docker.io/library/redis", "[::1]:5000/app",
    "EXAMPLE.com/app", "a" * 200,
])
def test_valid_names(name: str) -> None:
    assert validate_name(name) == name


@pytest.mark.parametrize("name", [
    "", "Agent", "ghcr.io/Acme/agent", "a//b", "-a", "a-", "a/", "/a", "a___b", "a..b",
    "ghcr.io/acme/agent:1.0", "a@b", "a b", "a" * 256,
])
def test_invalid_names(name: str) -> None:
    with pytest.raises(KustodianError):
        validate_name(name)


@pytest.mark.parametrize("tag", ["1", "1.4.2", "v1.0.0-rc.1", "latest", "_x", "A_b-c.d",
                                 "w" * 128])
def test_valid_tags(tag: str) -> None:
    assert validate_tag(tag) == tag


@pytest.mark.parametrize("tag", ["", ".x", "-x", "a:b", "a@b", "a/b", "w" * 129, "é"])
def test_invalid_tags(tag: str) -> None:
    with pytest.raises(KustodianError):
        validate_tag(tag)


@pytest.mark.parametrize("digest", [SHA, "sha512:" + "ab" * 64])
def test_valid_digests(digest: str) -> None:
    assert validate_digest(digest) == digest


@pytest.mark.parametrize("digest", [
    "sha256:" + "0" * 63, "sha256:" + "0" * 65, "sha256:" + "A" * 64, "sha512:" + "a" * 64,
    "sha256", ":" + "a" * 64, "1sha:" + "a" * 64, "sha256:" + "g" * 64, "sha256:" + "a" * 31,
    # only what registries serve pins an image: other algorithms are refused
    "multihash+base58:" + "a" * 32, "md5:" + "a" * 32, "sha1:" + "a" * 40, SHA + "\n",
])
def test_invalid_digests(digest: str) -> None:
    with pytest.raises(KustodianError):
        validate_digest(digest)


def test_new_tag_with_digest_is_split() -> None:
    assert split_new_tag(f"1.2@{SHA}") == ImageVersion("1.2", SHA)
    assert split_new_tag("1.2") == ImageVersion("1.2", None)
    assert str(ImageVersion("1.2", SHA)) == f"1.2@{SHA}"
    assert ImageVersion("1.2", SHA).short() == "1.2-0123456789ab"
    with pytest.raises(KustodianError):
        split_new_tag(f"1.2@{SHA[:-1]}")
