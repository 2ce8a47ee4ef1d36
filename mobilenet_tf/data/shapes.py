"""The built-in "Shapes" dataset: procedural images of coloured geometric shapes, with exact
labels for classification, detection and segmentation, and nothing to download.

Why: recipes, tests and tutorials need data that exists on every machine, is learnable in
minutes on a CPU and exercises all three tasks. Each example is a pure function of
(seed, index) built from stateless TensorFlow random ops, so it comes out the same eagerly,
inside tf.data on any number of threads, and on every run.

An image holds 1 to MAX_SHAPES shapes on a textured background (a muted colour, a few
low-frequency gratings, mild pixel noise). The largest shape gives the classification label:
its class is index % 6 (so labels are exactly balanced), it covers more of the image than all
the other shapes together, and it is painted on top. The others are painted beneath it; one
that would show less than MIN_VISIBLE_FRACTION of the image is left out entirely (not drawn,
not in the mask, not in the boxes), so image, mask and boxes always agree.

Each shape is an implicit function of the polar coordinates (rho, phi) of the pixel grid
around its centre, rotated by its angle: circle rho <= R; ring R/2 <= rho <= R; cross, the
union of two rectangles; and triangle, square and star are one family, a star polygon with n
tips at radius R and n valleys at radius inner * R between them (a regular n-gon is the star
whose valleys are its edge midpoints, inner = cos(pi/n)). R is the circumradius, so a shape
lies inside the image when its bounding circle does.

    python -m mobilenet_tf.data.shapes --preview=docs/shapes.png
"""
import argparse
import math

import numpy as np
import tensorflow as tf

import mobilenet_tf
from mobilenet_tf.data import pipeline
from mobilenet_tf.data.source import DatasetInfo, Source

CLASS_NAMES = ("circle", "square", "triangle", "star", "cross", "ring")
SEGMENTATION_CLASS_NAMES = ("background",) + CLASS_NAMES   # mask values 0..6
SPLIT_SIZES = {"train": 6000, "validation": 600, "test": 600}
MAX_SHAPES = 4

# Areas as fractions of the image. The largest shape covers more than three others could
# together (3 * 0.028 < 0.10), so its class is also the class with the most mask pixels.
LARGEST_AREA = (0.10, 0.15)
OTHER_AREA = (0.012, 0.028)
MIN_VISIBLE_FRACTION = 0.005   # a smaller shape showing less than this is left out

# Rendering is most of a small Shapes epoch's CPU time, and train.py builds a new dataset
# each epoch (so a tf.data cache would not outlive it): classification splits up to this
# size are rendered once per process and kept in memory (the default 64x64 split is 74 MB).
MEMORY_CACHE_BYTES = 512 << 20
_rendered_splits = {}

# The star-polygon family: class -> (tips, valley radius / R).
_STAR_FAMILY = {"square": (4, math.cos(math.pi / 4)), "triangle": (3, 0.5), "star": (5, 0.45)}
_CROSS_ARM_WIDTH = 1.0 / 3.0   # an arm's half-width over its half-length

# Colours in HSV: muted backgrounds, saturated bright shapes, so every shape stands out.
_BACKGROUND_HSV = ((0.0, 1.0), (0.0, 0.3), (0.25, 0.55))
_SHAPE_SATURATION = (0.75, 1.0)
_SHAPE_VALUE = (0.85, 1.0)
_GOLDEN_RATIO = 0.618034   # hue step between an image's shapes: far apart, never repeating
_GRATINGS = 3
_GRATING_AMPLITUDE = 0.06
_GRATING_CYCLES = (0.5, 3.0)   # per image side: low frequency, so texture never looks like edges
_NOISE = (-0.04, 0.04)   # uniform pixel noise


