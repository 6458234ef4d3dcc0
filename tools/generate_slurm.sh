#!/usr/bin/env bash
#SBATCH --job-name=struc2map-generate
#SBATCH --array=0-7
#SBATCH --nodes=1
#SBATCH --ntasks-per-node=1
#SBATCH --gpus-per-node=8
#SBATCH --cpus-per-task=32
#SBATCH --time=4:00:00
#SBATCH --output=%x-%A_%a.out
# Many maps on many nodes: a Slurm array of one-node tasks, each running torchrun with one process per GPU; every
# process takes its own rows of the list (s2mlib.gan.batch.current_shard: shard = array task x processes per task +
# rank, of tasks x processes), writes its maps and its summary part into OUT_DIR, and the last task to finish joins
# the parts into OUT_DIR/generated.csv (or run s2m join OUT_DIR afterwards). No scheduler of ours: Slurm places
# the tasks, torchrun the processes.
#   sbatch tools/generate_slurm.sh LIST.csv OUT_DIR [s2m generate options ...]
#   sbatch --array 0-31 --gpus-per-node 4 tools/generate_slurm.sh proteome.csv maps --resolution 4 --precision auto
# Resubmitting the same command resumes: maps already whole in OUT_DIR are skipped (add --overwrite to redo them).
# Keep the array and the GPUs per node the same between submissions (the summary parts are named I-of-N).
# OUT_DIR must be on a file system every node sees. Environment: S2M_PYTHON (default .venv/bin/python).
set -euo pipefail
[ $# -ge 2 ] || { echo "usage: sbatch tools/generate_slurm.sh LIST OUT_DIR [s2m generate options]" >&2; exit 2; }
list=$1 out_dir=$2
shift 2
cd "${SLURM_SUBMIT_DIR:-$PWD}"
py=${S2M_PYTHON:-.venv/bin/python}
gpus=${SLURM_GPUS_ON_NODE:-$( (nvidia-smi -L 2>/dev/null || true) | wc -l)}
gpus=$((gpus > 0 ? gpus : 1))
echo "array task ${SLURM_ARRAY_TASK_ID:-0} of ${SLURM_ARRAY_TASK_COUNT:-1}: $gpus process(es) on $(hostname)"
"$py" -m torch.distributed.run --standalone --nproc-per-node "$gpus" \
  -m s2mlib.cli generate --list "$list" --out-dir "$out_dir" "$@"
