"""The run's label map: what each class index of the model's outputs is.

    {"dataset": "coco_json", "class_names": ["cat", "dog", "fox"], "category_ids": [3, 7, 11]}

class_names[i] names class index i (detection: classes from 0, no background; segmentation:
mask values, background included); category_ids[i] is its category id in the dataset's own
COCO-format annotations (null for datasets without them), so detections can be written back
in COCO's terms.

engine.train writes it to MODEL_DIR/labels.json next to config.json. export writes labels.txt
(one name per line, line i = class i: the label-file format of LiteRT's Task Library and
MediaPipe) and labels.json next to the artifacts, and embeds labels.json in them: a zip
archive appended to each .tflite and added to the .keras archive, a SavedModel asset, an ONNX
metadata_props entry. Runs from before labels.json existed fall back to the label map of the
config's dataset.
"""
import json
import os
import zipfile

import tensorflow as tf

from mobilenet_tf import UserError, callbacks

FILENAME = "labels.json"
TEXT_FILENAME = "labels.txt"
ONNX_KEY = "labels"   # the ONNX metadata_props entry


def from_info(info):
    """The label map of a data.DatasetInfo (names filled in as "class_I" where a dataset
    has none, so line i of labels.txt is always class i)."""
    names = list(info.class_names)
    names += [f"class_{i}" for i in range(len(names), info.num_classes)]
    return {"dataset": info.name, "class_names": [str(name) for name in names],
            "category_ids": [int(i) for i in info.category_ids] or None}


def to_json(label_map):
    """labels.json's text."""
    return json.dumps(label_map, indent=2) + "\n"


def to_text(label_map):
    """labels.txt's text: one class name per line, in class order."""
    return "".join(f"{name}\n" for name in label_map["class_names"])


def write(directory, label_map):
    """Writes labels.json into `directory` (any tf.io.gfile path) under a temporary name,
    renamed when complete, so a reader never sees half a file."""
    callbacks.write_text_atomically(os.path.join(directory, FILENAME), to_json(label_map))


def read(directory):
    """The label map in directory/labels.json; None when there is none (older runs)."""
    path = directory and os.path.join(directory, FILENAME)
    if not path or not tf.io.gfile.exists(path):
        return None
    with tf.io.gfile.GFile(path) as f:
        return json.load(f)


def run_dir(path):
    """The run directory a model file belongs to: MODEL_DIR for MODEL_DIR/final.keras and
    for MODEL_DIR/checkpoints/ckpt-*.weights.h5."""
    folder = os.path.dirname(os.path.abspath(path))
    return os.path.dirname(folder) if os.path.basename(folder) == "checkpoints" else folder


def of_run(config, model_dir=None):
    """The run's label map: model_dir/labels.json, else (runs from before it was written)
    the label map of the config's dataset; None when that dataset cannot be read either
    (evaluation and export then go on without names)."""
    label_map = read(model_dir)
    if label_map is not None:
        return label_map
    from mobilenet_tf.tasks import TASKS   # the tasks import the data stack
    try:
        _, info = TASKS[config.task].build_inputs(config, config.dataset.eval_split,
                                                  training=False)
    except UserError:
        return None
    return from_info(info)


def write_files(directory, label_map):
    """labels.json and labels.txt into a local `directory` (next to exported artifacts)."""
    for name, text in ((FILENAME, to_json(label_map)), (TEXT_FILENAME, to_text(label_map))):
        with open(os.path.join(directory, name + ".partial"), "w") as f:
            f.write(text)
        os.replace(os.path.join(directory, name + ".partial"), os.path.join(directory, name))


def append_to_archive(path, label_map):
    """Adds labels.json and labels.txt to the zip archive at the end of the file at `path`
    (a .keras file is one; a .tflite flatbuffer gets one appended, which LiteRT ignores:
    how the TFLite metadata convention packs associated files)."""
    with zipfile.ZipFile(path, "a", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(FILENAME, to_json(label_map))
        archive.writestr(TEXT_FILENAME, to_text(label_map))


def embedded(fmt, path):
    """The label map an exported artifact of format `fmt` carries; None when it has none."""
    try:
        if fmt == "saved_model":
            return read(os.path.join(path, "assets"))
        if fmt == "onnx":
            import onnx
            props = {p.key: p.value for p in onnx.load(path, load_external_data=False)
                     .metadata_props}
            return json.loads(props[ONNX_KEY]) if ONNX_KEY in props else None
        with zipfile.ZipFile(path) as archive:
            return json.loads(archive.read(FILENAME))
    except (zipfile.BadZipFile, KeyError):
        return None


def summary(label_map, limit=10):
    """'6 classes: circle, square, ...' for a log line (ids in brackets where there are)."""
    names, ids = label_map["class_names"], label_map.get("category_ids")
    shown = [f"{name} [{ids[i]}]" if ids else name for i, name in enumerate(names[:limit])]
    more = f", ... ({len(names) - limit} more)" if len(names) > limit else ""
    return f"{len(names)} classes: {', '.join(shown)}{more}"
