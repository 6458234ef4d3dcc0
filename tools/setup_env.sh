#!/usr/bin/env bash
# Create or reuse the project environment from environment.yml (the single source of pins), then install
# s2mlib in editable mode. Prints the path of the environment's python on its last line.
#   conda present and S2M_USE_CONDA=1: a conda env at .conda-env/;  otherwise: a venv at .venv/.
# The environment is rebuilt incrementally whenever environment.yml or pyproject.toml changes (hash stamp).
# It also guards the notebooks in git (tools/guard_notebooks.sh: outputs stripped on commit) and makes JupyterLab
# save widget state with a notebook.
#   tools/setup_env.sh --check   print the python of an environment that exists and is up to date, else say how
#                                to make it (one line, exit 1); installs nothing (tools/check_notebooks_browser.sh)
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
stamp_of() { cat environment.yml pyproject.toml | sha256sum | cut -d' ' -f1; }
pip_pins() {  # the '- pkg==ver' lines under '- pip:' in environment.yml
  awk '/^[[:space:]]*- pip:/{p=1;next} p && /^[[:space:]]*- /{sub(/^[[:space:]]*- /,""); print; next} p && /^[^[:space:]#]/{p=0}' environment.yml
}
nodeps_pins() { sed -n 's/^# no-deps:[[:space:]]*//p' environment.yml; }

if [[ "${S2M_USE_CONDA:-0}" == 1 ]] && command -v conda >/dev/null; then
  env_dir="$root/.conda-env"
else
  env_dir="$root/.venv"
fi
py="$env_dir/bin/python"
want=$(stamp_of)
if [[ "${1:-}" == "--check" ]]; then
  if [[ ! -x "$py" ]]; then
    echo "setup: no environment at $env_dir: make it with tools/setup_env.sh (or set S2M_PYTHON to a python with the project's packages)" >&2
    exit 1
  fi
  if [[ "$(cat "$env_dir/.s2m-stamp" 2>/dev/null)" != "$want" ]]; then
    echo "setup: the environment at $env_dir is older than environment.yml / pyproject.toml: update it with tools/setup_env.sh" >&2
    exit 1
  fi
  echo "$py"
  exit 0
fi

if [[ ! -x "$py" ]]; then
  if [[ "$env_dir" == "$root/.conda-env" ]]; then
    conda env create -q -p "$env_dir" -f environment.yml >&2
  else
    echo "setup: creating virtual environment $env_dir" >&2
    python3.11 -m venv "$env_dir" 2>/dev/null || python3 -m venv "$env_dir"
  fi
fi
"$py" -c 'import sys; assert sys.version_info[:2] == (3, 11), "struc2map needs Python 3.11, found %s" % sys.version.split()[0]'
if [[ "$(cat "$env_dir/.s2m-stamp" 2>/dev/null)" != "$want" ]]; then
  echo "setup: installing pinned packages into $env_dir (first run takes a few minutes)" >&2
  "$py" -m pip install -q --upgrade pip >&2
  # shellcheck disable=SC2046
  "$py" -m pip install -q $(pip_pins) >&2
  # shellcheck disable=SC2046
  "$py" -m pip install -q --no-deps $(nodeps_pins) >&2
  "$py" -m pip install -q --no-deps --no-build-isolation -e . >&2 2>/dev/null || "$py" -m pip install -q --no-deps -e . >&2
  "$py" -m ipykernel install --sys-prefix --name python3 >/dev/null 2>&1 || true
  echo "$want" > "$env_dir/.s2m-stamp"
fi
# JupyterLab saves the state of the widgets (the nglview views) with a notebook, so a notebook reopened later shows
# them instead of "Error displaying widget: model not found" (the settings that ship with this environment).
settings="$env_dir/share/jupyter/lab/settings"
mkdir -p "$settings"
overrides='{"@jupyter-widgets/jupyterlab-manager:plugin": {"saveState": true}}'
[[ "$(cat "$settings/overrides.json" 2>/dev/null)" == "$overrides" ]] || echo "$overrides" > "$settings/overrides.json"
# ... and after saving a notebook whose only changes are outputs, git status stays clean (s2mlib.run.jupyter_git): the
# server's own configuration file (the .d/ folder beside it only enables extensions), other settings there kept.
"$py" - "$env_dir/etc/jupyter/jupyter_server_config.json" <<'PY'
import json, sys
from pathlib import Path
path = Path(sys.argv[1])
config = json.loads(path.read_text()) if path.is_file() else {}
hook = "s2mlib.run.jupyter_git.refresh_after_save"
if config.get("ContentsManager", {}).get("post_save_hook") != hook:
    config.setdefault("ContentsManager", {})["post_save_hook"] = hook
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(config, indent=2) + "\n")
PY
tools/guard_notebooks.sh "${env_dir#"$root"/}" >&2 || true
echo "$py"
