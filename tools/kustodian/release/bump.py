"""`bump` and `promote` as plans: the ChangeSet that pins an image version in an environment."""

from __future__ import annotations

from pathlib import Path

from kustodian.errors import KustodianError
from kustodian.release.changes import ChangeSet
from kustodian.release.config import ReleaseConfig
from kustodian.release.imageedit import plan_add_entry, plan_new_name, plan_version
from kustodian.release.kustomization import (
    ImageEntry,
    YamlFile,
    image_entries,
    images_sequence,
    local_kustomizations,
    rendered_images,
    rendered_objects,
    with_pending,
)
from kustodian.release.reference import ImageVersion, validate_name
from kustodian.release.yamlsplice import SplicedText


def find_entries(config: ReleaseConfig, overlay: str, image: str) -> tuple[list[YamlFile],
                                                                          list[ImageEntry]]:
    files = local_kustomizations(config.root / overlay, config)
    return files, [entry for kfile in files for entry in image_entries(kfile, image)]


def current_version(config: ReleaseConfig, env: str, image: str) -> ImageVersion:
    """What the env's overlay pins `image` to (one consistent value), or an error."""
    overlay = config.stable_overlay(env).path
    _, entries = find_entries(config, overlay, image)
    versions = {entry.version for entry in entries}
    if not entries or versions == {ImageVersion()}:
        raise KustodianError(f"{env} does not pin {image} (no images entry in {overlay})",
                             hint=f"bump {env} first: kustodian bump --env {env} --image {image}")
    if len(versions) > 1:
        raise KustodianError(f"{env} pins {image} to different versions in "
                             f"{', '.join(e.file.rel for e in entries)}")
    return versions.pop()


def check_version_for_env(config: ReleaseConfig, env: str, version: ImageVersion) -> None:
    if env in config.require_digest and not version.digest:
        raise KustodianError(
            f"{env} requires a digest: refusing to deploy a tag alone ({version})",
            hint="pass --digest sha256:... (with --tag, the pin is written as newTag: TAG@DIGEST)")


def plan_image(config: ReleaseConfig, overlay: str, image: str, version: ImageVersion,
               changes: ChangeSet, *, new_name: str | None = None) -> ImageVersion | None:
    """Add to `changes` the edits pinning `image` in `overlay`; return the old version."""
    files = [with_pending(kfile, changes) for kfile in find_entries(config, overlay, image)[0]]
    entries = [entry for kfile in files for entry in image_entries(kfile, image)]
    spliced: dict[str, tuple[YamlFile, SplicedText]] = {}

    def splice_for(kfile: YamlFile) -> SplicedText:
        if kfile.rel not in spliced:
            spliced[kfile.rel] = (kfile, SplicedText(kfile.text, kfile.rel))
        return spliced[kfile.rel][1]

    old: ImageVersion | None = None
    if entries:
        old = entries[0].version
        for entry in entries:
            plan_version(splice_for(entry.file), entry, version)
            if new_name:
                plan_new_name(splice_for(entry.file), entry, new_name)
    else:
        used = rendered_images(rendered_objects(config, overlay))
        if image not in used:
            raise KustodianError(
                f"image {image!r} is not used by {overlay}",
                hint=f"images used there: {', '.join(sorted(used)) or 'none'}; "
                     "check --image (or release.image in .kustodian.yaml)")
        target = _file_for_new_entry(files)
        plan_add_entry(splice_for(target), target, image, version, new_name)
    for kfile, sp in spliced.values():
        changes.add(kfile.path, kfile.rel, kfile.raw, kfile.encode(sp.result()))
    return old


def _file_for_new_entry(files: list[YamlFile]) -> YamlFile:
    """Where a missing entry goes: a file with `images:`, a `release/` component, the overlay."""
    for kfile in files:
        if images_sequence(kfile) is not None:
            return kfile
    for kfile in files:
        if kfile.path.parent.name == "release":
            return kfile
    return files[0]


def plan_bump(config: ReleaseConfig, env: str, image: str, version: ImageVersion) -> ChangeSet:
    config.check_env(env)
    validate_name(image)
    check_version_for_env(config, env, version)
    overlay = config.stable_overlay(env).path
    changes = ChangeSet("bump", env, image, before="", after=str(version),
                        overlays=config.env_overlays(env), slug=version.short())
    old = plan_image(config, overlay, image, version, changes)
    changes.before = str(old) if old and not old.empty else "(unpinned)"
    return changes


def check_order(config: ReleaseConfig, source: str, target: str, force: bool) -> None:
    config.check_env(source)
    config.check_env(target)
    if source == target:
        raise KustodianError(f"--from and --to are both {source!r}")
    gap = config.order.index(target) - config.order.index(source)
    if gap != 1 and not force:
        expected = config.order[config.order.index(source) + 1] if gap > 0 else None
        what = "skips a stage" if gap > 1 else "goes backwards"
        raise KustodianError(
            f"promoting {source} -> {target} {what} (order: {' -> '.join(config.order)})",
            hint=(f"promote to {expected} first, or " if expected else "") + "pass --force")


def plan_promote(config: ReleaseConfig, source: str, target: str, image: str,
                 force: bool) -> ChangeSet:
    """Copy what `source` verified (the image pin and the settings file) to `target`."""
    check_order(config, source, target, force)
    validate_name(image)
    version = current_version(config, source, image)
    check_version_for_env(config, target, version)
    overlay = config.stable_overlay(target).path
    changes = ChangeSet("promote", target, image, before="", after=str(version),
                        overlays=config.env_overlays(target), source_env=source,
                        slug=version.short())
    old = plan_image(config, overlay, image, version, changes)
    changes.before = str(old) if old and not old.empty else "(unpinned)"
    _plan_settings(config, source, target, changes)
    return changes


def _plan_settings(config: ReleaseConfig, source: str, target: str, changes: ChangeSet) -> None:
    src = config.root / config.stable_overlay(source).path / config.settings_file
    dst = config.root / config.stable_overlay(target).path / config.settings_file
    if not src.is_file():
        return
    config.inside(src, "settings file")
    config.inside(dst.parent, "settings directory")
    if not dst.parent.is_dir():
        raise KustodianError(f"{config.rel(src)} exists but {target} has no "
                             f"{Path(config.settings_file).parent} directory to copy it to")
    old = dst.read_bytes() if dst.is_file() else None
    changes.add(dst, config.rel(dst.parent) + "/" + dst.name, old, src.read_bytes())
    if old is None:
        changes.notes.append(f"created {config.rel(dst.parent)}/{dst.name}: reference it from "
                             "the overlay's kustomization")
