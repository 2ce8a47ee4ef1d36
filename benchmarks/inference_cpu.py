"""Forward-pass throughput on this machine's CPU: our builders against keras.applications'
equivalent models, in the same process, same batch, same TensorFlow function settings.

    python benchmarks/inference_cpu.py [--batch=32] [--resolution=224] [--steps=10]

Prints a Markdown table (images/s, and ours / keras.applications). Record the result with
its date and machine in benchmarks/RESULTS.md.
"""

import os
import platform
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from absl import app, flags  # noqa: E402

from mobilenet_tf.models import build  # noqa: E402

BATCH = flags.DEFINE_integer("batch", 32, "images per forward pass")
RESOLUTION = flags.DEFINE_integer("resolution", 224, "input height and width")
STEPS = flags.DEFINE_integer("steps", 10, "timed forward passes after 3 warm-up passes")


def pairs(resolution):
    """(label, our builder, keras.applications builder) for the four MobileNets."""
    shape = (resolution, resolution, 3)
    ka = keras.applications
    return [
        ("MobileNet V1 1.0", lambda: build("v1", input_shape=shape),
         lambda: ka.MobileNet(weights=None, input_shape=shape)),
        ("MobileNet V2 1.0", lambda: build("v2", input_shape=shape),
         lambda: ka.MobileNetV2(weights=None, input_shape=shape)),
        ("MobileNet V3 Large 1.0", lambda: build("v3_large", input_shape=shape),
         lambda: ka.MobileNetV3Large(weights=None, input_shape=shape,
                                     include_preprocessing=False)),
        ("MobileNet V3 Small 1.0", lambda: build("v3_small", input_shape=shape),
         lambda: ka.MobileNetV3Small(weights=None, input_shape=shape,
                                     include_preprocessing=False)),
    ]


def images_per_second(model, batch, steps):
    """Median-of-steps throughput of a traced, non-XLA inference call."""
    forward = tf.function(lambda x: model(x, training=False), jit_compile=False)
    x = tf.constant(np.random.default_rng(0).uniform(-1, 1, (batch, *model.input_shape[1:])),
                    tf.float32)
    for _ in range(3):
        forward(x).numpy()
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        forward(x).numpy()   # .numpy() waits for the result
        times.append(time.perf_counter() - start)
    return batch / float(np.median(times))


def main(argv):
    del argv
    batch, steps = BATCH.value, STEPS.value
    print(f"CPU forward throughput, batch {batch}, {RESOLUTION.value}x{RESOLUTION.value}, "
          f"float32, TensorFlow {tf.__version__}, Keras {keras.__version__}, "
          f"{os.cpu_count()} cores ({platform.processor() or platform.machine()})\n")
    print("| model | ours (img/s) | keras.applications (img/s) | ours / keras |")
    print("|---|---:|---:|---:|")
    for label, ours, theirs in pairs(RESOLUTION.value):
        a = images_per_second(ours(), batch, steps)
        keras.backend.clear_session()
        b = images_per_second(theirs(), batch, steps)
        keras.backend.clear_session()
        print(f"| {label} | {a:.1f} | {b:.1f} | {a / b:.2f} |", flush=True)


if __name__ == "__main__":
    app.run(main)
