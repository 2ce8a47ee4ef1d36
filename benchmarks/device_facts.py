"""The facts a GPU benchmark run records first: the GPU as nvidia-smi reports it, the versions
of everything in the figures, and the device-to-device copy bandwidth (torch), as JSON.

    python benchmarks/device_facts.py --out=FILE.json [--gigabytes=4] [--repeats=10]

The bandwidth is bytes read plus bytes written over the time of one `dst.copy_(src)` of
--gigabytes, the median of --repeats timed with CUDA events after two untimed copies: the
"3.0e12 B/s" roofline.py takes as --bandwidth. Runs without TensorFlow and JAX; on a
machine without CUDA it copies in host memory (a smoke run only).
"""
import argparse
import datetime
import json
import platform
import statistics
import subprocess
import sys
import time
from importlib import metadata

SMI_FIELDS = ("name,driver_version,memory.total,clocks.sm,clocks.mem,clocks.max.sm,"
              "clocks.max.mem,power.limit,power.draw,temperature.gpu,pstate,mig.mode.current,"
              "persistence_mode")
PACKAGES = ("keras", "jax", "jaxlib", "jax-cuda13-plugin", "jax-cuda13-pjrt", "jax-cuda12-plugin",
            "jax-cuda12-pjrt", "torch", "torchvision", "numpy", "absl-py", "optree", "tensorflow")


def nvidia_smi():
    """{field: value} of the first GPU, or {"error": ...} where nvidia-smi is missing."""
    try:
        out = subprocess.run(["nvidia-smi", f"--query-gpu={SMI_FIELDS}",
                              "--format=csv,noheader"], capture_output=True, text=True,
                             timeout=30, check=True).stdout.splitlines()[0]
    except (OSError, subprocess.SubprocessError, IndexError) as error:
        return {"error": f"{type(error).__name__}: {error}"[:200]}
    return dict(zip(SMI_FIELDS.split(","), (v.strip() for v in out.split(","))))


def versions():
    found = {}
    for package in PACKAGES:
        try:
            found[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            pass
    return found


def copy_bandwidth(gigabytes, repeats):
    """{bytes_per_s (read + written), seconds (each copy), device, ...} of torch copies."""
    import torch
    cuda = torch.cuda.is_available()
    device = "cuda" if cuda else "cpu"
    size = int(gigabytes * 1e9)
    src = torch.empty(size, dtype=torch.uint8, device=device).fill_(1)
    dst = torch.empty_like(src)
    for _ in range(2):
        dst.copy_(src)
    seconds = []
    for _ in range(repeats):
        if cuda:
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            dst.copy_(src)
            end.record()
            end.synchronize()
            seconds.append(start.elapsed_time(end) / 1e3)
        else:
            began = time.perf_counter()
            dst.copy_(src)
            seconds.append(time.perf_counter() - began)
    median = statistics.median(seconds)
    info = {"bytes_per_s": 2 * size / median, "bytes_copied": size, "repeats": repeats,
            "seconds": seconds, "device": torch.cuda.get_device_name(0) if cuda else "cpu"}
    if cuda:
        info.update(cuda=torch.version.cuda, cudnn=torch.backends.cudnn.version(),
                    capability=".".join(map(str, torch.cuda.get_device_capability(0))),
                    memory_gb=torch.cuda.get_device_properties(0).total_memory / 1e9)
    del src, dst
    return info


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", help="write the JSON here too")
    parser.add_argument("--gigabytes", type=float, default=4.0, help="bytes copied, in GB")
    parser.add_argument("--repeats", type=int, default=10)
    args = parser.parse_args()
    facts = {"date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
             "host": platform.node(), "python": platform.python_version(),
             "nvidia_smi": nvidia_smi(), "versions": versions()}
    try:
        facts["copy"] = copy_bandwidth(args.gigabytes, args.repeats)
    except Exception as error:   # noqa: BLE001 - the rest of the facts still count
        facts["copy"] = {"error": f"{type(error).__name__}: {error}"[:200]}
    text = json.dumps(facts, indent=1)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text + "\n")
    print(text)
    copy = facts["copy"]
    if "bytes_per_s" in copy:
        print(f"copy bandwidth (read + write): {copy['bytes_per_s'] / 1e12:.3f} TB/s on "
              f"{copy['device']}", file=sys.stderr)


if __name__ == "__main__":
    main()