def _area_over_radius_squared(name):
    """A shape's area divided by R^2, R its circumradius (so sizes can be drawn by area)."""
    if name == "circle":
        return math.pi
    if name == "ring":
        return 0.75 * math.pi
    if name == "cross":
        w = _CROSS_ARM_WIDTH   # two 2L x 2wL arms, minus their overlap; R^2 = L^2 (1 + w^2)
        return (8 * w - 4 * w * w) / (1 + w * w)
    tips, inner = _STAR_FAMILY[name]   # 2 * tips triangles (centre, tip, valley)
    return tips * inner * math.sin(math.pi / tips)


_AREA_FACTOR = [_area_over_radius_squared(name) for name in CLASS_NAMES]
# Circle, cross and ring get their own tests; their star parameters only need to be finite.
_TIPS = [float(_STAR_FAMILY.get(name, (4, 1.0))[0]) for name in CLASS_NAMES]
_INNER = [_STAR_FAMILY.get(name, (4, 1.0))[1] for name in CLASS_NAMES]


def _lerp(unit, bounds):
    """Maps uniform [0, 1) samples onto [low, high)."""
    return bounds[0] + unit * (bounds[1] - bounds[0])


def _shape_params(key, index, size, max_shapes):
    """Random classes, radii, centres, angles and RGB colours of max_shapes shapes, as (K,)
    and (K, 3) tensors; slot 0 is the largest shape, painted on top, of class index % 6."""
    keys = tf.random.experimental.stateless_split(key, 4)
    label = tf.cast(tf.math.floormod(index, len(CLASS_NAMES)), tf.int32)
    others = tf.random.stateless_uniform([max_shapes - 1], keys[0], 0, len(CLASS_NAMES), tf.int32)
    classes = tf.concat([label[None], others], axis=0)
    count = tf.random.stateless_uniform([], keys[1], 1, max_shapes + 1, tf.int32)
    unit = tf.random.stateless_uniform([max_shapes, 7], keys[2])
    is_largest = tf.range(max_shapes) == 0
    area = tf.where(is_largest, _lerp(unit[:, 0], LARGEST_AREA), _lerp(unit[:, 0], OTHER_AREA))
    radius = size * tf.sqrt(area / tf.gather(_AREA_FACTOR, classes))
    # Centres where the bounding circle fits, so every shape lies wholly inside the image.
    centre = radius[:, None] + unit[:, 1:3] * (size - 2.0 * radius[:, None])
    hue = tf.math.floormod(unit[0, 4] + _GOLDEN_RATIO * tf.range(max_shapes, dtype=tf.float32),
                           1.0)
    hsv = tf.stack([hue, _lerp(unit[:, 5], _SHAPE_SATURATION),
                    _lerp(unit[:, 6], _SHAPE_VALUE)], axis=1)
    return {"classes": classes, "radius": radius, "centre": centre,
            "angle": 2.0 * math.pi * unit[:, 3], "active": tf.range(max_shapes) < count,
            "rgb": tf.image.hsv_to_rgb(hsv)}


def _window_masks(params, origin, window):
    """(k, W, W) bool: the pixels each shape covers in its W x W window at origin (k, 2)."""
    grid = tf.cast(origin, tf.float32)[:, :, None] + tf.range(window, dtype=tf.float32) + 0.5
    dy = grid[:, 0, :, None] - params["centre"][:, 0, None, None]   # pixel centres; pixel
    dx = grid[:, 1, None, :] - params["centre"][:, 1, None, None]   # edges lie on integers
    cos, sin = tf.cos(params["angle"])[:, None, None], tf.sin(params["angle"])[:, None, None]
    u, v = dx * cos + dy * sin, dy * cos - dx * sin   # coordinates in the shape's own frame
    rho, phi = tf.sqrt(u * u + v * v), tf.atan2(v, u)
    classes = params["classes"][:, None, None]
    radius = params["radius"][:, None, None]
    # Star polygon: fold phi into [0, b], b = pi/n (tip at 0, valley at b), then test which
    # side of the tip-to-valley edge the pixel lies on.
    half_step = math.pi / tf.gather(_TIPS, classes)
    valley = radius * tf.gather(_INNER, classes)
    folded = tf.math.floormod(phi, 2.0 * half_step)
    folded = tf.minimum(folded, 2.0 * half_step - folded)
    edge = valley * tf.sin(half_step) * tf.cos(folded) \
        - (valley * tf.cos(half_step) - radius) * tf.sin(folded)
    star = rho * edge <= radius * valley * tf.sin(half_step)
    arm_length = radius / math.sqrt(1.0 + _CROSS_ARM_WIDTH ** 2)
    arm_width = _CROSS_ARM_WIDTH * arm_length
    au, av = tf.abs(u), tf.abs(v)
    cross = ((au <= arm_length) & (av <= arm_width)) | ((av <= arm_length) & (au <= arm_width))
    disk = rho <= radius
    ring = disk & (rho >= 0.5 * radius)
    index = CLASS_NAMES.index
    return tf.where(classes == index("circle"), disk,
                    tf.where(classes == index("ring"), ring,
                             tf.where(classes == index("cross"), cross, star)))


