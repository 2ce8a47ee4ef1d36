"""COCO-format detection data: COCO 2017 in its three usual forms, and any COCO JSON.

    coco       DATA_DIR/annotations/instances_{train,val}2017.json + DATA_DIR/{train,val}2017/
               (the official layout), or a TFDS data dir with coco/2017 prepared in it, or
               TFRecords of the TF Object Detection API (create_coco_tf_record.py):
               DATA_DIR/coco_{train,val}.record-?????-of-?????
    coco_json  your own labels: annotation_file=FILE.json (COCO "instances" format) and
               image_dir=DIR (default: the JSON's folder); relative paths are taken from
               DATA_DIR, and "{split}" in either is replaced by the split's name or a
               synonym (validation, val, valid; train, training; test, testing): the
               first whose annotation file exists (json_paths)

Classes are numbered 0..C-1 in the order of sorted category ids; DatasetInfo.category_ids
maps them back (index -> COCO id) for writing detections in COCO's terms. COCO boxes
[x, y, width, height] in pixels become [ymin, xmin, ymax, xmax] divided by the image's
height and width. Crowd annotations (iscrowd=1) are kept with is_crowd set: training
ignores the anchors they cover, evaluation passes them to COCO's evaluation. Images
without annotations are kept: all background in training, and scored in evaluation.

Malformed annotations (COCO JSON):
- a box reaching outside its image is clipped to the image;
- a box with no area after clipping (width or height <= 0) is skipped; the loader prints
  one line with how many were skipped;
- a category id missing from "categories", an image id missing from "images", a bbox that
  is not four numbers, an image id that is not an integer, an image without width and
  height, or a missing image file stop the load with a UserError naming the annotation or
  file and what to do.
Corrupt or unreadable images, unparsable TFRecords, and TFRecords whose class label is not
a COCO category id are skipped and counted while reading, as for classification
(pipeline.map_skipping_corrupt).
"""
import collections
import glob
import json
import os
import sys

import numpy as np
import tensorflow as tf

from mobilenet_tf import UserError
from mobilenet_tf.data import pipeline, tfds_prepared
from mobilenet_tf.data.source import DatasetInfo, Source, Survey, check_data_dir

# COCO 2017's 80 categories: (id, name) in id order (instances_val2017.json's categories).
COCO_CATEGORIES = (
    (1, "person"), (2, "bicycle"), (3, "car"), (4, "motorcycle"), (5, "airplane"),
    (6, "bus"), (7, "train"), (8, "truck"), (9, "boat"), (10, "traffic light"),
    (11, "fire hydrant"), (13, "stop sign"), (14, "parking meter"), (15, "bench"),
    (16, "bird"), (17, "cat"), (18, "dog"), (19, "horse"), (20, "sheep"), (21, "cow"),
    (22, "elephant"), (23, "bear"), (24, "zebra"), (25, "giraffe"), (27, "backpack"),
    (28, "umbrella"), (31, "handbag"), (32, "tie"), (33, "suitcase"), (34, "frisbee"),
    (35, "skis"), (36, "snowboard"), (37, "sports ball"), (38, "kite"), (39, "baseball bat"),
    (40, "baseball glove"), (41, "skateboard"), (42, "surfboard"), (43, "tennis racket"),
    (44, "bottle"), (46, "wine glass"), (47, "cup"), (48, "fork"), (49, "knife"),
    (50, "spoon"), (51, "bowl"), (52, "banana"), (53, "apple"), (54, "sandwich"),
    (55, "orange"), (56, "broccoli"), (57, "carrot"), (58, "hot dog"), (59, "pizza"),
    (60, "donut"), (61, "cake"), (62, "chair"), (63, "couch"), (64, "potted plant"),
    (65, "bed"), (67, "dining table"), (70, "toilet"), (72, "tv"), (73, "laptop"),
    (74, "mouse"), (75, "remote"), (76, "keyboard"), (77, "cell phone"), (78, "microwave"),
    (79, "oven"), (80, "toaster"), (81, "sink"), (82, "refrigerator"), (84, "book"),
    (85, "clock"), (86, "vase"), (87, "scissors"), (88, "teddy bear"), (89, "hair drier"),
    (90, "toothbrush"))
