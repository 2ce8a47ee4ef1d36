"""LiteRT latency of the exported MobileNets: TFLite float32 against full-integer int8, one
thread, ours against keras.applications' equivalent model converted the same way in the
same run (random weights: nothing is downloaded; latency does not depend on the values);
SSDLite detectors (80 COCO classes) at 320 with the NMS in the graph or LiteRT's
TFLite_Detection_PostProcess op (int8 needs the op; see mobilenet_tf.export.detection);
LR-ASPP segmenters (19 classes) at 512x1024, with export.py's default outputs (class map,
coarse probabilities) and with full-resolution probabilities; each head-on-backbone model's
float32 time split into backbone, head and post-processing; and each detector's and
segmenter's time against what its multiply-adds predict from its backbone's classifier
timed in the same run.

    python benchmarks/latency.py [--resolution=224] [--runs=100] [--rounds=3]   # everything
    python benchmarks/latency.py --models= --detectors=ssdlite_v3_large --segmenters=
    python benchmarks/latency.py --int8_hard_swish=kernel    # int8 with the HARD_SWISH op

Both models of a pair go through the same export path (uint8 pixels in, normalisation and
softmax inside, batch 1; int8 calibrated on the same images) and run in the LiteRT
interpreter. Each round times every artifact once (median of --runs invokes after warm-up);
the table gives the median over rounds, and the rounds are printed too, since a shared
machine is noisy. Record the result with its date and machine in benchmarks/RESULTS.md.
"""
import contextlib
import os
import sys
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import keras  # noqa: E402
import numpy as np  # noqa: E402
from absl import app, flags  # noqa: E402

from mobilenet_tf import export, models  # noqa: E402
from mobilenet_tf.export import (converters, detection, graph, runners,  # noqa: E402
                                 segmentation)
from mobilenet_tf.models import build, names  # noqa: E402

RESOLUTION = flags.DEFINE_integer("resolution", 224, "input height and width")
RUNS = flags.DEFINE_integer("runs", 100, "timed invokes per figure, after 5 warm-up invokes")
ROUNDS = flags.DEFINE_integer("rounds", 3, "times every artifact is timed, interleaved")
CALIBRATION = flags.DEFINE_integer("calibration_images", 8, "int8 calibration images")
INT8_HARD_SWISH = flags.DEFINE_enum("int8_hard_swish", "elementwise",
                                    list(export.INT8_HARD_SWISH_FORMS),
                                    "how tflite_int8 writes h-swish (export.py's flag)")
MODELS = flags.DEFINE_list("models", ["v1", "v2", "v3_large", "v3_small"], "which models")
DETECTORS = flags.DEFINE_list("detectors", ["ssdlite_v3_large", "ssdlite_v3_small", "ssdlite_v2"],
                              "which SSDLite models (none: --detectors=)")
DETECTION_RESOLUTION = flags.DEFINE_integer("detection_resolution", 320,
                                            "the detectors' input height and width")
SEGMENTERS = flags.DEFINE_list("segmenters", ["lraspp_v3_large", "lraspp_v3_small"],
                               "which segmentation models (none: --segmenters=)")
SEGMENTATION_SIZE = flags.DEFINE_list("segmentation_size", ["512", "1024"],
                                      "the segmenters' input height,width (512,1024: half "
                                      "a Cityscapes frame, the V3 paper's half-resolution "
                                      "setting)")
# export.py --segmentation_probabilities: the default first.
SEGMENTATION_PROBABILITIES = ("coarse", "full")
# (label, export format, where the NMS runs): the graph NMS cannot be full-integer quantized.
DETECTION_VARIANTS = (("float32, graph NMS", "tflite_float32", "graph"),
                      ("float32, NMS op", "tflite_float32", "tflite_op"),
                      ("int8, NMS op", "tflite_int8", "tflite_op"))
FORMATS = ("tflite_float32", "tflite_int8")
HARD_SWISH_COST = flags.DEFINE_bool(
    "hard_swish_cost", True, "also time each of --models that has h-swish with ReLU in its "
    "place (not the same function: timing only), to show what h-swish costs in each format")


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


