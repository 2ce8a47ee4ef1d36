"""SSD's training augmentation, box-aware, as pure dict -> dict TensorFlow functions.

An example holds "image" ((H, W, 3), uint8 or float in [0, 255]) and "boxes" (n, 4) float32
[ymin, xmin, ymax, xmax] normalised to the image, plus per-box fields (BOX_FIELDS) that
follow the boxes when a crop drops some. In the order SSD applies them (Liu et al. 2016,
section 3.6; the original Caffe batch samplers):

- photometric distortion: brightness, contrast, saturation and hue, each with probability
  1/2, by SSD's amounts (delta 32 of 255, factors 0.5 to 1.5, hue 18 degrees);
- random expansion ("zoom out"): with probability 1/2, the image placed at a random spot on
  a canvas up to 4x its height and width filled with the mean pixel;
- random crop with a minimum-IoU constraint: one of "keep the image" or a minimum IoU of
  0.1, 0.3, 0.5, 0.7, 0.9, chosen uniformly; up to CROP_TRIALS windows of 0.3 to 1 of each
  side with aspect ratio 0.5 to 2 are drawn at once (a bounded retry, all in the graph) and
  the first whose IoU with some non-crowd box reaches the minimum and that holds some box
  centre is used (none: the image is kept); boxes whose centres fall inside are kept,
  clipped to the window;
- horizontal flip with probability 1/2 (xmin -> 1 - xmax).

Every random choice is stateless from the `seed` (shape (2,)) passed in, so an example
augments the same eagerly and in tf.data. Windows and offsets are whole pixels, so boxes
given at pixel edges stay exactly on the pixels they bound.
"""
import dataclasses

import tensorflow as tf

from mobilenet_tf.detection import target_assigner

BOX_FIELDS = ("boxes", "classes", "is_crowd", "area")
MIN_IOUS = (0.1, 0.3, 0.5, 0.7, 0.9)
CROP_SCALE = (0.3, 1.0)         # of the image's height and width
CROP_ASPECT_RATIO = (0.5, 2.0)  # height / width of the window, in pixels
CROP_TRIALS = 50
MAX_EXPAND_RATIO = 4.0
MEAN_PIXEL = (123.68, 116.78, 103.94)   # ImageNet RGB mean; 0 after the model's scaling
BRIGHTNESS_DELTA = 32.0
CONTRAST_RANGE = (0.5, 1.5)
SATURATION_RANGE = (0.5, 1.5)
HUE_DELTA = 18.0 / 360.0


@dataclasses.dataclass(frozen=True)
class BoxAugmentation:
    """Which of SSD's augmentations training uses (all by default)."""
    crop: bool = True
    expand: bool = True
    photometric: bool = True
    flip: bool = True
    max_expand_ratio: float = MAX_EXPAND_RATIO
    min_ious: tuple = MIN_IOUS


def _coin(seed):
    return tf.random.stateless_uniform([], seed) < 0.5


def photometric_distort(features, seed):
    """Brightness, contrast, saturation and hue, each applied with probability 1/2; the
    image comes back float32 in [0, 255]."""
    seeds = tf.unstack(tf.random.experimental.stateless_split(seed, 8))
    image = tf.cast(features["image"], tf.float32) / 255.0
    steps = [
        lambda x: tf.image.stateless_random_brightness(x, BRIGHTNESS_DELTA / 255.0, seeds[1]),
        lambda x: tf.image.stateless_random_contrast(x, *CONTRAST_RANGE, seeds[3]),
        lambda x: tf.image.stateless_random_saturation(x, *SATURATION_RANGE, seeds[5]),
        lambda x: tf.image.stateless_random_hue(x, HUE_DELTA, seeds[7]),
    ]
    for index, step in enumerate(steps):
        # Clip after each step: saturation and hue go through HSV, defined on [0, 1].
        image = tf.cond(_coin(seeds[2 * index]),
                        lambda: tf.clip_by_value(step(image), 0.0, 1.0), lambda: image)
    return {**features, "image": image * 255.0}


def random_expand(features, seed, max_ratio=MAX_EXPAND_RATIO, fill=MEAN_PIXEL):
    """With probability 1/2, the image on a canvas ratio x its size (ratio uniform in
    [1, max_ratio]) filled with `fill`, at a random whole-pixel offset; float32 image."""
    coin_seed, ratio_seed, offset_seed = tf.unstack(
        tf.random.experimental.stateless_split(seed, 3))
    image = tf.cast(features["image"], tf.float32)
    shape = tf.shape(image)[:2]
    ratio = tf.random.stateless_uniform([], ratio_seed, 1.0, max_ratio)
    ratio = tf.where(_coin(coin_seed), ratio, 1.0)
    canvas = tf.cast(tf.math.floor(tf.cast(shape, tf.float32) * ratio), tf.int32)
    canvas = tf.maximum(canvas, shape)
    offset = tf.cast(tf.math.floor(tf.random.stateless_uniform([2], offset_seed) *
                                   tf.cast(canvas - shape + 1, tf.float32)), tf.int32)
    offset = tf.minimum(offset, canvas - shape)
    mean = tf.constant(fill, tf.float32)
    paddings = tf.stack([tf.stack([offset[0], canvas[0] - shape[0] - offset[0]]),
                         tf.stack([offset[1], canvas[1] - shape[1] - offset[1]]),
                         tf.zeros([2], tf.int32)])
    image = tf.pad(image - mean, paddings) + mean
    size, start = tf.cast(tf.tile(shape, [2]), tf.float32), tf.cast(tf.tile(offset, [2]),
                                                                       tf.float32)
    boxes = (features["boxes"] * size + start) / tf.cast(tf.tile(canvas, [2]), tf.float32)
    return {**features, "image": image, "boxes": boxes}


