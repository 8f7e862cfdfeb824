"""Kustomization files as release edits them: original bytes, text and a node tree with
positions (for byte-minimal splices). Which file a dir holds, what it references and what an
overlay renders come from the Kustomize layer (`kustodian.kustomize`: files, model, build)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from ruamel.yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from kustodian.errors import KustodianError
from kustodian.kustomize import model
from kustodian.kustomize.build import build_text
from kustodian.kustomize.files import kustomization_file
from kustodian.release.changes import ChangeSet
from kustodian.release.config import ReleaseConfig
from kustodian.release.reference import ImageVersion, split_new_tag
from kustodian.release.yamlsplice import compose, mapping_get, scalar_text
from kustodian.yamlio import load_documents, read_bytes


@dataclass
class YamlFile:
    """A YAML file's original bytes, decoded text and node tree."""

    path: Path
    rel: str
    raw: bytes
    text: str
    bom: bool
    root: Node | None

    @classmethod
    def load(cls, path: Path, config: ReleaseConfig) -> YamlFile:
        resolved = config.inside(path, "file")
        rel = config.rel(resolved)
        raw = read_bytes(resolved, rel, root=config.root)   # a regular file, bounded
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise KustodianError("not UTF-8 text", file=rel) from None
        bom = text.startswith("\ufeff")
        if bom:
            text = text[1:]
        return cls(resolved, rel, raw, text, bom, compose(text, rel))

    def encode(self, text: str) -> bytes:
        return (("\ufeff" if self.bom else "") + text).encode("utf-8")

    def line_of(self, node: Node) -> int:
        return node.start_mark.line + 1

    @property
    def kustomization(self) -> model.Kustomization | None:
        """The Kustomize layer's model of this (kustomization) file's current text."""
        return model.parse(self.text)


def with_pending(kfile: YamlFile, changes: ChangeSet) -> YamlFile:
    """`kfile` as an earlier step of the same change left it (positions fresh for new splices)."""
    for change in changes.files:
        if change.path == kfile.path:
            text = change.new.decode("utf-8")
            text = text[1:] if text.startswith("\ufeff") else text
            return YamlFile(kfile.path, kfile.rel, kfile.raw, text, kfile.bom,
                            compose(text, kfile.rel))
    return kfile


def require_kustomization(directory: Path, config: ReleaseConfig) -> Path:
    config.inside(directory, "overlay")
    found = kustomization_file(directory)
    if not found:
        raise KustodianError(f"no kustomization.yaml in {config.rel(directory)}",
                             hint="check the overlay paths in .kustodian.yaml")
    return found


def local_kustomizations(overlay: Path, config: ReleaseConfig) -> list[YamlFile]:
    """The overlay's kustomization and those it references (resources/components) below it.

    Only directories inside the overlay count: a file shared with other environments (a base)
    must not be edited to release one environment.
    """
    start = require_kustomization(overlay, config)
    limit = Path(os.path.realpath(overlay))
    seen: set[Path] = set()
    out: list[YamlFile] = []
    queue = [start]
    while queue:
        path = queue.pop(0)
        real = Path(os.path.realpath(path))
        if real in seen:
            continue
        seen.add(real)
        kfile = YamlFile.load(path, config)
        out.append(kfile)
        parsed = kfile.kustomization
        for ref in parsed.references if parsed else ():
            if ref.field not in ("resources", "components", "bases") or ref.remote:
                continue
            target = Path(os.path.realpath(real.parent / ref.path))
            if not target.is_dir() or (target != limit and limit not in target.parents):
                continue
            found = kustomization_file(target)
            if found:
                queue.append(found)
    return out


@dataclass
class ImageEntry:
    """One `images:` entry of a kustomization file."""

    file: YamlFile
    index: int
    node: MappingNode

    @property
    def path(self) -> tuple:
        return ("images", self.index)

    def get(self, key: str) -> str | None:
        pair = mapping_get(self.node, key)
        return scalar_text(pair[1]) if pair else None

    @property
    def name(self) -> str | None:
        return self.get("name")

    @property
    def version(self) -> ImageVersion:
        """The pinned version as kustomize applies it (`digest:` wins over newTag's)."""
        new_tag = self.get("newTag")
        digest = self.get("digest")
        try:
            version = split_new_tag(new_tag) if new_tag else ImageVersion()
            if digest:
                version = ImageVersion(tag=version.tag, digest=digest)
        except KustodianError as exc:
            raise KustodianError(f"the images entry {self.name!r} holds {exc}",
                                 file=self.file.rel, line=self.file.line_of(self.node)) from None
        return version


def images_sequence(kfile: YamlFile) -> tuple[ScalarNode, Node] | None:
    if not isinstance(kfile.root, MappingNode):
        return None
    return mapping_get(kfile.root, "images")


def image_entries(kfile: YamlFile, name: str) -> list[ImageEntry]:
    pair = images_sequence(kfile)
    if not pair or not isinstance(pair[1], SequenceNode):
        return []
    found = []
    for index, item in enumerate(pair[1].value):
        if not isinstance(item, MappingNode):
            raise KustodianError("an images entry must be a mapping", file=kfile.rel,
                                 line=kfile.line_of(item))
        pair_name = mapping_get(item, "name")
        if pair_name and scalar_text(pair_name[1]) == name:
            found.append(ImageEntry(kfile, index, item))
    return found


def render(config: ReleaseConfig, overlay: str) -> str:
    """`kustomize build` of a repository-relative overlay (the Kustomize layer's runner:
    the pinned kustomize, offline, bounded)."""
    return build_text(config.root / overlay, config.root)


def rendered_objects(config: ReleaseConfig, overlay: str) -> list[dict]:
    """The resources an overlay renders (the gate's YAML loader)."""
    return [doc for _, doc in load_documents(render(config, overlay), overlay, strict=False)
            if isinstance(doc, dict)]


def rendered_images(objects: list[dict]) -> set[str]:
    """Image names (without tag/digest) of every container of rendered resources."""
    names: set[str] = set()

    def walk(obj: object) -> None:
        if isinstance(obj, dict):
            for key in ("containers", "initContainers", "ephemeralContainers"):
                for container in obj.get(key) or []:
                    if isinstance(container, dict) and isinstance(container.get("image"), str):
                        names.add(image_name(container["image"]))
            for value in obj.values():
                walk(value)
        elif isinstance(obj, list):
            for value in obj:
                walk(value)

    for obj in objects:
        walk(obj)
    return names


def image_name(reference: str) -> str:
    """`ghcr.io/acme/agent:1.2@sha256:..` -> `ghcr.io/acme/agent` (a port colon is kept)."""
    name = reference.split("@", 1)[0]
    last = name.rsplit("/", 1)[-1]
    if ":" in last:
        name = name[: len(name) - len(last)] + last.split(":", 1)[0]
    return name
