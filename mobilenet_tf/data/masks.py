"""Segmentation datasets: images with per-pixel class masks, in their real on-disk layouts.

    cityscapes  DATA_DIR/leftImg8bit/{train,val,test}/CITY/NAME_leftImg8bit.png
                DATA_DIR/gtFine/{train,val,test}/CITY/NAME_gtFine_labelIds.png
                labelIds mapped to the 19 train IDs, every other id to 255 (ignored)
    voc2012     VOCdevkit/VOC2012 (or its parent): JPEGImages/*.jpg, SegmentationClass/*.png
                (palette PNGs; the boundary colour is 255), ImageSets/Segmentation/{train,
                val,trainval}.txt; augmented=True: the train_aug list and SegmentationClassAug
                (the SBD-extended masks as grey class-id PNGs, research/deeplab's train_aug)
    masks       your own: DATA_DIR/images/NAME.{jpg,png} with DATA_DIR/masks/NAME.png (grey
                8-bit PNGs of class ids, 255 ignored), or DATA_DIR/{train,val}/{images,masks};
                class names from DATA_DIR/classes.txt (one a line) or num_classes=N;
                evaluation frame: eval_size=(H, W), default the split's largest image
                rounded up to a multiple of 32
    shapes      the built-in generated Shapes masks: 0 background, 1..6 the shapes

Each loader returns a MaskSource: unbatched examples and a `read` function giving
{"image": uint8 (H, W, 3), "mask": uint8 (H, W, 1)}. `read` checks every mask as it is read:
a mask whose size differs from its image, or a class id that is neither below num_classes
nor the ignore label, stops the run with an error naming the file (see DATA_ERROR).
"""
import dataclasses
import glob
import os
from typing import Callable, Optional, Tuple

import numpy as np
import tensorflow as tf

from mobilenet_tf import DATA_ERROR, UserError
from mobilenet_tf.data import folder, pipeline, shapes
from mobilenet_tf.data.source import DatasetInfo, Survey, image_sizes

IGNORE_LABEL = 255
OUTPUT_STRIDE = 32   # the backbones' largest stride: frames a multiple of it align every map
SPLIT_FOLDERS = {"train": "train", "validation": "val", "val": "val", "test": "test"}

# Cityscapes labelIds (0..33) -> train IDs, the 19 evaluated classes (cityscapesScripts'
# labels.py); everything else, the license plate (-1) included, is ignored.
CITYSCAPES_CLASSES = ("road", "sidewalk", "building", "wall", "fence", "pole", "traffic light",
                      "traffic sign", "vegetation", "terrain", "sky", "person", "rider", "car",
                      "truck", "bus", "train", "motorcycle", "bicycle")
CITYSCAPES_TRAIN_IDS = {7: 0, 8: 1, 11: 2, 12: 3, 13: 4, 17: 5, 19: 6, 20: 7, 21: 8, 22: 9,
                        23: 10, 24: 11, 25: 12, 26: 13, 27: 14, 28: 15, 31: 16, 32: 17, 33: 18}
CITYSCAPES_MAX_LABEL_ID = 33
CITYSCAPES_SIZE = (1024, 2048)

VOC_CLASSES = ("background", "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car",
               "cat", "chair", "cow", "diningtable", "dog", "horse", "motorbike", "person",
               "pottedplant", "sheep", "sofa", "train", "tvmonitor")
VOC_MAX_SIZE = (513, 513)   # VOC images are at most 500 x 500; research/deeplab pads to 513


def voc_palette():
    """(256, 3) uint8: the VOC colour of each class id (its bits spread over R, G and B,
    high bits first), as VOC's palette PNGs store them; id 255 is the boundary colour."""
    palette = np.zeros((256, 3), np.uint8)
    for index in range(256):
        value = index
        for shift in range(7, -1, -1):
            for channel in range(3):
                palette[index, channel] |= ((value >> channel) & 1) << shift
            value >>= 3
    return palette


