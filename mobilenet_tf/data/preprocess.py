"""Image preprocessing as pure `dict -> dict` TensorFlow functions.

An example is a dict holding either `image_bytes` (an encoded JPEG/PNG/GIF/BMP string) or
`image` (a decoded uint8 or float (H, W, 3) tensor), plus whatever else the dataset carries
(`label`, ...). Each function returns a new dict with `image` replaced by a float32
(H, W, 3) tensor in [0, 255]; `to_uint8` rounds it back to bytes at the end. The pipeline
hands out uint8 images and the model normalises them (see mobilenet_tf.data): a float32
batch would be four times the bytes to copy, batch and send to the accelerator.

An example may also carry `raw_shape` (int32 (3,)): when it is not zeros, `image_bytes`
holds raw uint8 pixels of that (H, W, 3) shape in row order instead of an encoded image (the
raw records of `prepare --raw_fraction`); bytes that do not fill the shape fail, and the
pipeline skips them like a corrupt JPEG.

Randomness is stateless: every random function takes a `seed` of shape (2,), so a pipeline
given a seed produces the same images in any order and on any number of threads.

JPEG bytes take the fused path: `tf.image.decode_and_crop_jpeg` decodes only the crop
window, which is most of the saving on ImageNet-sized photos (the Inception crop keeps on
average about half the pixels). Other formats are decoded whole, then cropped.
"""
import tensorflow as tf

# Inception-style random resized crop (Szegedy et al. 2015, as the MobileNet papers train):
# the crop covers 8% to 100% of the image, with aspect ratio between 3/4 and 4/3.
AREA_RANGE = (0.08, 1.0)
ASPECT_RATIO_RANGE = (3.0 / 4.0, 4.0 / 3.0)
MAX_CROP_ATTEMPTS = 10
# The standard ImageNet evaluation crop: the central 87.5% (224 of 256) of the short side.
CROP_FRACTION = 0.875


def _decode_encoded(image_bytes):
    """Any image format -> uint8 (H, W, 3); grey and RGBA images become RGB."""
    image = tf.io.decode_image(image_bytes, channels=3, expand_animations=False)
    image.set_shape([None, None, 3])
    return image


def is_raw(features):
    """Whether the example's `image_bytes` are raw pixels (see the module doc): a bool tensor,
    False for an example without `raw_shape`."""
    if "raw_shape" not in features:
        return tf.constant(False)
    return tf.greater(features["raw_shape"][0], 0)


def _raw_pixels(features):
    """Raw bytes -> uint8 (H, W, 3): decode_raw and reshape, no decoding work. Bytes that do
    not fill `raw_shape`, or a shape of other than 3 channels, fail (InvalidArgumentError)."""
    pixels = tf.reshape(tf.io.decode_raw(features["image_bytes"], tf.uint8),
                        features["raw_shape"])
    return tf.ensure_shape(pixels, [None, None, 3])


def _decode_whole(features):
    """The example's image bytes, encoded or raw, -> uint8 (H, W, 3)."""
    if "raw_shape" not in features:
        return _decode_encoded(features["image_bytes"])
    return tf.cond(is_raw(features), lambda: _raw_pixels(features),
                   lambda: _decode_encoded(features["image_bytes"]))


def _cropped(features, window_of_shape):
    """The window `window_of_shape((H, W, C)) -> (offset_y, offset_x, height, width)` of the
    example's image. JPEG bytes decode only the window; raw pixels are sliced; other bytes
    decode once, whole."""

    def slice_window(image):
        offset_y, offset_x, height, width = window_of_shape(tf.shape(image))
        return image[offset_y:offset_y + height, offset_x:offset_x + width]

    if "image" in features:
        return slice_window(features["image"])
    image_bytes = features["image_bytes"]

    def fused():
        window = tf.stack(window_of_shape(tf.image.extract_jpeg_shape(image_bytes)))
        return tf.image.decode_and_crop_jpeg(image_bytes, window, channels=3)

    # Raw bytes can start like a JPEG, so raw is ruled out first; _decode_whole tells raw
    # pixels from other encoded images.
    jpeg = tf.logical_and(tf.io.is_jpeg(image_bytes), tf.logical_not(is_raw(features)))
    image = tf.cond(jpeg, fused, lambda: slice_window(_decode_whole(features)))
    image.set_shape([None, None, 3])
    return image


