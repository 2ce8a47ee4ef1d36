#!/usr/bin/env bash
# Issues 8 and 22 on the lent GPU machine (JAX with CUDA, PyTorch, torchvision; no TensorFlow,
# no package registry): everything in ONE device call, in priority order, against a clock
# started at the top of this script (BUDGET seconds, 510 by default: the call's limit is 600
# and the session's device time 15 minutes, machine start included). Each part checks the
# time left and is skipped with one logged line when there is not enough; train_throughput.py
# skips single figures the same way (--time_budget, EXPECTED_FIGURE_S) and writes its JSON
# after every figure, and each part runs under `timeout`, so a cut-off run still returns data.
#
# Prepare here, once: the wheels of Keras and of what `import keras` needs beyond the
# device's JAX and torch (checked in a bare Python 3.12 with jax, numpy, absl-py and
# typing_extensions: optree, rich, packaging and h5py are missing there), into .whl/
# (ignored by git, about 10 MB):
#     bash ../shared/tools/device_wheels.sh rich packaging h5py markdown-it-py mdurl pygments
# Smoke-test on a CPU first: every part at batch 2, 64 px, 2 steps, in a venv like the
# device's (torch and torchvision of one build: PyPI's torchvision needs PyPI's CUDA torch,
# which runs on a CPU; jax, keras, absl-py, numpy; no TensorFlow), outside the repository:
#     SMOKE=1 PYTHON=/tmp/torchenv/bin/python bash benchmarks/device_run.sh
# Then the one device call:
#     run(command="bash benchmarks/device_run.sh", carry=[".whl"], timeout_s=600)
#
# Parts, in priority order:
#   a    facts: nvidia-smi, versions, the device-to-device copy bandwidth (device_facts.py)
#   b-d  one process: V2 and V3-Large, batch 256 at 224, mixed_bfloat16: ours with
#        depthwise=conv then depthwise=shifted (models/shifted_depthwise.py), keras.applications
#        (JAX), torchvision eager (bf16 autocast, channels_last), torch.compile; ours' V2 steps
#        (both options) traced and summarised after timing (xla_profile.py: top kernels, the
#        depthwise layers' share, how their convolutions and filter gradients are lowered)
#   e    the bf16 / float16 against float32 loss check: V3-Large, batch 64, 10 steps
#   f    V1 and V3-Small: ours and keras.applications
#   g    SSDLite 320 (batch 64) and LR-ASPP 512x1024 (batch 16): ours and torchvision eager
# What comes back in $OUT (at most 8 files): log.txt (everything), gpu.json (a),
# train_throughput.json, table.md, profile.md and profile.json (c, d), profile_raw.tar (the V2
# steps' HLO and traces, if under 15 MB; `python benchmarks/xla_profile.py DIR` re-reads
# them). Stdout ends with the profiles' summaries and the table. Figures go to
# benchmarks/RESULTS.md, the analysis to NOTES.md.
set -uo pipefail
START=$SECONDS
SMOKE=${SMOKE:-0}
PY=${PYTHON:-python3}
OUT=${OUT:-/tmp/device_run_out}
PROF=${PROF:-/tmp/xla_profiles}
if [ "$SMOKE" = 1 ]; then
  BUDGET=${BUDGET:-3600}
  # Every figure at batch 2, 64 px (LR-ASPP 64x128), 2 steps; the last flag given wins.
  SIZE=(--batch_size=2 --image_size=64 --steps=2 --rounds=1 --warmup=1 --profile_steps=2)
  FACTS=(--gigabytes=0.05 --repeats=3)
else
  BUDGET=${BUDGET:-510}
  SIZE=()
  FACTS=(--gigabytes="${GIGABYTES:-4}")
fi
END=$((START + BUDGET))
RESERVE=15   # seconds kept for the table and the files at the end
NOISE='^WARNING: All log messages\|^I0000\|^W0000\|^WARNING:absl'
mkdir -p "$OUT"
rm -rf "$PROF"
json="$OUT/train_throughput.json"
# The rest is functions, called on the last line with `exit` after them on that line: bash
# has read all of it before running any, so an edit to this file during a run cannot
# derail it.
log() { echo "[$((SECONDS - START)) s] $*" | tee -a "$OUT/log.txt"; }

# bench NAME SECONDS FLAGS...: train_throughput.py with what is left of the budget, if at
# least SECONDS are left; killed by `timeout` at the budget's end (its JSON stays valid).
bench() {
  local name=$1 need=$2 left=$((END - SECONDS - RESERVE))
  shift 2
  if [ "$left" -lt "$need" ]; then
    log "skipped $name: $left s left, needs $need s"; return
  fi
  log "start $name ($left s left)"
  timeout -k 10 "$left" "$PY" benchmarks/train_throughput.py --json_out="$json" \
      --steps=25 --rounds=3 --warmup=3 --time_budget=$((left - 5)) "$@" \
      ${SIZE[@]+"${SIZE[@]}"} 2>&1 | tee -a "$OUT/log.txt" | grep --line-buffered -v "$NOISE"
  log "end $name: exit ${PIPESTATUS[0]}"
}

