#!/usr/bin/env bash
# Every test in one command: lint, the fast tests, and the tests on the real local cluster
# (which the session fixture brings up when it is not already running). Needs root.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
bash hack/venv.sh
.venv/bin/ruff check .
.venv/bin/ruff format --check .
exec .venv/bin/pytest "$@"