@dataclasses.dataclass(frozen=True)
class MaskSource:
    """A segmentation loader's result: this worker's unbatched examples, metadata, the
    function that turns a decoded example into {"image", "mask"} (mapping and checking the
    labels), the padded size that holds every evaluation image (so evaluation is at full
    resolution), and `decode`, which reads and decodes an example's files (None: the
    examples are already pixels). The pipeline skips and counts examples whose files do not
    decode, as the classification pipeline does; a mask that decodes but is wrong stops the
    run with an error naming the file."""
    examples: tf.data.Dataset
    info: DatasetInfo
    read: Callable
    eval_size: Tuple[int, int]
    ignore_label: int = IGNORE_LABEL
    decode: Optional[Callable] = None


def _fail_unless(condition, *parts):
    """A tf assertion whose message is DATA_ERROR + the joined parts (strings or tensors):
    the entry points print it as one line and exit 2."""
    message = tf.strings.join([DATA_ERROR] + [tf.strings.as_string(part)
                                              if part.dtype != tf.string else part
                                              for part in map(tf.convert_to_tensor, parts)])
    return tf.debugging.Assert(condition, [message])


def checked(image, mask, valid, image_path, mask_path, problem):
    """{"image", "mask"} after asserting the sizes agree and `valid` (scalar bool, about the
    class ids: `problem` says what is wrong with them)."""
    same = tf.reduce_all(tf.shape(image)[:2] == tf.shape(mask)[:2])
    size = lambda t: tf.strings.format("{}x{}", (tf.shape(t)[0], tf.shape(t)[1]))
    checks = [_fail_unless(same, "mask ", mask_path, " is ", size(mask), " but its image ",
                           image_path, " is ", size(image)),
              _fail_unless(valid, "mask ", mask_path, " ", problem)]
    with tf.control_dependencies(checks):
        return {"image": tf.identity(image), "mask": tf.identity(mask)}


def _decode_image(path):
    image = tf.io.decode_image(tf.io.read_file(path), channels=3, expand_animations=False)
    image.set_shape([None, None, 3])
    return image


def _file_decoder(mask_channels):
    """decode() for an example of image and mask paths: both decoded, paths kept for the
    error messages of read(). Grey masks take mask_channels=1, VOC's palette PNGs 3."""
    def decode(example):
        mask = tf.io.decode_png(tf.io.read_file(example["mask_path"]), channels=mask_channels)
        mask.set_shape([None, None, mask_channels])
        return {"image": _decode_image(example["image_path"]), "mask": mask,
                "image_path": example["image_path"], "mask_path": example["mask_path"]}
    return decode


def _class_ids_reader(num_classes):
    """read() for grey class-id masks: ids below num_classes or IGNORE_LABEL."""
    def read(example):
        image, mask = example["image"], example["mask"]
        valid = tf.reduce_all((mask < num_classes) | (mask == IGNORE_LABEL))
        bad = tf.reduce_max(tf.where((mask < num_classes) | (mask == IGNORE_LABEL),
                                     tf.zeros_like(mask), mask))
        return checked(image, mask, valid, example["image_path"], example["mask_path"],
                       tf.strings.format("has class id {} but the dataset has {} classes "
                                         "(ids 0..{}, and 255 for ignore)",
                                         (bad, num_classes, num_classes - 1)))
    return read


def _paths_dataset(image_paths, mask_paths, training, seed, input_context):
    examples = tf.data.Dataset.from_tensor_slices(
        {"image_path": list(image_paths), "mask_path": list(mask_paths)})
    examples = pipeline.shard(examples, input_context)
    if training:   # file order shuffled here, examples again in the pipeline's buffer
        examples = examples.shuffle(len(image_paths), seed=seed, reshuffle_each_iteration=True)
    return examples


def _require_dir(path, dataset, what):
    if not path or not os.path.isdir(path):
        raise UserError(f"{dataset} dataset: {path!r} is not a directory; give --data_dir "
                        f"with {what}")


# -- Cityscapes -------------------------------------------------------------------------------