main() {
if ls .whl/*.whl >/dev/null 2>&1; then
  if "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
      --target /tmp/site .whl/*.whl >>"$OUT/log.txt" 2>&1; then
    export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH}
  elif [ "$SMOKE" = 1 ]; then
    log "wheels not installed (another Python than the device's 3.12?); using $PY's own"
  else
    log "pip install of .whl/ failed"; exit 1
  fi
fi
export KERAS_BACKEND=jax PYTHONUNBUFFERED=1 TF_CPP_MIN_LOG_LEVEL=3
# JAX grows its GPU memory instead of taking 75% at start: torch runs in the same process.
export XLA_PYTHON_CLIENT_PREALLOCATE=false

# a. The machine, the versions, the bandwidth.
log "start facts"
timeout 90 "$PY" benchmarks/device_facts.py --out="$OUT/gpu.json" ${FACTS[@]+"${FACTS[@]}"} 2>&1 \
    | tee -a "$OUT/log.txt" | grep -v "$NOISE" | tail -n 4

# Can Keras run on JAX's GPU here? If JAX has no GPU, only torchvision is measured (ours on
# a CPU at batch 256 would spend the whole budget); if Keras does not import, nothing is.
preflight=$("$PY" -c "import jax, keras; print(jax.default_backend(), jax.__version__,
keras.__version__)" 2>>"$OUT/log.txt" | tail -n 1)
log "preflight (JAX backend, jax, keras): ${preflight:-import failed, see log.txt}"
ours=ours keras_apps=keras_applications
if [ -z "$preflight" ]; then
  tail -n 5 "$OUT/log.txt"
elif [ "$SMOKE" != 1 ] && [ "${preflight%% *}" != gpu ]; then
  log "JAX has no GPU: torchvision peers only"; ours="" keras_apps=""
fi
peers() { local IFS=,; echo "$*"; }   # the non-empty arguments, comma-separated
jax_bench() { if [ -n "$ours" ]; then bench "$@"; else log "skipped $1: no JAX GPU"; fi; }

if [ -n "$preflight" ]; then
  # b-d. The headline, the shifted depthwise option against it, the profile of ours' V2.
  bench "headline + shifted + profile" 60 --precision=mixed_bfloat16 \
      --models="${HEAD_MODELS:-v2,v3_large}" --depthwise=conv,shifted \
      --peers="$(peers $ours $keras_apps torchvision_eager torchvision_compile)" \
      --profile_dir="$PROF" --profile_models=v2
  # e. Mixed precision against float32: 10 steps from the same weights on the same data.
  jax_bench "precision check" 70 --compare_precision --models=v3_large --batch_size=64 \
      --compare_steps=10 --precision=mixed_bfloat16,mixed_float16 \
      $([ "$SMOKE" = 1 ] && echo --compare_steps=2)
  # f. The other two classifiers.
  jax_bench "V1, V3-Small" 50 --precision=mixed_bfloat16 --models=v1,v3_small \
      --peers=ours,keras_applications
  # g. The task models.
  bench "SSDLite, LR-ASPP" 50 --precision=mixed_bfloat16 --models=ssdlite,lraspp \
      --peers="$(peers $ours torchvision_eager)" --steps=10
fi

# What comes back: the table, the profiles (summaries; HLO and traces if small enough).
log "writing the table and the profiles"
"$PY" benchmarks/train_throughput.py --json_out="$json" --table_only >"$OUT/table.md" \
    2>>"$OUT/log.txt"
"$PY" - "$PROF" "$OUT" <<'EOF' 2>&1 | tee -a "$OUT/log.txt"
import glob, json, os, sys, tarfile
sys.path.insert(0, "benchmarks")
import xla_profile
prof, out = sys.argv[1:3]
summaries = {}
for path in sorted(glob.glob(os.path.join(prof, "*", "summary.json"))):
    with open(path) as f:
        summaries[os.path.basename(os.path.dirname(path))] = json.load(f)
if not summaries:
    print("no profiles")
    sys.exit()
with open(os.path.join(out, "profile.json"), "w") as f:
    json.dump(summaries, f, indent=1)
with open(os.path.join(out, "profile.md"), "w") as f:
    f.write("\n\n".join(xla_profile.markdown(s) for s in summaries.values()) + "\n")
# The raw files, as much as fits in one returned file (16 MiB): HLO first, then traces.
raw = [p for d in summaries for name in ("summary.json", "hlo.txt.gz")
       for p in glob.glob(os.path.join(prof, d, name))]
raw += [p for d in summaries for p in glob.glob(os.path.join(prof, d, "trace", "**",
        "*.trace.json.gz"), recursive=True)]
kept, total = [], 0
for path in raw:
    if total + os.path.getsize(path) < 15e6:
        kept.append(path)
        total += os.path.getsize(path)
with tarfile.open(os.path.join(out, "profile_raw.tar"), "w") as tar:
    for path in kept:
        tar.add(path, arcname=os.path.relpath(path, prof))
print(f"profile_raw.tar: {len(kept)} of {len(raw)} files, {total / 1e6:.1f} MB")
for summary in summaries.values():
    print(xla_profile.markdown(summary, top=8, brief=True) + "\n")
EOF
"$PY" -c "import json; c = json.load(open('$OUT/gpu.json'))['copy']; print('copy bandwidth',
c.get('bytes_per_s', 0) / 1e12, 'TB/s (read + write) on', c.get('device'), c.get('error', ''))" \
    2>/dev/null
cat "$OUT/table.md"
log "done"
}

main "$@"; exit $?
