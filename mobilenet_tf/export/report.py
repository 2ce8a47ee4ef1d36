"""Checks exported artifacts against the Keras model on held-out images and prints the
table: format, size, the task's agreement columns, latency per image at 1 and all threads,
whether the artifact carries the run's label map, and (TFLite) whether the hard activations
became fused kernels and how many XNNPACK partitions the graph runs in."""
import os

import numpy as np

from mobilenet_tf import labels as labels_lib
from mobilenet_tf.export import graph, runners


def size_bytes(path):
    """Bytes of a file, or of every file under a directory (a SavedModel)."""
    if not os.path.isdir(path):
        return os.path.getsize(path)
    return sum(os.path.getsize(os.path.join(root, name))
               for root, _, names in os.walk(path) for name in names)


def reference_outputs(serving, images):
    """The Keras model's outputs for (N, H, W, 3) uint8 images, computed in batches."""
    parts = [serving.reference(images[start:start + runners.BATCH])
             for start in range(0, len(images), runners.BATCH)]
    return {name: np.concatenate([part[name] for part in parts]) for name in parts[0]}


def check(serving, artifacts, images, labels, *, latency_runs=50, threads=None):
    """One row (a dict) per artifact in `artifacts` ({format: path}), in order.

    Each row: format, path, size_bytes, the task hook's compare() metrics, labels_match
    (when serving has labels: whether the artifact carries the same label map), latency_ms
    ({threads: median ms per image}, for TFLite and ONNX; latency_runs=0 skips it) and,
    for TFLite, `graph` (graph.hard_activations), `xnnpack_partitions` and
    `undelegated_ops` (runners.xnnpack_partitions).
    """
    threads = threads or sorted({1, runners.all_threads()})
    reference = reference_outputs(serving, images)
    hook = serving.hook
    # A hook may need the comparison run at some thread count (detection: LiteRT's NMS op).
    check_threads = hook.check_threads
    rows = []
    for fmt, path in artifacts.items():
        runner = runners.load(fmt, path, serving.input_type, threads=check_threads)
        row = {"format": fmt, "path": path, "size_bytes": size_bytes(path),
               **hook.compare(reference, runner(images), labels)}
        if serving.labels:   # the artifact carries the run's label map, unchanged
            row["labels_match"] = labels_lib.embedded(fmt, path) == serving.labels
        if latency_runs and hasattr(runner, "latency_ms"):
            row["latency_ms"] = {str(n): runner.latency_ms(images[0], n, latency_runs)
                                 for n in threads}
        if fmt.startswith("tflite_"):
            with open(path, "rb") as f:
                ignore = hook.tflite_postprocess_ops(serving.model)
                row["graph"] = graph.hard_activations(serving.model, f.read(), ignore)
            row["xnnpack_partitions"], row["undelegated_ops"] = runners.xnnpack_partitions(path)
        rows.append(row)
    return rows


def _size(n):
    return f"{n / 1e6:.2f} MB" if n >= 1e6 else f"{n / 1e3:.0f} KB"


def table(rows, hook):
    """The rows of check() as a Markdown table."""
    threads = sorted({t for row in rows for t in row.get("latency_ms", {})}, key=int)
    header = (["format", "size"] + [title for _, title, _ in hook.TABLE_COLUMNS]
              + [f"ms/image, {t} thread{'s' * (t != '1')}" for t in threads]
              + ["labels", "hard act. fused", "XNNPACK partitions"])
    lines = ["| " + " | ".join(header) + " |",
             "|---|" + "---:|" * (len(header) - 2) + "---|"]
    for row in rows:
        cells = [row["format"], _size(row["size_bytes"])]
        cells += [fmt.format(row[key]) if key in row else "" for key, _, fmt in hook.TABLE_COLUMNS]
        cells += [f"{row['latency_ms'][t]:.2f}" if t in row.get("latency_ms", {}) else "-"
                  for t in threads]
        cells.append({True: "yes", False: "NO"}.get(row.get("labels_match"), "-"))
        cells.append({True: "yes", False: "NO"}.get(row.get("graph", {}).get("fused"), "-"))
        cells.append(runners.describe_partitions(row["xnnpack_partitions"],
                                                 row["undelegated_ops"])
                     if "xnnpack_partitions" in row else "-")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)
