"""ImageNet-style training preprocessing throughput from TFRecords, per CPU core.

    python benchmarks/input_pipeline.py [--images=768] [--seconds=8] [--rounds=3] [--data_dir=DIR]

Writes synthetic JPEGs of ImageNet's typical size (about 500x375, quality 90, with texture
so the files are ImageNet-sized, ~110 KB) as TFRecords in the standard layout, then times
training preprocessing (read, parse, Inception crop, flip, resize to 224, batch 256,
uint8 out, as the pipeline hands images to the model) three ways in the same run:

- fused:  tf.image.decode_and_crop_jpeg, decoding only the crop window (what we ship);
- naive:  tf.image.decode_jpeg of the whole image, then the same crop;
- get():  mobilenet_tf.data.get("imagenet", "train"), the full pipeline with shuffling and
          corrupt-image skipping, fused.

Each runs on one core (tf.data private thread pool of 1, intra-op parallelism 1) and on all
cores. Prints a Markdown table; record it with date and machine in benchmarks/RESULTS.md.
"""
import os
import platform
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from absl import app, flags  # noqa: E402

from mobilenet_tf import data  # noqa: E402
from mobilenet_tf.data import imagenet, preprocess  # noqa: E402

IMAGES = flags.DEFINE_integer("images", 768, "synthetic JPEGs to write (the data repeats)")
SECONDS = flags.DEFINE_float("seconds", 8.0, "timed seconds per measurement, after warm-up")
ROUNDS = flags.DEFINE_integer("rounds", 3, "measurements of each pipeline; the median is shown")
DATA_DIR = flags.DEFINE_string("data_dir", None, "where to write the TFRecords (default: tmp)")
BATCH = 256
IMAGE_SIZE = 224
# An H100 trains MobileNetV2 at about 8,000 images/s; a 16-core host has to feed that.
TARGET_IMAGES_PER_SECOND, HOST_CORES = 8000, 16


def synthetic_jpeg(rng):
    """A ~500x375 JPEG with smooth structure plus texture, so its size and decode cost are
    like an ImageNet photo's (mean ~110 KB) rather than a flat image's."""
    height, width = (375, 500) if rng.random() < 0.75 else (500, 375)
    y, x = np.mgrid[0:height, 0:width]
    channels = [120 + 90 * np.sin(x / rng.uniform(8, 60) + rng.uniform(0, 6))
                * np.cos(y / rng.uniform(8, 60)) for _ in range(3)]
    image = np.stack(channels, -1) + rng.normal(0, 18, (height, width, 3))
    return tf.io.encode_jpeg(np.clip(image, 0, 255).astype("uint8"), quality=90).numpy()


def write_tfrecords(root, count, shards=8):
    """count synthetic JPEGs as train-0000i-of-0000n Examples; returns the mean JPEG bytes."""
    rng = np.random.default_rng(0)
    sizes = []
    for shard in range(shards):
        path = os.path.join(root, f"train-{shard:05d}-of-{shards:05d}")
        with tf.io.TFRecordWriter(path) as writer:
            for i in range(shard, count, shards):
                encoded = synthetic_jpeg(rng)
                sizes.append(len(encoded))
                feature = {
                    "image/encoded": tf.train.Feature(
                        bytes_list=tf.train.BytesList(value=[encoded])),
                    "image/class/label": tf.train.Feature(
                        int64_list=tf.train.Int64List(value=[1 + i % 1000])),
                }
                example = tf.train.Example(features=tf.train.Features(feature=feature))
                writer.write(example.SerializeToString())
    return float(np.mean(sizes))


