"""Deployment: export a trained model to SavedModel, LiteRT (TFLite float32, float16,
dynamic-range and full-integer int8), ONNX and .keras, then check each artifact against
the Keras model.

    serving = export.Serving(model, export.hook_for("classification"), input_type="uint8")
    artifacts = export.export(serving, ["tflite_float32", "tflite_int8"], "out/",
                              representative=lambda: calibration_batches)
    rows = export.check(serving, artifacts, images, labels)
    print(export.table(rows, serving.hook))

Every artifact takes (B, H, W, 3) pixels (uint8, or float32 in [0, 255]) and normalises
inside. Tasks plug in through their export hook (mobilenet_tf.export.hook.ExportHook, from
TASKS[task].export_hook(config)): what the exported signature returns and how an artifact is
compared with the Keras model. Segmentation returns a class map at a fixed size (Serving's
input_size for a model built for any size) and probabilities, coarse (the logits' own
resolution) by default or at that size (probabilities="full"); detection returns boxes, scores,
classes and count after NMS, configured with the run's anchors and NMS settings
(export.detection.DetectionExport).
"""
import os

from mobilenet_tf import UserError, labels
from mobilenet_tf.export import classification, converters, detection, segmentation
from mobilenet_tf.export.hook import ExportHook
from mobilenet_tf.export.converters import (FILENAMES, FORMATS, INT8_HARD_SWISH_FORMS,
                                            INT8_IO_TYPES)
from mobilenet_tf.export.report import check, table
from mobilenet_tf.export.serving import INPUT_TYPES, Serving

__all__ = ["ExportHook", "FILENAMES", "FORMATS", "INPUT_TYPES", "INT8_HARD_SWISH_FORMS",
           "INT8_IO_TYPES", "Serving", "check", "export", "hook_for", "parse_formats", "table"]


def hook_for(task, config=None, **options):
    """The export hook of task `task` for the run `config` (detection needs it: anchors and
    NMS settings; options: its configure()'s, e.g. postprocess)."""
    from mobilenet_tf.tasks import TASKS   # the tasks' modules import the data stack
    if task not in TASKS:
        raise UserError(f"unknown task '{task}'; tasks: {', '.join(TASKS)}")
    return TASKS[task].export_hook(config, **options)


def parse_formats(names, hook=None):
    """A list of format names (or "all") -> the validated formats, in the order given."""
    names = [name.strip() for name in names if name.strip()]
    supported = hook.FORMATS if hook else FORMATS
    if names == ["all"]:
        return list(supported)
    if not names:
        raise UserError(f"give at least one --format: {', '.join(FORMATS)} or all")
    for name in names:
        if name not in FORMATS:
            raise UserError(f"unknown format '{name}'; choose from {', '.join(FORMATS)} or all")
        if hook:   # the task's own reason, in one line
            hook.check_format(name)
    return list(dict.fromkeys(names))


def export(serving, formats, output_dir, *, representative=None, int8_io="uint8",
           int8_hard_swish="elementwise"):
    """Writes each of `formats` into output_dir; {format: path} in the order given.

    representative (tflite_int8 only): a callable returning an iterable of (1, H, W, 3)
    float32 pixel batches from the training split, for calibration; int8_hard_swish: how
    tflite_int8 writes h-swish (converters.INT8_HARD_SWISH_FORMS). With serving.labels,
    labels.txt and labels.json are written next to the artifacts (and embedded in them).
    """
    for fmt in formats:   # a format the task cannot export fails before anything is written
        serving.hook.check_format(fmt)
    os.makedirs(output_dir, exist_ok=True)
    artifacts = {fmt: converters.write(fmt, serving, output_dir, representative=representative,
                                       int8_io=int8_io, int8_hard_swish=int8_hard_swish)
                 for fmt in formats}
    if serving.labels:   # what an app reads next to the model (labels.txt, labels.json)
        labels.write_files(output_dir, serving.labels)
    return artifacts
