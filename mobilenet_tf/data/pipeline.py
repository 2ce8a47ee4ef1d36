"""From a dataset's raw examples to batches for `model.fit`: the part every dataset shares.

    raw examples (sharded per worker, files interleaved)
      -> [decode once and cache]  -> shuffle -> per-example seed
      -> crop -> uint8 -> flip / RandAugment, skipping corrupt images -> batch
      -> MixUp / CutMix -> (images, labels) -> prefetch

Given a seed the order and every random choice are reproducible (stateless random ops with a
seed per example, drawn from a seeded stream that changes each epoch); without one, tf.data
may reorder elements for speed.
"""
import contextlib
import dataclasses
import sys

import tensorflow as tf

from mobilenet_tf.data import augment, preprocess
from mobilenet_tf.startup import LINE_START

AUTOTUNE = tf.data.AUTOTUNE
# Files read at once when interleaving TFRecord shards or TFDS files: enough to mix classes
# (ImageNet shards are written in class order) and keep the disks busy.
INTERLEAVE_CYCLE_LENGTH = 16
# Warn on the 1st, 10th, 100th, ... skipped image: one line, not one per image.
_WARN_AT_COUNTS = [10 ** k for k in range(10)]
# Set while building a pipeline for tf.data service workers (for_service).
_FOR_SERVICE = []


@contextlib.contextmanager
def for_service():
    """Pipelines built inside this run on tf.data service workers (data/service.py): no
    Python callbacks in the graph (a worker in another process cannot call into this one, so
    a skipped file is named by tf.print on the worker, every time), Shapes generated on the
    workers rather than shipped in the graph, and per-example seeds drawn by each worker
    (with one seeded stream, the k-th example of every worker got the same crop and flip)."""
    _FOR_SERVICE.append(True)
    try:
        yield
    finally:
        _FOR_SERVICE.pop()


def building_for_service():
    """Whether a pipeline is being built for tf.data service workers (see for_service)."""
    return bool(_FOR_SERVICE)


@dataclasses.dataclass(frozen=True)
class Augmentation:
    """Training augmentation: the crop and flip, RandAugment, MixUp and CutMix.

    crop_area_range: the Inception crop's area, as fractions of the image (aspect ratio 3/4
    to 4/3), of photo datasets (synthetic ones are resized whole); ImageNet's (0.08, 1) by
    default, (1, 1) for the whole image. flip: random horizontal flips (off for digits,
    text, anything whose mirror image means something else).
    randaugment_ops / randaugment_magnitude: Keras's RandAugment (num_ops, factor in [0, 1]);
    0 ops turns it off. mixup_alpha / cutmix_alpha: Beta(alpha, alpha) mixing of each batch
    with its reverse; 0 turns each off, and with both on each batch uses one of them at random.
    """
    crop_area_range: tuple = preprocess.AREA_RANGE
    flip: bool = True
    randaugment_ops: int = 0
    randaugment_magnitude: float = 0.5
    mixup_alpha: float = 0.0
    cutmix_alpha: float = 0.0

    @property
    def mixes_labels(self):
        """Whether labels come out as mixed one-hot vectors rather than class indices."""
        return self.mixup_alpha > 0 or self.cutmix_alpha > 0


def shard(dataset, input_context):
    """This worker's share of `dataset` under tf.distribute (every element when alone)."""
    if input_context is None or input_context.num_input_pipelines == 1:
        return dataset
    return dataset.shard(input_context.num_input_pipelines, input_context.input_pipeline_id)


