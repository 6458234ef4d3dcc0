#!/usr/bin/env bash
#SBATCH --job-name=struc2map-train
#SBATCH --nodes=2
#SBATCH --ntasks-per-node=1
#SBATCH --gpus-per-node=8
#SBATCH --cpus-per-task=64
#SBATCH --time=48:00:00
#SBATCH --output=%x-%j.out
# Multi-node data-parallel training of a profile (python -m s2mlib.run.train, the notebooks' entry point) on Slurm:
# one torchrun per node (srun, one task per node), one process per GPU, c10d rendezvous on the job's first node.
#   sbatch tools/train_slurm.sh [PROFILE] [-p KEY VALUE ...]
#   sbatch --nodes 8 --gpus-per-node 4 tools/train_slurm.sh paper -p epochs 150
# The run folder (the profile's run_dir, with notebook 01's curation table and curated maps) must be on a file
# system every node sees: rank 0 writes the checkpoint there and every process reads it to resume. Resubmitting
# the same command resumes from the last checkpoint, on any number of nodes (the global batch_size stays).
# Environment: S2M_PYTHON (default .venv/bin/python), S2M_PORT (rendezvous port, default 29500).
set -euo pipefail
profile=${1:-paper}
[ $# -gt 0 ] && shift
cd "${SLURM_SUBMIT_DIR:-$PWD}"
py=${S2M_PYTHON:-.venv/bin/python}
head_node=$(scontrol show hostnames "$SLURM_JOB_NODELIST" | head -n 1)
gpus=${SLURM_GPUS_ON_NODE:-$(nvidia-smi -L | wc -l)}
echo "profile $profile: $SLURM_NNODES node(s) x $gpus GPU(s), rendezvous $head_node:${S2M_PORT:-29500}"
srun --kill-on-bad-exit=1 "$py" -m torch.distributed.run --nnodes "$SLURM_NNODES" --nproc-per-node "$gpus" \
  --rdzv-backend c10d --rdzv-endpoint "$head_node:${S2M_PORT:-29500}" --rdzv-id "$SLURM_JOB_ID" \
  -m s2mlib.run.train --profile "$profile" "$@"
