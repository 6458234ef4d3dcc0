#!/usr/bin/env bash
# One GPU session's work, on a machine without network or ../shared: throughput benchmark, paper-width
# training for a fixed time through the notebooks' entry point (python -m s2mlib.run.train under torchrun, one process
# per visible GPU), generation-speed benchmark. Run from the repository root:
#   tools/gpu_session.sh OUT_DIR [TRAIN_MINUTES]
# Needs, beside the tree (both ignored by git, made on the development machine):
#   .whl/      wheels the GPU image lacks: ../shared/tools/device_wheels.sh mrcfile==1.5.4 gemmi==0.7.5 (training
#              with the paper profile's device augmentation needs neither TorchIO nor SimpleITK)
#   .devdata/  curated/ from `tools/train_weights.py --run-dir runs/weights --pack .devdata/curated` (or PACK=DIR), and
#              6gyn.pdb.gz (0093's model)
# Writes to OUT_DIR: gpu.txt, bench_train.log, train.log, history.csv, config.json, the fp16 generator split
# in 15 MB parts (generator.pt.part-aa, -ab: `cat` them; then tools/train_weights.py --no-export scores it here),
# bench_generate.log.
# Environment: NPROC (default: every visible GPU), BATCH (global batch, default 128), LR (default 1e-4),
# AUGMENT (device | torchio, default device), COMPILE=1 (torch.compile), SKIP_GENERATE=1, TRAIN_ARGS (more
# `-p KEY VALUE` pairs for the training), AVERAGE_LAST=K (ship the mean of the last K epochs' generators).
# The default fast weights' recipe at paper width (the B-factor input needs the pack's models and gemmi):
#   TRAIN_ARGS="-p conditioned true -p input_kind bfactor -p native_fraction 0.5" AVERAGE_LAST=5 \
#     tools/gpu_session.sh OUT 8
# Local dry run on the CPU: S2M_SKIP_WHEELS=1 DEVICE=cpu WIDTH=2 NPROC=2 BATCH=4 tools/gpu_session.sh /tmp/out 0.1
set -u
out=${1:?usage: tools/gpu_session.sh OUT_DIR [TRAIN_MINUTES]}
minutes=${2:-5}
device=${DEVICE:-cuda}
width=${WIDTH:-32}
mkdir -p "$out"
if [ -z "${S2M_SKIP_WHEELS:-}" ]; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
    || exit 1
  export PYTHONPATH=/tmp/site:$PWD
fi
export PYTHONUNBUFFERED=1
py=${S2M_PYTHON:-python3}
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv 2>&1 | tee "$out/gpu.txt"
nproc=${NPROC:-$("$py" -c "import torch; print(max(torch.cuda.device_count(), 1))")}
"$py" -c "import torch, gemmi, mrcfile, s2mlib.gan.train; print('torch', torch.__version__)" || exit 1
bars='%|'  # tqdm bar updates (dropped from the logs)
if [ "$device" = cuda ]; then
  timeout 150 "$py" benchmarks/bench_train.py --width "$width" --steps 5 --threads 8 --gpu-only 2>&1 \
    | tee "$out/bench_train.log"
fi
run=/tmp/s2m_run
timeout $(("${minutes%.*}" * 60 + 240)) "$py" -m torch.distributed.run --standalone --nproc-per-node "$nproc" \
  -m s2mlib.run.train --profile paper --curation "${PACK:-.devdata/curated}/curation.csv" -p run_dir "$run" \
  -p device "$device" -p width "$width" -p batch_size "${BATCH:-128}" -p lr "${LR:-1e-4}" -p epochs 1000 \
  -p time_limit_s "$("$py" -c "print($minutes * 60)")" -p checkpoint_every 40 -p max_val_patches 80 \
  -p augment_backend "${AUGMENT:-device}" -p compile "$([ -n "${COMPILE:-}" ] && echo true || echo false)" \
  -p num_workers 4 ${TRAIN_ARGS:-} 2>&1 \
  | tr '\r' '\n' | grep -v -F "$bars" | tee "$out/train.log"
cp "$run/train/history.csv" "$run/train/config.json" "$out/"
if [ -n "${AVERAGE_LAST:-}" ]; then  # the mean of the last K epochs' generators (weights.average_generators)
  "$py" -c "from s2mlib.gan.checkpoints import WeightSnapshots; from s2mlib.gan.weights import average_generators, export_generator
snapshots = list(WeightSnapshots('$run/train/snapshots').files().values())[-$AVERAGE_LAST:]
print('averaging', len(snapshots), 'generators:', snapshots[0], '..', snapshots[-1])
export_generator(average_generators(snapshots), '$run/g16.pt')" >"$out/average.log" 2>&1
  status=$?; cat "$out/average.log"; [ $status -eq 0 ] || exit 1
else
  "$py" -c "from s2mlib.gan.weights import export_generator; export_generator('$run/train/checkpoint.pt', '$run/g16.pt')"
fi
split -b 15M "$run/g16.pt" "$out/generator.pt.part-"
[ -n "${SKIP_GENERATE:-}" ] && exit 0
devices=cuda; [ "$device" = cpu ] && devices=cpu
timeout 200 "$py" benchmarks/bench_generate.py --model .devdata/6gyn.pdb.gz --weights "$run/g16.pt" \
  --devices $devices --threads 8 2>&1 | tee "$out/bench_generate.log"