SPLIT_NAMES = {"train": "train2017", "validation": "val2017", "val": "val2017"}
TFRECORD_PATTERNS = {"train": "coco_train.record-*", "validation": "coco_val.record-*",
                     "val": "coco_val.record-*"}
TFDS_NAME = "coco/2017"
_checked = {}   # checked_annotations' results, by (JSON path, its mtime, image folder)
_HOW_TO_GET = ("put COCO 2017 there in its official layout (annotations/instances_train2017"
               ".json, train2017/ ...), a TFDS data dir with coco/2017 prepared, or the TF "
               "Object Detection API's coco_{train,val}.record-* TFRecords")
_TFRECORD_FEATURES = {
    "image/encoded": tf.io.FixedLenFeature([], tf.string),
    "image/height": tf.io.FixedLenFeature([], tf.int64),
    "image/width": tf.io.FixedLenFeature([], tf.int64),
    "image/source_id": tf.io.FixedLenFeature([], tf.string, default_value="-1"),
    **{f"image/object/bbox/{side}": tf.io.VarLenFeature(tf.float32)
       for side in ("ymin", "xmin", "ymax", "xmax")},
    "image/object/class/label": tf.io.VarLenFeature(tf.int64),
    "image/object/is_crowd": tf.io.VarLenFeature(tf.int64),
    "image/object/area": tf.io.VarLenFeature(tf.float32),
}


def _bad(where, what, fix):
    return UserError(f"{where}: {what}; {fix}")


def _image_table(images, path):
    """{image id: (file_name, height, width)} from the JSON's "images"."""
    table = {}
    for image in images:
        if not isinstance(image.get("id"), int):
            raise _bad(path, f"image {image.get('file_name')} has id {image.get('id')!r}",
                       "COCO image ids are integers; number the images")
        if not image.get("width") or not image.get("height"):
            raise _bad(path, f"image {image.get('id')} ({image.get('file_name')}) has no width "
                       "and height", "add them to its entry in \"images\"")
        table[image["id"]] = (image["file_name"], int(image["height"]), int(image["width"]))
    return table


def _box(annotation, size, path):
    """The annotation's [ymin, xmin, ymax, xmax] clipped to the image and normalised, or
    None when nothing is left after clipping."""
    bbox = annotation.get("bbox")
    if not isinstance(bbox, (list, tuple)) or len(bbox) != 4:
        raise _bad(path, f"annotation {annotation.get('id')} has bbox {bbox!r}, not [x, y, "
                   "width, height]", "fix or remove that annotation")
    height, width = size
    x, y, w, h = (float(value) for value in bbox)
    xmin, ymin = min(max(x, 0.0), width), min(max(y, 0.0), height)
    xmax, ymax = min(max(x + w, 0.0), width), min(max(y + h, 0.0), height)
    if xmax <= xmin or ymax <= ymin:
        return None
    return [ymin / height, xmin / width, ymax / height, xmax / width]


def read_annotations(path):
    """A COCO instances JSON -> (per-image records in the JSON's image order, class names,
    category ids, skipped box count). A record: (file_name, image_id, (height, width),
    boxes (n, 4), classes (n,), is_crowd (n,), area (n,))."""
    try:
        with open(path) as file:
            content = json.load(file)
    except (OSError, ValueError) as error:
        raise UserError(f"cannot read the COCO annotations {path}: {error}") from None
    categories = sorted(content.get("categories", []), key=lambda category: category["id"])
    index = {category["id"]: k for k, category in enumerate(categories)}
    images = _image_table(content.get("images", []), path)
    objects, skipped = collections.defaultdict(list), 0
    for annotation in content.get("annotations", []):
        name = f"annotation {annotation.get('id')}"
        if annotation.get("category_id") not in index:
            raise _bad(path, f"{name} has category_id {annotation.get('category_id')}, which "
                       "is not in \"categories\"", "add that category or fix the annotation")
        if annotation.get("image_id") not in images:
            raise _bad(path, f"{name} has image_id {annotation.get('image_id')}, which is not "
                       "in \"images\"", "add the image or remove the annotation")
        file_name, height, width = images[annotation["image_id"]]
        box = _box(annotation, (height, width), path)
        if box is None:
            skipped += 1
            continue
        area = annotation.get("area") or (box[2] - box[0]) * (box[3] - box[1]) * height * width
        objects[annotation["image_id"]].append(
            (box, index[annotation["category_id"]], bool(annotation.get("iscrowd", 0)), area))
    records = []
    for image_id, (file_name, height, width) in images.items():
        rows = objects.get(image_id, [])
        records.append((file_name, image_id, (height, width),
                        np.array([r[0] for r in rows], np.float32).reshape(-1, 4),
                        np.array([r[1] for r in rows], np.int32),
                        np.array([r[2] for r in rows], bool),
                        np.array([r[3] for r in rows], np.float32)))
    return (records, tuple(c["name"] for c in categories), tuple(c["id"] for c in categories),
            skipped)


