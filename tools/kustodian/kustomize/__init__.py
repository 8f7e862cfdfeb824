"""The Kustomize layer: everything the gate knows about kustomize, in one place.

- `files`: the kustomization file names and how one is found in a dir;
- `model`: a parsed kustomization (kind, every reference it makes, positions);
- `build`: the single runner of the pinned `kustomize build` (direct or with origin
  annotations, in a thread pool, prefetched by PR mode).

Discovery, PR mode, the source map, diagnosis and release all read kustomizations here.
"""

from kustodian.kustomize.files import NAMES, is_kustomization_path, kustomization_file
from kustodian.kustomize.model import Kustomization, Reference, is_remote, load, parse, resolve

__all__ = ["NAMES", "Kustomization", "Reference", "is_kustomization_path", "is_remote",
           "kustomization_file", "load", "parse", "resolve"]
