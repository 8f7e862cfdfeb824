"""Render a kustomize or helm Recipe the way the Argo CD repo-server does, offline.

kustomize with Application-level options: the repo-server edits the kustomization in its
own checkout (`kustomize edit set nameprefix / namesuffix / image / replicas`, `edit add
label / annotation`, `edit set namespace`, the patches appended to `patches:`, `edit add
component`) and then runs `kustomize build`. The gate does the same on a scratch copy of the
tree (hard links, the edited kustomization file written anew), never on the user's files.

helm: `helm template <chart> --name-template <release> --namespace <ns> --include-crds` with
the Application's value files, values and parameters, from the pinned helm in `.bin/`, with
helm's cache/config/data dirs pointed at an empty temp dir (no repositories, no network).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import yaml

from kustodian.argocd.sources import Recipe
from kustodian.errors import KustodianError
from kustodian.kustomize.build import KUSTOMIZE_TIMEOUT, Rendered, find_tool
from kustodian.kustomize.files import NAMES as KUSTOMIZATION_NAMES
from kustodian.yamlio import load_documents, read_text

_SKIP = {".git", ".venv", ".bin", ".cache", "node_modules", "__pycache__"}


def find_helm(root: Path | None = None) -> str:
    found = find_tool("helm", root)
    if not found:
        raise KustodianError("helm is not installed (an Application renders a Helm chart)",
                             hint="run `make setup` (installs the pinned helm in .bin/)")
    return found


def _link_or_copy(src: str, dst: str) -> None:
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def _run(args: list[str], cwd: str, display: str, env: dict | None = None
         ) -> subprocess.CompletedProcess:
    try:
        proc = subprocess.run(args, cwd=cwd, capture_output=True, text=True,
                              timeout=KUSTOMIZE_TIMEOUT, check=False, env=env)
    except subprocess.TimeoutExpired:
        raise KustodianError(f"{Path(args[0]).name} did not finish within "
                             f"{KUSTOMIZE_TIMEOUT}s", file=display) from None
    except OSError as exc:
        raise KustodianError(f"cannot run {args[0]}: {exc.strerror}", file=display,
                             hint="run `make setup`") from None
    return proc


def _fail(proc: subprocess.CompletedProcess, what: str, display: str, scratch: str,
          root: Path) -> KustodianError:
    text = (proc.stderr or proc.stdout).strip().removeprefix("Error: ")
    text = text.replace(scratch + "/", "").replace(scratch, ".").replace(str(root) + "/", "")
    return KustodianError(f"{what} failed: {' '.join(text.split())[:2000]}", file=display)


def _envsubst(text: str, env: dict[str, str]) -> str:
    for key, value in env.items():
        text = text.replace("${" + key + "}", value).replace("$" + key, value)
    return text


def app_env(recipe: Recipe, app_namespace: str | None) -> dict[str, str]:
    """The build environment variables Argo CD substitutes into images and parameters."""
    return {"ARGOCD_APP_NAME": recipe.application,
            "ARGOCD_APP_NAMESPACE": app_namespace or recipe.namespace,
            "ARGOCD_APP_SOURCE_PATH": recipe.path}


def render_kustomize(recipe: Recipe, root: Path, kustomize: str, display: str,
                     app_namespace: str | None = None) -> Rendered:
    """`kustomize build` of the source dir with the Application's kustomize options applied
    as the repo-server applies them; never raises."""
    from kustodian.kustomize.build import render
    from kustodian.kustomize.cache import RenderCache

    if not recipe.edits:
        return render(root / recipe.path, display, kustomize, cache=RenderCache.for_tree(root))
    started = time.perf_counter()
    scratch = tempfile.mkdtemp(prefix="kustodian-app-")
    try:
        copy = os.path.join(scratch, "tree")
        shutil.copytree(os.path.realpath(root), copy, symlinks=True,
                        ignore=lambda _d, names: [n for n in names if n in _SKIP],
                        copy_function=_link_or_copy)
        work = os.path.join(copy, recipe.path)
        _edit(recipe, work, kustomize, display, scratch, root,
              app_env(recipe, app_namespace))
        # the Kustomize layer's runner: offline, bounded, and the render cache (the edited
        # copy is content like any other)
        built = render(Path(work), display, kustomize, cache=RenderCache.for_tree(root))
        if built.error is not None:
            error = built.error
            raise KustodianError(error.message.replace(
                "kustomize build failed", "kustomize build (with the Application's kustomize "
                "options) failed", 1).replace(copy + "/", "").replace(scratch, "."),
                file=display, hint=error.hint)
        return Rendered(root / recipe.path, display, built.text,
                        seconds=time.perf_counter() - started)
    except KustodianError as exc:
        return Rendered(root / recipe.path, display, error=exc,
                        seconds=time.perf_counter() - started)
    except OSError as exc:
        return Rendered(root / recipe.path, display, error=KustodianError(
            f"cannot prepare the render: {exc}", file=display),
            seconds=time.perf_counter() - started)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _edit(recipe: Recipe, work: str, kustomize: str, display: str, scratch: str,
          root: Path, env: dict[str, str]) -> None:
    kname = next((n for n in KUSTOMIZATION_NAMES if os.path.isfile(os.path.join(work, n))),
                 None)
    if kname is None:
        raise KustodianError("the Application sets kustomize options but its source has no "
                             "kustomization file", file=display,
                             hint="Argo CD fails on it too (Missing kustomization file)")
    kfile = os.path.join(work, kname)
    data = Path(kfile).read_bytes()
    os.unlink(kfile)                      # a hard link to the user's file: write a new one
    Path(kfile).write_bytes(data)
    opts = recipe.opts

    def edit(*args: str) -> None:
        proc = _run([kustomize, "edit", *args], work, display)
        if proc.returncode != 0:
            raise _fail(proc, f"kustomize edit {args[0]} {args[1]}", display, scratch, root)

    if opts.get("namePrefix"):
        edit("set", "nameprefix", "--", str(opts["namePrefix"]))
    if opts.get("nameSuffix"):
        edit("set", "namesuffix", "--", str(opts["nameSuffix"]))
    if opts.get("images"):
        edit("set", "image", *(_envsubst(str(i), env) for i in opts["images"]))
    if opts.get("replicas"):
        edit("set", "replicas", *(f"{r.get('name')}={r.get('count')}"
                                  for r in opts["replicas"] if isinstance(r, dict)))
    for key, verb in (("commonLabels", "label"), ("commonAnnotations", "annotation")):
        pairs = opts.get(key)
        if isinstance(pairs, dict) and pairs:
            flags = []
            if opts.get("forceCommonLabels" if verb == "label" else "forceCommonAnnotations"):
                flags.append("--force")
            if verb == "label" and opts.get("labelWithoutSelector"):
                flags.append("--without-selector")
            if verb == "label" and opts.get("labelIncludeTemplates"):
                flags.append("--include-templates")
            values = {k: _envsubst(str(v), env) for k, v in pairs.items()} \
                if verb == "annotation" and opts.get("commonAnnotationsEnvsubst") else pairs
            edit("add", verb, *flags, ",".join(f"{k}:{v}" for k, v in values.items()))
    if opts.get("namespace"):
        edit("set", "namespace", "--", str(opts["namespace"]))
    if opts.get("patches"):
        doc = _load_one(read_text(kfile, display), display) or {}
        if not isinstance(doc, dict):
            raise KustodianError("the kustomization is not a mapping", file=display)
        existing = doc.get("patches") or []
        if not isinstance(existing, list):
            raise KustodianError("the kustomization's patches is not a list", file=display)
        doc["patches"] = [*existing, *json.loads(json.dumps(opts["patches"]))]
        Path(kfile).write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    components = [str(c) for c in opts.get("components") or []]
    if components and opts.get("ignoreMissingComponents"):
        components = [c for c in components if os.path.exists(os.path.join(work, c))]
    if components:
        edit("add", "component", *components)


def render_helm(recipe: Recipe, root: Path, helm: str, display: str,
                kube_version: str | None = None) -> Rendered:
    """`helm template` of a chart in this repository with the Application's values."""
    started = time.perf_counter()
    scratch = tempfile.mkdtemp(prefix="kustodian-helm-")
    try:
        opts = recipe.opts
        env = {k: v for k, v in os.environ.items() if k in ("PATH", "LANG", "LC_ALL")}
        env.update(HOME=scratch, HELM_CACHE_HOME=f"{scratch}/cache",
                   HELM_CONFIG_HOME=f"{scratch}/config", HELM_DATA_HOME=f"{scratch}/data",
                   HTTP_PROXY="http://127.0.0.1:9", HTTPS_PROXY="http://127.0.0.1:9",
                   NO_PROXY="")
        args = [helm, "template", os.path.join(os.path.realpath(root), recipe.path),
                "--name-template", recipe.release]
        if recipe.namespace:
            args += ["--namespace", recipe.namespace]
        version = opts.get("kubeVersion") or kube_version
        if version:
            args += ["--kube-version", str(version)]
        subst = app_env(recipe, None)
        for p in opts.get("parameters") or []:
            if isinstance(p, dict) and p.get("name"):
                flag = "--set-string" if p.get("forceString") else "--set"
                args += [flag, f"{p['name']}={_envsubst(str(p.get('value', '')), subst)}"]
        for p in opts.get("fileParameters") or []:
            if isinstance(p, dict) and p.get("name") and p.get("path"):
                target = (root / recipe.path / str(p["path"])).resolve()
                if not str(target).startswith(os.path.realpath(root) + os.sep):
                    raise KustodianError(f"fileParameters {p['path']} is outside the "
                                         "repository", file=display)
                args += ["--set-file", f"{p['name']}={target}"]
        for file in recipe.value_files:
            args += ["--values", file]
        inline = opts.get("valuesObject")
        if inline is None and opts.get("values"):
            inline = _load_one(str(opts["values"]), display)
        if inline:
            extra = os.path.join(scratch, "values.yaml")
            Path(extra).write_text(yaml.safe_dump(inline), encoding="utf-8")
            args += ["--values", extra]
        for api in opts.get("apiVersions") or []:
            args += ["--api-versions", str(api)]
        if not opts.get("skipCrds"):
            args.append("--include-crds")
        if opts.get("skipSchemaValidation"):
            args.append("--skip-schema-validation")
        if opts.get("skipTests"):
            args.append("--skip-tests")
        proc = _run(args, scratch, display, env)
        if proc.returncode != 0:
            raise _fail(proc, "helm template", display, scratch, root)
        return Rendered(root / recipe.path, display, proc.stdout,
                        seconds=time.perf_counter() - started)
    except (KustodianError, yaml.YAMLError) as exc:
        error = exc if isinstance(exc, KustodianError) else KustodianError(
            f"helm values are not valid YAML: {exc}", file=display)
        return Rendered(root / recipe.path, display, error=error,
                        seconds=time.perf_counter() - started)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _load_one(text: str, display: str) -> object:
    """The first document of `text`, read by the gate's bounded, strict loader (depth and
    aliases checked before the C parser, merge keys refused)."""
    docs = load_documents(text, display)
    return docs[0][1] if docs else None
