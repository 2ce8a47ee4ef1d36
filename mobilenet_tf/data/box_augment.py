"""SSD's training augmentation, box-aware, as pure dict -> dict TensorFlow functions.

An example holds "image" ((H, W, 3), uint8 or float in [0, 255]) and "boxes" (n, 4) float32
[ymin, xmin, ymax, xmax] normalised to the image, plus per-box fields (BOX_FIELDS) that
follow the boxes when a crop drops some. SSD's augmentations (Liu et al. 2016, section 3.6;
the original Caffe batch samplers), in its order:

- random expansion ("zoom out"): with probability 1/2, the image placed at a random spot on
  a canvas up to 4x its height and width filled with the mean pixel;
- random crop with a minimum-IoU constraint: one of "keep the image" or a minimum IoU of
  0.1, 0.3, 0.5, 0.7, 0.9, chosen uniformly; CROP_TRIALS windows of 0.3 to 1 of each side
  are drawn at once (a bounded retry, all in the graph) and the first with aspect ratio 0.5
  to 2, IoU with some non-crowd box at least the minimum and some box centre inside is
  used (none: the image is kept); boxes whose centres fall inside are kept, clipped to it;
- horizontal flip with probability 1/2 (xmin -> 1 - xmax);
- photometric distortion: brightness, contrast, saturation and hue, each with probability
  1/2, by SSD's amounts (delta 32 of 255, factors 0.5 to 1.5, hue 18 degrees).

Expansion, crop and flip only move a "window" (where the output lies in the original
image's pixels, whole pixels, possibly beyond its edges) and the boxes; extract() then
resizes the window's part inside the image once, straight to its share of the output, and
pads with the mean pixel. So a 4x zoom-out of a COCO photo never builds its 16x canvas (on
a 640x480 photo at 320: 11 CPU ms per example instead of 27), and the photometric
distortion, which comes last here (pixel-wise, it commutes with resampling; only contrast's
mean becomes the crop's), runs on the small output. Every random choice is stateless from
the `seed` (shape (2,)), so an example augments the same eagerly and in tf.data.
"""
import dataclasses

import tensorflow as tf

from mobilenet_tf.data import target_assigner

BOX_FIELDS = ("boxes", "classes", "is_crowd", "area")
MIN_IOUS = (0.1, 0.3, 0.5, 0.7, 0.9)
CROP_SCALE = (0.3, 1.0)         # of the window's height and width
CROP_ASPECT_RATIO = (0.5, 2.0)  # height / width of the crop, in pixels
CROP_TRIALS = 50
MAX_EXPAND_RATIO = 4.0
MEAN_PIXEL = (123.68, 116.78, 103.94)   # ImageNet RGB mean; about 0 after the model's scaling
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


def window_of(features):
    """float32 (4,) [top, left, bottom, right]: where the example's output lies, in the
    original image's pixels (the whole image until expand or crop moves it)."""
    if "window" in features:
        return features["window"]
    shape = tf.cast(tf.shape(features["image"])[:2], tf.float32)
    return tf.stack([0.0, 0.0, shape[0], shape[1]])


def random_expand(features, seed, max_ratio=MAX_EXPAND_RATIO):
    """With probability 1/2, zoom out: the window grows by a factor uniform in [1,
    max_ratio] per side, the old one at a random whole-pixel offset inside it."""
    coin_seed, ratio_seed, offset_seed = tf.unstack(
        tf.random.experimental.stateless_split(seed, 3))
    window = window_of(features)
    size = window[2:] - window[:2]
    ratio = tf.random.stateless_uniform([], ratio_seed, 1.0, max_ratio)
    ratio = tf.where(_coin(coin_seed), ratio, 1.0)
    canvas = tf.maximum(tf.floor(size * ratio), size)
    offset = tf.floor(tf.random.stateless_uniform([2], offset_seed) * (canvas - size + 1.0))
    offset = tf.minimum(offset, canvas - size)
    start = window[:2] - offset
    boxes = (features["boxes"] * tf.tile(size, [2]) + tf.tile(offset, [2])) / \
        tf.tile(canvas, [2])
    return {**features, "window": tf.concat([start, start + canvas], 0), "boxes": boxes}


def _crop_windows(size, seed, trials):
    """(trials, 4) float32 [top, left, height, width] whole-pixel crops of a window of
    `size` (height, width), each side 0.3 to 1 of the window's."""
    size_seed, offset_seed = tf.unstack(tf.random.experimental.stateless_split(seed))
    fractions = tf.random.stateless_uniform([trials, 2], size_seed, *CROP_SCALE)
    extent = tf.maximum(tf.round(fractions * size), 1.0)
    offset = tf.floor(tf.random.stateless_uniform([trials, 2], offset_seed)
                      * (size - extent + 1.0))
    return tf.concat([tf.minimum(offset, size - extent), extent], axis=1)