def simple_pipeline(root, fused):
    """Read, parse, crop (fused or decode-then-crop), resize, flip, uint8, batch."""
    files = tf.io.gfile.glob(os.path.join(root, "train-*"))
    records = tf.data.Dataset.from_tensor_slices(files).repeat().interleave(
        tf.data.TFRecordDataset, cycle_length=8, num_parallel_calls=tf.data.AUTOTUNE)

    def one(record, seed):
        features = imagenet.parse_record({"record": record})
        if not fused:
            features = {"image": tf.io.decode_jpeg(features["image_bytes"], channels=3),
                        "label": features["label"]}
        flip_seed, crop_seed = tf.unstack(tf.random.experimental.stateless_split(seed))
        features = preprocess.random_resized_crop(features, crop_seed, IMAGE_SIZE)
        return preprocess.random_flip(features, flip_seed)

    seeds = tf.data.Dataset.random(seed=0).batch(2)
    examples = tf.data.Dataset.zip(records, seeds).map(one, num_parallel_calls=tf.data.AUTOTUNE)
    examples = examples.map(preprocess.to_uint8, num_parallel_calls=tf.data.AUTOTUNE)
    batches = examples.batch(BATCH).map(lambda b: (b["image"], b["label"]))
    return batches


def full_pipeline(root):
    """mobilenet_tf.data.get's training pipeline, repeated."""
    dataset, _ = data.get("imagenet", "train", data_dir=root, batch_size=BATCH,
                          image_size=IMAGE_SIZE, seed=0, shuffle_buffer=1000)
    return dataset.repeat()


def images_per_second(dataset, cores, seconds):
    """Steady-state images/s of iterating `dataset` with tf.data limited to `cores` threads."""
    options = tf.data.Options()
    options.threading.private_threadpool_size = cores
    options.threading.max_intra_op_parallelism = 1
    options.autotune.cpu_budget = cores
    iterator = iter(dataset.with_options(options).prefetch(2))
    for _ in range(3):   # warm-up: fills buffers, lets autotune settle
        next(iterator)
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        images, _ = next(iterator)
        count += int(images.shape[0])
    return count / (time.perf_counter() - start)


def main(argv):
    del argv
    cores = os.cpu_count()
    with tempfile.TemporaryDirectory() as tmp:
        root = DATA_DIR.value or tmp
        os.makedirs(root, exist_ok=True)
        mean_bytes = write_tfrecords(root, IMAGES.value)
        print(f"{IMAGES.value} synthetic JPEGs, mean {mean_bytes / 1024:.0f} KB; batch {BATCH}, "
              f"{IMAGE_SIZE}x{IMAGE_SIZE}; {platform.processor() or platform.machine()}, "
              f"{cores} cores; TensorFlow {tf.__version__}\n")
        makers = (("fused decode_and_crop_jpeg", lambda: simple_pipeline(root, True)),
                  ("naive decode_jpeg then crop", lambda: simple_pipeline(root, False)),
                  ("data.get() (fused, shuffle, skip guard)", lambda: full_pipeline(root)))
        # Rounds alternate the pipelines, so a slow spell of a shared machine hits them all;
        # each figure is the median over the rounds.
        rates = {(name, threads): [] for name, _ in makers for threads in (1, cores)}
        for _ in range(ROUNDS.value):
            for name, make in makers:
                for threads in (1, cores):
                    rates[name, threads].append(images_per_second(make(), threads,
                                                                  SECONDS.value))
        rows = [(name, float(np.median(rates[name, 1])), float(np.median(rates[name, cores])))
                for name, _ in makers]
        print(f"| pipeline | 1 core (img/s) | {cores} cores (img/s) | per core at {cores} | "
              f"vs naive (1 core) | {HOST_CORES} cores at 1-core rate |")
        print("|---|---:|---:|---:|---:|---:|")
        naive = rows[1][1]
        for name, one_core, all_cores in rows:
            print(f"| {name} | {one_core:.0f} | {all_cores:.0f} | {all_cores / cores:.0f} | "
                  f"{one_core / naive:.2f}x | {one_core * HOST_CORES:,.0f} |")
        fused = rows[0][1]
        print(f"\nfused / naive: {fused / naive:.2f}x (target >= 1.2x). A {HOST_CORES}-core "
              f"host at the 1-core rate: {fused * HOST_CORES:,.0f} img/s "
              f"(target {TARGET_IMAGES_PER_SECOND:,}).")


if __name__ == "__main__":
    app.run(main)
