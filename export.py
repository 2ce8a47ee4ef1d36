"""Export a trained model for deployment and check every artifact against it.

    python export.py --model_dir=runs/RUN                          # all formats, into RUN/export
    python export.py --model_dir=runs/RUN --format=tflite_int8 --int8_io=int8
    python export.py --checkpoint=runs/RUN/best.keras --format=saved_model,onnx --output_dir=out
    python export.py --model_dir=runs/SSDLITE_RUN --format=tflite_float32 \\
        --detection_postprocess=graph              # SSDLite with our NMS as built-in ops
    python export.py --model_dir=runs/LRASPP_RUN --segmentation_probabilities=full

flags -> config (the run's config.json) and label map (its labels.json) -> model (EMA
weights) -> images (calibration from the training split, check images from the eval split)
-> export -> check -> table.
"""
import json
import os

from mobilenet_tf import startup

startup.import_tensorflow_quietly()

from absl import flags   # noqa: E402

from mobilenet_tf import cli, export   # noqa: E402
# Renamed: main's own `labels` are the check images' labels.
from mobilenet_tf import labels as labels_lib   # noqa: E402
from mobilenet_tf.export import source   # noqa: E402

flags.DEFINE_list("format", ["all"], f"Formats, comma-separated: {', '.join(export.FORMATS)}, "
                  "or all.")
cli.define_output_dir("Where the artifacts go (default MODEL_DIR/export).")
flags.DEFINE_enum("input_type", "uint8", list(export.INPUT_TYPES), "The images input: uint8 "
                  "pixels, or float32 pixel values in [0, 255]; normalisation is inside.")
flags.DEFINE_enum("int8_io", None, list(export.INT8_IO_TYPES), "tflite_int8's input and output "
                  "type (default uint8): uint8 takes raw pixels, int8 takes pixels - 128.")
flags.DEFINE_enum("int8_hard_swish", None, list(export.INT8_HARD_SWISH_FORMS), "How "
                  "tflite_int8 writes MobileNetV3's h-swish (default elementwise): elementwise "
                  "as relu6(x + 3) * (x / 6), which XNNPACK (LiteRT's CPU delegate) runs in "
                  "int8, so the whole model stays in one delegated partition; kernel as the "
                  "fused HARD_SWISH op, for runtimes whose int8 kernels have it.")
flags.DEFINE_integer("representative_images", 200, "Training images to calibrate tflite_int8.")
flags.DEFINE_integer("check_images", 500, "Held-out images to compare each artifact with the "
                     "Keras model on (0: no check).")
flags.DEFINE_integer("latency_runs", 50, "Timed runs per latency figure (0: no timing).")
flags.DEFINE_enum("detection_postprocess", None, list(export.detection.POSTPROCESS),
                  "Detection: where TFLite formats run the NMS (default tflite_op). "
                  "tflite_op: LiteRT's TFLite_Detection_PostProcess custom op (what phone "
                  "runtimes expect; several times faster; needed for tflite_int8), with "
                  "regular per-class NMS as ours, its boxes not clipped to the image; graph: "
                  "our per-class NMS as built-in ops, the Keras model's exact detections. "
                  "SavedModel, ONNX and .keras always run the graph NMS.")
flags.DEFINE_enum("segmentation_probabilities", None, list(export.segmentation.PROBABILITY_OUTPUTS),
                  "Segmentation: the per-pixel probabilities the signature returns beside the "
                  "class map (always at the input size). coarse (default): "
                  "`coarse_probabilities`, at the logits' own resolution before the final "
                  "upsample (1/8 of each side for LR-ASPP), nearly free; full: `probabilities` "
                  "at the input size, which costs as much as LR-ASPP V3-Small's network on a "
                  "CPU (benchmarks/RESULTS.md).")
flags.DEFINE_list("input_size", None, "N or H,W: the exported input size of a model built for "
                  "any size (segmentation); default the run's dataset.eval_size, else the "
                  "evaluation frame.")


