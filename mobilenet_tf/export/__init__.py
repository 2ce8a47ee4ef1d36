"""Deployment: export a trained model to SavedModel, LiteRT (TFLite float32, float16,
dynamic-range and full-integer int8), ONNX and .keras, then check each artifact against
the Keras model.

    serving = export.Serving(model, export.TASK_EXPORTS["classification"], input_type="uint8")
    artifacts = export.export(serving, ["tflite_float32", "tflite_int8"], "out/",
                              representative=lambda: calibration_batches)
    rows = export.check(serving, artifacts, images, labels)
    print(export.table(rows, serving.hook))

Every artifact takes (B, H, W, 3) pixels (uint8, or float32 in [0, 255]) and normalises
inside. Tasks plug in through TASK_EXPORTS: a module with
  serving_outputs(model, outputs) -> {name: tf.Tensor}     the exported outputs (TF ops)
  keras_outputs(model, outputs) -> {name: KerasTensor}     the same in Keras layers
  compare(reference, exported, labels) -> {metric: float}  exported vs Keras, numpy dicts
  TABLE_COLUMNS                                            (metric, header, format) rows
and optionally FORMATS, the formats it supports (default: all), tflite_outputs(model,
outputs) (what TFLite formats compute after the frozen model, when it differs) and
configure(config, **options) -> the hook for a run (when the outputs need the run's config).
Segmentation returns a class map and probabilities at a fixed size (Serving's input_size for
a model built for any size); detection returns boxes, scores, classes and count after NMS,
configured with the run's anchors and NMS settings (export.detection.DetectionExport).
"""
import os

from mobilenet_tf import UserError
from mobilenet_tf.export import classification, converters, detection, segmentation
from mobilenet_tf.export.converters import FILENAMES, FORMATS, INT8_IO_TYPES
from mobilenet_tf.export.report import check, table
from mobilenet_tf.export.serving import INPUT_TYPES, Serving

TASK_EXPORTS = {
    "classification": classification,
    "detection": detection,
    "segmentation": segmentation,
}

__all__ = ["FILENAMES", "FORMATS", "INPUT_TYPES", "INT8_IO_TYPES", "TASK_EXPORTS", "Serving",
           "check", "export", "hook_for", "parse_formats", "table"]


def hook_for(task, config=None, **options):
    """The export hook of task `task`, configured for the run `config` where the task needs
    it (detection: anchors and NMS settings; options: its configure()'s, e.g. postprocess);
    a UserError for a task with none yet."""
    if task not in TASK_EXPORTS:
        raise UserError(f"exporting {task} models is not supported yet; supported tasks: "
                        f"{', '.join(TASK_EXPORTS)}")
    hook = TASK_EXPORTS[task]
    if hasattr(hook, "configure"):
        if config is None:
            raise UserError(f"exporting a {task} model needs its run's config (e.g. "
                            "detection's anchors and NMS settings)")
        return hook.configure(config, **options)
    if options:
        raise UserError(f"{', '.join(options)} only apply to exporting "
                        f"{', '.join(t for t, h in TASK_EXPORTS.items() if hasattr(h, 'configure'))}"
                        " models")
    return hook


def parse_formats(names, hook=None):
    """A list of format names (or "all") -> the validated formats, in the order given."""
    names = [name.strip() for name in names if name.strip()]
    supported = getattr(hook, "FORMATS", FORMATS)
    if names == ["all"]:
        return list(supported)
    if not names:
        raise UserError(f"give at least one --format: {', '.join(FORMATS)} or all")
    for name in names:
        if name not in FORMATS:
            raise UserError(f"unknown format '{name}'; choose from {', '.join(FORMATS)} or all")
        if hasattr(hook, "check_format"):   # the task's own reason, in one line
            hook.check_format(name)
        if name not in supported:
            raise UserError(f"format '{name}' is not supported for this task; it supports "
                            f"{', '.join(supported)}")
    return list(dict.fromkeys(names))


def export(serving, formats, output_dir, *, representative=None, int8_io="uint8"):
    """Writes each of `formats` into output_dir; {format: path} in the order given.

    representative (tflite_int8 only): a callable returning an iterable of (1, H, W, 3)
    float32 pixel batches from the training split, for calibration.
    """
    for fmt in formats:   # a format the task cannot export fails before anything is written
        if hasattr(serving.hook, "check_format"):
            serving.hook.check_format(fmt)
    os.makedirs(output_dir, exist_ok=True)
    return {fmt: converters.write(fmt, serving, output_dir, representative=representative,
                                  int8_io=int8_io) for fmt in formats}
