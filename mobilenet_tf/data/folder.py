"""`folder`: your own images, one sub-folder per class.

    DATA_DIR/daisy/img001.jpg, DATA_DIR/tulip/a.png, ...        split by file name hash
    DATA_DIR/train/daisy/..., DATA_DIR/validation/daisy/...     (or val/) split as given

Classes are the sub-folder names, sorted, so label ids do not depend on the file system.
Without a validation folder, a file goes to validation when a hash of its path within the
class folder falls below `validation_fraction`: the split is the same on every machine and
run, and adding images never moves an old one to the other side.
"""
import hashlib
import os

import tensorflow as tf

from mobilenet_tf import UserError
from mobilenet_tf.data import pipeline
from mobilenet_tf.data.source import DatasetInfo, Source, Survey, image_sizes

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif")
VALIDATION_FOLDERS = ("validation", "val")
VALIDATION_FRACTION = 0.1


def _class_folders(root):
    return sorted(entry for entry in os.listdir(root)
                  if os.path.isdir(os.path.join(root, entry)) and not entry.startswith("."))


def _images(folder):
    """Image files under folder (recursively), as paths relative to it, sorted."""
    found = []
    for parent, _, names in os.walk(folder):
        found += [os.path.relpath(os.path.join(parent, name), folder) for name in names
                  if name.lower().endswith(IMAGE_EXTENSIONS)]
    return sorted(found)


def _in_validation(relative_path, fraction):
    digest = hashlib.sha256(relative_path.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") / 2.0 ** 64 < fraction


def _split_root(data_dir, split):
    """(folder holding the class folders, hash split to apply or None)."""
    train_root = os.path.join(data_dir, "train")
    validation_roots = [os.path.join(data_dir, name) for name in VALIDATION_FOLDERS
                        if os.path.isdir(os.path.join(data_dir, name))]
    if os.path.isdir(train_root) and validation_roots:
        return (train_root if split == "train" else validation_roots[0]), None
    root = train_root if os.path.isdir(train_root) else data_dir
    return root, split


def list_files(data_dir, split, validation_fraction=VALIDATION_FRACTION):
    """(paths, labels, class names) of the split; UserError when there is nothing to read."""
    if not data_dir or not os.path.isdir(data_dir):
        raise UserError(f"folder dataset: --data_dir {data_dir!r} is not a directory; give "
                        "a directory with one sub-folder of images per class")
    if split not in ("train", "validation"):
        raise UserError(f"folder dataset has splits train and validation, not '{split}'")
    if not 0.0 <= validation_fraction < 1.0:
        raise UserError(f"validation_fraction must be in [0, 1), got {validation_fraction}")
    root, hash_split = _split_root(data_dir, split)
    # Classes come from the training folders, so both splits number them the same.
    class_names = tuple(_class_folders(_split_root(data_dir, "train")[0]))
    if not class_names:
        raise UserError(f"folder dataset: no class sub-folders in {root}")
    if len(class_names) == 1:
        raise UserError(f"folder dataset: {root} has one class folder ({class_names[0]}); a "
                        "classifier needs two or more, one sub-folder of images per class")
    paths, labels = [], []
    for label, name in enumerate(class_names):
        class_dir = os.path.join(root, name)
        if not os.path.isdir(class_dir):
            continue
        for relative in _images(class_dir):
            if hash_split and _in_validation(relative, validation_fraction) != (
                    hash_split == "validation"):
                continue
            paths.append(os.path.join(class_dir, relative))
            labels.append(label)
    if not paths:
        raise UserError(f"folder dataset: no {'/'.join(IMAGE_EXTENSIONS)} images for split "
                        f"'{split}' under {root}")
    return paths, labels, class_names


def read_image_file(example):
    """{"path", "label"} -> {"image_bytes", "label"}; an unreadable file is skipped later,
    with corrupt images, since parsing runs inside the pipeline's guarded decode."""
    return {"image_bytes": tf.io.read_file(example["path"]),
            "label": tf.cast(example["label"], tf.int32)}


def survey(split, *, data_dir, validation_fraction=VALIDATION_FRACTION, **_):
    """Survey of a split of the class-folder tree: its number of images and their sizes,
    read from the files' headers; other loader options are ignored."""
    paths, _, _ = list_files(data_dir, split, validation_fraction)
    sizes = image_sizes(paths)
    if not sizes:
        raise UserError(f"folder dataset: none of the {len(paths)} images of split "
                        f"'{split}' under {data_dir} is readable")
    return Survey(num_examples=len(paths), sizes=sizes)


def load(split, *, data_dir, training, seed, input_context,
         validation_fraction=VALIDATION_FRACTION):
    """The split of the class-folder tree at data_dir as a Source (see the module doc)."""
    paths, labels, class_names = list_files(data_dir, split, validation_fraction)
    examples = tf.data.Dataset.from_tensor_slices({"path": paths, "label": labels})
    examples = pipeline.shard(examples, input_context)
    if training:
        examples = examples.shuffle(len(paths), seed=seed, reshuffle_each_iteration=True)
    info = DatasetInfo(name="folder", split=split, num_classes=len(class_names),
                       class_names=class_names, num_examples=len(paths))
    return Source(examples, info, parse=read_image_file)
