#!/usr/bin/env bash
# Reproduce the paper: execute notebooks/NN_*.ipynb in order with papermill on a profile from params/.
#   ./run_all.sh                          default profile (quick CPU run)
#   ./run_all.sh --profile paper          full reproduction (downloads, GPU)
#   ./run_all.sh --only 04                one notebook (repeatable)
#   ./run_all.sh -p res_min 3 -p res_max 5   override parameters
#   ./run_all.sh --dry-run                list the downloads and steps
# Offline: S2M_MANIFEST=../shared/data/pairs.tsv ./run_all.sh
# Creates the environment (.venv/, from environment.yml) when it is missing.
set -euo pipefail
cd "$(dirname "$0")"
py=$(tools/setup_env.sh | tail -n 1)
exec "$py" -m s2mlib.run.runner "$@"
