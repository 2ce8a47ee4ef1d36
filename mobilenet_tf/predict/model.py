"""What predict.py runs: a training run's model (its final.keras or best.keras with its
config.json) or an export.py artifact (.keras, SavedModel, .tflite, .onnx), behind one
interface: uint8 pixel batches in, the task's export-hook outputs out (classification
"probabilities"; detection "boxes", "scores", "classes", "num_detections"; segmentation
"class_map" and "coarse_probabilities" or "probabilities"), so every source is read back the
same way.

    predictor = load(model_dir="runs/RUN")             # or load(path="RUN/export/model.tflite")
    outputs = predictor.run(batch)                     # {name: numpy array}
"""
import dataclasses
import os
import zipfile
from typing import Callable, Optional

import keras
import numpy as np
import tensorflow as tf

from mobilenet_tf import UserError, config as config_lib, labels as labels_lib
from mobilenet_tf.export import classification, detection, runners, segmentation, serving
from mobilenet_tf.tasks import TASKS

# The exported signature's output names (the export hooks') -> the task they belong to.
OUTPUT_TASKS = {
    frozenset([classification.OUTPUT]): "classification",
    frozenset([segmentation.CLASS_MAP, segmentation.PROBABILITIES]): "segmentation",
    frozenset([segmentation.CLASS_MAP, segmentation.COARSE_PROBABILITIES]): "segmentation",
    frozenset([detection.BOXES, detection.SCORES, detection.CLASSES, detection.NUM]):
        "detection",
}
EXPECTED = ("a train.py run (--model_dir=RUN, or its final.keras / best.keras with "
            "config.json beside it) or an export.py artifact (.keras, SavedModel directory, "
            ".tflite, .onnx)")


@dataclasses.dataclass
class Predictor:
    """A loaded model: `run` maps uint8 (B, H, W, 3) pixels at `input_size` (height, width;
    None: any size) to the hook's outputs as numpy arrays."""
    task: str
    run: Callable
    input_size: Optional[tuple]
    label_map: Optional[dict]
    config: Optional[object]   # the run's ConfigDict, when there is one
    source: str                # what was loaded, for the log

    def class_names(self, count):
        """The names of classes 0..count-1: the label map's, else class_I."""
        names = list((self.label_map or {}).get("class_names") or [])
        return names[:count] + [f"class_{i}" for i in range(len(names), count)]

    def category_ids(self, count):
        """COCO category ids of classes 0..count-1: the label map's (COCO-format data),
        else class index + 1 (COCO's ids start at 1)."""
        ids = (self.label_map or {}).get("category_ids")
        if ids and len(ids) >= count:
            return [int(i) for i in ids[:count]]
        return list(range(1, count + 1))


def run_dir_of(path):
    """The train.py run a model file belongs to: its folder or the folder above (RUN/export/
    FILE) when that holds config.json; None otherwise."""
    folder = os.path.dirname(os.path.abspath(path.rstrip("/")))
    for candidate in (folder, os.path.dirname(folder)):
        if os.path.exists(os.path.join(candidate, "config.json")):
            return candidate
    return None


def load(model_dir=None, path=None, weights="final"):
    """The Predictor of --model_dir (its {weights}.keras) or of --model=path (with
    model_dir, or the run it lies in, for the config and labels)."""
    if model_dir and not os.path.isdir(model_dir):
        raise UserError(f"--model_dir={model_dir} is not a directory; give a train.py run")
    if path is None:
        if not model_dir:
            raise UserError(f"nothing to predict with: give {EXPECTED}")
        path = os.path.join(model_dir, f"{weights}.keras")
        if not os.path.exists(path):
            raise UserError(f"{path} not found; give --model_dir of a finished train.py run "
                            "(it ends by writing final.keras)")
    if not os.path.exists(path):
        raise UserError(f"--model={path} not found; give {EXPECTED}")
    if os.path.isdir(path) and os.path.exists(os.path.join(path, "config.json")):
        return load(model_dir=path, weights=weights)   # a run directory given as --model
    run_dir = model_dir or run_dir_of(path)
    config = (config_lib.from_json_file(os.path.join(run_dir, "config.json"))
              if run_dir else None)
    fmt = _format(path)
    if fmt == "keras":
        model = _load_keras(path)
        if not _is_serving_model(model):
            return _training_model(model, path, config, run_dir)
    return _artifact(fmt, path, run_dir)


def _format(path):
    if os.path.isdir(path):
        if not os.path.exists(os.path.join(path, "saved_model.pb")):
            raise UserError(f"{path} is a directory but neither a SavedModel (no "
                            f"saved_model.pb) nor a train.py run (no config.json); give "
                            f"{EXPECTED}")
        return "saved_model"
    for suffix, fmt in ((".tflite", "tflite_float32"), (".onnx", "onnx"), (".keras", "keras")):
        if path.endswith(suffix):
            return fmt
    what = ("a weights file (no architecture)" if path.endswith(".h5")
            else f"a {os.path.splitext(path)[1] or 'extension-less'} file")
    raise UserError(f"{path} is {what}; predict.py takes {EXPECTED}")