def interleave_files(files, read_file, training, seed, input_context):
    """Reads the files of one split: sharded by file per worker (by record when there are
    fewer files than workers), in shuffled file order for training, INTERLEAVE_CYCLE_LENGTH
    files at a time. read_file(path, size in bytes) -> dataset of the file's records."""
    files = sorted(files)
    sizes = [tf.io.gfile.stat(path).length for path in files]
    dataset = tf.data.Dataset.from_tensor_slices((files, tf.constant(sizes, tf.int64)))
    workers = input_context.num_input_pipelines if input_context else 1
    by_file = len(files) >= workers
    if by_file:
        dataset = shard(dataset, input_context)
    if training:
        dataset = dataset.shuffle(len(files), seed=seed, reshuffle_each_iteration=True)
    dataset = dataset.interleave(read_file, cycle_length=INTERLEAVE_CYCLE_LENGTH,
                                 num_parallel_calls=AUTOTUNE)
    return dataset if by_file else shard(dataset, input_context)


def with_end_marker(dataset, marker):
    """(False, element) for each element of `dataset`, then (True, marker): after a step
    that may drop elements, the marker still shows where the stream ended. Built from zip
    and concatenate alone, which cost next to nothing per element, unlike a map."""
    not_end = tf.data.Dataset.from_tensors(tf.constant(False)).repeat()
    return tf.data.Dataset.zip(not_end, dataset).concatenate(
        tf.data.Dataset.from_tensors((tf.constant(True), marker)))


def map_skipping_corrupt(dataset, function):
    """dataset.map(function), except that an element on which it fails (a corrupt or
    truncated image, an unparsable record) is dropped and counted, with one warning line at
    the 1st, 10th, 100th, ... drop, instead of ending the epoch with an exception."""
    return _numbered_map_skipping_corrupt(dataset, function).map(_output_only)


def _numbered_map_skipping_corrupt(dataset, function):
    """map_skipping_corrupt as (number, is_end, output) triples, so a caller can drop the
    numbers per batch rather than per element.

    Elements are numbered before the map and the map keeps their order, so a drop shows as a
    gap in the numbers after ignore_errors(); an end marker, numbered after the last
    element, shows drops at the very end. Each element also carries the file name of the one
    before it (a scan, see _element_name), so the element after a gap names the file that
    was dropped. The map itself stays parallel. Per element this costs the map's cond and
    three small functions (name, count, filter); tf.data's per-call overhead makes each
    function stage worth avoiding.
    """
    dummy_input = tf.nest.map_structure(_zeros_like_spec, dataset.element_spec)
    # Called as Dataset.map calls it: a tuple element is spread over the arguments.
    spread = type(dataset.element_spec) is tuple
    inputs = dataset.element_spec if spread else (dataset.element_spec,)
    # Traced once, then called below: the cond's other branch needs the output's structure,
    # and a second trace to learn it doubled the cost of building a pipeline (detection's
    # target matching most of all).
    traced = tf.function(function).get_concrete_function(*inputs)
    dummy_output = tf.nest.map_structure(
        lambda tensor: _zeros_like_spec(tf.TensorSpec(tensor.shape, tensor.dtype)),
        traced.structured_outputs)

    def attempt(number, named):
        previous_name, (is_end, element) = named
        output = tf.cond(is_end, lambda: dummy_output,
                         lambda: traced(*element) if spread else traced(element))
        return number, previous_name, is_end, output

    named = with_end_marker(dataset, dummy_input).scan(tf.constant(""), _with_previous_name)
    mapped = named.enumerate().map(attempt, num_parallel_calls=AUTOTUNE, deterministic=True)
    counted = mapped.ignore_errors().scan(
        (tf.constant(-1, tf.int64), tf.constant(0, tf.int64)), _count_gaps)
    return counted.filter(_is_not_end)


def _element_name(element):
    """The file an example comes from (its "path" or "image_path" field, as the folder,
    COCO-JSON and mask loaders give), or "" for records and in-memory examples."""
    for candidate in _dicts(element):
        for key in ("path", "image_path"):
            value = candidate.get(key)
            if isinstance(value, tf.Tensor) and value.dtype == tf.string and value.shape.rank == 0:
                return value
    return tf.constant("")


def _dicts(structure):
    if isinstance(structure, dict):
        yield structure
    elif isinstance(structure, (tuple, list)):
        for item in structure:
            yield from _dicts(item)


