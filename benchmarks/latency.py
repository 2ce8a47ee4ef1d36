"""LiteRT latency of the exported MobileNets: TFLite float32 against full-integer int8, one
thread, ours against keras.applications' equivalent model converted the same way in the
same run (random weights: nothing is downloaded; latency does not depend on the values).

    python benchmarks/latency.py [--resolution=224] [--runs=100] [--rounds=3]

Both models of a pair go through the same export path (uint8 pixels in, normalisation and
softmax inside, batch 1; int8 calibrated on the same images) and run in the LiteRT
interpreter. Each round times every artifact once (median of --runs invokes after warm-up);
the table gives the median over rounds, and the rounds are printed too, since a shared
machine is noisy. Record the result with its date and machine in benchmarks/RESULTS.md.
"""
import os
import sys
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import keras  # noqa: E402
import numpy as np  # noqa: E402
from absl import app, flags  # noqa: E402

from mobilenet_tf import export  # noqa: E402
from mobilenet_tf.export import runners  # noqa: E402
from mobilenet_tf.models import build  # noqa: E402

RESOLUTION = flags.DEFINE_integer("resolution", 224, "input height and width")
RUNS = flags.DEFINE_integer("runs", 100, "timed invokes per figure, after 5 warm-up invokes")
ROUNDS = flags.DEFINE_integer("rounds", 3, "times every artifact is timed, interleaved")
CALIBRATION = flags.DEFINE_integer("calibration_images", 8, "int8 calibration images")
MODELS = flags.DEFINE_list("models", ["v1", "v2", "v3_large", "v3_small"], "which models")


def pairs(resolution):
    """{name: (label, our builder, keras.applications builder)}; logits out of both."""
    shape = (resolution, resolution, 3)
    ka = keras.applications
    common = dict(weights=None, input_shape=shape, classifier_activation=None)
    return {
        "v1": ("MobileNet V1 1.0", lambda: build("v1", input_shape=shape),
               lambda: ka.MobileNet(**common)),
        "v2": ("MobileNet V2 1.0", lambda: build("v2", input_shape=shape),
               lambda: ka.MobileNetV2(**common)),
        "v3_large": ("MobileNet V3 Large 1.0", lambda: build("v3_large", input_shape=shape),
                     lambda: ka.MobileNetV3Large(include_preprocessing=False, **common)),
        "v3_small": ("MobileNet V3 Small 1.0", lambda: build("v3_small", input_shape=shape),
                     lambda: ka.MobileNetV3Small(include_preprocessing=False, **common)),
    }


def calibration_images(count, resolution):
    """Smooth random images (pixel statistics like photos, unlike white noise)."""
    rng = np.random.default_rng(0)
    coarse = rng.uniform(0, 255, (count, 8, 8, 3)).astype("float32")
    return np.asarray(keras.ops.image.resize(coarse, (resolution, resolution)))


def convert(model, directory, images):
    """{format: path} of the float32 and int8 LiteRT files of `model`."""
    serving = export.Serving(model, export.TASK_EXPORTS["classification"])
    return export.export(serving, ["tflite_float32", "tflite_int8"], directory,
                         representative=lambda: (x[None] for x in images))


def main(argv):
    del argv
    images = calibration_images(CALIBRATION.value, RESOLUTION.value)
    image = images[0].astype("uint8")
    table = pairs(RESOLUTION.value)
    unknown = set(MODELS.value) - set(table)
    if unknown:
        raise app.UsageError(f"unknown models {sorted(unknown)}; choose from {sorted(table)}")
    scratch = tempfile.mkdtemp(prefix="latency_")
    artifacts = {}   # (model, source, format) -> path
    for name in MODELS.value:
        label, ours, theirs = table[name]
        for source, builder in (("ours", ours), ("keras", theirs)):
            keras.backend.clear_session()
            directory = os.path.join(scratch, name, source)
            for fmt, path in convert(builder(), directory, images).items():
                artifacts[(name, source, fmt)] = path
            print(f"converted {label} ({source})", file=sys.stderr, flush=True)
    times = {key: [] for key in artifacts}
    for round_ in range(ROUNDS.value):
        for key, path in artifacts.items():
            times[key].append(runners.TFLiteRunner(path).latency_ms(image, 1, RUNS.value))
        print(f"round {round_ + 1}: " + ", ".join(
            f"{'/'.join(key[:2])}/{key[2][7:]} {values[-1]:.2f}" for key, values in times.items()),
            file=sys.stderr, flush=True)
    print(f"\nLiteRT interpreter, 1 thread, batch 1, {RESOLUTION.value}x{RESOLUTION.value}, "
          f"median of {RUNS.value} invokes, median over {ROUNDS.value} rounds (ms)\n")
    print("| model | ours float32 | ours int8 | int8 speed-up | keras.applications float32 "
          "| keras.applications int8 | our int8 / theirs |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name in MODELS.value:
        ms = {(source, fmt): float(np.median(times[(name, source, f"tflite_{fmt}")]))
              for source in ("ours", "keras") for fmt in ("float32", "int8")}
        print(f"| {table[name][0]} | {ms['ours', 'float32']:.2f} | {ms['ours', 'int8']:.2f} | "
              f"{ms['ours', 'float32'] / ms['ours', 'int8']:.2f}x | "
              f"{ms['keras', 'float32']:.2f} | {ms['keras', 'int8']:.2f} | "
              f"{ms['ours', 'int8'] / ms['keras', 'int8']:.2f} |")
    print(f"\nrounds: " + "; ".join(f"{'/'.join(key)}: " + ", ".join(f"{v:.2f}" for v in values)
                                   for key, values in times.items()))


if __name__ == "__main__":
    app.run(main)
