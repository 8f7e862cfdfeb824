"""Read the labels in the header of every corpus file (used by tests/test_corpus.py and bench/).

A corpus file starts with comment lines, before its first `---`:

    # corpus: one line saying what the file shows
    # env: prod                      environment to check it as (dev, staging, prod)
    # expect: rule-a, rule-b         rules that MUST be reported (bad files)
    # expect-not: rule-c             rules that must NOT be reported
    # expect-clean                   no finding at all (good files)
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

CORPUS_DIR = Path(__file__).resolve().parent
ENVS = ("dev", "staging", "prod")
_LABEL = re.compile(r"#\s*(corpus|env|expect|expect-not|expect-clean)\s*(?::\s*(.*))?$")


class LabelError(ValueError):
    """A corpus file whose header is missing or malformed."""


@dataclass(frozen=True)
class CorpusCase:
    path: Path
    description: str
    env: str
    expect: tuple[str, ...] = ()
    expect_not: tuple[str, ...] = ()
    clean: bool = False

    @property
    def rel(self) -> str:
        """Path relative to the corpus dir, e.g. `bad/pod-security/host-path.yaml`."""
        return self.path.relative_to(CORPUS_DIR).as_posix()

    @property
    def is_good(self) -> bool:
        return self.clean


def _ids(text: str | None) -> tuple[str, ...]:
    return tuple(part.strip() for part in (text or "").split(",") if part.strip())


def parse_case(path: Path) -> CorpusCase:
    """The labels of one file; LabelError names the file and what is wrong."""
    values: dict[str, str | None] = {}
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if line.strip() == "---" or not line.startswith("#"):
            break
        match = _LABEL.match(line.strip())
        if not match:
            raise LabelError(f"{path}:{number}: unknown label line {line!r}")
        values[match.group(1)] = match.group(2)
    if "corpus" not in values or "env" not in values:
        raise LabelError(f"{path}: header needs '# corpus: ...' and '# env: ...' lines")
    env = (values["env"] or "").strip()
    if env not in ENVS:
        raise LabelError(f"{path}: env {env!r} is not one of {', '.join(ENVS)}")
    clean = "expect-clean" in values
    expect = _ids(values.get("expect"))
    if clean == bool(expect):
        raise LabelError(f"{path}: give exactly one of '# expect: ...' or '# expect-clean'")
    return CorpusCase(path=path, description=(values["corpus"] or "").strip(), env=env,
                      expect=expect, expect_not=_ids(values.get("expect-not")), clean=clean)


def load_corpus(root: Path = CORPUS_DIR) -> list[CorpusCase]:
    """Every labelled file under `root` (bad/ and good/), sorted by path."""
    return [parse_case(p) for p in sorted(root.rglob("*.yaml"))]