def check_flags(FLAGS, formats):
    """UserError for flags that contradict each other, before anything is built."""
    if FLAGS.model_dir and not os.path.isdir(FLAGS.model_dir):
        raise cli.UserError(f"--model_dir={FLAGS.model_dir} is not a directory")
    if "tflite_int8" not in formats:
        if (FLAGS["int8_io"].present or FLAGS["representative_images"].present
                or FLAGS["int8_hard_swish"].present):
            raise cli.UserError("--int8_io, --int8_hard_swish and --representative_images only "
                                "apply to --format=tflite_int8")
    elif FLAGS.representative_images < 1:
        raise cli.UserError("tflite_int8 needs --representative_images of at least 1")
    if FLAGS.check_images < 0 or FLAGS.latency_runs < 0:
        raise cli.UserError("--check_images and --latency_runs must be >= 0")
    if not (FLAGS.output_dir or FLAGS.model_dir):
        raise cli.UserError("give --output_dir (or --model_dir, which exports into "
                            "MODEL_DIR/export)")


def main(argv):
    if len(argv) > 1:
        raise cli.UserError(f"unexpected arguments {argv[1:]}; flags look like --name=value")
    FLAGS = cli.FLAGS
    check_flags(FLAGS, export.parse_formats(FLAGS.format))   # names only: before any loading
    path = source.model_path(FLAGS.model_dir, FLAGS.checkpoint, FLAGS.weights)
    config = cli.run_or_recipe_config()
    if FLAGS.detection_postprocess and config.task != "detection":
        raise cli.UserError(f"--detection_postprocess only applies to detection runs; this is "
                            f"a {config.task} run")
    if FLAGS.segmentation_probabilities and config.task != "segmentation":
        raise cli.UserError(f"--segmentation_probabilities only applies to segmentation runs; "
                            f"this is a {config.task} run")
    options = ({"postprocess": FLAGS.detection_postprocess}
               if FLAGS.detection_postprocess else {})
    if FLAGS.segmentation_probabilities:
        options["probabilities"] = FLAGS.segmentation_probabilities
    hook = export.hook_for(config.task, config, **options)
    formats = export.parse_formats(FLAGS.format, hook)
    model = source.load_model(config, path)
    size = source.input_size(config, model, FLAGS.input_size)
    # The run's labels.json: beside final.keras, or the checkpoint's run (an older run
    # without one: its dataset's).
    label_map = labels_lib.of_run(config, FLAGS.model_dir or labels_lib.run_dir(path))
    serving = export.Serving(model, hook, FLAGS.input_type, input_size=size, labels=label_map)

    representative = None
    if "tflite_int8" in formats:
        calibration, labels = source.images(config, "train", FLAGS.representative_images,
                                            shuffled=True)
        calibration, _ = source.fit_to_size(calibration, labels, serving.size)
        representative = lambda: (image[None].astype("float32") for image in calibration)
    output_dir = FLAGS.output_dir or os.path.join(FLAGS.model_dir, "export")
    artifacts = export.export(serving, formats, output_dir, representative=representative,
                              int8_io=FLAGS.int8_io or "uint8",
                              int8_hard_swish=FLAGS.int8_hard_swish or "elementwise")
    for fmt, artifact in artifacts.items():
        print(f"wrote {fmt}: {artifact}")
    if label_map:
        print(f"labels ({labels_lib.TEXT_FILENAME}, {labels_lib.FILENAME}, and in each "
              f"artifact): {labels_lib.summary(label_map)}")
    if not FLAGS.check_images:
        return
    images, labels = source.fit_to_size(
        *source.images(config, config.dataset.eval_split, FLAGS.check_images), serving.size)
    rows = export.check(serving, artifacts, images, labels, latency_runs=FLAGS.latency_runs)
    print(f"\n{len(images)} {config.dataset.name} {config.dataset.eval_split} images, "
          f"against the Keras model:\n{export.table(rows, hook)}")
    if FLAGS.metrics_out:   # under a temporary name, renamed when complete
        with open(FLAGS.metrics_out + ".partial", "w") as f:
            json.dump({"model": path, "images": len(images), "input_type": FLAGS.input_type,
                       "rows": rows}, f, indent=2)
        os.replace(FLAGS.metrics_out + ".partial", FLAGS.metrics_out)


if __name__ == "__main__":
    cli.define_flags()
    cli.define_saved_model_flags()
    cli.run(main)
