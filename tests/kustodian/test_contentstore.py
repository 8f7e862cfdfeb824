"""The operator's cache dir shared by the render and policy caches (kustodian.contentstore):
its size stays bounded, the least recently used entries go first, and a trim does not run at
every write (it lists the whole subdir)."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest
from kustodian import contentstore
from kustodian.contentstore import ContentStore


def key(n: int) -> str:
    return hashlib.sha256(str(n).encode()).hexdigest()


@pytest.fixture
def store(tmp_path: Path, cache_dir: Path, monkeypatch: pytest.MonkeyPatch) -> ContentStore:
    monkeypatch.setattr(contentstore, "MAX_ENTRIES", 8)
    monkeypatch.setattr(contentstore, "TRIM_EVERY", 4)
    monkeypatch.setattr(contentstore, "_PUTS", {})
    tree = tmp_path / "tree"
    tree.mkdir()
    return ContentStore.for_tree(tree, "test-v1", b"test ")


def entries(store: ContentStore) -> set[str]:
    return {p.name for p in store.directory.iterdir() if not p.name.startswith(".tmp-")}


def test_the_least_recently_used_entries_go_first(store):
    for n in range(8):
        store.put(key(n), b"%d" % n)
        os.utime(store.directory / key(n), (1_000 + n, 1_000 + n))   # written in order
    assert store.get(key(0)) == b"0"          # read: now the most recently used
    store.put(key(8), b"8")                   # the 9th put trims: 9 entries, 8 allowed
    assert entries(store) == {key(n) for n in (0, 4, 5, 6, 7, 8)}   # down to 3/4 of 8


def test_the_size_stays_bounded(store):
    for n in range(100):
        store.put(key(n), b"%d" % n)
        assert len(entries(store)) <= 8 + 4, n   # over the limit by at most TRIM_EVERY
    assert store.get(key(99)) == b"99"


def test_a_trim_runs_at_the_first_put_and_every_trim_every_puts(store, monkeypatch):
    trims = []
    monkeypatch.setattr(ContentStore, "_prune", lambda self: trims.append(len(entries(self))))
    for n in range(9):
        store.put(key(n), b"x")
    assert trims == [1, 5, 9]