def _shape_masks(params, slots, area_range, size):
    """(k, S, S) bool: the pixels each shape in `slots` (a slice) covers, ignoring the others.

    Worked out only on a window around each shape, just big enough for any shape of
    area_range, then padded: shapes are small, so this is several times less work."""
    window = min(size, math.ceil(2 * size * math.sqrt(area_range[1] / min(_AREA_FACTOR))) + 2)
    params = {name: value[slots] for name, value in params.items()}
    # The window holds the bounding circle: centre +- (window / 2 - 1) lies inside it.
    origin = tf.clip_by_value(tf.cast(tf.floor(params["centre"] - window / 2), tf.int32),
                              0, size - window)
    local = _window_masks(params, origin, window)
    paddings = tf.stack([origin, size - window - origin], axis=2)   # (k, 2 axes, before/after)
    placed = [tf.ensure_shape(tf.pad(local[k], paddings[k]), [size, size])
              for k in range(local.shape[0])]
    return tf.stack(placed) if placed else tf.zeros([0, size, size], tf.bool)


def _visible_masks(masks, active, min_pixels):
    """(K, S, S) masks -> the disjoint (K, S, S) pixels each kept shape shows, and (K,) keep.

    Top-down: slot 0 (the largest) is always kept; each shape beneath keeps the pixels no
    kept shape above covers, and is dropped when fewer than min_pixels remain. A dropped
    shape covers nothing, so the shapes beneath it are judged as they will be drawn."""
    cover = tf.zeros_like(masks[0])
    visible, keep = [], []
    for k in range(masks.shape[0]):   # a handful of shapes, unrolled; pixels stay vectorised
        own = masks[k] & ~cover & active[k]
        kept = (k == 0) | (tf.reduce_sum(tf.cast(own, tf.int32)) >= min_pixels)
        own = own & kept
        cover = cover | own
        visible.append(own)
        keep.append(kept)
    return tf.stack(visible), tf.stack(keep)


def _background(key, size):
    """(S, S, 3) float background in about [0, 1]: a muted colour plus a few gratings."""
    keys = tf.random.experimental.stateless_split(key, 3)
    hsv = tf.random.stateless_uniform([3], keys[0])
    base = tf.image.hsv_to_rgb(tf.stack([_lerp(hsv[i], _BACKGROUND_HSV[i]) for i in range(3)]))
    waves = tf.random.stateless_uniform([_GRATINGS, 3], keys[1])
    cycles = _lerp(waves[:, 0], _GRATING_CYCLES)[:, None]
    direction = 2.0 * math.pi * waves[:, 1, None]
    position = tf.range(size, dtype=tf.float32) / size
    along_x = 2.0 * math.pi * cycles * tf.cos(direction) * position            # (G, S)
    along_y = 2.0 * math.pi * (cycles * tf.sin(direction) * position + waves[:, 2, None])
    # sin(x + y) = sin x cos y + cos x sin y: separable, so S^2 sines become 4 G S and a matmul.
    columns = tf.concat([tf.sin(along_x), tf.cos(along_x)], axis=0)           # (2G, S)
    rows = tf.concat([tf.cos(along_y), tf.sin(along_y)], axis=0)
    amplitude = _GRATING_AMPLITUDE * tf.random.stateless_uniform([_GRATINGS, 3], keys[2], -1, 1)
    rows = rows[:, :, None] * tf.concat([amplitude, amplitude], axis=0)[:, None, :]
    return base + tf.einsum("gyc,gx->yxc", rows, columns)


