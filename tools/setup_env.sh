#!/usr/bin/env bash
# Create or reuse the project environment from environment.yml (the single source of pins), then install
# s2mlib in editable mode. Prints the path of the environment's python on its last line.
#   conda present and S2M_USE_CONDA=1: a conda env at .conda-env/;  otherwise: a venv at .venv/.
# The environment is rebuilt incrementally whenever environment.yml or pyproject.toml changes (hash stamp).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
stamp_of() { cat environment.yml pyproject.toml | sha256sum | cut -d' ' -f1; }
pip_pins() {  # the '- pkg==ver' lines under '- pip:' in environment.yml
  awk '/^[[:space:]]*- pip:/{p=1;next} p && /^[[:space:]]*- /{sub(/^[[:space:]]*- /,""); print; next} p && /^[^[:space:]#]/{p=0}' environment.yml
}
nodeps_pins() { sed -n 's/^# no-deps:[[:space:]]*//p' environment.yml; }

if [[ "${S2M_USE_CONDA:-0}" == 1 ]] && command -v conda >/dev/null; then
  env_dir="$root/.conda-env"; py="$env_dir/bin/python"
  if [[ ! -x "$py" ]]; then conda env create -q -p "$env_dir" -f environment.yml >&2; fi
else
  env_dir="$root/.venv"; py="$env_dir/bin/python"
  if [[ ! -x "$py" ]]; then
    echo "setup: creating virtual environment $env_dir" >&2
    python3.11 -m venv "$env_dir" 2>/dev/null || python3 -m venv "$env_dir"
  fi
fi
"$py" -c 'import sys; assert sys.version_info[:2] == (3, 11), "struc2map needs Python 3.11, found %s" % sys.version.split()[0]'
want=$(stamp_of)
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
echo "$py"