def header(size, runs, rounds):
    """The line above each table: what was timed, and on which CPU."""
    return (f"LiteRT interpreter, 1 thread, batch 1, {size}, median of {runs} invokes, median "
            f"over {rounds} rounds (ms; XNNPACK partitions in brackets); int8 h-swish: "
            f"{INT8_HARD_SWISH.value}; CPU int8 dot products: {int8_dot_products()}")


def calibration_images(count, height, width=None):
    """Smooth random images (pixel statistics like photos, unlike white noise)."""
    rng = np.random.default_rng(0)
    coarse = rng.uniform(0, 255, (count, 8, 8, 3)).astype("float32")
    return np.asarray(keras.ops.image.resize(coarse, (height, width or height)))


def convert(serving, directory, images, formats=FORMATS):
    """{format: path} of `serving` exported in `formats` (int8 calibrated on `images`)."""
    return export.export(serving, list(formats), directory,
                         representative=lambda: (x[None] for x in images),
                         int8_hard_swish=INT8_HARD_SWISH.value)


def time_all(artifacts, image, runs, rounds):
    """{key: [ms per round]} of every .tflite in `artifacts` ({key: path}) at 1 thread, each
    round timing every file once (interleaved, so a busy spell hits them alike)."""
    times = {key: [] for key in artifacts}
    for round_ in range(rounds):
        for key, path in artifacts.items():
            times[key].append(runners.TFLiteRunner(path, 1).latency_ms(image, 1, runs))
        print(f"round {round_ + 1}: " + ", ".join(
            f"{'/'.join(key)} {values[-1]:.2f}" for key, values in times.items()),
            file=sys.stderr, flush=True)
    return times


def print_rounds(times):
    """Every round's figure, below a table: a shared machine is noisy."""
    print("\nrounds: " + "; ".join(f"{'/'.join(key)}: " + ", ".join(f"{v:.2f}" for v in values)
                                   for key, values in times.items()))


DETECTION_PRIOR = flags.DEFINE_float(
    "detection_prior", 1e-3, "the untrained detectors' class scores (the focal prior): 1e-3, "
    "under the 0.01 score threshold, gives the NMS few candidates, as a trained model's "
    "scores do; 0.01 puts every anchor on the threshold (an NMS cost no trained model pays)")


def backbone_outputs(model, head_prefixes):
    """The tensors of a flat head-on-backbone `model` (SSDLite, LR-ASPP: one graph) that its
    head layers (names starting with `head_prefixes`, the registry row's new_layers) read
    from the backbone: the backbone's feature maps, as the model computes them."""
    found = {}
    for layer in model.layers:
        if not layer.name.startswith(head_prefixes):
            continue
        for node in layer._inbound_nodes:
            for tensor in node.input_tensors:
                producer = tensor._keras_history.operation
                if not (producer.name.startswith(head_prefixes)
                        or isinstance(producer, keras.layers.InputLayer)):
                    found[id(tensor)] = tensor
    return list(found.values())


def network_parts(name, model, directory):
    """{part: float32 .tflite path} of head-on-backbone `model` (registry row `name`), timed
    apart from its post-processing: "backbone" (the layers up to the feature maps the head
    reads) and "network" (backbone and head: `model`'s outputs, before the NMS; segmenters pass
    the network up to the logits before the final upsample)."""
    import tensorflow as tf

    head = tuple(models.entry(name).new_layers)
    parts = {"backbone": keras.Model(model.inputs, backbone_outputs(model, head)),
             "network": model}
    paths = {}
    os.makedirs(directory, exist_ok=True)
    for part, submodel in parts.items():
        paths[part] = os.path.join(directory, f"{part}.tflite")
        # Weights as constants, as export.py converts them: batch norm folds.
        spec = tf.TensorSpec((1, *model.input_shape[1:]), tf.float32)
        function = converters.with_constant_weights(
            submodel, tf.function(lambda images: submodel(images, training=False)), spec)
        with open(paths[part], "wb") as f:
            f.write(tf.lite.TFLiteConverter.from_concrete_functions(
                [function], submodel).convert())
    return paths


