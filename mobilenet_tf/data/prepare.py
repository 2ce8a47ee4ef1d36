"""Pre-resized copies of a dataset, in the layout its loader already reads: the full-size
decode is paid once, not every epoch.

    python -m mobilenet_tf.data.prepare --dataset=imagenet --data_dir=IN --output_dir=OUT \\
        --min_side=256
    python -m mobilenet_tf.data.prepare --dataset=coco --data_dir=IN --output_dir=OUT --max_side=640
    python -m mobilenet_tf.data.prepare --dataset=coco_json --annotation_file=IN/train.json \\
        --output_dir=OUT --max_side=640
    python -m mobilenet_tf.data.prepare --dataset=masks --data_dir=IN --output_dir=OUT \\
        --max_side=1024

--min_side=N scales each image so its shorter side is N (ImageNet's classic 256, the
evaluation resize the 0.875 central crop assumes); --max_side=N so its longer side is N
(FFCV's max_resolution). Images are only ever made smaller; those already small enough keep
their bytes. Resizing is antialiased (area-weighted), images are written as JPEG of --quality
(masks: nearest neighbour, PNG, so every pixel keeps a class id of the original).

--raw_fraction=F (imagenet only) stores the fraction F of the images as raw uint8 pixels
(image/format "RAW", with image/height, image/width and image/channels), FFCV's proportion
mode (its compress_probability is 1 - F): the loader slices the crop out of the pixels with
no JPEG decode, for H x W x 3 bytes of disk per image (262 KB for a 4:3 photo at
--min_side=256, against about 30 KB as JPEG of quality 90). Which images are raw is fixed by
their index in the split (stored_raw), so a rerun writes the same shards. The other datasets
are written as image files, which have no raw form: they refuse F.

    imagenet        (any form the loader reads, raw records included) ->
                    OUT/train-00000-of-01024 ..., the TFRecord layout; labels as there (1..1000)
    coco, coco_json (COCO JSON and its image folder) -> the same JSON and folder under OUT,
                    with image sizes, boxes and areas scaled (boxes stay on their objects;
                    polygons are scaled, RLE masks dropped) and file names kept
    masks, cityscapes, voc2012 -> the same folders under OUT, images and masks at the same
                    relative paths; the layout's list files (*.txt) copied

An image that does not decode is skipped, counted and named in one line at the end (and, for
the list and annotation files, left out of them). Every output file (a shard, an image) is
written under a temporary name and renamed when complete: an interrupted run rerun with the
same flags keeps what is finished and writes only the rest (TFRecord shards are blocks of
the split in the loader's order, so a finished shard's examples are read past, not decoded).
"""
import argparse
import copy
import glob
import json
import math
import os
import sys

import tensorflow as tf

from mobilenet_tf import UserError, callbacks
from mobilenet_tf.data import coco, imagenet, masks, preprocess

# The ImageNet TFRecord layout's examples per shard (1,281,167 / 1024).
EXAMPLES_PER_SHARD = 1252
JPEG_QUALITY = 90
# Names shown in the one line about skipped images; the rest are counted.
NAMED_SKIPS = 5
DETECTION = ("coco", "coco_json")
SEGMENTATION = ("masks", "cityscapes", "voc2012")
DATASETS = ("imagenet",) + DETECTION + SEGMENTATION


# -- Resizing ---------------------------------------------------------------------------------

def target_size(height, width, *, min_side=0, max_side=0):
    """(height, width) scaled so the shorter side is min_side or the longer max_side, never
    larger than the original; int32 tensors."""
    height, width = tf.cast(height, tf.float32), tf.cast(width, tf.float32)
    if min_side:
        scale = min_side / tf.minimum(height, width)
    else:
        scale = max_side / tf.maximum(height, width)
    scale = tf.minimum(scale, 1.0)
    return (tf.cast(tf.maximum(tf.round(height * scale), 1.0), tf.int32),
            tf.cast(tf.maximum(tf.round(width * scale), 1.0), tf.int32))


