"""timm's MobileNetV4 weights in our models give timm's logits: the parity check of
mobilenet_tf.models.import_timm, on the reference files benchmarks/timm_reference.py writes
in a throwaway torch + timm environment (random weights, non-trivial batch-norm statistics).

    python benchmarks/timm_parity.py --dir=/tmp/v4_parity

Prints one row per model: the largest logit difference relative to the largest logit, in
float32 (ours and timm's) and in float64 (both computed in float64, which isolates the
mapping from float32 rounding), timm's own float32 error against its float64 logits for
comparison, and whether every image's top-1 class agrees. Results: benchmarks/RESULTS.md.
"""
import argparse
import os
import sys
import time

import keras
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from mobilenet_tf.models import build, import_timm  # noqa: E402
from mobilenet_tf.models.mobilenet_v4 import SPECS  # noqa: E402

RELATIVE_TOLERANCE = 1e-4


def relative(ours, theirs):
    """Largest absolute difference over the largest absolute reference logit."""
    return float(np.abs(ours - theirs).max() / np.abs(theirs).max())


def our_logits(variant, stem, x, dtype):
    """Our model's logits for x with timm's weights, computed in `dtype`."""
    keras.config.set_floatx(dtype)
    keras.config.set_dtype_policy(dtype)
    try:
        model = build(f"mobilenet_v4_{variant}", input_shape=x.shape[1:])
        import_timm(stem + ".safetensors", model)
        return np.asarray(model.predict_on_batch(x.astype(dtype)), "float64")
    finally:
        keras.config.set_floatx("float32")
        keras.config.set_dtype_policy("float32")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--dir", default="/tmp/v4_parity")
    args = parser.parse_args()
    print("| model | resolution | float32 vs timm float32 | float64 vs timm float64 | "
          "timm float32 vs timm float64 | top-1 agrees | CPU s |\n"
          "|---|---:|---:|---:|---:|---|---:|")
    failed = False
    for variant, spec in SPECS.items():
        stem = os.path.join(args.dir, f"mobilenetv4_{variant}")
        if not os.path.exists(stem + ".safetensors"):
            continue
        started = time.process_time()
        x, expected = np.load(stem + "_input.npy"), np.load(stem + "_logits.npy")
        expected64 = np.load(stem + "_logits64.npy")
        logits, logits64 = our_logits(variant, stem, x, "float32"), our_logits(
            variant, stem, x, "float64")
        agrees = bool((logits.argmax(-1) == expected.argmax(-1)).all())
        failed |= relative(logits64, expected64) > RELATIVE_TOLERANCE or not agrees
        print(f"| mobilenet_v4_{variant} | {spec.resolution} | {relative(logits, expected):.2e} "
              f"| {relative(logits64, expected64):.2e} | {relative(expected, expected64):.2e} "
              f"| {agrees} | {time.process_time() - started:.1f} |")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
