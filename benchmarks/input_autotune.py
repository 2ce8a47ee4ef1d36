"""tf.data autotuning on and off in a short CPU run: `python train.py` with a model's Shapes
recipe and --config.dataset.autotune=on, then =off, each run in its own process; alone, and
two at once as the test suite's two pytest workers run them; with TensorFlow's default
thread pools and with the suite's one intra-op and one inter-op thread.

    python benchmarks/input_autotune.py [--model=mobilenet_v3_small] [--steps=0]
        [--concurrent=1,2] [--threads=default,one] [--rounds=1]

Prints a Markdown table: per setting, the median over rounds of the wall seconds of the
batch of runs, the CPU (user + system) seconds of each run, the share of the machine's
cores left idle while they ran, and each run's final validation top-1 (autotuning changes
how tf.data schedules its work, not what it produces: the top-1 must not move).
mobilenet_tf.data.autotuned turns autotuning off for Shapes on these figures. Record them
with date, machine and load average in benchmarks/RESULTS.md.
"""
import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
THREADS = {"default": {}, "one": {"TF_NUM_INTRAOP_THREADS": "1", "TF_NUM_INTEROP_THREADS": "1"}}


def run_batch(model, steps, autotune, concurrent, threads, root):
    """`concurrent` train.py runs started together -> (wall seconds of the batch, [CPU
    seconds of each run], [final top-1 of each run])."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": ""}
    for name in THREADS["one"]:
        env.pop(name, None)
    env.update(THREADS[threads])
    runs = []
    started = time.perf_counter()
    for index in range(concurrent):
        model_dir = os.path.join(root, f"{autotune}-{threads}-{concurrent}-{index}-{time.time()}")
        command = [sys.executable, "train.py", f"--model={model}", f"--model_dir={model_dir}",
                   f"--config.dataset.autotune={autotune}"]
        command += [f"--steps={steps}"] if steps else []
        # The log to a file, not a pipe: nothing reads a pipe while the runs go on, and a
        # full one would stall a run.
        log = open(f"{model_dir}.log", "w+")
        process = subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.DEVNULL,
                                   stderr=log)
        runs.append((process, model_dir, log))
    cpu, top1 = [], []
    for process, model_dir, log in runs:
        _, status, usage = os.wait4(process.pid, 0)
        process.returncode = os.waitstatus_to_exitcode(status)
        log.seek(0)
        output = log.read()
        log.close()
        if process.returncode:
            sys.exit(f"train.py failed:\n{output[-2000:]}")
        cpu.append(usage.ru_utime + usage.ru_stime)
        with open(os.path.join(model_dir, "final_metrics.json")) as file:
            top1.append(json.load(file)["top1"])
    return time.perf_counter() - started, cpu, top1


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="mobilenet_v3_small")
    parser.add_argument("--steps", type=int, default=0, help="0: the recipe's")
    parser.add_argument("--concurrent", default="1,2")
    parser.add_argument("--threads", default="default,one")
    parser.add_argument("--rounds", type=int, default=1)
    args = parser.parse_args()
    cores = os.cpu_count()
    print(f"{platform.processor() or platform.machine()}, {cores} cores, load average "
          f"{os.getloadavg()[0]:.2f}; {args.model}'s Shapes recipe"
          + (f", {args.steps} steps" if args.steps else ""))
    print("\n| threads | runs at once | autotune | wall s | CPU s a run | cores idle | top-1 |")
    print("|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as root:
        for threads in args.threads.split(","):
            for concurrent in map(int, args.concurrent.split(",")):
                for autotune in ("on", "off"):   # alternating rounds share the host's drift
                    results = [run_batch(args.model, args.steps, autotune, concurrent, threads,
                                         root) for _ in range(args.rounds)]
                    wall = statistics.median(result[0] for result in results)
                    cpu = [statistics.median(result[1][i] for result in results)
                           for i in range(concurrent)]
                    idle = 1 - sum(cpu) / (cores * wall)
                    top1 = sorted({round(t, 4) for result in results for t in result[2]})
                    print(f"| {threads} | {concurrent} | {autotune} | {wall:.1f} | "
                          f"{' / '.join(f'{c:.1f}' for c in cpu)} | {100 * max(idle, 0):.0f}% | "
                          f"{', '.join(f'{t:.4f}' for t in top1)} |", flush=True)


if __name__ == "__main__":
    main()
