"""Input pipelines: `get(name, split, ...)` -> (batched tf.data.Dataset, DatasetInfo).

    dataset, info = mobilenet_tf.data.get("imagenet", "train", data_dir="/data/imagenet",
                                          batch_size=1024, image_size=224, seed=0)
    model.fit(dataset, steps_per_epoch=info.num_examples // 1024, ...)

Names: `imagenet` (TFRecord shards, a TFDS data dir or the official tars), `folder` (one
sub-folder per class), `tfds:NAME` (any prepared TFDS image classification dataset) and
`shapes` (built in, generated, no files). Batches are (images, labels): uint8 images, which
the model normalises (build it with include_preprocessing=True, which maps [0, 255] to the
[-1, 1] that every model here and keras.applications' MobileNet weights expect); labels are
int32 class ids, or float32 mixed one-hot vectors when MixUp or CutMix is on.

Segmentation: `get_segmentation(name, split, ...)` over SEGMENTATION_DATASETS (`cityscapes`,
`voc2012`, `masks`, `shapes`), batches of (uint8 images, uint8 masks, 255 ignored); see
mobilenet_tf.data.masks and mask_pipeline.

Detection: `get_detection(name, split, anchors=..., image_size=..., ...)` over
DETECTION_DATASETS (`coco`, `coco_json`, `shapes`), batches of (uint8 images, SSD
targets); see mobilenet_tf.data.coco, box_pipeline and box_augment.
"""
import dataclasses

from mobilenet_tf import UserError
from mobilenet_tf.data import (box_augment, box_pipeline, coco, folder, imagenet,
                               mask_pipeline, masks, pipeline, preprocess, shapes, tfds_prepared)
from mobilenet_tf.data.box_augment import BoxAugmentation
from mobilenet_tf.data.pipeline import Augmentation
from mobilenet_tf.data.source import DatasetInfo, Source, Survey

DATASETS = {
    "imagenet": imagenet.load,
    "folder": folder.load,
    "shapes": shapes.load,
}
SEGMENTATION_DATASETS = {
    "cityscapes": masks.load_cityscapes,
    "voc2012": masks.load_voc2012,
    "masks": masks.load_masks,
    "shapes": masks.load_shapes,
}
DETECTION_DATASETS = {
    "coco": coco.load,
    "coco_json": coco.load_json,
    "shapes": shapes.load_detection,
}
TFDS_PREFIX = "tfds:"
# Datasets of your own whose size and image sizes survey() reads without the pipeline.
SURVEYS = {"folder": folder.survey, "masks": masks.survey_masks,
           "coco_json": coco.survey_json}
_surveyed = {}   # survey()'s results this process, by its arguments

__all__ = ["AUTOTUNE_SETTINGS", "Augmentation", "BoxAugmentation", "DATASETS",
           "DETECTION_DATASETS", "DatasetInfo", "SEGMENTATION_DATASETS", "SURVEYS", "Source",
           "Survey", "autotuned", "can_survey", "get", "get_detection", "get_segmentation",
           "load_source", "survey"]


def load_source(name, split, *, data_dir=None, training=None, seed=None, input_context=None,
                **options):
    """The dataset's unbatched raw examples of one split and its metadata (see Source)."""
    training = split.startswith("train") if training is None else training
    if name.startswith(TFDS_PREFIX):
        loader = lambda split, **kwargs: tfds_prepared.load(name[len(TFDS_PREFIX):], split,
                                                              **kwargs)
    elif name in DATASETS:
        loader = DATASETS[name]
    else:
        raise UserError(f"unknown dataset '{name}'; choose one of {', '.join(DATASETS)} "
                        f"or {TFDS_PREFIX}NAME for a prepared TFDS dataset")
    return _call_loader(loader, name, split, data_dir=data_dir, training=training, seed=seed,
                        input_context=input_context, **options)


def _call_loader(loader, name, split, **kwargs):
    """loader(split, **kwargs), with an option the loader does not take as a UserError."""
    try:
        return loader(split, **kwargs)
    except TypeError as error:
        if "unexpected keyword argument" not in str(error):
            raise
        raise UserError(f"dataset '{name}' does not take that option: {error}") from None


def survey(name, split, *, data_dir=None, **options):
    """A Survey (number of examples, each image's (height, width)) of one split of your own
    data, read from its annotations or file headers, not through the pipeline; `options`
    are the dataset's loader options (those it does not need are ignored). For the recipes
    that derive their settings from your data (configs/own_detection.py, ...)."""
    if not can_survey(name):
        raise UserError(f"no survey of dataset '{name}'; surveyed: {', '.join(SURVEYS)}, "
                        f"{TFDS_PREFIX}NAME")
    # Once per process: a recipe's finalize() and its log line both ask for it.
    key = (name, split, data_dir or None, repr(sorted(options.items())))
    if key not in _surveyed:
        if name.startswith(TFDS_PREFIX):
            _surveyed[key] = tfds_prepared.survey(name[len(TFDS_PREFIX):], split,
                                                  data_dir=data_dir or None)
        else:
            _surveyed[key] = SURVEYS[name](split, data_dir=data_dir or None, **options)
    return _surveyed[key]