def cityscapes_files(data_dir, split):
    """(image paths, labelIds mask paths) of a split, sorted; UserError naming what is missing."""
    _require_dir(data_dir, "cityscapes", "leftImg8bit/ and gtFine/ (the official layout)")
    if split not in SPLIT_FOLDERS:
        raise UserError(f"cityscapes has splits train, validation (val) and test, not {split!r}")
    folder_name = SPLIT_FOLDERS[split]
    pattern = os.path.join(data_dir, "leftImg8bit", folder_name, "*", "*_leftImg8bit.png")
    images = sorted(glob.glob(pattern))
    if not images:
        raise UserError(f"cityscapes: no images match {pattern}")
    masks = []
    for image in images:
        city = os.path.basename(os.path.dirname(image))
        stem = os.path.basename(image)[:-len("_leftImg8bit.png")]
        mask = os.path.join(data_dir, "gtFine", folder_name, city, stem + "_gtFine_labelIds.png")
        if not os.path.exists(mask):
            raise UserError(f"cityscapes: {image} has no mask {mask}")
        masks.append(mask)
    return images, masks


def _cityscapes_read(example):
    lookup = np.full(256, IGNORE_LABEL, np.uint8)
    for label_id, train_id in CITYSCAPES_TRAIN_IDS.items():
        lookup[label_id] = train_id
    image, label_ids = example["image"], example["mask"]
    mask = tf.gather(tf.constant(lookup), tf.cast(label_ids, tf.int32))
    worst = tf.reduce_max(label_ids)
    return checked(image, mask, worst <= CITYSCAPES_MAX_LABEL_ID, example["image_path"],
                   example["mask_path"], tf.strings.format(
                       "has labelId {}, beyond Cityscapes' 0..33", worst))


def load_cityscapes(split, *, data_dir, training, seed, input_context):
    """Cityscapes fine annotations (see the module doc) as a MaskSource."""
    images, masks = cityscapes_files(data_dir, split)
    info = DatasetInfo(name="cityscapes", split=split, num_classes=len(CITYSCAPES_CLASSES),
                       class_names=CITYSCAPES_CLASSES, num_examples=len(images))
    return MaskSource(_paths_dataset(images, masks, training, seed, input_context), info,
                      _cityscapes_read, CITYSCAPES_SIZE, decode=_file_decoder(1))


# -- PASCAL VOC 2012 --------------------------------------------------------------------------

def _voc_root(data_dir):
    for candidate in (data_dir, os.path.join(data_dir, "VOCdevkit", "VOC2012"),
                      os.path.join(data_dir, "VOC2012")):
        if os.path.isdir(os.path.join(candidate, "JPEGImages")):
            return candidate
    raise UserError(f"voc2012 dataset: no JPEGImages/ in {data_dir}, {data_dir}/VOCdevkit/"
                    "VOC2012 or {data_dir}/VOC2012; give --data_dir of VOCdevkit/VOC2012")


def voc_files(data_dir, split, augmented=False):
    """(image paths, mask paths, grey masks?) of a split from its ImageSets list."""
    _require_dir(data_dir, "voc2012", "VOCdevkit/VOC2012")
    root = _voc_root(data_dir)
    list_name = {"train": "train_aug" if augmented else "train", "validation": "val",
                 "val": "val", "trainval": "trainval"}.get(split)
    if list_name is None:
        raise UserError(f"voc2012 has splits train, validation (val) and trainval, not {split!r}")
    list_path = os.path.join(root, "ImageSets", "Segmentation", list_name + ".txt")
    if not os.path.exists(list_path):
        raise UserError(f"voc2012: split list {list_path} not found")
    grey = list_name == "train_aug"
    mask_dir = os.path.join(root, "SegmentationClassAug" if grey else "SegmentationClass")
    with open(list_path) as f:
        names = [line.split()[0] for line in f if line.strip()]
    images = [os.path.join(root, "JPEGImages", name + ".jpg") for name in names]
    masks = [os.path.join(mask_dir, name + ".png") for name in names]
    for image, mask in zip(images, masks):
        for path in (image, mask):
            if not os.path.exists(path):
                raise UserError(f"voc2012: {path} (listed in {list_path}) not found")
    return images, masks, grey