def add_parts(artifacts, name, model, directory):
    """Adds network_parts' files of `model` to artifacts under (name, part)."""
    for part, path in network_parts(name, model, directory).items():
        artifacts[(name, part)] = path
    print(f"converted {name}", file=sys.stderr, flush=True)


def detection_table(names, resolution, runs, rounds):
    """Times every detector variant and part `rounds` times, interleaved; prints the tables;
    returns {name: {format: ms}} of the files with the NMS op."""
    images = calibration_images(CALIBRATION.value, resolution)
    scratch = tempfile.mkdtemp(prefix="latency_det_")
    artifacts = {}
    for name in names:
        keras.backend.clear_session()
        # Untrained, with the focal prior (as a focal-loss run starts): see --detection_prior.
        model = build(name, input_shape=(resolution, resolution, 3),
                      class_prior=DETECTION_PRIOR.value)
        for label, fmt, postprocess in DETECTION_VARIANTS:
            hook = detection.DetectionExport(detection.anchors_for(model),
                                             postprocess=postprocess)
            path = convert(export.Serving(model, hook), os.path.join(scratch, name, postprocess),
                           images, [fmt])[fmt]
            artifacts[(name, label)] = path
        add_parts(artifacts, name, model, os.path.join(scratch, name, "parts"))
    times = time_all(artifacts, images[0].astype("uint8"), runs, rounds)
    ms = {key: float(np.median(values)) for key, values in times.items()}
    labels = [label for label, _, _ in DETECTION_VARIANTS]
    print(f"\nSSDLite, 80 classes, class scores at {DETECTION_PRIOR.value:g} before training, "
          f"{header(f'{resolution}x{resolution}', runs, rounds)}\n")
    print("| model | " + " | ".join(labels) + " | int8 speed-up (op) | file sizes (MB) |")
    print("|---|" + "---:|" * (len(labels) + 2))
    for name in names:
        sizes = " / ".join(f"{os.path.getsize(artifacts[(name, label)]) / 1e6:.1f}"
                           for label in labels)
        print(f"| {name} | " + " | ".join(with_partitions(ms[name, label],
                                                          artifacts[(name, label)])
                                         for label in labels)
              + f" | {ms[name, labels[1]] / ms[name, labels[2]]:.2f}x | {sizes} |")
    # Where the float32 time goes: the backbone, the head on it, the post-processing.
    print("\nfloat32 by part (ms): backbone | head (network - backbone) | graph NMS | NMS op\n")
    print("| model | backbone | head | graph NMS | NMS op |\n|---|---:|---:|---:|---:|")
    for name in names:
        print(f"| {name} | {with_partitions(ms[name, 'backbone'], artifacts[(name, 'backbone')])}"
              f" | {ms[name, 'network'] - ms[name, 'backbone']:.2f} | "
              f"{ms[name, labels[0]] - ms[name, 'network']:.2f} | "
              f"{ms[name, labels[1]] - ms[name, 'network']:.2f} |")
    print_rounds(times)
    return {name: {"tflite_float32": ms[name, labels[1]], "tflite_int8": ms[name, labels[2]]}
            for name in names}


