"""ILSVRC-2012 (ImageNet-1k) from whichever of its three usual forms --data_dir holds.

1. TFRecord shards in the layout of the TPU / Model Garden tooling (imagenet_to_gcs.py):
   `train-00000-of-01024` ... and `validation-00000-of-00128` ..., each record a
   tf.train.Example with `image/encoded` (JPEG bytes) and `image/class/label` (1..1000).
   A record whose `image/format` is "RAW" holds uint8 pixels instead, `image/height` x
   `image/width` x `image/channels` (3) of them in row order (prepare --raw_fraction writes
   them, alone or mixed with JPEG records in one file).
2. A TFDS data dir with `imagenet2012/VERSION/` prepared in it.
3. TFDS's manual dir: the two official tars, ILSVRC2012_img_train.tar and
   ILSVRC2012_img_val.tar, in --data_dir or --data_dir/downloads/manual. They are prepared
   once into the TFDS form (2), which takes hours, and read from there afterwards.

Labels are 0..999 in all three, in the sorted-WordNet-id order that TFDS and the
keras.applications weights use (the TFRecords' 1..1000 minus one).
"""
import glob
import importlib.util
import os
import sys

import tensorflow as tf

from mobilenet_tf import UserError
from mobilenet_tf.data import pipeline, tfds_prepared
from mobilenet_tf.data.source import DatasetInfo, Source, check_data_dir

NUM_CLASSES = 1000
TFRECORD_PATTERNS = {"train": "train-*", "validation": "validation-*"}
# The official split sizes; the standard sharding writes them in 1024 and 128 files.
NUM_EXAMPLES = {"train": 1_281_167, "validation": 50_000}
STANDARD_SHARDS = {"train": 1024, "validation": 128}
MANUAL_TARS = ("ILSVRC2012_img_train.tar", "ILSVRC2012_img_val.tar")
TFDS_NAME = "imagenet2012"
# image/format says "RAW" for records of raw pixels (RAW_FORMAT); other records hold an
# encoded image, and the layout's writers set the format ("JPEG") and sizes or leave them out.
RAW_FORMAT = "RAW"
_TFRECORD_FEATURES = {
    "image/encoded": tf.io.FixedLenFeature([], tf.string),
    "image/class/label": tf.io.FixedLenFeature([], tf.int64),
    "image/format": tf.io.FixedLenFeature([], tf.string, default_value=""),
    "image/height": tf.io.FixedLenFeature([], tf.int64, default_value=0),
    "image/width": tf.io.FixedLenFeature([], tf.int64, default_value=0),
    "image/channels": tf.io.FixedLenFeature([], tf.int64, default_value=0),
}
_HOW_TO_PREPARE = (
    "put the TFRecord shards (train-*, validation-*, written by Model Garden's or the TPU "
    "tooling's imagenet_to_gcs.py) in it, or a TFDS data dir with imagenet2012 prepared, or "
    f"the two official tars ({MANUAL_TARS[0]}, {MANUAL_TARS[1]}) to prepare once")


def class_names():
    """The 1000 WordNet ids (n01440764, ...) in label order, from the TFDS package's list."""
    spec = importlib.util.find_spec("tensorflow_datasets")
    path = os.path.join(spec.submodule_search_locations[0], "datasets", TFDS_NAME, "labels.txt")
    with open(path) as labels:
        names = tuple(labels.read().split())
    assert len(names) == NUM_CLASSES, path
    return names


def _manual_dir(data_dir):
    for candidate in (data_dir, os.path.join(data_dir, "downloads", "manual")):
        if any(os.path.isfile(os.path.join(candidate, tar)) for tar in MANUAL_TARS):
            return candidate
    return None


def find_layout(data_dir, split):
    """("tfrecord", shard files) | ("tfds", prepared path) | ("manual", tars dir) for the
    split, checked in that order; a UserError naming what was looked for when none is there."""
    check_data_dir("imagenet", data_dir, split, TFRECORD_PATTERNS, _HOW_TO_PREPARE)
    files = glob.glob(os.path.join(data_dir, TFRECORD_PATTERNS[split]))
    if files:
        return "tfrecord", sorted(files)
    prepared = tfds_prepared.find_prepared(data_dir, TFDS_NAME)
    if prepared:
        return "tfds", prepared
    manual = _manual_dir(data_dir)
    if manual:
        return "manual", manual
    raise UserError(f"no ImageNet in {data_dir}: looked for {TFRECORD_PATTERNS[split]} TFRecord "
                    f"shards, {TFDS_NAME}/VERSION/ from TFDS and {' / '.join(MANUAL_TARS)}; "
                    + _HOW_TO_PREPARE)


