"""The yaml-rs fast path must read every text it accepts exactly as PyYAML (YAML 1.1) does,
and the positions composed per document must match the whole-file composition."""

from __future__ import annotations

import contextlib
import random
from pathlib import Path
from typing import Any

import pytest
import yaml
from kustodian import yamlio
from kustodian.errors import KustodianError

REPO = Path(__file__).resolve().parents[2]

# Scalars whose reading differs between YAML 1.1 and 1.2, or between the two libraries, plus
# ordinary ones that must stay on the fast path.
TRICKY = [
    "yes", "Yes", "YES", "no", "No", "NO", "on", "On", "ON", "off", "Off", "OFF", "y", "n",
    "Y", "N", "true", "True", "TRUE", "false", "False", "FALSE", "tRUE", "null", "Null",
    "NULL", "nULL", "~", "", "0", "-0", "+0", "00", "007", "0755", "08", "09", "0o17",
    "0O17", "0x1F", "0X1F", "0b101", "0B101", "1_000", "1__0", "_1", "1_", "+12", "-12",
    "12", "1.0", "1.", ".5", "-.5", "+.5", "1e3", "1E3", "1.0e3", "1.0e+3", "1.0E-3", "1e+3",
    "-1.5e-3", "1:20", "1:20:30", "-1:20", "190:20:30.15", "8080:80", "10.0.0.1:8080",
    ".inf", ".Inf", ".INF", "-.inf", "+.inf", ".nan", ".NaN", ".NAN", "inf", "nan",
    "2001-12-14", "2001-12-14t21:59:43.10-05:00", "2001-12-14 21:59:43.10 -5",
    "2002-12-14", "1.2.3", "v1.2.3", "1.25", "100m", "10Mi", "3d", "1h30m", "0.5",
    "123456789012345678901234567890", "-0.0", "0.0", "=", "<<", "a=b", "1e", "e3",
    "0e5f3a", "9e9e9e", "deadbeef", "sha256:0e5f", "0x", "0o", "0b", "12.5.6", "--1", "+-1",
    "'on'", '"no"', "'0755'", '"1e3"', "!!str 12", "!!int '12'", "&a 1", "*a", "? x",
    "nginx:1.25", "http://x/y?z=1", "a: b", "- x", "# c", "yes # comment", "1.0 # c",
]
CONTEXTS = ["k: {s}\n", "- {s}\n", "{s}: v\n", "{{a: {s}}}\n", "[{s}, 1]\n",
            "k:\n  - {s}\n  - x\n", "k: a {s} b\n", "a: 1\n---\nk: {s}\n"]


def _exact(text: str) -> list[Any]:
    return list(yaml.load_all(text, Loader=yamlio._StrictLoader))


