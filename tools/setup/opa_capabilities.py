"""Write the OPA capabilities file conftest runs with: the built-ins of the OPA version
conftest was built with, reduced by the gate's rule (kustodian.capabilities).

    python3 opa_capabilities.py <opa capabilities/vX.json> <output>
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))   # tools/: the kustodian package

from kustodian.capabilities import restrict  # standard library only


def main(source: str, target: str) -> None:
    with open(source, encoding="utf-8") as handle:
        data = restrict(json.load(handle))
    with open(target, "w", encoding="utf-8") as handle:
        json.dump(data, handle, indent=1)
        handle.write("\n")


if __name__ == "__main__":
    main(*sys.argv[1:3])
