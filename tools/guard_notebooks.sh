#!/usr/bin/env bash
# Guard the notebooks in git: git reads notebooks/*.ipynb through nbstripout (a clean filter named in
# .gitattributes), which drops outputs, execution counts, widget state and the kernel's language_info, so a notebook
# run in JupyterLab (autosave writes its outputs into the file) leaves `git status` clean and no output is ever
# committed. The working copy keeps the outputs. Called by tools/setup_env.sh; idempotent.
#   tools/guard_notebooks.sh [ENV_DIR]   ENV_DIR: the environment, relative to the checkout (default .venv)
# The filter is a setting of the repository (.git/config). In a linked worktree (git worktree add), which shares its
# repository's settings with the main checkout, it is left to the main checkout's set-up (or S2M_GUARD_SHARED=1).
set -euo pipefail
cd "$(dirname "$0")/.."
env_dir=${1:-.venv}
git rev-parse --is-inside-work-tree >/dev/null 2>&1 || exit 0  # not a git checkout: nothing to guard
strip="$env_dir/bin/python -m nbstripout --keep-id --extra-keys 'metadata.language_info'"
if [[ "$(git config filter.nbstripout.clean || true)" == "$strip" ]]; then
  exit 0
fi
own=$(cd "$(git rev-parse --git-dir)" && pwd)
common=$(cd "$(git rev-parse --git-common-dir)" && pwd)
if [[ "$own" != "$common" && "${S2M_GUARD_SHARED:-0}" != 1 ]]; then
  echo "setup: notebooks not guarded in git (a linked worktree shares the repository's settings): run tools/guard_notebooks.sh in the main checkout, or here with S2M_GUARD_SHARED=1" >&2
  exit 0
fi
git config filter.nbstripout.clean "$strip"
git config filter.nbstripout.smudge cat
git config filter.nbstripout.required true
git config diff.ipynb.textconv "$strip -t"
echo "setup: notebooks guarded in git (outputs stripped by nbstripout when git reads notebooks/*.ipynb)" >&2
