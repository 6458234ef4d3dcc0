#!/usr/bin/env bash
# One GPU session's work, on a machine without network or ../shared: throughput benchmark, paper-width
# training for a fixed time, generation-speed benchmark. Run from the repository root:
#   tools/gpu_session.sh OUT_DIR [TRAIN_MINUTES]
# Needs, beside the tree (both ignored by git, made on the development machine):
#   .whl/      wheels the GPU image lacks: ../shared/tools/device_wheels.sh torchio==1.2.1 mrcfile==1.5.4 \
#              gemmi==0.7.5 SimpleITK nibabel deprecated   (nibabel's tests/ may be dropped to fit 64 MiB)
#   .devdata/  curated/ from `tools/train_weights.py --pack .devdata/curated`, and 6gyn.pdb.gz (0093's model)
# Writes to OUT_DIR: gpu.txt, bench_train.log, train.log, history.csv, config.json, the fp16 generator split
# in 15 MB parts (generator.pt.part-aa, -ab: `cat` them), bench_generate.log.
# Environment: BF16=1 trains with bf16 autocast; SKIP_GENERATE=1 skips the generation benchmark.
# Local dry run on the CPU: S2M_SKIP_WHEELS=1 DEVICE=cpu WIDTH=2 tools/gpu_session.sh /tmp/out 0.1
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
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv 2>&1 | tee "$out/gpu.txt"
python3 -c "import torch, torchio, gemmi, mrcfile, s2mlib.train, s2mlib.benchmark; print('torch', torch.__version__)" \
  || exit 1
bars='%|'  # tqdm bar updates (dropped from the logs)
if [ "$device" = cuda ]; then
  timeout 110 python3 benchmarks/bench_train.py --width "$width" --steps 5 --threads 8 --gpu-only 2>&1 \
    | tee "$out/bench_train.log"
fi
timeout $(python3 -c "print(int($minutes * 60 + 150))") python3 tools/train_weights.py \
  --curation .devdata/curated/curation.csv --train-only --device "$device" --width "$width" --batch-size 32 --lr 2e-4 \
  --epochs 1000 --time-limit "$minutes" --checkpoint-every 40 --num-workers 12 --threads 4 --max-val-patches 80 ${BF16:+--bf16} \
  --run-dir /tmp/s2m_run --out /tmp/s2m_run/struc2map_generator.pt 2>&1 | tr '\r' '\n' | grep -v -F "$bars" \
  | tee "$out/train.log"
cp /tmp/s2m_run/history.csv /tmp/s2m_run/config.json "$out/"
split -b 15M /tmp/s2m_run/struc2map_generator.pt "$out/generator.pt.part-"
[ -n "${SKIP_GENERATE:-}" ] && exit 0
devices=cuda; [ "$device" = cpu ] && devices=cpu
timeout 200 python3 benchmarks/bench_generate.py --model .devdata/6gyn.pdb.gz \
  --weights /tmp/s2m_run/struc2map_generator.pt --devices $devices --threads 8 2>&1 | tee "$out/bench_generate.log"
