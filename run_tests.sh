#!/usr/bin/env bash
# Run the test suite (creates the environment from environment.yml when it is missing).
# Real data is read from ../shared/data. Extra arguments go to pytest (e.g. ./run_tests.sh -k io).
set -euo pipefail
cd "$(dirname "$0")"
py=$(tools/setup_env.sh | tail -n 1)
exec "$py" -m pytest -q "$@"
