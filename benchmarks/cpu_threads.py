"""TensorFlow's CPU thread pools against a small training step: the Shapes V2 recipe's step
(MobileNetV2 0.35, 72x72, batch 64, SGD with Nesterov momentum, jit_compile=False) timed with
TensorFlow's default intra-op and inter-op pools, with one intra-op thread, and with one of
each (TF_NUM_INTRAOP_THREADS / TF_NUM_INTEROP_THREADS, each setting in its own process).

    python benchmarks/cpu_threads.py [--steps=40] [--rounds=3]

Prints, per setting, the median over rounds of the wall and CPU (user + system) seconds per
step. The test suite runs one thread of each per pytest worker (tests/conftest.py). The CPU
seconds of one setting also calibrate the host: on the shared 2-core dev box the same step's
CPU time moved by 15-45% within an evening with nothing else running, and the suite's CPU
time with it (benchmarks/RESULTS.md). Record figures with date, machine and load average.
"""
import argparse
import json
import os
import platform
import statistics
import subprocess
import sys

SETTINGS = {"TensorFlow's defaults": {}, "1 intra-op thread": {"TF_NUM_INTRAOP_THREADS": "1"},
            "1 intra-op, 1 inter-op thread": {"TF_NUM_INTRAOP_THREADS": "1",
                                              "TF_NUM_INTEROP_THREADS": "1"}}

# Runs in a child process, so the thread settings apply before TensorFlow starts.
STEP_SCRIPT = r'''
import json, sys, time
import keras, numpy as np
from mobilenet_tf.models import build
steps = int(sys.argv[1])
model = build("mobilenet_v2", width=0.35, input_shape=(72, 72, 3), num_classes=6,
              zero_init_residual=True)
model.compile(optimizer=keras.optimizers.SGD(0.1, momentum=0.9, nesterov=True),
              loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
              jit_compile=False)
rng = np.random.default_rng(0)
x = rng.uniform(0, 1, (64, 72, 72, 3)).astype("float32")
y = rng.integers(0, 6, 64)
for _ in range(5):   # tracing and warm-up
    model.train_on_batch(x, y)
wall, cpu = time.perf_counter(), time.process_time()
for _ in range(steps):
    model.train_on_batch(x, y)
print("RESULT " + json.dumps({"wall": (time.perf_counter() - wall) / steps,
                              "cpu": (time.process_time() - cpu) / steps}))
'''


def time_setting(variables, steps):
    """{"wall", "cpu"} seconds per step in a fresh process with `variables` set."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": "",
           "PYTHONPATH": os.path.dirname(os.path.dirname(os.path.abspath(__file__)))}
    for name in ("TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS"):
        env.pop(name, None)
    env.update(variables)
    output = subprocess.run([sys.executable, "-c", STEP_SCRIPT, str(steps)], env=env,
                            capture_output=True, text=True, check=True).stdout
    line = next(l for l in output.splitlines() if l.startswith("RESULT "))
    return json.loads(line[len("RESULT "):])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=40, help="timed steps per round")
    parser.add_argument("--rounds", type=int, default=3, help="rounds, settings alternating")
    args = parser.parse_args()
    results = {name: [] for name in SETTINGS}
    for _ in range(args.rounds):
        for name, variables in SETTINGS.items():
            results[name].append(time_setting(variables, args.steps))
    print(f"V2 0.35 training step, 72x72, batch 64; {platform.machine()}, {os.cpu_count()} "
          f"cores; load average {os.getloadavg()[0]:.1f}; median of {args.rounds} rounds of "
          f"{args.steps} steps\n")
    print("| threads | wall s / step | CPU s / step |")
    print("|---|---:|---:|")
    for name, runs in results.items():
        print(f"| {name} | {statistics.median(r['wall'] for r in runs):.3f} | "
              f"{statistics.median(r['cpu'] for r in runs):.3f} |")


if __name__ == "__main__":
    main()