def checked_annotations(annotation_file, image_dir, name):
    """read_annotations() with every image file checked (a missing one is a UserError
    naming it) and the skipped boxes reported in one line; done once per process for an
    unchanged JSON, since train.py builds the input pipeline anew each epoch and COCO's
    train JSON takes tens of seconds to parse and its 118k files to check."""
    key = (os.path.abspath(annotation_file), os.path.getmtime(annotation_file),
           os.path.abspath(image_dir))
    if key not in _checked:
        records, class_names, category_ids, skipped = read_annotations(annotation_file)
        if not class_names:
            raise UserError(f"{annotation_file} has no \"categories\"; list the classes there")
        missing = [record[0] for record in records
                   if not os.path.isfile(os.path.join(image_dir, record[0]))]
        if missing:
            raise UserError(f"image file {os.path.join(image_dir, missing[0])} named in "
                            f"{annotation_file} is missing ({len(missing)} missing in all); "
                            "check image_dir or remove those images from the JSON")
        if skipped:
            print(f"{name}: skipped {skipped} annotation(s) whose box has no area inside its "
                  f"image ({annotation_file})", file=sys.stderr)
        _checked[key] = records, class_names, category_ids
    return _checked[key]


def _json_examples(records, image_dir):
    """The records as a dataset of {"path", "image_id", "boxes", "classes", "is_crowd",
    "area"}."""
    paths = [os.path.join(image_dir, record[0]) for record in records]
    lengths = [len(record[4]) for record in records]
    ragged = lambda k, dtype, width=None: tf.RaggedTensor.from_row_lengths(
        np.concatenate([r[k] for r in records]).astype(dtype).reshape(
            (-1,) + ((width,) if width else ())), lengths) if records else \
        tf.zeros([0, 0] + ([width] if width else []), dtype)
    examples = tf.data.Dataset.from_tensor_slices({
        "path": tf.constant(paths, tf.string),
        "image_id": tf.constant([record[1] for record in records], tf.int64),
        "boxes": ragged(3, np.float32, 4), "classes": ragged(4, np.int32),
        "is_crowd": ragged(5, bool), "area": ragged(6, np.float32)})
    # A ragged row arrives in a map as a plain tensor: one map makes the spec say so (the
    # pipeline's end marker needs plain tensor specs).
    return examples.map(lambda example: dict(example))


def _read_image(example):
    """A JSON example: the image file's bytes in place of its path."""
    features = {key: value for key, value in example.items() if key != "path"}
    return {**features, "image_bytes": tf.io.read_file(example["path"])}


def load_json_files(annotation_file, image_dir, split, *, name, training, seed,
                    input_context):
    """One split from a COCO instances JSON and its image folder, as a Source."""
    records, class_names, category_ids = checked_annotations(annotation_file, image_dir, name)
    examples = pipeline.shard(_json_examples(records, image_dir), input_context)
    if training:   # file names only: the whole split shuffles for nothing
        examples = examples.shuffle(max(len(records), 1), seed=seed,
                                    reshuffle_each_iteration=True)
    info = DatasetInfo(name=name, split=split, num_classes=len(class_names),
                       class_names=class_names, num_examples=len(records),
                       category_ids=category_ids)
    return Source(examples, info, parse=_read_image)


# The names a split's files go by in "{split}" paths, tried in this order.
SPLIT_SYNONYMS = {"train": ("train", "training"),
                  "validation": ("validation", "val", "valid"),
                  "test": ("test", "testing")}