AUTOTUNE_SETTINGS = ("auto", "on", "off")


def autotuned(setting, name):
    """Whether tf.data autotunes the pipeline of dataset `name` (a recipe's dataset.autotune):
    "on", "off", or "auto": off for the built-in Shapes data, on for every other dataset.

    Shapes is rendered in memory and its runs are minutes long, so iterators start and stop
    often (each epoch, each validation), and there autotuning's timed rounds leave the CPU
    waiting: `python train.py` took 87 s of wall time with it and 74 s without, for the same
    CPU time and accuracy, on 2 cores (benchmarks/RESULTS.md, 2026-12-06). Files being
    decoded keep it (the tf.data default, untested against a fixed setting here)."""
    if setting not in AUTOTUNE_SETTINGS:
        raise UserError(f"dataset.autotune must be one of {', '.join(AUTOTUNE_SETTINGS)}, "
                        f"got {setting!r}")
    return setting == "on" or (setting == "auto" and name != "shapes")


def can_survey(name):
    """Whether survey() reads dataset `name`: the SURVEYS and any tfds:NAME."""
    return name in SURVEYS or name.startswith(TFDS_PREFIX)


def _check(batch_size, image_size, crop_fraction, augmentation):
    if not isinstance(batch_size, int) or batch_size < 1:
        raise UserError(f"batch_size must be a positive integer, got {batch_size!r}")
    if image_size is not None and (not isinstance(image_size, int) or image_size < 8):
        raise UserError(f"image_size must be an integer of at least 8, got {image_size!r}")
    if not 0.0 < crop_fraction <= 1.0:
        raise UserError(f"crop_fraction must be in (0, 1], got {crop_fraction}")
    low, high = augmentation.crop_area_range
    if not 0.0 < low <= high <= 1.0:
        raise UserError(f"crop_area_range must be [low, high] with 0 < low <= high <= 1, got "
                        f"{list(augmentation.crop_area_range)}")
    if augmentation.mixup_alpha < 0 or augmentation.cutmix_alpha < 0:
        raise UserError("mixup_alpha and cutmix_alpha must be >= 0 (0 turns them off)")
    if augmentation.randaugment_ops < 0 or not 0 <= augmentation.randaugment_magnitude <= 1:
        raise UserError("randaugment_ops must be >= 0 and randaugment_magnitude in [0, 1]")


def get(name, split, *, data_dir=None, batch_size=128, image_size=None, training=None,
        seed=None, input_context=None, augmentation=Augmentation(),
        crop_fraction=preprocess.CROP_FRACTION, shuffle_buffer=10_000, cache=False,
        drop_remainder=None, skip_batches=0, autotune="auto", **options):
    """A batched split of a dataset, and its metadata.

    batch_size is the global batch: under tf.distribute, pass the `input_context` of
    `strategy.distribute_datasets_from_function` and each worker reads its shard of the
    files and batches its share. training (default: the split starts with "train") turns
    on shuffling and `augmentation` (the Inception crop's area range, flips, RandAugment,
    MixUp, CutMix); evaluation takes the central `crop_fraction` of the short side.
    image_size defaults to the dataset's (224 for photos). cache=True keeps the decoded
    images in memory after the first epoch (small datasets). Other options go to the
    dataset's loader (shapes: num_examples; folder: validation_fraction). skip_batches
    (training) starts that many batches into the seeded stream, to resume mid-epoch
    exactly where a run stopped. autotune: "auto", "on" or "off" (see autotuned).
    Returns (tf.data.Dataset of (images, labels), DatasetInfo).
    """
    _check(batch_size, image_size, crop_fraction, augmentation)
    tuned = autotuned(autotune, name)   # a bad setting fails before any data is read
    training = split.startswith("train") if training is None else training
    if name == "shapes" and image_size:   # generated at the size asked for, not resized
        options.setdefault("image_size", image_size)
    source = load_source(name, split, data_dir=data_dir, training=training, seed=seed,
                         input_context=input_context, **options)
    image_size = image_size or source.default_image_size
    local_batch_size = (input_context.get_per_replica_batch_size(batch_size)
                        if input_context else batch_size)
    dataset = pipeline.make_batches(
        source.examples, parse=source.parse, training=training, batch_size=local_batch_size,
        image_size=image_size, num_classes=source.info.num_classes, photos=source.photos,
        crop_fraction=crop_fraction, augmentation=augmentation, seed=seed,
        shuffle_buffer=shuffle_buffer, cache=cache, drop_remainder=drop_remainder,
        skip_batches=skip_batches, autotune=tuned)
    mixed = training and augmentation.mixes_labels
    info = dataclasses.replace(source.info, image_size=image_size,
                               label_format="one_hot" if mixed else "index")
    return dataset, info