def parse_record(example):
    """{"record": a serialized tf.train.Example of the TFRecord layout} ->
    {"image_bytes", "raw_shape", "label" 0..999}; raw_shape is the (height, width, channels)
    of a raw record, zeros for an encoded image (see preprocess). Runs inside the pipeline's
    guarded decode, so a record that is not an Example, or a raw record whose bytes do not
    fill its shape, is skipped like a corrupt JPEG."""
    parsed = tf.io.parse_single_example(example["record"], _TFRECORD_FEATURES)
    shape = tf.cast(tf.stack([parsed["image/height"], parsed["image/width"],
                              parsed["image/channels"]]), tf.int32)
    # At least 1 each, so a raw record's shape is never zeros and never has a -1 for
    # reshape to fill in: a bad size fails when the bytes do not fill it.
    raw_shape = tf.where(tf.equal(parsed["image/format"], RAW_FORMAT), tf.maximum(shape, 1),
                         tf.zeros_like(shape))
    return {"image_bytes": parsed["image/encoded"], "raw_shape": raw_shape,
            "label": tf.cast(parsed["image/class/label"], tf.int32) - 1}


# TFRecord framing around each record: its length (8 bytes) and two CRC32s (4 + 4).
_RECORD_FRAMING_BYTES = 16
# Records whose bytes are added up at a time: the count runs once per chunk, not per record.
_RECORDS_PER_CHUNK = 64


def _read_tfrecord_file(path, size):
    """The records of one TFRecord file. A record failing its checksum ends the file (the
    reader cannot find the next record): the rest of the epoch goes on, and one warning
    names the file and how much of it was lost, found by adding up the bytes read.

    The bytes are added up per chunk of records (batch and unbatch are cheap; a function
    per record is not), and the end marker is an empty chunk, which unbatch() drops."""
    chunks = tf.data.TFRecordDataset(path, buffer_size=8 << 20).ignore_errors().batch(
        _RECORDS_PER_CHUNK)
    marked = pipeline.with_end_marker(chunks, tf.zeros([0], tf.string))

    def add_bytes(consumed, marked_chunk):
        is_end, chunk = marked_chunk
        lengths = tf.cast(tf.strings.length(chunk), tf.int64) + _RECORD_FRAMING_BYTES
        consumed += tf.reduce_sum(lengths)
        lost = tf.logical_and(is_end, consumed < size)
        tf.cond(lost, lambda: _warn_truncated(path, consumed, size), tf.no_op)
        return consumed, chunk

    return marked.scan(tf.constant(0, tf.int64), add_bytes).unbatch()


def _warn_truncated(path, consumed, size):
    tf.print("warning: corrupt record in", path, "- read", consumed, "of", size,
             "bytes; the rest of that file is skipped", output_stream=sys.stderr)
    return tf.no_op()


def _count_records(files):
    """Records readable in the files (a damaged record ends its file, as when reading)."""
    readable = tf.data.Dataset.from_tensor_slices(files).interleave(
        lambda path: tf.data.TFRecordDataset(path).ignore_errors(),
        num_parallel_calls=tf.data.AUTOTUNE)
    return int(readable.reduce(tf.constant(0, tf.int64), lambda count, _: count + 1))


def _load_tfrecords(files, split, training, seed, input_context):
    records = pipeline.interleave_files(files, _read_tfrecord_file, training, seed, input_context)
    examples = tf.data.Dataset.zip({"record": records})   # no function per record
    # The standard sharding holds the whole split; any other is counted (one read).
    standard = len(files) == STANDARD_SHARDS[split]
    num_examples = NUM_EXAMPLES[split] if standard else _count_records(files)
    info = DatasetInfo(name="imagenet", split=split, num_classes=NUM_CLASSES,
                       class_names=class_names(), num_examples=num_examples)
    return Source(examples, info, parse=parse_record)


def _prepare_from_tars(manual_dir, data_dir):
    """Builds the TFDS form of ImageNet in data_dir from the official tars (no download)."""
    import tensorflow_datasets as tfds
    print(f"preparing {TFDS_NAME} in {data_dir} from the tars in {manual_dir}; this runs once "
          "and takes hours for the full dataset", file=sys.stderr)
    builder = tfds.builder(TFDS_NAME, data_dir=data_dir)
    builder.download_and_prepare(download_config=tfds.download.DownloadConfig(
        manual_dir=manual_dir))
    return tfds_prepared.find_prepared(data_dir, TFDS_NAME)


def load(split, *, data_dir, training, seed, input_context):
    """ImageNet's split from --data_dir, in whichever form is there (see the module doc)."""
    layout, where = find_layout(data_dir, split)
    if layout == "tfrecord":
        return _load_tfrecords(where, split, training, seed, input_context)
    if layout == "manual":
        where = _prepare_from_tars(where, data_dir)
    return tfds_prepared.load_prepared(where, split, name="imagenet", training=training,
                                       seed=seed, input_context=input_context)
