#!/usr/bin/env bash
# Run the lint and format checks (ruff), the type check (mypy on s2mlib/), then the test suite and the package's
# doctests (pytest; all configured in pyproject.toml; .pre-commit-config.yaml runs the same checks). Creates the
# environment from environment.yml when it is missing. Real data is read from ../shared/data when it is there, else
# from the tiny set in tests/data. Extra arguments go to pytest (e.g. ./run_tests.sh -k io).
set -euo pipefail
cd "$(dirname "$0")"
py=$(tools/setup_env.sh | tail -n 1)
"$py" -m ruff check --quiet .
"$py" -m ruff format --check --quiet .
"$py" -m mypy
exec "$py" -m pytest -q --durations=15 "$@"
