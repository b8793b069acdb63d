#!/usr/bin/env bash
# The benchmark program on a small data set: it runs every workload on every
# store and fails when any store's results differ from memstore's, so it
# cannot rot. It must also build without cgo (SQLite through modernc only).
set -euo pipefail
cd "$(dirname "$0")/../../bench"
CGO_ENABLED=0 go vet .
go run . -quick