def json_paths(split, *, data_dir=None, annotation_file=None, image_dir=None):
    """(annotation file, image dir) of a coco_json split. "{split}" in either becomes the
    first of the split's names (SPLIT_SYNONYMS: validation, val, valid; train, training)
    whose annotation file exists, and the image dir takes the same name (or, if that folder
    is missing, the first name whose folder exists). Relative paths start at data_dir; the
    image dir defaults to the JSON's folder. UserError naming every file tried."""
    if not annotation_file:
        raise UserError("coco_json needs annotation_file=PATH.json (COCO instances format); "
                        "set --config.dataset.options.annotation_file")
    names = SPLIT_SYNONYMS.get(split, (split,)) if "{split}" in annotation_file else (split,)
    resolve = lambda path, name: os.path.join(data_dir or "", path.replace("{split}", name))
    tried = [resolve(annotation_file, name) for name in names]
    found = [(path, name) for path, name in zip(tried, names) if os.path.isfile(path)]
    if not found:
        raise UserError(f"annotation file of the {split} split does not exist: tried "
                        f"{', '.join(tried)}; check annotation_file and --data_dir")
    path, name = found[0]
    if not image_dir:
        return path, os.path.dirname(path)
    folders = [resolve(image_dir, other) for other in (name, *names)]
    return path, next((folder for folder in folders if os.path.isdir(folder)), folders[0])


def survey_json(split, *, data_dir=None, annotation_file=None, image_dir=None, **_):
    """Survey of a coco_json split from its JSON's "images" entries (count, height and
    width), reading no image; other loader options are ignored."""
    path, _ = json_paths(split, data_dir=data_dir, annotation_file=annotation_file,
                         image_dir=image_dir)
    try:
        with open(path) as file:
            images = json.load(file).get("images", [])
    except (OSError, ValueError) as error:
        raise UserError(f"cannot read the COCO annotations {path}: {error}") from None
    if not images:
        raise UserError(f"{path} lists no \"images\"; a COCO instances JSON lists each image "
                        "with its file_name, height and width")
    sizes = tuple((int(image.get("height") or 0), int(image.get("width") or 0))
                  for image in images)
    if min(min(size) for size in sizes) < 1:
        raise UserError(f"{path}: an image has no height and width; add them to its entry "
                        "in \"images\"")
    return Survey(num_examples=len(images), sizes=sizes)


def load_json(split, *, data_dir=None, training, seed, input_context, annotation_file=None,
              image_dir=None):
    """`coco_json`: any COCO-format JSON and its images (see the module docstring)."""
    annotation_file, image_dir = json_paths(split, data_dir=data_dir,
                                            annotation_file=annotation_file,
                                            image_dir=image_dir)
    return load_json_files(annotation_file, image_dir, split, name="coco_json",
                           training=training, seed=seed, input_context=input_context)


def _category_index_table():
    """int32 (91,): COCO category id -> class index 0..79, -1 for ids that are not used."""
    table = np.full(max(i for i, _ in COCO_CATEGORIES) + 1, -1, np.int32)
    for k, (category_id, _) in enumerate(COCO_CATEGORIES):
        table[category_id] = k
    return table


def parse_record(example):
    """{"record": a serialized tf.train.Example of the Object Detection API} -> a detection
    example. Runs in the pipeline's guarded map: a record that does not parse, or whose
    class label is not a COCO category id, is skipped like a corrupt image."""
    parsed = tf.io.parse_single_example(example["record"], _TFRECORD_FEATURES)
    dense = lambda key: tf.sparse.to_dense(parsed[f"image/object/{key}"])
    boxes = tf.clip_by_value(tf.stack([dense(f"bbox/{side}") for side in
                                       ("ymin", "xmin", "ymax", "xmax")], axis=1), 0.0, 1.0)
    count = tf.shape(boxes)[0]
    table = tf.constant(_category_index_table())
    labels = tf.cast(dense("class/label"), tf.int32)
    known = (labels >= 0) & (labels < table.shape[0])
    classes = tf.gather(table, tf.where(known, labels, 0))
    check = tf.debugging.assert_non_negative(tf.where(known, classes, -1),
                                             message="label not a COCO category id")
    # is_crowd and area are optional in the format: zeros, and the box's area, when absent.
    crowd = tf.concat([dense("is_crowd"), tf.zeros([count], tf.int64)], 0)[:count]
    size = tf.cast(tf.stack([parsed["image/height"], parsed["image/width"]]), tf.float32)
    box_area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1]) * size[0] * size[1]
    area = dense("area")
    area = tf.cond(tf.shape(area)[0] == count, lambda: area, lambda: box_area)
    with tf.control_dependencies([check]):
        classes = tf.identity(classes)
    return {"image_bytes": parsed["image/encoded"], "boxes": boxes, "classes": classes,
            "is_crowd": crowd > 0, "area": area,
            "image_id": tf.strings.to_number(parsed["image/source_id"], tf.int64)}