def _same(a: Any, b: Any) -> bool:
    """Equal values of the same types (True == 1 in Python, but not here)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return list(a) == list(b) and all(_same(k1, k2) and _same(a[k1], b[k2])
                                          for k1, k2 in zip(a, b, strict=True))
    if isinstance(a, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float) and a != a:
        return b != b
    return a == b


def _assert_agrees(text: str) -> bool:
    """Assert the fast path (when it accepts `text`) reads it like PyYAML; True if it did."""
    fast = yamlio._fast_documents(text)
    if fast is None:
        return False
    try:
        expected = _exact(text)
    except (yaml.YAMLError, RecursionError):
        pytest.fail(f"fast path accepted a text PyYAML refuses: {text!r} -> {fast[0]!r}")
    assert _same(fast[0], expected), f"{text!r}: fast {fast[0]!r} != exact {expected!r}"
    return True


@pytest.mark.parametrize("context", CONTEXTS)
def test_tricky_scalars_read_as_pyyaml_reads_them(context: str) -> None:
    for scalar in TRICKY:
        _assert_agrees(context.format(s=scalar))


def _fuzz(seed: int, alphabet: str, tokens: int, longest: int, contexts: tuple) -> int:
    """Random tokens of `alphabet` in each context; returns how many the fast path took
    (each of them asserted to read as PyYAML reads it)."""
    rng = random.Random(seed)
    accepted = 0
    for _ in range(tokens):
        token = "".join(rng.choice(alphabet) for _ in range(rng.randint(1, longest)))
        for context in contexts:
            accepted += _assert_agrees(context.format(s=token))
    return accepted


def test_random_numeric_looking_scalars_read_as_pyyaml_reads_them() -> None:
    accepted = _fuzz(20261122, "0123456789._:+-eExXoObBaf", 4000, 7,
                     ("k: {s}\n", "- {s}\n", "{s}: v\n"))
    assert accepted > 1000   # the fast path stays useful on ordinary tokens


def test_random_texts_with_indicators_tabs_and_newlines_read_the_same() -> None:
    """Broken or odd syntax: whatever the fast path accepts, PyYAML accepts the same way."""
    accepted = _fuzz(7, "0123456789._:+-eEnNyYsoOfF~ #'\",[]{}|>%@`!&*?\n\n  \t", 6000, 8,
                     ("k: {s}\n", "- {s}\n", "{s}: v\n", "a:\n  {s}\n"))
    assert accepted > 5000


def test_ordinary_manifests_take_the_fast_path() -> None:
    assert _assert_agrees(_deployment())


def _deployment() -> str:
    return (
        "# the agent\n"
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: agent\n"
        "  labels: {app: agent, tier: \"1\"}\n"
        "spec:\n  replicas: 3\n  template:\n    spec:\n      containers:\n"
        "        - name: agent\n          image: ghcr.io/x/agent:1.4.2\n"
        "          args: [\"--port\", \"8080\"]\n"
        "          resources: {limits: {cpu: 500m, memory: 256Mi}}\n"
        "          command:\n            - sh\n            - -c\n            - |\n"
        "              echo started\n              exec agent\n"
        "---\napiVersion: v1\nkind: Service\nmetadata:\n  name: agent\n"
        "spec:\n  ports:\n    - port: 80\n      targetPort: 8080\n"
    )


def _repo_yaml_files() -> list[Path]:
    roots = ["apps", "base", "overlays", "components", "argocd", "policies", "tests", ".github"]
    files: list[Path] = []
    for root in roots:
        for pattern in ("*.yaml", "*.yml"):
            files.extend((REPO / root).rglob(pattern))
    return sorted(p for p in files if ".venv" not in p.parts)


def test_every_yaml_file_of_the_repository_reads_the_same() -> None:
    files = _repo_yaml_files()
    assert len(files) > 100
    fast = 0
    for path in files:
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue
        try:
            fast += _assert_agrees(text)
        except AssertionError as exc:
            raise AssertionError(f"{path.relative_to(REPO)}: {exc}") from None
    assert fast > len(files) // 2


def test_words_inside_plain_scalars_keep_the_fast_path() -> None:
    """1.1 booleans, `*`, `&` and `!` inside a plain scalar's words are no node of their own
    (cron schedules, prose in annotations, a config file's text): read the same, fast."""
    for text in ("schedule: 17 */6 * * *\n", "summary: Redis has no ready replica\n",
                 "help: runs on the node & logs it !now\n",
                 "conf: |\n  protected-mode yes\n  appendonly no\n",
                 "- ready on time\n- x\n"):
        assert _assert_agrees(text), text


@pytest.mark.parametrize("text", [
    "k: on\n", "- off\n", "[a, yes]\n", "{a: No}\n", "k: *a\n", "k: &a 1\n",
    "k: !!str 1\n", "? k\n", "k:\n  on\n", "k:on\n", "--- on\n",
    "k: 1\r--- x\n",                  # a lone CR is a line break: two documents
    "{k: :x y}\n", "[a b:]\n", "{k: ,a:}\n", "{k: | x}\n", "[\n > x y]\n",
])
def test_node_starts_take_the_exact_path(text: str) -> None:
    assert yamlio._needs_exact(text)
    with contextlib.suppress(yaml.YAMLError):
        _exact(text)


def test_this_repositorys_rendered_overlays_take_the_fast_path(kustomize_bin: str) -> None:
    """The gate's hot path: kustomize's output of every overlay here is read by yaml-rs."""
    from kustodian.kustomize.build import render
    from kustodian.kustomize.cache import RenderCache

    for overlay in sorted((REPO / "overlays").iterdir()):
        result = render(overlay, overlay.name, kustomize_bin, cache=RenderCache.for_tree(REPO))
        assert result.error is None, result.error
        assert _assert_agrees(result.text), overlay.name


@pytest.mark.parametrize("text, count", [
    ("", 0),
    ("# only a comment\n", 0),
    ("a: 1\n", 1),
    ("---\na: 1\n", 1),
    ("# head\n---\na: 1\n---\nb: 2\n", 2),
    ("a: 1\n---\nb: 2\n", 2),
    ("---\n- a\n- b\n", 1),
    ("- a\n- b\n", 1),
    ("a: 1\n---\n- x\n- y\n", 2),
    ("---\n---\na: 1\n", 2),
    ("a: 1\n---\n", 2),
    ("k: |\n  text\n---\nb: 2\n", 2),
    ("--- {a: 1}\n--- [1, 2]\n", 2),
])
def test_document_splitting_agrees_with_pyyaml(text: str, count: int) -> None:
    expected = _exact(text)
    assert len(expected) == count
    docs = yamlio.load_documents(text, "t.yaml")
    assert [d for _, d in docs] == [d for d in expected if d is not None]
    assert [i for i, _ in docs] == [i for i, d in enumerate(expected) if d is not None]


@pytest.mark.parametrize("padding", [0, 2500])
def test_per_document_composition_keeps_the_file_line_numbers(tmp_path: Path,
                                                               padding: int) -> None:
    text = ("#\n" * padding
            + "# leading comment\n\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n"
            "---\n# between\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: b\n"
            "data:\n  k: |\n    x\n    y\n---\n---\napiVersion: v1\nkind: Secret\n"
            "metadata: {name: c}\n")
    path = tmp_path / "m.yaml"
    path.write_text(text, encoding="utf-8")
    real = str(path)
    loaded = yamlio.load_documents(text, "m.yaml", keep_nodes_as=real)
    assert [i for i, _ in loaded] == [0, 1, 3]
    whole = tuple(yaml.compose_all(text, Loader=yamlio._FastLoader))
    for index, _ in loaded:
        node = yamlio.compose_document(real, index)
        assert node is not None
        assert node.start_mark.line == whole[index].start_mark.line
        assert [(k.value, k.start_mark.line) for k, _ in node.value] == \
            [(k.value, k.start_mark.line) for k, _ in whole[index].value]
    assert yamlio.compose_document(real, 7) is None


@pytest.mark.parametrize("text, needle", [
    ("a: 1\na: 2\n", "duplicate key"),
    ("a: [1\n", "invalid YAML"),
    ("a: &x [1]\nb: *x\nc: *x\na: 3\n", "duplicate key"),
    ("k: v\n\tbad: 1\n", "invalid YAML"),
])
def test_refused_texts_get_pyyaml_errors_with_positions(text: str, needle: str) -> None:
    with pytest.raises(KustodianError) as caught:
        yamlio.load_documents(text, "bad.yaml")
    assert needle in str(caught.value)
    assert caught.value.line is not None