def segmentation_table(names, size, runs, rounds):
    """Times every segmenter's float32 and int8 export as export.py writes it (the class map
    and coarse probabilities), the same with --segmentation_probabilities=full, and its
    float32 parts; prints the tables; returns {name: {format: ms}} of the default export."""
    images = calibration_images(CALIBRATION.value, *size)
    scratch = tempfile.mkdtemp(prefix="latency_seg_")
    artifacts = {}
    for name in names:
        keras.backend.clear_session()
        model = build(name, input_shape=(*size, 3))
        for probabilities in SEGMENTATION_PROBABILITIES:
            hook = export.hook_for("segmentation", probabilities=probabilities)
            for fmt, path in convert(export.Serving(model, hook),
                                     os.path.join(scratch, name, probabilities), images).items():
                artifacts[(name, probabilities, fmt)] = path
        # The parts: the backbone, and the network up to the logits before the final upsample.
        add_parts(artifacts, name, keras.Model(model.inputs, segmentation.coarse_logits(model)),
                  os.path.join(scratch, name, "parts"))
    times = time_all(artifacts, images[0].astype("uint8"), runs, rounds)
    ms = {key: float(np.median(values)) for key, values in times.items()}
    print(f"\nSegmentation (19 classes), {header(f'{size[0]}x{size[1]}', runs, rounds)}; "
          f"export.py's default (the class map at the input size, coarse probabilities) and "
          f"--segmentation_probabilities=full (probabilities at the input size too)\n")
    print("| model | float32 | int8 | int8 speed-up | full: float32 | full: int8 |")
    print("|---|---:|---:|---:|---:|---:|")
    for name in names:
        cells = [with_partitions(ms[name, probabilities, fmt],
                                 artifacts[(name, probabilities, fmt)])
                 for probabilities in SEGMENTATION_PROBABILITIES for fmt in FORMATS]
        print(f"| {name} | {cells[0]} | {cells[1]} | "
              f"{ms[name, 'coarse', FORMATS[0]] / ms[name, 'coarse', FORMATS[1]]:.2f}x | "
              f"{cells[2]} | {cells[3]} |")
    print("\nfloat32 by part (ms): backbone | head (network before the final upsample - "
          "backbone) | outputs: the final upsample, argmax and coarse softmax (export - "
          "network) | full probabilities (full - default export)\n")
    print("| model | backbone | head | outputs | full probabilities |\n|---|---:|---:|---:|---:|")
    for name in names:
        default, full = (ms[name, probabilities, FORMATS[0]]
                         for probabilities in SEGMENTATION_PROBABILITIES)
        print(f"| {name} | {with_partitions(ms[name, 'backbone'], artifacts[(name, 'backbone')])}"
              f" | {ms[name, 'network'] - ms[name, 'backbone']:.2f} | "
              f"{default - ms[name, 'network']:.2f} | {full - default:.2f} |")
    print_rounds(times)
    return {name: {fmt: ms[name, "coarse", fmt] for fmt in FORMATS} for name in names}


def madds_table(measured, classifiers, shapes):
    """Each detector's and segmenter's time against what its multiply-adds predict from the
    classifier of its backbone in this run (ms per MAdd at 224, same format): measured /
    predicted, the issue's target being at most 1.5. measured: {name: {format: ms}};
    classifiers: {canonical classifier name: {format: ms}} at 224; shapes: {name: (H, W)}."""
    from mobilenet_tf import profile

    def madds(name, shape):
        keras.backend.clear_session()
        return profile.profile_model(build(name, input_shape=(*shape, 3))).total_madds

    print("\nAgainst the multiply-adds (predicted: the backbone's classifier's ms at 224 in "
          "this run x model MAdds / classifier MAdds)\n")
    print("| model | input | MAdds (M) | classifier | float32 measured / predicted | "
          "int8 measured / predicted |")
    print("|---|---|---:|---|---:|---:|")
    for name, times in measured.items():
        backbone = models.entry(name).backbone
        total = madds(name, shapes[name])
        cells = []
        if backbone in classifiers:
            ratio = total / madds(backbone, (224, 224))
            cells = [f"{times[fmt]:.2f} / {classifiers[backbone][fmt] * ratio:.2f} = "
                     f"{times[fmt] / (classifiers[backbone][fmt] * ratio):.2f}"
                     for fmt in FORMATS]
        else:   # its classifier was not timed: --models leaves it out
            cells = [f"{times[fmt]:.2f} / -" for fmt in FORMATS]
        print(f"| {name} | {shapes[name][0]}x{shapes[name][1]} | {total / 1e6:.0f} | "
              f"{backbone} | " + " | ".join(cells) + " |")