def _boxes(visible, size):
    """(K, S, S) masks -> (K, 4) normalised [ymin, xmin, ymax, xmax] around their pixels."""
    def extent(hits):   # (K, S) bool -> first and one-past-last index of a hit
        hits = tf.cast(hits, tf.int32)
        first = tf.argmax(hits, axis=1, output_type=tf.int32)
        last = size - tf.argmax(tf.reverse(hits, [1]), axis=1, output_type=tf.int32)
        return first, last
    y0, y1 = extent(tf.reduce_any(visible, axis=2))
    x0, x1 = extent(tf.reduce_any(visible, axis=1))
    # int32 / int32 divides in float64: exact to float32, however a graph rewrites it.
    return tf.cast(tf.stack([y0, x0, y1, x1], axis=1) / size, tf.float32)


def render(index, seed, image_size=128, max_shapes=MAX_SHAPES):
    """Example `index` of the stream `seed`, a pure function of both (stateless random ops).

    Returns {"image": uint8 (S, S, 3), "label": int32 () class of the largest shape,
    "boxes": float32 (n, 4) [ymin, xmin, ymax, xmax] in [0, 1] around each visible shape's
    pixels in the mask (pixel edges: ymax = (last row + 1) / S), "classes": int32 (n,),
    "mask": uint8 (S, S), 0 background, c + 1 class c}; n in 1..max_shapes, and boxes[0]
    is the largest shape's, the rest from top to bottom."""
    # One traced graph for eager calls and tf.data alike: eager kernels round the odd
    # background pixel differently, and tensors (not Python ints) so it is traced once.
    return _render(tf.cast(index, tf.int64), tf.cast(seed, tf.int64), image_size, max_shapes)


# Without autograph: its loops run over Python lists and ints (unrolled), so autograph had
# nothing to convert and only cost the conversion, 1.5 CPU s in each new process and
# 0.2 s for each new image size; the graph and the images are the same.
@tf.function(autograph=False)
def _render(index, seed, image_size, max_shapes):
    """render() on int64 tensors."""
    key = tf.stack([seed, index])
    shape_key, background_key, noise_key = tf.unstack(
        tf.random.experimental.stateless_split(key, 3))
    params = _shape_params(shape_key, index, float(image_size), max_shapes)
    min_pixels = max(1, round(MIN_VISIBLE_FRACTION * image_size * image_size))
    masks = tf.concat([_shape_masks(params, slice(0, 1), LARGEST_AREA, image_size),
                       _shape_masks(params, slice(1, None), OTHER_AREA, image_size)], axis=0)
    visible, keep = _visible_masks(masks, params["active"], min_pixels)
    classes = params["classes"]
    mask = tf.reduce_sum(tf.cast(visible, tf.int32) * (classes + 1)[:, None, None], axis=0)
    painted = tf.einsum("kyx,kc->yxc", tf.cast(visible, tf.float32), params["rgb"])
    image = tf.where(tf.reduce_any(visible, axis=0)[..., None], painted,
                     _background(background_key, image_size))
    # Grey (luminance) noise: like a camera's, and a third of the cost of colour noise.
    image += _lerp(tf.random.stateless_uniform([image_size, image_size, 1], noise_key), _NOISE)
    image = tf.cast(tf.round(255.0 * tf.clip_by_value(image, 0.0, 1.0)), tf.uint8)
    return {"image": image, "label": classes[0],
            "boxes": tf.boolean_mask(_boxes(visible, image_size), keep),
            "classes": tf.boolean_mask(classes, keep), "mask": tf.cast(mask, tf.uint8)}


