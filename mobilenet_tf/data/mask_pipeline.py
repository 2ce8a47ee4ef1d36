"""From a segmentation dataset's examples to batches of (uint8 images, uint8 masks).

Training: random scale (0.5 to 2.0: image bilinear, mask nearest neighbour), padding up to
the crop (image grey, mask IGNORE_LABEL), random crop, horizontal flip, all with the same
random choices for image and mask (stateless ops, one seed per example, as in pipeline.py).
Evaluation: each image and mask padded to the dataset's eval_size (mask padding ignored),
so every pixel is scored at full resolution in fixed-shape batches; an image larger than
eval_size is an error naming the file. Each step is a pure dict -> dict function.
"""
import tensorflow as tf

from mobilenet_tf.data import pipeline
from mobilenet_tf.data.masks import IGNORE_LABEL, _fail_unless

AUTOTUNE = tf.data.AUTOTUNE
SCALE_RANGE = (0.5, 2.0)
PAD_VALUE = 128   # mid-grey: 0 after the model's [0, 255] -> [-1, 1] rescaling


def random_scale(features, seed, scale_range=SCALE_RANGE):
    """Image and mask resized by one random factor in scale_range (mask: nearest)."""
    image, mask = features["image"], features["mask"]
    factor = tf.random.stateless_uniform([], seed, scale_range[0], scale_range[1])
    size = tf.maximum(tf.cast(tf.round(tf.cast(tf.shape(image)[:2], tf.float32) * factor),
                              tf.int32), 1)
    image = tf.image.resize(tf.cast(image, tf.float32), size, method="bilinear")
    mask = tf.image.resize(mask, size, method="nearest")
    return {**features, "image": tf.cast(tf.clip_by_value(image, 0, 255) + 0.5, tf.uint8),
            "mask": mask}


def pad_to(features, height, width):
    """Pads image (PAD_VALUE) and mask (IGNORE_LABEL) at the bottom and right to at least
    height x width."""
    image, mask = features["image"], features["mask"]
    shape = tf.shape(image)
    pad_h, pad_w = tf.maximum(height - shape[0], 0), tf.maximum(width - shape[1], 0)
    paddings = [[0, pad_h], [0, pad_w], [0, 0]]
    return {**features,
            "image": tf.pad(image, paddings, constant_values=PAD_VALUE),
            "mask": tf.pad(mask, paddings, constant_values=IGNORE_LABEL)}


def random_crop(features, seed, height, width):
    """The same random height x width window of image and mask (at least that large)."""
    shape = tf.shape(features["image"])
    limit = tf.stack([shape[0] - height + 1, shape[1] - width + 1])
    offset = tf.random.stateless_uniform([2], seed, 0, tf.int32.max, tf.int32) % limit
    window = lambda t: t[offset[0]:offset[0] + height, offset[1]:offset[1] + width]
    image, mask = window(features["image"]), window(features["mask"])
    image.set_shape([height, width, 3])
    mask.set_shape([height, width, 1])
    return {**features, "image": image, "mask": mask}


def random_flip(features, seed):
    """Image and mask flipped left-right together, with probability 1/2."""
    flip = tf.random.stateless_uniform([], seed) < 0.5
    flipped = lambda t: tf.cond(flip, lambda: tf.reverse(t, [1]), lambda: t)
    return {**features, "image": flipped(features["image"]), "mask": flipped(features["mask"])}


def train_example(features, seed, crop_size, scale_range=SCALE_RANGE):
    """Scale, pad, crop and flip one example; crop_size (height, width)."""
    scale_seed, crop_seed, flip_seed = tf.unstack(
        tf.random.experimental.stateless_split(seed, 3))
    if tuple(scale_range) != (1.0, 1.0):
        features = random_scale(features, scale_seed, scale_range)
    features = pad_to(features, *crop_size)
    features = random_crop(features, crop_seed, *crop_size)
    return random_flip(features, flip_seed)


def eval_example(features, eval_size):
    """One evaluation example padded to eval_size (height, width); larger is an error."""
    shape = tf.shape(features["image"])
    fits = tf.reduce_all(shape[:2] <= tf.constant(eval_size))
    check = _fail_unless(fits, "image ", features.get("name", "(generated)"), " is ",
                         tf.strings.format("{}x{}", (shape[0], shape[1])),
                         f", larger than the evaluation size {eval_size[0]}x{eval_size[1]}; "
                         "raise --config.dataset.eval_size")
    with tf.control_dependencies([check]):
        features = pad_to(features, *eval_size)
    image, mask = features["image"][:eval_size[0], :eval_size[1]], \
        features["mask"][:eval_size[0], :eval_size[1]]
    image.set_shape([*eval_size, 3])
    mask.set_shape([*eval_size, 1])
    return {"image": image, "mask": mask}


def _named(read):
    """read() plus the example's image path as "name", for error messages."""
    def read_named(example):
        features = read(example)
        if "image_path" in example:
            features = {**features, "name": example["image_path"]}
        return features
    return read_named


def _pair(features):
    return features["image"], features["mask"][..., 0]


def make_batches(source, *, training, batch_size, crop_size, eval_size=None,
                 scale_range=SCALE_RANGE, seed=None, shuffle_buffer=1000,
                 drop_remainder=None, skip_batches=0, autotune=True):
    """A MaskSource -> batches of (uint8 (B, H, W, 3) images, uint8 (B, H, W) masks).

    batch_size is this worker's. Training crops crop_size (height, width); evaluation pads
    to eval_size (default: the source's). skip_batches (training): resume mid-epoch.
    autotune: see pipeline.finish."""
    read = _named(source.read)
    examples = source.examples
    if training:
        examples = examples.shuffle(shuffle_buffer, seed=seed, reshuffle_each_iteration=True)
    if source.decode is not None:
        # After the shuffle, which holds file names rather than decoded frames; an image or
        # mask that does not decode is skipped and counted, as classification's pipeline does.
        examples = pipeline.map_skipping_corrupt(examples, source.decode)
    if training:
        examples = tf.data.Dataset.zip(examples, pipeline.seed_stream(seed))
        if skip_batches:
            examples = examples.skip(skip_batches * batch_size)
        prepare = lambda example, example_seed: train_example(
            read(example), example_seed, tuple(crop_size), tuple(scale_range))
    else:
        size = tuple(eval_size or source.eval_size)
        prepare = lambda example: eval_example(read(example), size)
    drop_remainder = training if drop_remainder is None else drop_remainder
    batches = examples.map(prepare, num_parallel_calls=AUTOTUNE, deterministic=True)
    batches = batches.batch(batch_size, drop_remainder=drop_remainder,
                            num_parallel_calls=AUTOTUNE).map(_pair, num_parallel_calls=AUTOTUNE)
    return pipeline.finish(batches, training=training, seed=seed, autotune=autotune)