def _crop_windows(shape, seed, trials):
    """(trials, 4) int32 [top, left, height, width] windows of an image of `shape`, 0.3 to
    1 of each side, with pixel aspect ratio in CROP_ASPECT_RATIO where the draw allows."""
    size_seed, offset_seed = tf.unstack(tf.random.experimental.stateless_split(seed))
    image_size = tf.cast(shape, tf.float32)
    fractions = tf.random.stateless_uniform([trials, 2], size_seed, *CROP_SCALE)
    size = tf.maximum(tf.round(fractions * image_size), 1.0)
    offset = tf.floor(tf.random.stateless_uniform([trials, 2], offset_seed)
                      * (image_size - size + 1.0))
    return tf.cast(tf.concat([offset, size], axis=1), tf.int32)


def random_crop(features, seed, min_ious=MIN_IOUS, trials=CROP_TRIALS):
    """SSD's crop: keep the image or pick a minimum IoU from min_ious (uniformly among the
    len(min_ious) + 1 choices), then the first of `trials` windows meeting it (see the
    module docstring); boxes whose centres lie outside the window are dropped."""
    choice_seed, window_seed = tf.unstack(tf.random.experimental.stateless_split(seed))
    image, boxes = features["image"], tf.cast(features["boxes"], tf.float32)
    shape = tf.shape(image)[:2]
    options = tf.constant([2.0] + list(min_ious), tf.float32)   # 2: unreachable, no crop
    min_iou = options[tf.random.stateless_uniform([], choice_seed, 0, len(options), tf.int32)]
    windows = _crop_windows(shape, window_seed, trials)
    scale = tf.cast(tf.tile(shape, [2]), tf.float32)
    corners = tf.cast(tf.concat([windows[:, :2], windows[:, :2] + windows[:, 2:]], 1),
                      tf.float32) / scale
    aspect = tf.cast(windows[:, 2], tf.float32) / tf.cast(windows[:, 3], tf.float32)
    crowd = tf.cast(features.get("is_crowd", tf.zeros(tf.shape(boxes)[:1], tf.bool)), tf.bool)
    overlaps = tf.where(crowd[None, :], -1.0, target_assigner.iou(corners, boxes))   # (T, n)
    centres = (boxes[None, :, :2] + boxes[None, :, 2:]) / 2
    inside = tf.reduce_all((centres > corners[:, None, :2]) & (centres < corners[:, None, 2:]),
                           axis=2)   # (T, n)
    valid = (tf.reduce_any(overlaps >= min_iou, axis=1) & tf.reduce_any(inside, axis=1)
             & (aspect >= CROP_ASPECT_RATIO[0]) & (aspect <= CROP_ASPECT_RATIO[1]))
    found = tf.reduce_any(valid)
    pick = tf.argmax(tf.cast(valid, tf.int32), output_type=tf.int32)
    window = tf.where(found, windows[pick], tf.concat([[0, 0], shape], 0))
    keep = tf.where(found, inside[pick], tf.ones(tf.shape(boxes)[:1], tf.bool))
    image = image[window[0]:window[0] + window[2], window[1]:window[1] + window[3]]
    origin = tf.cast(tf.tile(window[:2], [2]), tf.float32) / scale
    extent = tf.cast(tf.tile(window[2:], [2]), tf.float32) / scale
    result = {**features, "image": image}
    for key in BOX_FIELDS:
        if key in features:
            result[key] = tf.boolean_mask(features[key], keep)
    result["boxes"] = tf.clip_by_value((result["boxes"] - origin) / extent, 0.0, 1.0)
    return result


def random_flip(features, seed):
    """Image and boxes flipped left-right together with probability 1/2."""
    flip = _coin(seed)
    boxes = features["boxes"]
    flipped = tf.stack([boxes[:, 0], 1.0 - boxes[:, 3], boxes[:, 2], 1.0 - boxes[:, 1]], 1)
    return {**features,
            "image": tf.cond(flip, lambda: tf.reverse(features["image"], [1]),
                             lambda: features["image"]),
            "boxes": tf.where(flip, flipped, boxes)}


def augment(features, seed, augmentation=BoxAugmentation()):
    """The augmentations switched on in `augmentation`, in SSD's order."""
    seeds = tf.unstack(tf.random.experimental.stateless_split(seed, 4))
    if augmentation.photometric:
        features = photometric_distort(features, seeds[0])
    if augmentation.expand and augmentation.max_expand_ratio > 1:
        features = random_expand(features, seeds[1], augmentation.max_expand_ratio)
    if augmentation.crop and augmentation.min_ious:
        features = random_crop(features, seeds[2], tuple(augmentation.min_ious))
    if augmentation.flip:
        features = random_flip(features, seeds[3])
    return features
