"""From a detection dataset's examples to batches of (uint8 images, SSD targets).

    examples (this worker's shard) -> shuffle -> per-example seed -> [skip, to resume]
      -> read and decode -> SSD augmentation sampled at image_size (box_augment), or a
         plain resize for evaluation
      -> match and encode targets (target_assigner) -> batch -> prefetch

A loader's Source gives, after its `parse`, a dict with "image_bytes" or "image" (uint8
(H, W, 3)), "boxes" float32 (n, 4) [ymin, xmin, ymax, xmax] normalised to the image,
"classes" int32 (n,) in 0..C-1, and optionally "is_crowd" bool (n,), "area" float32 (n,)
(in the original image's pixels) and "image_id" int64 (). Images are resized to a square
without keeping the aspect ratio, as SSD does. A corrupt or unreadable image is skipped and
counted, as the classification pipeline does (pipeline.map_skipping_corrupt).
"""
import tensorflow as tf

from mobilenet_tf.data import box_augment, pipeline, preprocess
from mobilenet_tf.data import target_assigner

AUTOTUNE = tf.data.AUTOTUNE
MAX_BOXES = 100   # COCO's evaluation keeps 100 detections; few images have more objects


def complete(features):
    """A parsed example with the image decoded and every optional field present."""
    if "image_bytes" in features:
        features = preprocess.decode(features)
    boxes = tf.reshape(tf.cast(features["boxes"], tf.float32), [-1, 4])
    count = tf.shape(boxes)[:1]
    shape = tf.shape(features["image"])[:2]
    pixels = tf.cast(tf.tile(shape, [2]), tf.float32)
    box_area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1]) * pixels[0] * pixels[1]
    return {"image": features["image"], "boxes": boxes,
            "classes": tf.reshape(tf.cast(features["classes"], tf.int32), [-1]),
            "is_crowd": tf.cast(features.get("is_crowd", tf.zeros(count, tf.bool)), tf.bool),
            "area": tf.cast(features.get("area", box_area), tf.float32),
            "image_id": tf.cast(features.get("image_id", -1), tf.int64)}


def groundtruth(features, max_boxes=MAX_BOXES):
    """The original image's boxes for evaluation, padded (or cut) to max_boxes: {"image_id",
    "original_size" int32 [height, width], "gt_boxes" (max_boxes, 4), "gt_classes" (-1
    padding), "gt_is_crowd", "gt_area"}."""
    def padded(values, pad_value):
        values = values[:max_boxes]
        extra = max_boxes - tf.shape(values)[0]
        paddings = [[0, extra]] + [[0, 0]] * (len(values.shape) - 1)
        result = tf.pad(values, paddings, constant_values=pad_value)
        return tf.ensure_shape(result, [max_boxes] + values.shape[1:].as_list())
    return {"image_id": features["image_id"],
            "original_size": tf.shape(features["image"])[:2],
            "gt_boxes": padded(features["boxes"], 0.0),
            "gt_classes": padded(features["classes"], -1),
            "gt_is_crowd": padded(features["is_crowd"], False),
            "gt_area": padded(features["area"], 0.0)}


def _targets(features, image_size, anchors):
    """A completed example -> (uint8 (S, S, 3) image, {"boxes", "classes"} targets)."""
    image = preprocess.to_uint8(preprocess.resize(features, image_size))["image"]
    image = tf.ensure_shape(image, [image_size, image_size, 3])
    targets = target_assigner.assign(features["boxes"], features["classes"], anchors,
                                     features["is_crowd"])
    return image, targets


def train_example(features, seed, image_size, anchors,
                  augmentation=box_augment.BoxAugmentation()):
    """A completed example, augmented (box_augment.augment) at image_size and encoded."""
    return _targets(box_augment.augment(features, seed, augmentation, image_size), image_size,
                    anchors)


def eval_example(features, image_size, anchors):
    """A completed example resized and encoded, with no augmentation."""
    return _targets(features, image_size, anchors)


def make_batches(source, *, anchors, training, batch_size, image_size,
                 augmentation=box_augment.BoxAugmentation(), seed=None, shuffle_buffer=1000,
                 drop_remainder=None, skip_batches=0, groundtruth_boxes=False,
                 max_boxes=MAX_BOXES, autotune=True):
    """A Source of detection examples -> batches of (uint8 (B, S, S, 3) images, targets).

    targets: {"boxes": float32 (B, A, 4) deltas, "classes": int32 (B, A)}, plus the
    groundtruth() fields when groundtruth_boxes. batch_size is this worker's. Training
    shuffles, augments and drops the remainder; skip_batches (training) resumes mid-epoch,
    each example keeping the seed it had. autotune: see pipeline.finish."""
    anchors = tf.constant(anchors, tf.float32)
    parse = source.parse or (lambda example: example)
    examples = source.examples
    if training:
        examples = examples.shuffle(shuffle_buffer, seed=seed, reshuffle_each_iteration=True)
        # Seeds are paired before skipping, so a resumed stream gives the same seeds.
        examples = tf.data.Dataset.zip(examples, pipeline.seed_stream(seed))
        if skip_batches:
            examples = examples.skip(skip_batches * batch_size)
        encode = lambda features, example_seed: train_example(
            features, example_seed, image_size, anchors, augmentation)
    else:
        examples = examples.map(lambda example: (example,))
        encode = lambda features: eval_example(features, image_size, anchors)

    def prepare(example, *example_seed):
        features = complete(dict(parse(example)))
        image, targets = encode(features, *example_seed)
        if groundtruth_boxes:
            targets = {**targets, **groundtruth(features, max_boxes)}
        return image, targets

    drop_remainder = training if drop_remainder is None else drop_remainder
    batches = pipeline.map_skipping_corrupt(examples, prepare).batch(
        batch_size, drop_remainder=drop_remainder, num_parallel_calls=AUTOTUNE)
    return pipeline.finish(batches, training=training, seed=seed, autotune=autotune)


def pack_targets(images, targets):
    """(images, {"boxes" (B, A, 4), "classes" (B, A)}) -> the same with "boxes" (B, A, 5):
    the box loss needs the positives, so the class target rides along as a fifth column."""
    classes = targets["classes"]
    boxes = tf.concat([targets["boxes"], tf.cast(classes[..., None], tf.float32)], axis=-1)
    return images, {"boxes": boxes, "classes": classes}


def with_packed_targets(batches):
    """make_batches' batches (without groundtruth fields) -> pack_targets of each, for
    model.fit with the SSD losses (mobilenet_tf.detection.losses)."""
    return batches.map(pack_targets, num_parallel_calls=AUTOTUNE)
