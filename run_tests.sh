#!/usr/bin/env bash
# Run the lint and format checks (ruff, configured in pyproject.toml) and the test suite (creates the environment
# from environment.yml when it is missing). Real data is read from ../shared/data when it is there, else from the
# tiny set in tests/data. Extra arguments go to pytest (e.g. ./run_tests.sh -k io).
set -euo pipefail
cd "$(dirname "$0")"
py=$(tools/setup_env.sh | tail -n 1)
"$py" -m ruff check --quiet .
"$py" -m ruff format --check --quiet .
exec "$py" -m pytest -q "$@"
