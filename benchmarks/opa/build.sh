#!/usr/bin/env bash
# Builds the `opa` binary from the Go module proxy (needs the Go toolchain) into
# ~/.cache/alignment-flywheel/opa/bin, where benchmarks/oracle.py looks for it (or on PATH).
# Optional: without it the benchmark reports that OPA was not run.
set -euo pipefail
VERSION="${OPA_VERSION:-v1.22.3}"
DEST="${FLYWHEEL_OPA_DIR:-$HOME/.cache/alignment-flywheel/opa}"
if ! command -v go >/dev/null; then
  echo "build.sh: no Go toolchain on PATH; the oracle benchmark will report OPA as not run" >&2
  exit 1
fi
mkdir -p "$DEST/bin"
GOBIN="$DEST/bin" GOFLAGS=-mod=mod go install "github.com/open-policy-agent/opa@$VERSION"
"$DEST/bin/opa" version | head -1
