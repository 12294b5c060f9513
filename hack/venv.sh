#!/usr/bin/env bash
# Creates (or refreshes) the project's virtualenv in .venv with every extra installed.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
py="${PYTHON:-python3.11}"
command -v "$py" >/dev/null || py=python3
if [ ! -x "$repo/.venv/bin/python" ]; then
  "$py" -m venv "$repo/.venv"
fi
stamp="$repo/.venv/.installed-$(sha256sum "$repo/pyproject.toml" | cut -c1-16)"
if [ ! -f "$stamp" ]; then
  "$repo/.venv/bin/pip" install --quiet --disable-pip-version-check -e "$repo[operator,cli,dev]"
  touch "$stamp"
fi
