#!/usr/bin/env bash
# Run notebooks in a real browser (Debian's chromium, headless) under jupyter lab and check that every cell runs,
# no widget fails to load and the nglview viewers draw (tools/check_notebooks_browser.py; --help for options).
#   S2M_MANIFEST=../shared/data/pairs.tsv tools/check_notebooks_browser.sh                 # notebook 01
#   S2M_MANIFEST=../shared/data/pairs.tsv tools/check_notebooks_browser.sh --run-dir runs/R 01 06
# Needs: apt-get install chromium chromium-driver. Not part of ./run_tests.sh (CI has no browser).
# Python: $S2M_PYTHON, else the project's environment made by tools/setup_env.sh (checked, never installed here).
set -euo pipefail
cd "$(dirname "$0")/.."
py=${S2M_PYTHON:-$(tools/setup_env.sh --check)} || exit 2
exec "$py" tools/check_notebooks_browser.py "$@"