def split_seed(split, seed):
    """The seed render() gets for `split` of dataset `seed` (None: 0): one stream per split,
    so splits never share images."""
    if split not in SPLIT_SIZES:
        raise mobilenet_tf.UserError(
            f"unknown Shapes split {split!r}; choose one of {', '.join(SPLIT_SIZES)}")
    return (seed or 0) * len(SPLIT_SIZES) + list(SPLIT_SIZES).index(split)


def examples(split, seed=0, image_size=128, num_examples=None, max_shapes=MAX_SHAPES,
             input_context=None):
    """Unbatched, unshuffled tf.data.Dataset of render() dicts for `split`, in index order;
    num_examples defaults to SPLIT_SIZES[split]. Under tf.distribute, `input_context` picks
    this worker's share of the indices, so no worker renders images it then throws away."""
    stream = split_seed(split, seed)
    if image_size < 8 or max_shapes < 1:
        raise mobilenet_tf.UserError(f"Shapes needs image_size >= 8 and max_shapes >= 1, got "
                                     f"{image_size} and {max_shapes}")
    count = SPLIT_SIZES[split] if num_examples is None else num_examples
    indices = pipeline.shard(tf.data.Dataset.range(count), input_context)
    return indices.map(lambda i: render(i, stream, image_size, max_shapes),
                       num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)


def _classification_example(example):
    return {"image": example["image"], "label": example["label"]}


def load(split, *, data_dir=None, training, seed, input_context, image_size=128,
         num_examples=None, eval_examples=None, max_shapes=MAX_SHAPES, dataset_seed=0):
    """`shapes` for mobilenet_tf.data.get: the split generated at image_size, as a Source of
    {"image", "label"}; num_examples sizes every split, eval_examples (if given) the others
    than train, as the detection and mask loaders. No files, so data_dir is ignored; `seed`
    (the run's) only shuffles and augments, while dataset_seed picks the images, so
    evaluation data never changes with the training seed."""
    del data_dir, training, seed
    if split != "train" and eval_examples is not None:
        num_examples = eval_examples
    generated = examples(split, dataset_seed, image_size, num_examples, max_shapes,
                         input_context).map(_classification_example)
    count = SPLIT_SIZES[split] if num_examples is None else num_examples
    rendered = rendered_once(generated, ("labels", split, dataset_seed, image_size, count,
                                         max_shapes), count * image_size * image_size * 3,
                             input_context)
    generated = generated if rendered is None else rendered
    info = DatasetInfo(name="shapes", split=split, num_classes=len(CLASS_NAMES),
                       class_names=CLASS_NAMES, num_examples=count)
    return Source(generated, info, photos=False, default_image_size=image_size)


def load_detection(split, *, data_dir=None, training, seed, input_context, image_size=128,
                   num_examples=None, eval_examples=None, max_shapes=MAX_SHAPES,
                   dataset_seed=0):
    """`shapes` for mobilenet_tf.data.get_detection: a Source of {"image", "boxes",
    "classes", "image_id" (the example's index)}; num_examples sizes every split,
    eval_examples (if given) the others than train. Splits up to MEMORY_CACHE_BYTES are
    rendered once per process (boxes padded to max_shapes while stored)."""
    del data_dir, training, seed
    if split != "train" and eval_examples is not None:
        num_examples = eval_examples
    count = SPLIT_SIZES.get(split, 0) if num_examples is None else num_examples
    indices = pipeline.shard(tf.data.Dataset.range(count), input_context)
    generated = tf.data.Dataset.zip(indices, examples(
        split, dataset_seed, image_size, count, max_shapes, input_context)).map(
        lambda index, ex: {"image": ex["image"], "boxes": ex["boxes"],
                           "classes": ex["classes"], "image_id": index})
    counted = generated.map(lambda ex: {**ex, "count": tf.shape(ex["classes"])[0]})
    rendered = rendered_once(counted, ("boxes", split, dataset_seed, image_size, count,
                                       max_shapes), count * image_size * image_size * 3,
                             input_context, padded=True)
    generated = generated if rendered is None else rendered.map(_unpad)
    info = DatasetInfo(name="shapes", split=split, num_classes=len(CLASS_NAMES),
                       class_names=CLASS_NAMES, num_examples=count)
    return Source(generated, info, photos=False, default_image_size=image_size)