def resized_pixels(image, *, min_side=0, max_side=0):
    """(pixels, changed): a uint8 (H, W, 3) image scaled down by target_size (area-weighted,
    rounded to uint8), or the image itself (changed False) when it is small enough."""
    shape = tf.shape(image)
    height, width = target_size(shape[0], shape[1], min_side=min_side, max_side=max_side)
    same = tf.logical_and(tf.equal(height, shape[0]), tf.equal(width, shape[1]))

    def smaller():
        pixels = tf.image.resize(tf.cast(image, tf.float32), [height, width], method="area")
        return tf.cast(tf.clip_by_value(pixels + 0.5, 0, 255), tf.uint8)

    return tf.cond(same, lambda: image, smaller), tf.logical_not(same)


def encoded_like(pixels, changed, encoded, *, as_jpeg, quality=JPEG_QUALITY):
    """`pixels` (resized from the image `encoded`) as an image file's bytes: JPEG of
    `quality` when as_jpeg, else PNG; `encoded` itself when nothing changed."""
    return tf.cond(changed, lambda: tf.cond(as_jpeg,
                                            lambda: tf.io.encode_jpeg(pixels, quality=quality),
                                            lambda: tf.io.encode_png(pixels)),
                   lambda: encoded)


def resized_image(encoded, *, min_side=0, max_side=0, quality=JPEG_QUALITY):
    """(encoded, height, width) of an image scaled down by target_size (area-weighted), as
    JPEG of `quality` (PNG for an image that was not a JPEG), or the original bytes when it
    is small enough. Fails (InvalidArgumentError) on an image that does not decode, as the
    loaders would."""
    image = tf.io.decode_image(encoded, channels=3, expand_animations=False)
    pixels, changed = resized_pixels(image, min_side=min_side, max_side=max_side)
    shape = tf.shape(pixels)
    return (encoded_like(pixels, changed, encoded, as_jpeg=tf.io.is_jpeg(encoded),
                         quality=quality), shape[0], shape[1])


def resized_mask(encoded, height, width):
    """A PNG mask resized to (height, width) by nearest neighbour, as PNG with its channels."""
    mask = tf.io.decode_png(encoded)
    return tf.io.encode_png(tf.image.resize(mask, [height, width], method="nearest"))


# -- Writing ----------------------------------------------------------------------------------

def write_atomically(path, write):
    """callbacks.write_atomically, into a folder made first (the copy mirrors the source's)."""
    tf.io.gfile.makedirs(os.path.dirname(path) or ".")
    callbacks.write_atomically(path, write)


def write_bytes(path, data):
    """`data` written to `path` atomically, its folder made first."""
    tf.io.gfile.makedirs(os.path.dirname(path) or ".")
    callbacks.write_text_atomically(path, data)


class Skipped:
    """The images that did not decode: counted, and named in one line at the end."""

    def __init__(self):
        self.names = []

    def add(self, name):
        self.names.append(name)

    def report(self, dataset):
        """The one line (stderr) about skipped images, if any."""
        if not self.names:
            return
        shown = ", ".join(self.names[:NAMED_SKIPS])
        more = f" and {len(self.names) - NAMED_SKIPS} more" if len(self.names) > NAMED_SKIPS else ""
        print(f"prepare {dataset}: skipped {len(self.names)} image(s) that do not decode "
              f"(corrupt or not an image): {shown}{more}", file=sys.stderr, flush=True)


