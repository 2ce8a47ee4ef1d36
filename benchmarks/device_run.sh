#!/usr/bin/env bash
# Issue 8 on the lent GPU machine (JAX with CUDA, PyTorch, torchvision; no TensorFlow, no
# package registry): one device call per stage, each kept under ~8 minutes by --time_budget.
#
# Prepare here, once (downloads the keras, namex and optree wheels into .whl/, ignored by git):
#     bash /work/shared/tools/device_wheels.sh
# Then, with the device tool, one call per stage, in this order (the session has 30 minutes of
# device time; a call that follows within 30 s finds the machine warm):
#     run(command="bash benchmarks/device_run.sh main", carry=[".whl"], timeout_s=600)
#     run(command="bash benchmarks/device_run.sh tasks", carry=[".whl"], timeout_s=600)
#     run(command="bash benchmarks/device_run.sh experiments", carry=[".whl"], timeout_s=600)
# $OUT is emptied before each call: every call's JSON and table come back with its reply.
# Everything lands in $OUT (train_throughput.json, log.txt, table.md, gpu.txt); the table is
# printed last. Record the figures in benchmarks/RESULTS.md, the analysis in NOTES.md.
#
# main:        bf16, V2 and V3-Large against every peer (the reference figures); the
#              bf16 / float16 against float32 loss comparison; V1 and V3-Small.
# tasks:       SSDLite and LR-ASPP against torchvision (eager, then compiled); float32.
# experiments: NOTES.md's planned changes, each against the main run's baseline: steps per
#              execution, no donation, uint8 and host input, batch 512, float16, float32.
set -uo pipefail
stage=${1:-main}
OUT=${OUT:-/tmp/train_throughput_out}
mkdir -p "$OUT"
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/site .whl/*.whl || exit 1
export PYTHONPATH=/tmp/site KERAS_BACKEND=jax PYTHONUNBUFFERED=1
# JAX grows its GPU memory instead of taking 75% at start: torch runs in the same process.
export XLA_PYTHON_CLIENT_PREALLOCATE=false
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.mem,temperature.gpu,power.draw \
    --format=csv | tee -a "$OUT/gpu.txt"
python3 -c "import jax, keras, torch, torchvision; print('jax', jax.__version__, jax.devices(),
'keras', keras.__version__, keras.backend.backend(), 'torch', torch.__version__,
torch.cuda.get_device_name(0), 'torchvision', torchvision.__version__)" 2>&1 \
    | tee -a "$OUT/log.txt" || exit 1

json="$OUT/train_throughput.json"
end=$((SECONDS + 450))   # stop starting new figures after 7.5 minutes
bench() {   # train_throughput.py with what is left of the stage's time
    local left=$((end - SECONDS))
    if [ "$left" -le 15 ]; then echo "skipped (time): $*" | tee -a "$OUT/log.txt"; return; fi
    python3 benchmarks/train_throughput.py --json_out="$json" --steps=30 --rounds=3 \
        --time_budget="$left" "$@" 2>&1 | grep -v "^WARNING\|^I0000\|^W0000" \
        | tee -a "$OUT/log.txt"
}

case "$stage" in
  main)
    # 1. The headline: bf16, batch 256 at 224, ours vs keras.applications vs torchvision.
    bench --precision=mixed_bfloat16 --models=v2,v3_large \
        --peers=ours,keras_applications,torchvision_eager,torchvision_compile
    # 2. Mixed precision against float32: 10 steps from the same weights on the same data.
    bench --compare_precision --models=v3_large --batch_size=64 --compare_steps=10 \
        --precision=mixed_bfloat16,mixed_float16
    # 3. The other two classifiers.
    bench --precision=mixed_bfloat16 --models=v1,v3_small \
        --peers=ours,keras_applications,torchvision_eager
    ;;
  tasks)
    # SSDLite 320 (batch 64) and LR-ASPP 512x1024 (batch 16); float32 for V2 and V3-Large.
    bench --precision=mixed_bfloat16 --models=ssdlite,lraspp --peers=ours,torchvision_eager
    bench --precision=float32 --models=v2,v3_large --peers=ours,keras_applications,torchvision_eager
    bench --precision=mixed_bfloat16 --models=ssdlite,lraspp --peers=torchvision_compile
    ;;
  experiments)
    # Each line is one row of NOTES.md's "Planned experiments"; ours under JAX, bf16, each
    # against the baseline measured first in the same call (the table's ratio column).
    bench --precision=mixed_bfloat16 --models=v2,v3_large --peers=ours
    bench --precision=mixed_bfloat16 --models=v2,v3_large --peers=ours --steps_per_execution=4
    bench --precision=mixed_bfloat16 --models=v2,v3_large --peers=ours --nodonate
    bench --precision=mixed_bfloat16 --models=v2,v3_large --peers=ours --input=uint8 --host_input
    bench --precision=mixed_bfloat16 --models=v2,v3_large --peers=ours --input=float32 --host_input
    bench --precision=mixed_bfloat16 --models=v2,v3_large --peers=ours,keras_applications \
        --batch_size=512
    bench --precision=mixed_float16 --models=v2,v3_large --peers=ours,torchvision_eager
    bench --precision=float32 --models=v1,v3_small,ssdlite,lraspp --peers=ours,torchvision_eager
    ;;
  *) echo "stage: main, tasks or experiments" >&2; exit 2 ;;
esac
python3 benchmarks/train_throughput.py --json_out="$json" --table_only | tee "$OUT/table.md"