def rendered_once(generated, key, size_bytes, input_context, padded=False):
    """The finite dataset `generated`, rendered once per process (under `key` and this
    worker's shard) and served from memory, when its images take at most MEMORY_CACHE_BYTES
    and we run eagerly, and not for the tf.data service (its workers generate them); else
    None. train.py builds a new dataset every epoch, so a tf.data cache would not outlive
    it. padded: see _to_arrays."""
    if (size_bytes > MEMORY_CACHE_BYTES or not tf.executing_eagerly()
            or pipeline.building_for_service()):   # generated on the service's workers
        return None
    shard = (input_context.num_input_pipelines, input_context.input_pipeline_id
             ) if input_context else (1, 0)
    key = (*key, shard)
    if key not in _rendered_splits:
        _rendered_splits[key] = _to_arrays(generated, padded=padded)
    return tf.data.Dataset.from_tensor_slices(_rendered_splits[key])


def _unpad(stored):
    """A stored detection example with its boxes cut back to their count."""
    count = stored["count"]
    return {"image": stored["image"], "boxes": stored["boxes"][:count],
            "classes": stored["classes"][:count], "image_id": stored["image_id"]}


def _to_arrays(dataset, padded=False):
    """A finite dataset of equally shaped dicts (padded: shapes differing only in length,
    padded with zeros) -> one dict of stacked numpy arrays."""
    batched = dataset.padded_batch(1024) if padded else dataset.batch(1024)
    batches = list(batched.as_numpy_iterator())
    if padded:   # pad every batch to the longest row of any batch
        for key in batches[0]:
            longest = max(batch[key].shape[1:] for batch in batches)
            for batch in batches:
                extra = [(0, a - b) for a, b in zip(longest, batch[key].shape[1:])]
                batch[key] = np.pad(batch[key], [(0, 0)] + extra)
    return {key: np.concatenate([batch[key] for batch in batches]) for key in batches[0]}


def save_preview(path, count=16, seed=0, image_size=128):
    """Writes a grid of `count` training examples to `path`, each with its boxes, class names
    and label."""
    import matplotlib   # only the preview needs it, and never a display
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np
    import PIL.Image
    columns = math.ceil(math.sqrt(count))
    rows = math.ceil(count / columns)
    figure, axes = plt.subplots(rows, columns, figsize=(1.9 * columns, 2.0 * rows), dpi=100)
    for axis in axes.flat:
        axis.axis("off")
    for axis, example in zip(axes.flat, examples("train", seed, image_size, count)):
        axis.imshow(example["image"].numpy())
        axis.set_title(f"label: {CLASS_NAMES[int(example['label'])]}", fontsize=9)
        for box, name in zip(example["boxes"].numpy() * image_size, example["classes"].numpy()):
            ymin, xmin, ymax, xmax = box - 0.5   # imshow puts pixel centres on integers
            axis.add_patch(plt.Rectangle((xmin, ymin), xmax - xmin, ymax - ymin, fill=False,
                                         edgecolor="white", linewidth=1))
            axis.text(xmin, ymin, CLASS_NAMES[name], color="white", fontsize=6, va="bottom")
    figure.tight_layout()
    figure.canvas.draw()
    # A 256-colour palette: the pixel noise makes a true-colour PNG five times bigger.
    picture = PIL.Image.fromarray(np.asarray(figure.canvas.buffer_rgba())[..., :3])
    picture.quantize(256).save(path, optimize=True)
    plt.close(figure)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="Preview the Shapes dataset.")
    parser.add_argument("--preview", required=True, help="PNG to write a grid of examples to")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--image_size", type=int, default=128)
    arguments = parser.parse_args()
    save_preview(arguments.preview, seed=arguments.seed, image_size=arguments.image_size)