def main(argv):
    del argv
    table = pairs(RESOLUTION.value)
    unknown = set(MODELS.value) - set(table)
    if unknown:
        raise app.UsageError(f"unknown models {sorted(unknown)}; choose from {sorted(table)}")
    for flag, task in ((DETECTORS, "detection"), (SEGMENTERS, "segmentation")):
        unknown = set(flag.value) - set(names(task))
        if unknown:
            raise app.UsageError(f"unknown {task} models {sorted(unknown)}; choose from "
                                 f"{sorted(names(task))}")
    size = tuple(int(side) for side in SEGMENTATION_SIZE.value)
    if len(size) != 2:
        raise app.UsageError("--segmentation_size is H,W")
    classifiers, measured, shapes = {}, {}, {}
    if MODELS.value:
        classifiers = classification_table(table)
    if DETECTORS.value:
        measured.update(detection_table(DETECTORS.value, DETECTION_RESOLUTION.value,
                                        RUNS.value, ROUNDS.value))
        shapes.update(dict.fromkeys(DETECTORS.value, (DETECTION_RESOLUTION.value,) * 2))
    if SEGMENTERS.value:
        measured.update(segmentation_table(SEGMENTERS.value, size, RUNS.value, ROUNDS.value))
        shapes.update(dict.fromkeys(SEGMENTERS.value, size))
    if measured and RESOLUTION.value == 224:
        madds_table(measured, classifiers, shapes)


def classification_table(table):
    """Converts, times and prints the classification pairs of --models; returns {canonical
    name: {format: ms}} of ours."""
    images = calibration_images(CALIBRATION.value, RESOLUTION.value)
    scratch = tempfile.mkdtemp(prefix="latency_")
    artifacts = {}   # (model, source, format) -> path
    for name in MODELS.value:
        label, ours, theirs = table[name]
        for source, builder in (("ours", ours), ("keras", theirs), ("relu", ours)):
            if builder is None:
                continue
            keras.backend.clear_session()
            model = builder()
            swap = contextlib.nullcontext()
            if source == "relu":   # ours with ReLU for h-swish, where it has h-swish
                if not (HARD_SWISH_COST.value and graph.hard_activation_layers(model)[0]):
                    continue
                swap = converters.hard_swish_as(model, keras.activations.relu)
            with swap:
                serving = export.Serving(model, export.hook_for("classification"))
                for fmt, path in convert(serving, os.path.join(scratch, name, source),
                                         images).items():
                    artifacts[(name, source, fmt)] = path
            print(f"converted {label} ({source})", file=sys.stderr, flush=True)
    times = time_all(artifacts, images[0].astype("uint8"), RUNS.value, ROUNDS.value)
    print(f"\n{header(f'{RESOLUTION.value}x{RESOLUTION.value}', RUNS.value, ROUNDS.value)}\n")
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
    relu = [name for name in MODELS.value if (name, "relu", FORMATS[0]) in times]
    if relu:
        print("\nWhat h-swish costs: ours with ReLU in place of h-swish (timing only), same "
              "run\n")
        print("| model | ours float32 | ours int8 | ReLU float32 | ReLU int8 | ReLU int8 "
              "speed-up | h-swish's share of int8 |")
        print("|---|---:|---:|---:|---:|---:|---:|")
        for name in relu:
            ms = {(source, fmt): float(np.median(times[(name, source, fmt)]))
                  for source in ("ours", "relu") for fmt in FORMATS}
            print(f"| {table[name][0]} | " + " | ".join(
                f"{ms[key]:.2f}" for key in [("ours", f) for f in FORMATS]
                + [("relu", f) for f in FORMATS])
                + f" | {ms['relu', FORMATS[0]] / ms['relu', FORMATS[1]]:.2f}x | "
                f"{1 - ms['relu', FORMATS[1]] / ms['ours', FORMATS[1]]:.0%} |")
    print_rounds(times)
    return {models.canonical_name(name): {fmt: float(np.median(times[(name, "ours", fmt)]))
                                          for fmt in FORMATS} for name in MODELS.value}


if __name__ == "__main__":
    app.run(main)
