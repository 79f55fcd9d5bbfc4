#!/usr/bin/env bash
# Builds OPA from the Go module proxy (needs the Go toolchain) into
# ~/.cache/alignment-flywheel/opa/bin (FLYWHEEL_OPA_DIR), where benchmarks/oracle.py looks:
#   opa         the `opa` command (its `opa bench` is the fallback measurement)
#   opa-driver  benchmarks/opa/driver: a prepared query, each proposal's JSON decoded and
#               evaluated as an embedding service would, one decision at a time
# Optional: without them the benchmark reports that OPA was not run.
set -euo pipefail
VERSION="${OPA_VERSION:-v1.22.3}"
DEST="${FLYWHEEL_OPA_DIR:-$HOME/.cache/alignment-flywheel/opa}"
HERE="$(cd "$(dirname "$0")" && pwd)"
if ! command -v go >/dev/null; then
  echo "build.sh: no Go toolchain on PATH; the oracle benchmark will report OPA as not run" >&2
  exit 1
fi
mkdir -p "$DEST/bin"
GOBIN="$DEST/bin" GOFLAGS=-mod=mod go install "github.com/open-policy-agent/opa@$VERSION"
(cd "$HERE/driver" && GOFLAGS=-mod=mod go build -o "$DEST/bin/opa-driver" .)
"$DEST/bin/opa" version | head -1
