#!/usr/bin/env bash
# Set up and run the whole test suite: lint, format check, types, tests.
# PostgreSQL runs too when CALLBRIDGE_TEST_DATABASE_URL is set (CI sets it), e.g.
#   CALLBRIDGE_TEST_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/test bash scripts/test.sh
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
echo "== ruff check"; .venv/bin/ruff check .
echo "== ruff format --check"; .venv/bin/ruff format --check .
echo "== mypy"; .venv/bin/mypy
echo "== pytest"; .venv/bin/pytest -p no:cacheprovider "$@"
