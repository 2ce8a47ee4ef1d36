"""LiteRT latency of the exported MobileNets: TFLite float32 against full-integer int8, one
thread, ours against keras.applications' equivalent model converted the same way in the
same run (random weights: nothing is downloaded; latency does not depend on the values),
and SSDLite detectors (80 COCO classes) at 320 with the NMS in the graph or LiteRT's
TFLite_Detection_PostProcess op (int8 needs the op; see mobilenet_tf.export.detection).

    python benchmarks/latency.py [--resolution=224] [--runs=100] [--rounds=3]
    python benchmarks/latency.py --models= --detectors=ssdlite_v3_large   # detection only
    python benchmarks/latency.py --int8_hard_swish=kernel    # int8 with the HARD_SWISH op

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
from mobilenet_tf.export import detection, runners  # noqa: E402
from mobilenet_tf.models import build, names  # noqa: E402

RESOLUTION = flags.DEFINE_integer("resolution", 224, "input height and width")
RUNS = flags.DEFINE_integer("runs", 100, "timed invokes per figure, after 5 warm-up invokes")
ROUNDS = flags.DEFINE_integer("rounds", 3, "times every artifact is timed, interleaved")
CALIBRATION = flags.DEFINE_integer("calibration_images", 8, "int8 calibration images")
INT8_HARD_SWISH = flags.DEFINE_enum("int8_hard_swish", "elementwise",
                                    list(export.INT8_HARD_SWISH_FORMS),
                                    "how tflite_int8 writes h-swish (export.py's flag)")
MODELS = flags.DEFINE_list("models", ["v1", "v2", "v3_large", "v3_small"], "which models")
DETECTORS = flags.DEFINE_list("detectors", ["ssdlite_v3_large", "ssdlite_v2"],
                              "which SSDLite models (none: --detectors=)")
DETECTION_RESOLUTION = flags.DEFINE_integer("detection_resolution", 320,
                                            "the detectors' input height and width")
# (label, export format, where the NMS runs): the graph NMS cannot be full-integer quantized.
DETECTION_VARIANTS = (("float32, graph NMS", "tflite_float32", "graph"),
                      ("float32, NMS op", "tflite_float32", "tflite_op"),
                      ("int8, NMS op", "tflite_int8", "tflite_op"))


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
        # keras.applications has no MobileNetV4: ours only.
        "v4_conv_small": ("MobileNet V4 Conv-S", lambda: build("v4_conv_small",
                                                               input_shape=shape), None),
        "v4_hybrid_medium": ("MobileNet V4 Hybrid-M", lambda: build("v4_hybrid_medium",
                                                                    input_shape=shape), None),
    }


def int8_dot_products():
    """The CPU's int8 dot-product instructions (XNNPACK's fast int8 path on x86), from
    /proc/cpuinfo: "avx512_vnni", "avx_vnni", both, or "none"."""
    try:
        with open("/proc/cpuinfo") as f:
            flags_ = next((line.split(":", 1)[1].split() for line in f
                           if line.startswith("flags")), [])
    except OSError:
        return "unknown (no /proc/cpuinfo)"
    found = [name for name in ("avx512_vnni", "avx_vnni") if name in flags_]
    return ", ".join(found) or "none"


def with_partitions(ms, path):
    """"3.05 (1 + SOFTMAX)": milliseconds, then the file's XNNPACK partitions and the ops
    left outside them (runners.xnnpack_partitions)."""
    return f"{ms:.2f} ({runners.describe_partitions(*runners.xnnpack_partitions(path))})"


def header(resolution, runs, rounds):
    """The line above each table: what was timed, and on which CPU."""
    return (f"LiteRT interpreter, 1 thread, batch 1, {resolution}x{resolution}, median of {runs} "
            f"invokes, median over {rounds} rounds (ms; XNNPACK partitions in brackets); "
            f"int8 h-swish: {INT8_HARD_SWISH.value}; CPU int8 dot products: "
            f"{int8_dot_products()}")


def calibration_images(count, resolution):
    """Smooth random images (pixel statistics like photos, unlike white noise)."""
    rng = np.random.default_rng(0)
    coarse = rng.uniform(0, 255, (count, 8, 8, 3)).astype("float32")
    return np.asarray(keras.ops.image.resize(coarse, (resolution, resolution)))


def convert(model, directory, images):
    """{format: path} of the float32 and int8 LiteRT files of `model`."""
    serving = export.Serving(model, export.hook_for("classification"))
    return export.export(serving, ["tflite_float32", "tflite_int8"], directory,
                         representative=lambda: (x[None] for x in images),
                         int8_hard_swish=INT8_HARD_SWISH.value)


def convert_detector(name, resolution, directory, images):
    """{variant label: path} of SSDLite `name` (80 classes, untrained with the focal prior,
    as a focal-loss run starts) in each of DETECTION_VARIANTS."""
    keras.backend.clear_session()
    model = build(name, input_shape=(resolution, resolution, 3),
                  class_prior=DETECTION_PRIOR.value)
    paths = {}
    for label, fmt, postprocess in DETECTION_VARIANTS:
        hook = detection.DetectionExport(detection.anchors_for(model), postprocess=postprocess)
        serving = export.Serving(model, hook)
        paths[label] = export.export(serving, [fmt], os.path.join(directory, postprocess),
                                     representative=lambda: (x[None] for x in images),
                                     int8_hard_swish=INT8_HARD_SWISH.value)[fmt]
    return paths


DETECTION_PRIOR = flags.DEFINE_float(
    "detection_prior", 1e-3, "the untrained detectors' class scores (the focal prior): 1e-3, "
    "under the 0.01 score threshold, gives the NMS few candidates, as a trained model's "
    "scores do; 0.01 puts every anchor on the threshold (an NMS cost no trained model pays)")


def detector_parts(name, resolution, directory):
    """{part: float32 .tflite path} of SSDLite `name`'s parts, timed apart from its
    post-processing: "backbone" (its MobileNet's feature maps, the same layers) and "no NMS"
    (backbone and head: the model's box and class outputs)."""
    import tensorflow as tf
    from tensorflow.python.framework.convert_to_constants import (
        convert_variables_to_constants_v2)

    from mobilenet_tf import models

    row = models.entry(name)
    keras.backend.clear_session()
    shape = (resolution, resolution, 3)
    options = {"reduced_tail": True} if row.backbone.startswith("mobilenet_v3") else {}
    parts = {"backbone": build(row.backbone, input_shape=shape, features_only=True, **options),
             "no NMS": build(name, input_shape=shape, class_prior=DETECTION_PRIOR.value)}
    paths = {}
    for part, model in parts.items():
        paths[part] = os.path.join(directory, f"{part.replace(' ', '_')}.tflite")
        os.makedirs(directory, exist_ok=True)
        # Frozen, as export.py converts: variables become constants and batch norm folds.
        function = convert_variables_to_constants_v2(tf.function(model).get_concrete_function(
            tf.TensorSpec((1, *shape), tf.float32)))
        with open(paths[part], "wb") as f:
            f.write(tf.lite.TFLiteConverter.from_concrete_functions([function], model).convert())
    return paths


def detection_table(names, resolution, runs, rounds):
    """Times every detector variant `rounds` times, interleaved; prints the table."""
    images = calibration_images(CALIBRATION.value, resolution)
    image = images[0].astype("uint8")
    scratch = tempfile.mkdtemp(prefix="latency_det_")
    artifacts = {}
    for name in names:
        for label, path in convert_detector(name, resolution, os.path.join(scratch, name),
                                            images).items():
            artifacts[(name, label)] = path
        for part, path in detector_parts(name, resolution,
                                         os.path.join(scratch, name, "parts")).items():
            artifacts[(name, part)] = path
        print(f"converted {name}", file=sys.stderr, flush=True)
    times = {key: [] for key in artifacts}
    for round_ in range(rounds):
        for key, path in artifacts.items():
            times[key].append(runners.TFLiteRunner(path, 1).latency_ms(image, 1, runs))
        print(f"round {round_ + 1}: " + ", ".join(
            f"{'/'.join(key)} {values[-1]:.2f}" for key, values in times.items()),
            file=sys.stderr, flush=True)
    labels = [label for label, _, _ in DETECTION_VARIANTS]
    print(f"\nSSDLite, 80 classes, class scores at {DETECTION_PRIOR.value:g} before training, "
          f"{header(resolution, runs, rounds)}\n")
    print("| model | " + " | ".join(labels) + " | int8 speed-up (op) | file sizes (MB) |")
    print("|---|" + "---:|" * (len(labels) + 2))
    for name in names:
        ms = {label: float(np.median(times[(name, label)])) for label in labels}
        sizes = " / ".join(f"{os.path.getsize(artifacts[(name, label)]) / 1e6:.1f}"
                           for label in labels)
        print(f"| {name} | " + " | ".join(with_partitions(ms[label], artifacts[(name, label)])
                                         for label in labels)
              + f" | {ms[labels[1]] / ms[labels[2]]:.2f}x | {sizes} |")
    # Where the float32 time goes: the backbone, the head on it, the post-processing.
    print("\nfloat32 by part (ms): backbone | head (no NMS - backbone) | graph NMS | NMS op\n")
    print("| model | backbone | head | graph NMS | NMS op |\n|---|---:|---:|---:|---:|")
    for name in names:
        ms = {key[1]: float(np.median(values)) for key, values in times.items()
              if key[0] == name}
        print(f"| {name} | {with_partitions(ms['backbone'], artifacts[(name, 'backbone')])} | "
              f"{ms['no NMS'] - ms['backbone']:.2f} | "
              f"{ms['float32, graph NMS'] - ms['no NMS']:.2f} | "
              f"{ms['float32, NMS op'] - ms['no NMS']:.2f} |")


def main(argv):
    del argv
    table = pairs(RESOLUTION.value)
    unknown = set(MODELS.value) - set(table)
    if unknown:
        raise app.UsageError(f"unknown models {sorted(unknown)}; choose from {sorted(table)}")
    unknown = set(DETECTORS.value) - set(names("detection"))
    if unknown:
        raise app.UsageError(f"unknown detectors {sorted(unknown)}; choose from "
                             f"{sorted(names('detection'))}")
    if MODELS.value:
        classification_table(table)
    if DETECTORS.value:
        detection_table(DETECTORS.value, DETECTION_RESOLUTION.value, RUNS.value, ROUNDS.value)


def classification_table(table):
    """Converts, times and prints the classification pairs of --models."""
    images = calibration_images(CALIBRATION.value, RESOLUTION.value)
    image = images[0].astype("uint8")
    scratch = tempfile.mkdtemp(prefix="latency_")
    artifacts = {}   # (model, source, format) -> path
    for name in MODELS.value:
        label, ours, theirs = table[name]
        for source, builder in (("ours", ours), ("keras", theirs)):
            if builder is None:
                continue
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
    print(f"\n{header(RESOLUTION.value, RUNS.value, ROUNDS.value)}\n")
    print("| model | ours float32 | ours int8 | int8 speed-up | keras.applications float32 "
          "| keras.applications int8 | our int8 / theirs |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name in MODELS.value:
        ms = {(source, fmt): float(np.median(times[(name, source, f"tflite_{fmt}")]))
              for source in ("ours", "keras") for fmt in ("float32", "int8")
              if (name, source, f"tflite_{fmt}") in times}
        cell = {(source, fmt): with_partitions(ms[source, fmt],
                                               artifacts[(name, source, f"tflite_{fmt}")])
                for source, fmt in ms}
        ratio = (f"{ms['ours', 'int8'] / ms['keras', 'int8']:.2f}"
                 if ("keras", "int8") in ms else "-")
        print(f"| {table[name][0]} | {cell['ours', 'float32']} | {cell['ours', 'int8']} | "
              f"{ms['ours', 'float32'] / ms['ours', 'int8']:.2f}x | "
              f"{cell.get(('keras', 'float32'), '-')} | {cell.get(('keras', 'int8'), '-')} | "
              f"{ratio} |")
    print("\nrounds: " + "; ".join(f"{'/'.join(key)}: " + ", ".join(f"{v:.2f}" for v in values)
                                   for key, values in times.items()))


if __name__ == "__main__":
    app.run(main)