def _load_keras(path):
    if not zipfile.is_zipfile(path):
        raise UserError(f"{path} is not a Keras model archive (a .keras file is a zip); "
                        f"give {EXPECTED}")
    try:
        return keras.saving.load_model(path, compile=False)
    except Exception as error:   # noqa: BLE001 - any failure to rebuild it is the file's
        first = str(error).strip().splitlines()[0][:200] if str(error).strip() else ""
        raise UserError(f"{path} could not be loaded as a Keras model ({type(error).__name__}: "
                        f"{first}); give {EXPECTED}") from None


def _output(model):
    """The model's output structure; None when it has none (a Sequential never called)."""
    try:
        return model.output
    except (AttributeError, ValueError):
        return None


def _is_serving_model(model):
    """Whether a loaded .keras model is export.py's (named hook outputs)."""
    output = _output(model)
    return isinstance(output, dict) and frozenset(output) in OUTPUT_TASKS


def _training_model(model, path, config, run_dir):
    """A train.py model (raw outputs) with its run's config: the task's own prediction."""
    if config is None:
        raise UserError(
            f"{path} is a Keras model (input {model.input_shape}, output "
            f"{_describe_output(model)}) but no train.py config.json lies beside it, and it "
            "is not an export.py model (outputs named probabilities, class_map or boxes): "
            "give --model_dir=RUN of the run that trained it, or export it with export.py")
    task = config.task
    label_map = labels_lib.of_run(config, run_dir)
    if task == "segmentation":   # any size: the image's own, as evaluate.py runs it
        settings = config.segmentation
        scales = tuple(settings.get("eval_scales", ())) or (1.0,)

        def run(pixels):
            from mobilenet_tf.tasks.segmentation import predict_probabilities
            probabilities = predict_probabilities(model, pixels, scales, settings.eval_flip,
                                                  settings.eval_window)
            return {segmentation.CLASS_MAP: probabilities.argmax(-1).astype(np.int32),
                    segmentation.PROBABILITIES: probabilities}
        return Predictor(task, run, None, label_map, config, path)
    # Classification and detection: the export hook's outputs, traced once for any batch.
    served = serving.Serving(model, TASKS[task].export_hook(config))
    function = served.function()
    run = lambda pixels: {name: value.numpy() for name, value in   # noqa: E731
                          function(tf.constant(pixels, tf.uint8)).items()}
    return Predictor(task, run, served.size, label_map, config, path)


def _describe_output(model):
    output = _output(model)
    if isinstance(output, dict):
        return "{" + ", ".join(f"{k}: {tuple(v.shape)}" for k, v in output.items()) + "}"
    if output is None and getattr(model, "output_shape", None) is None:
        return "unknown"
    return str(tuple(output.shape)) if hasattr(output, "shape") else str(model.output_shape)


def _artifact(fmt, path, run_dir):
    """An export.py artifact, run by export's own runners; its task from its output names,
    its labels from inside it (else its run's labels.json)."""
    try:
        runner = runners.load(fmt, path, "uint8", threads=None)
    except Exception as error:   # noqa: BLE001 - a file the runtime cannot open
        kind = {"tflite_float32": "TFLite", "onnx": "ONNX", "saved_model": "SavedModel",
                "keras": "Keras"}[fmt]
        first = str(error).strip().splitlines()[0][:200] if str(error).strip() else ""
        raise UserError(f"{path} could not be opened as a {kind} model ({first}); give "
                        f"{EXPECTED}") from None
    names, dtype, shape = _signature(fmt, runner)
    task = OUTPUT_TASKS.get(frozenset(names))
    if task is None or shape is None or len(shape) != 4:
        raise UserError(f"{path} is a model with input {shape} and outputs "
                        f"{', '.join(sorted(names)) or 'none'}, not one export.py wrote "
                        f"(an images input and outputs probabilities; class_map and "
                        f"(coarse_)probabilities; or boxes, scores, classes, num_detections); "
                        f"export yours with python export.py --model_dir=RUN")
    if task == "detection" and fmt.startswith("tflite"):
        # LiteRT's NMS op loses detections at 2 threads (export.detection): run it at 1.
        runner = runners.load(fmt, path, "uint8", threads=1)
    if fmt != "tflite_float32":
        runner.input_type = dtype   # the formats that take any batch feed this type
    label_map = (labels_lib.embedded("tflite" if fmt.startswith("tflite") else fmt, path)
                 or labels_lib.read(run_dir))
    size = (int(shape[1]), int(shape[2])) if shape[1] and shape[2] else None
    return Predictor(task, runner, size, label_map, None, path)


def _signature(fmt, runner):
    """(output names, input dtype name, input shape) of a loaded artifact's signature."""
    if fmt.startswith("tflite"):
        return list(runner.outputs), None, list(runner.input["shape"])
    if fmt == "onnx":
        tensor = runner.session.get_inputs()[0]
        dtype = {"tensor(uint8)": "uint8", "tensor(float)": "float32"}.get(tensor.type)
        shape = [side if isinstance(side, int) else None for side in tensor.shape]
        return [out.name for out in runner.session.get_outputs()], dtype, shape
    if fmt == "saved_model":
        specs = runner.signature.structured_input_signature[1]
        spec = specs.get(serving.INPUT_NAME) or next(iter(specs.values()), None)
        outputs = list(runner.signature.structured_outputs)
        return outputs, spec and spec.dtype.name, spec and spec.shape.as_list()
    model = runner.model
    output = _output(model)
    outputs = list(output) if isinstance(output, dict) else []
    return outputs, model.inputs[0].dtype, list(model.input_shape)
