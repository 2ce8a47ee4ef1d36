"""What tracing with constant weights buys the TFLite export: export.py's conversion
(converters.with_constant_weights: the serving function traced with every variable read as a
constant) against tracing it with its variables and freezing them afterwards
(convert_variables_to_constants_v2, what converters did until 2026-12-06), alternating in one
process, with the same converter settings. Also checks that both give the same outputs.

    python benchmarks/tflite_conversion.py [--rounds=3] [--formats=tflite_float32,...]

Prints the median CPU seconds per conversion and the largest output difference between the
two files on random pixels. Record figures with the date, the machine and the load average
in benchmarks/RESULTS.md.
"""
import argparse
import os
import platform
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from mobilenet_tf.startup import import_tensorflow_quietly  # noqa: E402

import_tensorflow_quietly()

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from tensorflow.python.framework.convert_to_constants import (  # noqa: E402
    convert_variables_to_constants_v2)

from mobilenet_tf.export import converters, runners, serving as serving_lib  # noqa: E402
from mobilenet_tf.models import build  # noqa: E402
from mobilenet_tf.tasks import TASKS  # noqa: E402

CONSTANT = converters.with_constant_weights
# (label, registry name, build options): the suite's Shapes models at their recipes' sizes.
MODELS = (("V3-Small 72 px", "mobilenet_v3_small", {"input_shape": (72, 72, 3)}),
          ("V2 0.35 72 px", "mobilenet_v2", {"input_shape": (72, 72, 3), "width": 0.35}),
          ("V4-Conv-S 0.5 72 px", "mobilenet_v4_conv_small",
           {"input_shape": (72, 72, 3), "width": 0.5}),
          ("V4-Hybrid-M 0.5 96 px", "mobilenet_v4_hybrid_medium",
           {"input_shape": (96, 96, 3), "width": 0.5}))


def frozen_after_tracing(model, function, spec, after=None):
    """The reference: `function` traced with its variables, then frozen."""
    del model
    concrete = function.get_concrete_function()
    frozen = convert_variables_to_constants_v2(concrete)

    def call(images):
        outputs = tf.nest.pack_sequence_as(concrete.structured_outputs, frozen(images))
        return outputs if after is None else after(outputs)

    return tf.function(call, input_signature=[spec], autograph=False).get_concrete_function()


def convert(served, fmt, method, representative):
    """(CPU seconds, flatbuffer bytes) of one conversion with `method`."""
    converters.with_constant_weights = method
    try:
        started = time.process_time()
        content = converters.tflite_bytes(served, fmt, representative=representative)
        return time.process_time() - started, content
    finally:
        converters.with_constant_weights = CONSTANT


def largest_difference(first, second, size):
    """The largest output difference of two .tflite files on 8 random pixel images."""
    pixels = np.random.default_rng(0).integers(0, 256, (8, *size, 3), dtype=np.uint8)
    outputs = []
    with tempfile.TemporaryDirectory() as scratch:
        for index, content in enumerate((first, second)):
            path = os.path.join(scratch, f"{index}.tflite")
            with open(path, "wb") as f:
                f.write(content)
            outputs.append(runners.TFLiteRunner(path, threads=1)(pixels)["probabilities"])
    return float(np.abs(outputs[0] - outputs[1]).max())


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--formats", default="tflite_float32,tflite_float16,tflite_int8")
    arguments = parser.parse_args()
    formats = arguments.formats.split(",")
    hook = TASKS["classification"].export_hook()
    print(f"{platform.processor() or platform.machine()}, TensorFlow {tf.__version__}, "
          f"load average {os.getloadavg()[0]:.1f}; median of {arguments.rounds} rounds, "
          "CPU seconds per conversion")
    print(f"{'model':24s} {'format':16s} {'frozen after':>13s} {'constants':>10s} "
          f"{'saved':>6s} {'max |diff|':>11s}")
    for label, name, options in MODELS:
        model = build(name, num_classes=6, include_preprocessing=True, **options)
        served = serving_lib.Serving(model, hook)
        calibration = np.random.default_rng(1).uniform(
            0, 255, (8, 1, *served.size, 3)).astype(np.float32)
        representative = lambda: iter(calibration)   # noqa: E731
        convert(served, "tflite_float32", CONSTANT, representative)   # one-time set-up
        for fmt in formats:
            times = {frozen_after_tracing: [], CONSTANT: []}
            files = {}
            for _ in range(arguments.rounds):
                for method in times:
                    seconds, files[method] = convert(served, fmt, method, representative)
                    times[method].append(seconds)
            before, after = (statistics.median(times[m]) for m in (frozen_after_tracing,
                                                                    CONSTANT))
            difference = largest_difference(files[frozen_after_tracing], files[CONSTANT],
                                            served.size)
            print(f"{label:24s} {fmt:16s} {before:13.2f} {after:10.2f} "
                  f"{1 - after / before:6.0%} {difference:11.2g}")


if __name__ == "__main__":
    main()