def _voc_palette_read(example):
    """VOC's palette PNGs decode to RGB: each colour maps back to its class id."""
    palette = voc_palette()
    colours = np.concatenate([palette[:len(VOC_CLASSES)], palette[IGNORE_LABEL:]])
    ids = np.array(list(range(len(VOC_CLASSES))) + [IGNORE_LABEL], np.uint8)
    codes = colours.astype(np.int32) @ np.array([65536, 256, 1], np.int32)
    image, rgb = example["image"], example["mask"]
    code = tf.reduce_sum(tf.cast(rgb, tf.int32) * [65536, 256, 1], axis=-1, keepdims=True)
    matches = tf.equal(code, codes)   # (H, W, 22)
    mask = tf.gather(tf.constant(ids), tf.argmax(tf.cast(matches, tf.int32), axis=-1))[..., None]
    valid = tf.reduce_all(tf.reduce_any(matches, axis=-1))
    return checked(image, mask, valid, example["image_path"], example["mask_path"],
                   "has colours that are none of VOC's 21 classes nor its boundary colour")


def load_voc2012(split, *, data_dir, training, seed, input_context, augmented=False):
    """PASCAL VOC 2012 segmentation (see the module doc) as a MaskSource."""
    images, masks, grey = voc_files(data_dir, split, augmented)
    info = DatasetInfo(name="voc2012", split=split, num_classes=len(VOC_CLASSES),
                       class_names=VOC_CLASSES, num_examples=len(images))
    read = _class_ids_reader(len(VOC_CLASSES)) if grey else _voc_palette_read
    return MaskSource(_paths_dataset(images, masks, training, seed, input_context), info,
                      read, VOC_MAX_SIZE, decode=_file_decoder(1 if grey else 3))


# -- Your own masks ---------------------------------------------------------------------------

def _pairs(root):
    """(image paths, mask paths) under root/images and root/masks, matched by file stem."""
    image_dir, mask_dir = os.path.join(root, "images"), os.path.join(root, "masks")
    images = sorted(os.path.join(image_dir, name) for name in os.listdir(image_dir)
                    if name.lower().endswith(folder.IMAGE_EXTENSIONS))
    masks = []
    for image in images:
        mask = os.path.join(mask_dir, os.path.splitext(os.path.basename(image))[0] + ".png")
        if not os.path.exists(mask):
            raise UserError(f"masks dataset: {image} has no mask {mask}")
        masks.append(mask)
    return images, masks


def masks_files(data_dir, split, validation_fraction=folder.VALIDATION_FRACTION):
    """(image paths, mask paths) of a split of the `masks` layout (see the module doc)."""
    _require_dir(data_dir, "masks", "images/ and masks/ sub-folders")
    if split not in ("train", "validation"):
        raise UserError(f"masks dataset has splits train and validation, not {split!r}")
    split_dirs = {"train": os.path.join(data_dir, "train")}
    for name in folder.VALIDATION_FOLDERS:
        if os.path.isdir(os.path.join(data_dir, name, "images")):
            split_dirs["validation"] = os.path.join(data_dir, name)
    if os.path.isdir(os.path.join(split_dirs["train"], "images")) and "validation" in split_dirs:
        images, masks = _pairs(split_dirs[split])
    elif os.path.isdir(os.path.join(data_dir, "images")):
        pairs = [(i, m) for i, m in zip(*_pairs(data_dir))
                 if folder._in_validation(os.path.basename(i), validation_fraction)
                 == (split == "validation")]
        images, masks = [p[0] for p in pairs], [p[1] for p in pairs]
    else:
        raise UserError(f"masks dataset: no images/ and masks/ folders in {data_dir} (or in "
                        "its train/ and val/ sub-folders)")
    if not images:
        raise UserError(f"masks dataset: no images for split {split!r} in {data_dir}")
    return images, masks