def _load_tfrecords(files, split, training, seed, input_context):
    """The Object Detection API's TFRecords of COCO, as a Source (counted once: one read)."""
    from mobilenet_tf.data import imagenet   # shares its checked TFRecord reader
    records = pipeline.interleave_files(files, imagenet._read_tfrecord_file, training, seed,
                                        input_context)
    info = DatasetInfo(name="coco", split=split, num_classes=len(COCO_CATEGORIES),
                       class_names=tuple(name for _, name in COCO_CATEGORIES),
                       num_examples=imagenet._count_records(files),
                       category_ids=tuple(i for i, _ in COCO_CATEGORIES))
    return Source(tf.data.Dataset.zip({"record": records}), info, parse=parse_record)


def _load_tfds(path, split, training, seed, input_context):
    """coco/2017 prepared by TFDS at `path`, as a Source (images left encoded)."""
    import tensorflow_datasets as tfds   # slow to import; only TFDS users pay for it
    builder = tfds.builder_from_directory(path)
    split = tfds_prepared._resolve_split(split, builder.info.splits.keys(), TFDS_NAME)
    read_config = tfds.ReadConfig(input_context=input_context, shuffle_seed=seed,
                                  interleave_cycle_length=16)
    examples = builder.as_dataset(split=split, shuffle_files=training, read_config=read_config,
                                  decoders={"image": tfds.decode.SkipDecoding()})
    examples = examples.map(lambda ex: {
        "image_bytes": ex["image"], "image_id": tf.cast(ex["image/id"], tf.int64),
        "boxes": ex["objects"]["bbox"], "classes": tf.cast(ex["objects"]["label"], tf.int32),
        "is_crowd": ex["objects"]["is_crowd"],
        "area": tf.cast(ex["objects"]["area"], tf.float32)})
    names = tuple(builder.info.features["objects"]["label"].names)
    ids = {name: i for i, name in COCO_CATEGORIES}
    category_ids = tuple(ids.get(name.replace("_", " "), -1) for name in names)
    info = DatasetInfo(name="coco", split=split, num_classes=len(names), class_names=names,
                       num_examples=builder.info.splits[split].num_examples,
                       category_ids=() if -1 in category_ids else category_ids)
    return Source(examples, info)


def find_layout(data_dir, split):
    """("json", (annotation file, image dir)) | ("tfrecord", files) | ("tfds", path) for
    COCO 2017's split in data_dir, checked in that order; else a UserError."""
    check_data_dir("coco", data_dir, split, SPLIT_NAMES, _HOW_TO_GET)
    folder = SPLIT_NAMES[split]
    annotations = os.path.join(data_dir, "annotations", f"instances_{folder}.json")
    if os.path.isfile(annotations):
        return "json", (annotations, os.path.join(data_dir, folder))
    files = glob.glob(os.path.join(data_dir, TFRECORD_PATTERNS[split]))
    if files:
        return "tfrecord", sorted(files)
    prepared = tfds_prepared.find_prepared(data_dir, TFDS_NAME)
    if prepared:
        return "tfds", prepared
    raise UserError(f"no COCO 2017 {split} in {data_dir}: looked for {annotations}, "
                    f"{TFRECORD_PATTERNS[split]} and {TFDS_NAME}/VERSION/; {_HOW_TO_GET}")


def load(split, *, data_dir=None, training, seed, input_context):
    """`coco`: COCO 2017's split from data_dir, in whichever form is there."""
    layout, where = find_layout(data_dir, split)
    if layout == "json":
        return load_json_files(*where, split, name="coco", training=training, seed=seed,
                               input_context=input_context)
    if layout == "tfrecord":
        return _load_tfrecords(where, split, training, seed, input_context)
    return _load_tfds(where, split, training, seed, input_context)