def _in_order(dataset, function):
    """dataset.map(function) in parallel, in order, with the elements on which it fails
    (an image that does not decode) dropped, as numpy."""
    mapped = dataset.map(function, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    return mapped.ignore_errors().prefetch(tf.data.AUTOTUNE).as_numpy_iterator()


# -- ImageNet: TFRecord shards ----------------------------------------------------------------

def shard_names(split, num_shards):
    """The ImageNet TFRecord layout's file names of a split."""
    prefix = imagenet.TFRECORD_PATTERNS[split][:-1]
    return [f"{prefix}{i:05d}-of-{num_shards:05d}" for i in range(num_shards)]


def _imagenet_record(encoded, label, pixels=None):
    """A serialized Example of the TFRecord layout: the encoded image, or, when `pixels`
    (uint8 (H, W, 3)) are given and not empty, a raw record of them."""
    def ints(value):
        return tf.train.Feature(int64_list=tf.train.Int64List(value=[int(value)]))

    def strings(value):
        return tf.train.Feature(bytes_list=tf.train.BytesList(value=[value]))

    feature = {"image/encoded": strings(encoded), "image/class/label": ints(label + 1)}
    if pixels is not None and pixels.size:
        height, width, channels = pixels.shape
        feature.update({"image/encoded": strings(pixels.tobytes()),
                        "image/format": strings(imagenet.RAW_FORMAT.encode()),
                        "image/height": ints(height), "image/width": ints(width),
                        "image/channels": ints(channels)})
    return tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString()


def stored_raw(index, raw_fraction):
    """Whether example `index` (int64 tensor) of a split is stored as raw pixels: when
    floor((index + 1) f) > floor(index f), which spreads the fraction f evenly over the
    split, the same examples in every run (so a resumed run writes the same shards)."""
    index = tf.cast(index, tf.float64)
    return tf.greater(tf.floor((index + 1.0) * raw_fraction), tf.floor(index * raw_fraction))


def _imagenet_example(features, raw, *, min_side, max_side, quality):
    """(encoded, pixels) of one example resized: pixels (uint8 (H, W, 3)) and no bytes for a
    raw record, else the image's bytes (JPEG or PNG as it was; a raw input becomes JPEG) and
    no pixels. The input may be encoded or raw."""
    pixels, changed = resized_pixels(preprocess.decode(features)["image"],
                                     min_side=min_side, max_side=max_side)
    from_raw = preprocess.is_raw(features)

    def encoded():
        as_jpeg = tf.logical_or(from_raw, tf.io.is_jpeg(features["image_bytes"]))
        return (encoded_like(pixels, tf.logical_or(changed, from_raw), features["image_bytes"],
                             as_jpeg=as_jpeg, quality=quality),
                tf.zeros([0, 0, 3], tf.uint8))

    return tf.cond(raw, lambda: (tf.constant(""), pixels), encoded)


def prepare_imagenet(data_dir, output_dir, split, *, skipped, num_shards=0, raw_fraction=0.0,
                     **resize):
    """One ImageNet split as TFRecord shards in output_dir (see the module doc): shard i holds
    examples [N i / S, N (i + 1) / S) of the split in the loader's evaluation order, the
    fraction raw_fraction of them (stored_raw) as raw pixels; shards already there are kept,
    and their examples read past without decoding."""
    source = imagenet.load(split, data_dir=data_dir, training=False, seed=None,
                           input_context=None)
    count = source.info.num_examples
    if not num_shards:
        num_shards = (imagenet.STANDARD_SHARDS[split] if count == imagenet.NUM_EXAMPLES[split]
                      else max(1, math.ceil(count / EXAMPLES_PER_SHARD)))
    names = [os.path.join(output_dir, name) for name in shard_names(split, num_shards)]
    bounds = [count * i // num_shards for i in range(num_shards + 1)]
    todo = [i for i, name in enumerate(names) if not tf.io.gfile.exists(name)]
    if not todo:
        return
    wanted = tf.constant([i in set(todo) for i in range(num_shards)])
    ends = tf.constant(bounds[1:], tf.int64)
    parse = source.parse or (lambda example: example)

    def in_todo(index, _):
        return tf.gather(wanted, tf.searchsorted(ends, index[None], side="right")[0])

    def process(index, example):
        features = parse(example)
        encoded, pixels = _imagenet_example(features, stored_raw(index, raw_fraction), **resize)
        return index, encoded, features["label"], pixels

    done = _in_order(source.examples.enumerate().filter(in_todo), process)
    pending = next(done, None)
    for shard in todo:
        def write(partial, shard=shard):
            nonlocal pending
            with tf.io.TFRecordWriter(partial) as writer:
                for index in range(bounds[shard], bounds[shard + 1]):
                    if pending is not None and pending[0] == index:
                        writer.write(_imagenet_record(*pending[1:]))
                        pending = next(done, None)
                    else:
                        skipped.add(f"{split} example {index}")
        write_atomically(names[shard], write)


# -- COCO-format detection: the JSON and its image folder -------------------------------------

def _scaled_annotation(annotation, scale_x, scale_y):
    """A COCO annotation in the pixels of the image scaled by (scale_x, scale_y): bbox, area
    and polygons scaled; an RLE mask (in the old pixels) dropped."""
    scaled = copy.deepcopy(annotation)
    if isinstance(annotation.get("bbox"), (list, tuple)) and len(annotation["bbox"]) == 4:
        x, y, w, h = (float(value) for value in annotation["bbox"])
        scaled["bbox"] = [x * scale_x, y * scale_y, w * scale_x, h * scale_y]
    if annotation.get("area"):
        scaled["area"] = float(annotation["area"]) * scale_x * scale_y
    polygons = annotation.get("segmentation")
    if isinstance(polygons, list):
        scaled["segmentation"] = [[value * (scale_x if k % 2 == 0 else scale_y)
                                   for k, value in enumerate(polygon)] for polygon in polygons]
    elif polygons is not None:
        del scaled["segmentation"]
    return scaled


def _image_sizes(paths, outputs, todo, skipped, **resize):
    """{index: (height, width)} of the images at `paths` written resized to `outputs`:
    those in `todo` decoded, resized and written; the others, already there, read from
    their headers. Images that do not decode are added to `skipped` (by path) and left out."""
    from mobilenet_tf.data.source import image_file_size
    sizes = {i: image_file_size(outputs[i]) for i in range(len(paths)) if i not in set(todo)}

    def process(index, path):
        encoded, height, width = resized_image(tf.io.read_file(path), **resize)
        return index, encoded, height, width

    selected = tf.data.Dataset.from_tensor_slices(
        (tf.constant(todo, tf.int64), tf.constant([paths[i] for i in todo], tf.string)))
    done = {}
    for index, encoded, height, width in _in_order(selected, process):
        write_bytes(outputs[index], encoded)
        done[int(index)] = (int(height), int(width))
    for index in todo:
        if index not in done:
            skipped.add(paths[index])
    sizes.update(done)
    return sizes


def prepare_coco_json(annotation_file, image_dir, output_dir, *, skipped, **resize):
    """A COCO JSON and its images resized into output_dir, at the same paths relative to
    their common folder (see the module doc); the JSON is written last."""
    root = os.path.commonpath([os.path.abspath(annotation_file), os.path.abspath(image_dir)])
    if os.path.isfile(root):
        root = os.path.dirname(root)
    out = lambda path: os.path.join(output_dir, os.path.relpath(os.path.abspath(path), root))
    with open(annotation_file) as file:
        content = json.load(file)
    images = content.get("images", [])
    paths = [os.path.join(image_dir, image["file_name"]) for image in images]
    outputs = [out(path) for path in paths]
    todo = [i for i, path in enumerate(outputs) if not tf.io.gfile.exists(path)]
    sizes = _image_sizes(paths, outputs, todo, skipped, **resize)
    kept, scales = [], {}
    for i, image in enumerate(images):
        if sizes.get(i) is None:
            continue
        height, width = sizes[i]
        scales[image["id"]] = (width / float(image["width"]), height / float(image["height"]))
        kept.append({**image, "height": height, "width": width})
    annotations = [_scaled_annotation(annotation, *scales[annotation["image_id"]])
                   for annotation in content.get("annotations", [])
                   if annotation.get("image_id") in scales]
    write_bytes(out(annotation_file), json.dumps(
        {**content, "images": kept, "annotations": annotations}).encode("utf-8"))


# -- Segmentation: images and masks at their relative paths -----------------------------------

def segmentation_files(dataset, data_dir, split):
    """(image paths, mask paths) of a split, as the dataset's loader finds them."""
    if dataset == "cityscapes":
        return masks.cityscapes_files(data_dir, split)
    if dataset == "voc2012":
        return masks.voc_files(data_dir, split)[:2]
    return masks.masks_files(data_dir, split)


def prepare_segmentation(dataset, data_dir, output_dir, split, *, skipped, **resize):
    """One split's images (resized) and masks (nearest neighbour, to the image's new size)
    at the same paths under output_dir."""
    images, mask_paths = segmentation_files(dataset, data_dir, split)
    out = lambda path: os.path.join(output_dir, os.path.relpath(path, data_dir))
    todo = [i for i, (image, mask) in enumerate(zip(images, mask_paths))
            if not (tf.io.gfile.exists(out(image)) and tf.io.gfile.exists(out(mask)))]

    def process(index, image_path, mask_path):
        encoded, height, width = resized_image(tf.io.read_file(image_path), **resize)
        return index, encoded, resized_mask(tf.io.read_file(mask_path), height, width)

    selected = tf.data.Dataset.from_tensor_slices((
        tf.constant(todo, tf.int64), tf.constant([images[i] for i in todo], tf.string),
        tf.constant([mask_paths[i] for i in todo], tf.string)))
    done = set()
    for index, encoded, mask in _in_order(selected, process):
        write_bytes(out(mask_paths[index]), mask)   # the mask first: a pair is done when
        write_bytes(out(images[index]), encoded)    # its image is there
        done.add(int(index))
    for index in todo:
        if index not in done:
            skipped.add(images[index])


def copy_lists(data_dir, output_dir, skipped):
    """The layout's text files (VOC's ImageSets lists, classes.txt) copied to output_dir,
    without the lines naming a skipped image."""
    dropped = {os.path.splitext(os.path.basename(name))[0] for name in skipped.names}
    for path in glob.glob(os.path.join(data_dir, "**", "*.txt"), recursive=True):
        with open(path) as file:
            lines = [line for line in file if not line.split() or line.split()[0] not in dropped]
        write_bytes(os.path.join(output_dir, os.path.relpath(path, data_dir)),
                    "".join(lines).encode("utf-8"))


# -- Command line -----------------------------------------------------------------------------

def prepare(dataset, *, data_dir, output_dir, splits, min_side=0, max_side=0,
            quality=JPEG_QUALITY, annotation_file=None, image_dir=None, num_shards=0,
            raw_fraction=0.0):
    """Writes the pre-resized copy of `dataset`'s splits to output_dir (see the module doc);
    returns the Skipped images. UserError for a bad setting."""
    if dataset not in DATASETS:
        raise UserError(f"prepare takes --dataset={' | '.join(DATASETS)}, not {dataset!r}")
    if bool(min_side) == bool(max_side) or min(min_side, max_side) < 0:
        raise UserError("give one of --min_side=N (the shorter side, e.g. 256) and "
                        "--max_side=N (the longer side), a positive number of pixels")
    if not 1 <= quality <= 100:
        raise UserError(f"--quality must be in 1..100, got {quality}")
    if not 0 <= raw_fraction <= 1:
        raise UserError(f"--raw_fraction is the fraction of images stored as raw pixels, "
                        f"in 0..1 (0: all JPEG, 1: all raw), got {raw_fraction}")
    if raw_fraction and dataset != "imagenet":
        raise UserError(f"--raw_fraction applies to --dataset=imagenet (TFRecord shards); "
                        f"{dataset} is written as image files, which have no raw form its "
                        f"loader reads: leave --raw_fraction out")
    if not output_dir:
        raise UserError("give --output_dir: where the resized copy goes")
    if data_dir and os.path.realpath(output_dir) == os.path.realpath(data_dir):
        raise UserError("--output_dir is --data_dir: the copy would overwrite the originals; "
                        "give another directory")
    resize = dict(min_side=min_side, max_side=max_side, quality=quality)
    skipped = Skipped()
    for split in splits:
        if dataset == "imagenet":
            prepare_imagenet(data_dir, output_dir, split, skipped=skipped,
                             num_shards=num_shards, raw_fraction=raw_fraction, **resize)
        elif dataset == "coco":
            layout, where = coco.find_layout(data_dir, split)
            if layout != "json":
                raise UserError(f"prepare reads COCO from its JSON layout (annotations/"
                                f"instances_*.json and the image folders); {data_dir} holds "
                                f"the {layout} form")
            prepare_coco_json(*where, output_dir, skipped=skipped, **resize)
        elif dataset == "coco_json":
            paths = coco.json_paths(split, data_dir=data_dir, annotation_file=annotation_file,
                                    image_dir=image_dir)
            prepare_coco_json(*paths, output_dir, skipped=skipped, **resize)
        else:
            prepare_segmentation(dataset, data_dir, output_dir, split, skipped=skipped,
                                 **resize)
    if dataset in SEGMENTATION:
        copy_lists(data_dir, output_dir, skipped)
    skipped.report(dataset)
    return skipped


def main(argv=None):
    """`python -m mobilenet_tf.data.prepare ...`; a user error is one line and exit code 2."""
    parser = argparse.ArgumentParser(prog="python -m mobilenet_tf.data.prepare",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", required=True, choices=DATASETS)
    parser.add_argument("--data_dir", default="", help="the dataset, as its loader reads it")
    parser.add_argument("--output_dir", required=True)
    parser.add_argument("--min_side", type=int, default=0, help="shorter side, pixels")
    parser.add_argument("--max_side", type=int, default=0, help="longer side, pixels")
    parser.add_argument("--split", default="train,validation", help="comma list")
    parser.add_argument("--quality", type=int, default=JPEG_QUALITY, help="JPEG quality")
    parser.add_argument("--annotation_file", default="", help="coco_json: the JSON "
                        "(\"{split}\" is replaced, as for training)")
    parser.add_argument("--image_dir", default="", help="coco_json: the images' folder")
    parser.add_argument("--num_shards", type=int, default=0, help="imagenet: shards per "
                        f"split (default the standard 1024 / 128 for the full split, else "
                        f"one per {EXAMPLES_PER_SHARD} images)")
    parser.add_argument("--raw_fraction", type=float, default=0.0, help="imagenet: the "
                        "fraction of images stored as raw uint8 pixels rather than JPEG "
                        "(0..1; FFCV's 1 - compress_probability): less CPU per image, "
                        "several times the disk")
    args = parser.parse_args(argv)
    try:
        skipped = prepare(args.dataset, data_dir=args.data_dir, output_dir=args.output_dir,
                          splits=[split for split in args.split.split(",") if split],
                          min_side=args.min_side, max_side=args.max_side, quality=args.quality,
                          annotation_file=args.annotation_file or None,
                          image_dir=args.image_dir or None, num_shards=args.num_shards,
                          raw_fraction=args.raw_fraction)
    except UserError as error:
        print(f"error: {error}", file=sys.stderr, flush=True)
        sys.exit(2)
    print(f"prepared {args.dataset} in {args.output_dir}"
          + (f" ({len(skipped.names)} image(s) skipped)" if skipped.names else ""))


if __name__ == "__main__":
    main()