def masks_classes(data_dir, num_classes=None):
    """Class names from DATA_DIR/classes.txt, else "class_0".."class_{N-1}" for num_classes."""
    path = os.path.join(data_dir, "classes.txt")
    if os.path.exists(path):
        with open(path) as f:
            names = tuple(line.strip() for line in f if line.strip())
        if num_classes not in (None, len(names)):
            raise UserError(f"num_classes={num_classes} but {path} names {len(names)} classes")
        return names
    if not num_classes:
        raise UserError(f"masks dataset: give the class names in {path} (one a line) or "
                        "--config.dataset.options.num_classes=N")
    return tuple(f"class_{i}" for i in range(num_classes))


def round_up(size, multiple=OUTPUT_STRIDE):
    """(height, width) each rounded up to a multiple of `multiple`."""
    return tuple(-(-int(side) // multiple) * multiple for side in size)


def survey_masks(split, *, data_dir, validation_fraction=folder.VALIDATION_FRACTION, **_):
    """Survey of a `masks` split: its number of images and their sizes, read from the image
    files' headers; other loader options are ignored."""
    images, _ = masks_files(data_dir, split, validation_fraction)
    sizes = image_sizes(images)
    if not sizes:
        raise UserError(f"masks dataset: none of the {len(images)} images of split {split!r} "
                        f"in {data_dir} is readable")
    return Survey(num_examples=len(images), sizes=sizes)


def load_masks(split, *, data_dir, training, seed, input_context, num_classes=None,
               eval_size=None, validation_fraction=folder.VALIDATION_FRACTION):
    """Your images and class-id masks (see the module doc) as a MaskSource. eval_size
    (height, width) must hold your largest evaluation image (it is padded to it, never
    resized); default the split's largest height and width, each rounded up to a multiple
    of 32 (the models' largest stride)."""
    images, masks = masks_files(data_dir, split, validation_fraction)
    names = masks_classes(data_dir, num_classes)
    info = DatasetInfo(name="masks", split=split, num_classes=len(names), class_names=names,
                       num_examples=len(images))
    if not eval_size:
        sizes = image_sizes(images)
        eval_size = round_up(Survey(len(images), sizes).largest_size()) if sizes else (32, 32)
    return MaskSource(_paths_dataset(images, masks, training, seed, input_context), info,
                      _class_ids_reader(len(names)), tuple(eval_size),
                      decode=_file_decoder(1))


# -- Shapes -----------------------------------------------------------------------------------

def load_shapes(split, *, data_dir=None, training, seed, input_context, image_size=128,
                num_examples=None, eval_examples=None, max_shapes=shapes.MAX_SHAPES,
                dataset_seed=0):
    """The built-in Shapes masks (7 classes: background and the 6 shapes) as a MaskSource;
    num_examples sizes every split, eval_examples (if given) the others than train. Splits
    up to shapes.MEMORY_CACHE_BYTES are rendered once per process."""
    del data_dir, training, seed
    if split != "train" and eval_examples is not None:
        num_examples = eval_examples
    count = shapes.SPLIT_SIZES.get(split, 0) if num_examples is None else num_examples
    generated = shapes.examples(split, dataset_seed, image_size, num_examples, max_shapes,
                                input_context).map(
        lambda ex: {"image": ex["image"], "mask": ex["mask"][..., None]})
    rendered = shapes.rendered_once(
        generated, ("masks", split, dataset_seed, image_size, count, max_shapes),
        count * image_size * image_size * 4, input_context)   # image and mask bytes
    generated = generated if rendered is None else rendered
    names = shapes.SEGMENTATION_CLASS_NAMES
    info = DatasetInfo(name="shapes", split=split, num_classes=len(names), class_names=names,
                       num_examples=count)
    return MaskSource(generated, info, lambda example: example, (image_size, image_size))