def _with_previous_name(previous_name, marked):
    return _element_name(marked[1]), (previous_name, marked)


def _zeros_like_spec(spec):
    return tf.zeros([size or 0 for size in spec.shape], spec.dtype)


def _count_gaps(state, numbered):
    last, skipped = state
    number, dropped_name = numbered[0], numbered[1]
    new_skipped = skipped + number - last - 1
    crossed = tf.reduce_any((skipped < _WARN_AT_COUNTS) & (new_skipped >= _WARN_AT_COUNTS))
    named = tf.strings.length(dropped_name) > 0
    tf.cond(new_skipped > skipped,
            lambda: tf.cond(named, lambda: _report_skipped_file(dropped_name,
                                                                new_skipped - skipped),
                            lambda: tf.cond(crossed, lambda: _print_skip_count(new_skipped),
                                            tf.no_op)),
            tf.no_op)
    return (number, new_skipped), (number, numbered[2], numbered[3])


def _is_not_end(number, is_end, output):
    del number, output
    return tf.logical_not(is_end)


def _output_only(number, is_end, output):
    del number, is_end
    return output


# Files already named in a warning, in this process: each is named once, not every epoch.
_REPORTED_FILES = set()


def _report_skipped_file(name, gap):
    """Names a dropped file once per process. `gap`: how many were dropped in a row; the
    element after them knows the last one's name only."""
    if building_for_service():
        tf.print(LINE_START + "warning: skipped", name, "(and", gap - 1, "before it): corrupt "
                 "or unreadable; training goes on without it", output_stream=sys.stderr)
        return tf.no_op()

    def report(name, gap):
        name, gap = name.numpy().decode("utf-8", "replace"), int(gap)
        if name not in _REPORTED_FILES:
            _REPORTED_FILES.add(name)
            before = f" and the {gap - 1} file(s) read just before it" if gap > 1 else ""
            print(f"{LINE_START}warning: skipped {name}{before}: corrupt or unreadable; "
                  "training goes on without it (said once, not every epoch)",
                  file=sys.stderr, flush=True)
        return 0
    tf.py_function(report, [name, gap], tf.int32)
    return tf.no_op()


def _print_skip_count(skipped):
    tf.print(LINE_START + "warning: skipped", skipped, "corrupt or unreadable image(s) or "
             "record(s) so far in this pass; reading goes on without them",
             output_stream=sys.stderr)
    return tf.no_op()


def seed_stream(seed, skip=0):
    """Stateless-random seeds, shape (2,): reproducible for a given seed and different from
    epoch to epoch. skip: seeds to pass over first, so a resumed stream gives the same
    seeds to the same elements. Built for_service(), each worker draws its own seeds."""
    if building_for_service():
        seed = None
    seeds = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True).batch(2)
    return seeds.skip(skip) if skip else seeds


def with_seeds(dataset, seed, key="seed", skip=0):
    """Adds a fresh seed from seed_stream(seed, skip) to every element (a dict) as `key`."""
    return tf.data.Dataset.zip(dataset, seed_stream(seed, skip)).map(
        lambda features, pair: {**features, key: pair}, num_parallel_calls=AUTOTUNE)


def _images_and_labels(batch):
    """The (inputs, targets) pair model.fit takes."""
    return preprocess.to_uint8(batch)["image"], batch["label"]


def _decoded(features):
    """Decoded once for caching: {"image" uint8, "label"}."""
    if "image_bytes" in features:
        features = preprocess.decode(features)
    return {"image": features["image"], "label": features["label"]}


def _train_example(features, seed, image_size, photos, augmentation, randaugment):
    """One training example: Inception crop (photos) or resize (synthetic), flip, RandAugment.
    The flip comes after rounding to uint8 (the two commute), where it moves a quarter of
    the bytes."""
    flip_seed, crop_seed = tf.unstack(tf.random.experimental.stateless_split(seed))
    if photos:
        features = preprocess.random_resized_crop(
            features, crop_seed, image_size, area_range=tuple(augmentation.crop_area_range))
    else:
        features = preprocess.resize(features, image_size)
    features = preprocess.to_uint8(features)
    if augmentation.flip:
        features = preprocess.random_flip(features, flip_seed)
    if randaugment is not None:
        image = randaugment(tf.cast(features["image"], tf.float32))
        features = preprocess.to_uint8({**features, "image": image})
    return {"image": features["image"], "label": features["label"]}


