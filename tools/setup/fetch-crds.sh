#!/usr/bin/env bash
# Placeholder: replaced by the GitOps work with the pinned CRD fetch (Go module proxy).
set -euo pipefail
mkdir -p "$(dirname "$0")/../../.cache/crds"