def get_segmentation(name, split, *, data_dir=None, batch_size=8, crop_size=(512, 512),
                     eval_size=None, scale_range=mask_pipeline.SCALE_RANGE, training=None,
                     seed=None, input_context=None, shuffle_buffer=1000, drop_remainder=None,
                     skip_batches=0, autotune="auto", **options):
    """A batched split of a segmentation dataset, and its DatasetInfo.

    Batches are (uint8 (B, H, W, 3) images, uint8 (B, H, W) masks; 255 = ignore). Training
    (default: the split starts with "train") shuffles, scales by a random factor in
    scale_range, pads and crops crop_size (height, width) and flips; evaluation pads every
    image to eval_size (default: the dataset's largest frame) and never resizes it. Other
    options go to the loader (masks: num_classes, eval_size; voc2012: augmented; shapes:
    image_size, num_examples). batch_size is global and autotune as in get().
    """
    if name not in SEGMENTATION_DATASETS:
        raise UserError(f"unknown segmentation dataset '{name}'; choose one of "
                        f"{', '.join(SEGMENTATION_DATASETS)}")
    if not isinstance(batch_size, int) or batch_size < 1:
        raise UserError(f"batch_size must be a positive integer, got {batch_size!r}")
    if not 0 < scale_range[0] <= scale_range[1]:
        raise UserError(f"scale_range must be (low, high) with 0 < low <= high, got "
                        f"{tuple(scale_range)}")
    tuned = autotuned(autotune, name)
    training = split.startswith("train") if training is None else training
    if name == "masks" and eval_size:
        options.setdefault("eval_size", tuple(eval_size))
    source = _call_loader(SEGMENTATION_DATASETS[name], name, split, data_dir=data_dir,
                          training=training, seed=seed, input_context=input_context, **options)
    local_batch_size = (input_context.get_per_replica_batch_size(batch_size)
                        if input_context else batch_size)
    dataset = mask_pipeline.make_batches(
        source, training=training, batch_size=local_batch_size, crop_size=tuple(crop_size),
        eval_size=tuple(eval_size) if eval_size else None, scale_range=tuple(scale_range),
        seed=seed, shuffle_buffer=shuffle_buffer, drop_remainder=drop_remainder,
        skip_batches=skip_batches, autotune=tuned)
    return dataset, dataclasses.replace(source.info, image_size=int(crop_size[0]))


def get_detection(name, split, *, anchors, image_size, batch_size, data_dir=None,
                  training=None, seed=None, input_context=None, shuffle_buffer=1000,
                  drop_remainder=None, skip_batches=0, groundtruth=False,
                  max_boxes=box_pipeline.MAX_BOXES, augmentation=BoxAugmentation(),
                  autotune="auto", **options):
    """A batched split of a detection dataset with SSD targets, and its DatasetInfo.

    anchors: float32 (A, 4) [cy, cx, h, w] (mobilenet_tf.detection.anchors.ssd_anchors).
    Batches are (uint8 (B, S, S, 3) images resized to image_size, targets {"boxes": float32
    (B, A, 4) encoded deltas, "classes": int32 (B, A), 0 background, c + 1 class c, -1
    ignored}). groundtruth=True adds each image's boxes for evaluation, padded to
    max_boxes (see box_pipeline.groundtruth). Training (default: the split starts with
    "train") shuffles and applies `augmentation`; batch_size is global and autotune as in
    get(). Other options go to the loader (coco_json: annotation_file, image_dir; shapes:
    num_examples, eval_examples, max_shapes).
    """
    if name not in DETECTION_DATASETS:
        raise UserError(f"unknown detection dataset '{name}'; choose one of "
                        f"{', '.join(DETECTION_DATASETS)}")
    if not isinstance(batch_size, int) or batch_size < 1:
        raise UserError(f"batch_size must be a positive integer, got {batch_size!r}")
    if not isinstance(image_size, int) or image_size < 8:
        raise UserError(f"image_size must be an integer of at least 8, got {image_size!r}")
    if not isinstance(max_boxes, int) or max_boxes < 1:
        raise UserError(f"max_boxes must be a positive integer, got {max_boxes!r}")
    tuned = autotuned(autotune, name)
    training = split.startswith("train") if training is None else training
    if name == "shapes":   # generated at the size asked for, not resized
        options.setdefault("image_size", image_size)
    source = _call_loader(DETECTION_DATASETS[name], name, split, data_dir=data_dir,
                          training=training, seed=seed, input_context=input_context, **options)
    local_batch_size = (input_context.get_per_replica_batch_size(batch_size)
                        if input_context else batch_size)
    dataset = box_pipeline.make_batches(
        source, anchors=anchors, training=training, batch_size=local_batch_size,
        image_size=image_size, augmentation=augmentation, seed=seed,
        shuffle_buffer=shuffle_buffer, drop_remainder=drop_remainder,
        skip_batches=skip_batches if training else 0, groundtruth_boxes=groundtruth,
        max_boxes=max_boxes, autotune=tuned)
    return dataset, dataclasses.replace(source.info, image_size=image_size)