def _eval_example(features, image_size, crop_fraction):
    """One evaluation example: the central crop, resized."""
    features = preprocess.to_uint8(preprocess.center_crop(features, image_size, crop_fraction))
    return {"image": features["image"], "label": features["label"]}


def make_batches(examples, *, training, batch_size, image_size, num_classes, parse=None,
                 photos=True, crop_fraction=preprocess.CROP_FRACTION,
                 augmentation=Augmentation(), seed=None, shuffle_buffer=10_000, cache=False,
                 drop_remainder=None, skip_batches=0, autotune=True):
    """Raw examples ({"image_bytes" or "image", "label"}, or what `parse` turns into that)
    -> batches of (images, labels).

    images: uint8 (batch_size, image_size, image_size, 3). labels: int32 class
    indices, or float32 (batch_size, num_classes) mixed one-hot vectors under MixUp/CutMix.
    batch_size is this worker's batch. Training batches drop the remainder so every step has
    the same shape; evaluation keeps every example. skip_batches (training): start that
    many batches into the stream, for resuming mid-epoch; the examples are passed over
    before they are decoded, so it costs reading, not preprocessing. autotune: see finish().
    """
    parse = parse or (lambda example: example)
    if cache:
        examples = map_skipping_corrupt(examples, lambda ex: _decoded(parse(ex))).cache()
        parse = lambda example: example
    if training:
        examples = examples.shuffle(shuffle_buffer, seed=seed, reshuffle_each_iteration=True)
        # Each example is paired with its seed before skipping, so a resumed stream gives
        # the same seeds to the same examples.
        examples = tf.data.Dataset.zip(examples, seed_stream(seed))
        if skip_batches:
            examples = examples.skip(skip_batches * batch_size)
        randaugment = augment.randaugment(augmentation, seed)
        prepare = lambda example, example_seed: _train_example(
            dict(parse(example)), example_seed, image_size, photos, augmentation, randaugment)
    else:
        if not photos:
            crop_fraction = 1.0
        prepare = lambda example: _eval_example(dict(parse(example)), image_size, crop_fraction)

    drop_remainder = training if drop_remainder is None else drop_remainder
    # Batched with their numbers, which are dropped once per batch rather than per example.
    batches = _numbered_map_skipping_corrupt(examples, prepare).batch(
        batch_size, drop_remainder=drop_remainder, num_parallel_calls=AUTOTUNE)
    batches = batches.map(_output_only)
    if training and augmentation.mixes_labels:
        batches = with_seeds(batches, None if seed is None else seed + 1, key="mix_seed",
                             skip=skip_batches)
        batches = batches.map(lambda batch: augment.mix_batch(batch, num_classes, augmentation),
                              num_parallel_calls=AUTOTUNE)
    batches = batches.map(_images_and_labels, num_parallel_calls=AUTOTUNE)
    return finish(batches, training=training, seed=seed, autotune=autotune)


def finish(batches, *, training, seed, autotune=True):
    """Every pipeline's last step: its tf.data options, then prefetch.

    Evaluation always reads in a fixed order (files interleaved round robin), so outputs can
    be matched to examples; training only when seeded, else tf.data may reorder for speed.
    autotune=False: tf.data keeps each AUTOTUNE stage at the parallelism and buffer it
    starts with rather than tuning them as it runs (data.autotuned: when that is faster)."""
    options = tf.data.Options()
    options.deterministic = seed is not None or not training
    options.autotune.enabled = bool(autotune)
    return batches.with_options(options).prefetch(AUTOTUNE)