def random_crop(features, seed, min_ious=MIN_IOUS, trials=CROP_TRIALS):
    """SSD's crop: keep the window or pick a minimum IoU from min_ious (uniformly among the
    len(min_ious) + 1 choices), then the first of `trials` crops meeting it (see the module
    docstring); boxes whose centres lie outside the crop are dropped."""
    choice_seed, crop_seed = tf.unstack(tf.random.experimental.stateless_split(seed))
    window, boxes = window_of(features), tf.cast(features["boxes"], tf.float32)
    size = window[2:] - window[:2]
    options = tf.constant([2.0] + list(min_ious), tf.float32)   # 2: unreachable, no crop
    min_iou = options[tf.random.stateless_uniform([], choice_seed, 0, len(options), tf.int32)]
    crops = _crop_windows(size, crop_seed, trials)
    corners = tf.concat([crops[:, :2], crops[:, :2] + crops[:, 2:]], 1) / tf.tile(size, [2])
    aspect = crops[:, 2] / crops[:, 3]
    crowd = tf.cast(features.get("is_crowd", tf.zeros(tf.shape(boxes)[:1], tf.bool)), tf.bool)
    overlaps = tf.where(crowd[None, :], -1.0,
                        target_assigner.pairwise_iou(corners, boxes))   # (T, n)
    centres = target_assigner.to_centre(boxes)[None, :, :2]
    inside = tf.reduce_all((centres > corners[:, None, :2]) & (centres < corners[:, None, 2:]),
                           axis=2)   # (T, n)
    valid = (tf.reduce_any(overlaps >= min_iou, axis=1) & tf.reduce_any(inside, axis=1)
             & (aspect >= CROP_ASPECT_RATIO[0]) & (aspect <= CROP_ASPECT_RATIO[1]))
    found = tf.reduce_any(valid)
    pick = tf.argmax(tf.cast(valid, tf.int32), output_type=tf.int32)
    crop = tf.where(found, corners[pick], tf.constant([0.0, 0.0, 1.0, 1.0]))
    keep = tf.where(found, inside[pick], tf.ones(tf.shape(boxes)[:1], tf.bool))
    result = {**features}
    for key in BOX_FIELDS:
        if key in features:
            result[key] = tf.boolean_mask(features[key], keep)
    extent = tf.tile(crop[2:] - crop[:2], [2])
    result["boxes"] = tf.clip_by_value((result["boxes"] - tf.tile(crop[:2], [2])) / extent,
                                       0.0, 1.0)
    start = window[:2] + crop[:2] * size
    result["window"] = tf.concat([start, start + (crop[2:] - crop[:2]) * size], 0)
    return result


def random_flip(features, seed):
    """Boxes mirrored left-right with probability 1/2; "flip" tells extract() to mirror
    the pixels (an image that is already extracted is mirrored here)."""
    flip = _coin(seed)
    boxes = features["boxes"]
    flipped = tf.stack([boxes[:, 0], 1.0 - boxes[:, 3], boxes[:, 2], 1.0 - boxes[:, 1]], 1)
    result = {**features, "boxes": tf.where(flip, flipped, boxes)}
    if "window" in features:
        result["flip"] = tf.not_equal(flip, features.get("flip", False))   # two flips cancel
    else:
        result["image"] = tf.cond(flip, lambda: tf.reverse(features["image"], [1]),
                                  lambda: features["image"])
    return result


def extract(features, size=None, fill=MEAN_PIXEL):
    """The window's pixels as a float32 (size, size, 3) image (size None: the window's own
    whole-pixel size), mirrored when "flip"; drops "window" and "flip". Only the part of
    the window inside the image is cut out and resized (bilinear, as tf.image.resize), to
    its share of the output rounded to whole output pixels, then padded with `fill`: the
    pixels may sit up to half an output pixel off the boxes, and no canvas is built."""
    if "window" not in features:
        return features
    image, window = features["image"], features["window"]
    limit = tf.cast(tf.shape(image)[:2], tf.float32)
    extent = window[2:] - window[:2]
    out = tf.constant([size, size], tf.float32) if size else tf.round(extent)
    inner_start = tf.clip_by_value(window[:2], 0.0, limit)     # the window's part inside
    inner_end = tf.clip_by_value(window[2:], inner_start, limit)
    first = tf.round((inner_start - window[:2]) * out / extent)   # its place in the output
    last = tf.maximum(tf.round((inner_end - window[:2]) * out / extent), first + 1.0)
    last = tf.minimum(last, out)
    first = tf.minimum(first, last - 1.0)
    begin, end = tf.cast(inner_start, tf.int32), tf.cast(tf.maximum(inner_end, inner_start
                                                                    + 1.0), tf.int32)
    crop = image[begin[0]:end[0], begin[1]:end[1]]
    target = tf.cast(last - first, tf.int32)
    pixels = tf.image.resize(tf.cast(crop, tf.float32), target, method="bilinear")
    before, after = tf.cast(first, tf.int32), tf.cast(out - last, tf.int32)
    paddings = tf.stack([tf.stack([before[0], after[0]]), tf.stack([before[1], after[1]]),
                         tf.zeros([2], tf.int32)])
    mean = tf.constant(fill, tf.float32)
    pixels = tf.pad(pixels - mean, paddings) + mean
    if "flip" in features:
        pixels = tf.cond(features["flip"], lambda: tf.reverse(pixels, [1]), lambda: pixels)
    if size:
        pixels = tf.ensure_shape(pixels, [size, size, 3])
    result = {key: value for key, value in features.items() if key not in ("window", "flip")}
    return {**result, "image": pixels}


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


def augment(features, seed, augmentation=BoxAugmentation(), image_size=None):
    """The augmentations switched on in `augmentation`; the image comes back float32,
    image_size square (None: at the window's own size)."""
    seeds = tf.unstack(tf.random.experimental.stateless_split(seed, 4))
    features = {**features, "window": window_of(features)}
    if augmentation.expand and augmentation.max_expand_ratio > 1:
        features = random_expand(features, seeds[1], augmentation.max_expand_ratio)
    if augmentation.crop and augmentation.min_ious:
        features = random_crop(features, seeds[2], tuple(augmentation.min_ious))
    if augmentation.flip:
        features = random_flip(features, seeds[3])
    features = extract(features, image_size)
    if augmentation.photometric:
        features = photometric_distort(features, seeds[0])
    return features
