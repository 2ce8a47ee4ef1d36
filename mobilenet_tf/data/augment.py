"""Training augmentations beyond crop and flip: RandAugment per image, MixUp / CutMix per batch.

RandAugment is Keras's layer (per image, on [0, 255] floats), which is correct for
classification. MixUp and CutMix are written here rather than taken from keras.layers: they
draw from stateless seeds, so a seeded run is reproducible on any number of threads, and
CutMix's label weight is the area of the box after clipping to the image (timm's
correction), so labels say exactly how much of each image is visible.
"""
import keras
import tensorflow as tf


def randaugment(augmentation, seed=None):
    """Keras's RandAugment for one [0, 255] float image, or None when turned off."""
    if augmentation.randaugment_ops <= 0:
        return None
    return keras.layers.RandAugment(value_range=(0, 255),
                                    num_ops=augmentation.randaugment_ops,
                                    factor=augmentation.randaugment_magnitude, seed=seed)


def _beta(seed, alpha):
    """One draw of Beta(alpha, alpha), from two stateless Gamma draws."""
    first, second = tf.unstack(tf.random.experimental.stateless_split(seed))
    x = tf.random.stateless_gamma([], first, alpha=alpha)
    y = tf.random.stateless_gamma([], second, alpha=alpha)
    return x / (x + y)


def mixup(images, labels, lam):
    """lam * each image + (1 - lam) * the batch's reverse order, labels likewise."""
    return (lam * images + (1.0 - lam) * tf.reverse(images, [0]),
            lam * labels + (1.0 - lam) * tf.reverse(labels, [0]))


def cutmix(images, labels, lam, seed):
    """Pastes a box of area (1 - lam) of the image, at a random centre, from the batch's
    reverse order; the label weight is the pasted area after clipping to the image."""
    height, width = tf.shape(images)[1], tf.shape(images)[2]
    h, w = tf.cast(height, tf.float32), tf.cast(width, tf.float32)
    cut = tf.sqrt(1.0 - lam)
    center = tf.random.stateless_uniform([2], seed) * tf.stack([h, w])
    top = tf.cast(tf.clip_by_value(center[0] - cut * h / 2, 0.0, h), tf.int32)
    bottom = tf.cast(tf.clip_by_value(center[0] + cut * h / 2, 0.0, h), tf.int32)
    left = tf.cast(tf.clip_by_value(center[1] - cut * w / 2, 0.0, w), tf.int32)
    right = tf.cast(tf.clip_by_value(center[1] + cut * w / 2, 0.0, w), tf.int32)
    rows = tf.range(height)
    cols = tf.range(width)
    inside = ((rows[:, None] >= top) & (rows[:, None] < bottom)
              & (cols[None, :] >= left) & (cols[None, :] < right))
    pasted = tf.reduce_mean(tf.cast(inside, tf.float32))
    mixed = tf.where(inside[None, :, :, None], tf.reverse(images, [0]), images)
    return mixed, (1.0 - pasted) * labels + pasted * tf.reverse(labels, [0])


def mix_batch(batch, num_classes, augmentation):
    """{"image", "label" (indices), "mix_seed"} -> {"image", "label" (mixed one-hot)}.

    With both MixUp and CutMix on, each batch uses one of them with probability 1/2 (timm)."""
    images = tf.cast(batch["image"], tf.float32)
    labels = tf.one_hot(batch["label"], num_classes, dtype=tf.float32)
    choice_seed, lam_seed, box_seed = tf.unstack(
        tf.random.experimental.stateless_split(batch["mix_seed"], 3))
    use_cutmix = augmentation.cutmix_alpha > 0
    if augmentation.mixup_alpha > 0 and use_cutmix:
        use_cutmix = tf.random.stateless_uniform([], choice_seed) < 0.5

    def do_cutmix():
        return cutmix(images, labels, _beta(lam_seed, augmentation.cutmix_alpha), box_seed)

    def do_mixup():
        return mixup(images, labels, _beta(lam_seed, augmentation.mixup_alpha))

    if isinstance(use_cutmix, bool):
        images, labels = do_cutmix() if use_cutmix else do_mixup()
    else:
        images, labels = tf.cond(use_cutmix, do_cutmix, do_mixup)
    return {"image": images, "label": labels}