def _with_image(features, image):
    """A copy of the example with the encoded bytes dropped and `image` set."""
    result = {key: value for key, value in features.items()
              if key not in ("image_bytes", "raw_shape")}
    result["image"] = image
    return result


def _resize(image, image_size):
    """Bilinear resize to (image_size, image_size), as float32 in [0, 255]: without
    antialiasing each output is a weighted mean of 4 inputs, so no clipping is needed. The
    cast comes first because TensorFlow's float kernel is faster than its uint8 one."""
    return tf.image.resize(tf.cast(image, tf.float32), [image_size, image_size],
                           method="bilinear")


def random_crop_window(shape, seed, area_range=AREA_RANGE,
                       aspect_ratio_range=ASPECT_RATIO_RANGE):
    """(offset_y, offset_x, height, width) of an Inception crop of an image of `shape`: a
    random area fraction and aspect ratio in the ranges; the whole image when no window fits
    in MAX_CROP_ATTEMPTS tries."""
    begin, size, _ = tf.image.stateless_sample_distorted_bounding_box(
        shape, bounding_boxes=tf.constant([[[0.0, 0.0, 1.0, 1.0]]]), seed=seed,
        min_object_covered=0.0, aspect_ratio_range=aspect_ratio_range, area_range=area_range,
        max_attempts=MAX_CROP_ATTEMPTS, use_image_if_no_bounding_boxes=True)
    return begin[0], begin[1], size[0], size[1]


def random_resized_crop(features, seed, image_size, area_range=AREA_RANGE,
                        aspect_ratio_range=ASPECT_RATIO_RANGE):
    """Inception crop (random_crop_window), decoded alone when JPEG, resized to
    (image_size, image_size)."""
    image = _cropped(features, lambda shape: random_crop_window(shape, seed, area_range,
                                                                aspect_ratio_range))
    return _with_image(features, _resize(image, image_size))


def center_crop(features, image_size, crop_fraction=CROP_FRACTION):
    """Evaluation crop: the central square of side crop_fraction * short side, resized to
    (image_size, image_size). crop_fraction=1 keeps the whole short side."""

    def central_window(shape):
        height, width = shape[0], shape[1]
        side = tf.cast(crop_fraction * tf.cast(tf.minimum(height, width), tf.float32), tf.int32)
        side = tf.maximum(side, 1)
        return (height - side + 1) // 2, (width - side + 1) // 2, side, side

    return _with_image(features, _resize(_cropped(features, central_window), image_size))


def resize(features, image_size):
    """The whole image resized to (image_size, image_size), aspect ratio not kept; an image
    already of that size is kept as it is."""
    image = features["image"] if "image" in features else _decode_whole(features)
    if image.shape[0] == image_size and image.shape[1] == image_size:
        return _with_image(features, image)
    return _with_image(features, _resize(image, image_size))


def decode(features):
    """Decodes `image_bytes` (encoded or raw) into a uint8 `image` (for caching decoded
    datasets)."""
    return _with_image(features, _decode_whole(features))


def random_flip(features, seed):
    """Horizontal flip with probability 1/2, of an image of any dtype (cheapest on uint8)."""
    image = tf.image.stateless_random_flip_left_right(features["image"], seed=seed)
    return {**features, "image": image}


def to_uint8(features):
    """A [0, 255] float image rounded to uint8 (halves up; values outside the range
    saturate). Clip, add 0.5 and truncate: a third of the time of round then saturate_cast."""
    image = features["image"]
    if image.dtype != tf.uint8:
        image = tf.cast(tf.clip_by_value(image, 0.0, 255.0) + 0.5, tf.uint8)
    return {**features, "image": image}
