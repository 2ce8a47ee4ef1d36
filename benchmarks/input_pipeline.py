"""ImageNet-style training preprocessing throughput from TFRecords, per CPU core: decoders,
pre-resized shards, and the tf.data service, against what a GPU consumes.

    python benchmarks/input_pipeline.py [--images=768] [--seconds=8] [--rounds=3]
        [--content=textured|natural] [--data_dir=DIR] [--compare=kernels,shards,service]
        [--min_side=256] [--raw_fractions=1,0.5]

Writes synthetic JPEGs of ImageNet's typical size (about 500x375, 4:2:0, quality 90, with
enough detail that the files are near ImageNet's mean of ~110 KB) as TFRecords in the
standard layout, then times training preprocessing (read, parse, Inception crop, resize to
224, uint8, flip, batch 256, as the pipeline hands images to the model), each section's
pipelines in alternating rounds of the same run:

kernels (on one core and on all):
- fused:  tf.image.decode_and_crop_jpeg, decoding only the crop window (what we ship);
- naive:  tf.image.decode_jpeg of the whole image, then the same crop;
- get():  mobilenet_tf.data.get("imagenet", "train"), the full pipeline with shuffling and
          corrupt-image skipping, fused.
shards: data.get() on the original TFRecords against the same images written by
          `python -m mobilenet_tf.data.prepare --min_side=N`, as JPEG and with each
          --raw_fraction of --raw_fractions stored as raw pixels (same preprocessing after),
          with the disk bytes per image of each.
service: data.get() in this process against the same pipeline on tf.data service workers
          (mobilenet_tf.data.service: a dispatcher in this process, 1 and 2 local workers,
          each its own process), the batches received here. Per core is images per CPU
          second of every process involved (this one and the workers).

"1 core" is a tf.data private thread pool of 1 with intra-op parallelism 1 (on each worker
for the service). The last table turns the per-core rates into the cores one GPU needs at
the training speeds measured on an H100 (TRAINING_SPEEDS). Prints Markdown tables; record
them with date, machine and load average in benchmarks/RESULTS.md.
"""
import os
import platform
import subprocess
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from absl import app, flags  # noqa: E402

from mobilenet_tf import data  # noqa: E402
from mobilenet_tf.data import imagenet, prepare, preprocess, service  # noqa: E402

IMAGES = flags.DEFINE_integer("images", 768, "synthetic JPEGs to write (the data repeats)")
SECONDS = flags.DEFINE_float("seconds", 8.0, "timed seconds per measurement, after warm-up")
ROUNDS = flags.DEFINE_integer("rounds", 3, "measurements of each pipeline; the median is shown")
DATA_DIR = flags.DEFINE_string("data_dir", None, "where to write the TFRecords (default: tmp)")
CONTENT = flags.DEFINE_enum("content", "textured", ["textured", "natural"],
                            "synthetic JPEGs: textured (sinusoids plus RGB noise) or natural "
                            "(1/f spectrum, photo-like luma and chroma)")
COMPARE = flags.DEFINE_list("compare", ["kernels", "shards", "service"],
                            "sections to run: kernels, shards, service")
MIN_SIDE = flags.DEFINE_integer("min_side", 256, "shards: the prepared images' shorter side")
RAW_FRACTIONS = flags.DEFINE_list("raw_fractions", ["1", "0.5"],
                                  "shards: the --raw_fraction of each raw copy measured beside "
                                  "the JPEG one (0.5: ffcv-imagenet's files, half JPEG)")
BATCH = 256
IMAGE_SIZE = 224
# An H100 trains MobileNetV2 at about 8,000 images/s; a 16-core host has to feed that.
TARGET_IMAGES_PER_SECOND, HOST_CORES = 8000, 16
# Training images/s on one H100, bf16, batch 256 at 224 (issue 8's measurements, 2026-11-22;
# benchmarks/NOTES.md "The floor" table).
TRAINING_SPEEDS = (
    ("V2, torchvision eager", 6282), ("V2, keras.applications JAX", 7277),
    ("V2, torch.compile", 8233), ("V3-Large, torchvision eager", 7718),
    ("V3-Large, keras.applications JAX", 8508))


def _size(rng):
    return (375, 500) if rng.random() < 0.75 else (500, 375)


def textured_jpeg(rng):
    """A ~500x375 JPEG with smooth structure plus texture, so its size and decode cost are
    like an ImageNet photo's (mean ~95 KB) rather than a flat image's. The noise is
    independent per RGB channel, so unlike a photo's its chroma is as busy as its luma."""
    height, width = _size(rng)
    y, x = np.mgrid[0:height, 0:width]
    channels = [120 + 90 * np.sin(x / rng.uniform(8, 60) + rng.uniform(0, 6))
                * np.cos(y / rng.uniform(8, 60)) for _ in range(3)]
    image = np.stack(channels, -1) + rng.normal(0, 18, (height, width, 3))
    return tf.io.encode_jpeg(np.clip(image, 0, 255).astype("uint8"), quality=90).numpy()


def natural_jpeg(rng):
    """A ~500x375 JPEG with a photo's statistics: luma with the 1/f amplitude spectrum of
    natural scenes (van der Schaaf & van Hateren 1996), smoother and weaker chroma, a
    little sensor noise; quality 90, mean ~105 KB, as ImageNet's ~110 KB."""
    height, width = _size(rng)
    frequency = np.hypot(np.fft.fftfreq(height)[:, None], np.fft.rfftfreq(width)[None, :])
    frequency[0, 0] = 1.0

    def field(exponent):
        spectrum = rng.normal(size=frequency.shape) + 1j * rng.normal(size=frequency.shape)
        spectrum[0, 0] = 0
        values = np.fft.irfft2(spectrum / frequency ** exponent, s=(height, width))
        return values / values.std()

    luma = 115 + 40 * field(1.0) + rng.normal(0, 2, (height, width))
    cb, cr = 10 * field(1.2), 10 * field(1.2)
    image = np.stack([luma + 1.402 * cr, luma - 0.344 * cb - 0.714 * cr, luma + 1.772 * cb], -1)
    return tf.io.encode_jpeg(np.clip(image, 0, 255).astype("uint8"), quality=90).numpy()


CONTENTS = {"textured": textured_jpeg, "natural": natural_jpeg}


def write_tfrecords(root, count, shards=8, content="textured"):
    """count synthetic JPEGs as train-0000i-of-0000n Examples; returns the mean JPEG bytes."""
    rng = np.random.default_rng(0)
    synthetic_jpeg = CONTENTS[content]
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
    """Read, parse, crop (fused or decode-then-crop), resize, uint8, flip, batch."""
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
        # As the pipeline does: round to uint8, then flip the quarter as many bytes.
        features = preprocess.random_flip(preprocess.to_uint8(features), flip_seed)
        return features["image"], features["label"]

    seeds = tf.data.Dataset.random(seed=0).batch(2)
    examples = tf.data.Dataset.zip(records, seeds).map(one, num_parallel_calls=tf.data.AUTOTUNE)
    return examples.batch(BATCH)


def full_pipeline(root):
    """mobilenet_tf.data.get's training pipeline, repeated."""
    dataset, _ = data.get("imagenet", "train", data_dir=root, batch_size=BATCH,
                          image_size=IMAGE_SIZE, seed=0, shuffle_buffer=1000)
    return dataset.repeat()


def start_workers(dispatcher, count):
    """`count` worker processes of `dispatcher` (python -m mobilenet_tf.data.service worker),
    once registered."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": ""}
    workers = [subprocess.Popen(
        [sys.executable, "-m", "mobilenet_tf.data.service", "worker",
         f"--dispatcher={dispatcher.target}", "--worker_address=localhost"],
        cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))), env=env,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for _ in range(count)]
    while dispatcher._num_workers() < count:
        time.sleep(0.2)
    return workers


def alternate(makers, seconds, rounds):
    """{name: [(images/s, images per CPU s) per round]}: each maker() -> (dataset, pids)
    timed once per round, in turn, so a slow spell of a shared machine hits them all."""
    rates = {name: [] for name, _ in makers}
    for _ in range(rounds):
        for name, make in makers:
            dataset, pids = make()
            rates[name].append(throughput(dataset, seconds, pids))
    return rates


def _median(values):
    return float(np.median(values))


def _disk_per_image(root):
    """Mean bytes per image of the train-* shards in root (records and their framing)."""
    files = tf.io.gfile.glob(os.path.join(root, "train-*"))
    return sum(tf.io.gfile.stat(path).length for path in files) / IMAGES.value


def prepared_copy(root, min_side, raw_fraction):
    """(name, directory) of prepare's --min_side copy of root, the fraction raw_fraction of
    its images raw pixels; prints what preparing it cost."""
    flags_used = f"--min_side={min_side}" + (f" --raw_fraction={raw_fraction:g}"
                                              if raw_fraction else "")
    output = os.path.join(root, f"prepared_{min_side}_{raw_fraction:g}")
    start, cpu = time.perf_counter(), time.process_time()
    prepare.prepare("imagenet", data_dir=root, output_dir=output, splits=["train"],
                    min_side=min_side, raw_fraction=raw_fraction)
    prepare_cpu = time.process_time() - cpu
    print(f"prepare {flags_used}: {IMAGES.value} images in {time.perf_counter() - start:.1f} s "
          f"({IMAGES.value / prepare_cpu:.0f} images per CPU s)")
    return f"{flags_used} shards", output


def shards_table(root, seconds, rounds, min_side, raw_fractions):
    """data.get() at 1 core on the original shards and on prepare's --min_side copies, JPEG
    and with each of raw_fractions of raw pixels; returns the per-core rates
    {name: images per CPU s}."""
    copies = [prepared_copy(root, min_side, fraction) for fraction in [0.0] + raw_fractions]
    print()
    roots = [("original shards", root)] + copies
    makers = [(name, lambda where=where: (limited(full_pipeline(where), 1), ()))
              for name, where in roots]
    rates = alternate(makers, seconds, rounds)
    print("| data.get(), 1 core | img/s | img per CPU s | vs original | disk per image (KB) |")
    print("|---|---:|---:|---:|---:|")
    original = rates[roots[0][0]]
    base = _median([r[1] for r in original])
    for name, where in roots:
        per_cpu = _median([r[1] for r in rates[name]])
        print(f"| {name} | {_median([r[0] for r in rates[name]]):.0f} | {per_cpu:.0f} | "
              f"{per_cpu / base:.2f}x | {_disk_per_image(where) / 1000:.0f} |")
    print("\nper CPU s against the original shards, each round (target >= 2x):")
    for name, _ in copies:
        print(f"- {name}: " + " / ".join(f"{b[1] / a[1]:.2f}"
                                         for a, b in zip(original, rates[name])))
    print()
    return {name: _median([r[1] for r in rates[name]]) for name, _ in roots}


def service_table(root, seconds, rounds):
    """data.get() in this process (1 core) against the service with 1 and 2 local workers
    (1 core each); returns the per-core rates {name: images per CPU s}."""
    dispatchers = [service.start_dispatcher() for _ in range(2)]
    workers = [start_workers(dispatcher, count) for dispatcher, count in zip(dispatchers, (1, 2))]
    try:
        def remote(dispatcher, pids):
            dataset = limited(full_pipeline(root), 1)
            return service.distribute(dataset, dispatcher.target), pids

        makers = (("in-process", lambda: (limited(full_pipeline(root), 1), ())),
                  ("service, 1 worker", lambda: remote(dispatchers[0],
                                                        [w.pid for w in workers[0]])),
                  ("service, 2 workers", lambda: remote(dispatchers[1],
                                                         [w.pid for w in workers[1]])))
        rates = alternate(makers, seconds, rounds)
    finally:
        for process in workers[0] + workers[1]:
            process.kill()
            process.wait()
        for dispatcher in dispatchers:
            dispatcher.stop()
    print("| data.get(), 1 core per pipeline | img/s | img per CPU s (all processes) | "
          "per CPU s vs in-process | img per CPU s of the trainer process |")
    print("|---|---:|---:|---:|---:|")
    base = _median([r[1] for r in rates["in-process"]])
    for name, _ in makers:
        per_cpu = _median([r[1] for r in rates[name]])
        print(f"| {name} | {_median([r[0] for r in rates[name]]):.0f} | {per_cpu:.0f} | "
              f"{per_cpu / base:.2f}x | {_median([r[2] for r in rates[name]]):.0f} |")
    ratios = [b[1] / a[1] for a, b in zip(rates["in-process"], rates["service, 1 worker"])]
    print("\nservice (1 worker) / in-process per CPU s, each round: "
          + " / ".join(f"{r:.2f}" for r in ratios) + " (target >= 0.9)\n")
    return {name: _median([r[1] for r in rates[name]]) for name, _ in makers}


def cores_table(per_core):
    """The cores one GPU needs at each of TRAINING_SPEEDS, for each per-core rate."""
    names = list(per_core)
    print("| training on one H100 | img/s | " + " | ".join(
        f"cores: {name} ({per_core[name]:.0f}/core)" for name in names) + " |")
    print("|---|---:|" + "---:|" * len(names))
    for label, speed in TRAINING_SPEEDS:
        print(f"| {label} | {speed:,} | " + " | ".join(
            f"{speed / per_core[name]:.1f}" for name in names) + " |")


def limited(dataset, cores):
    """`dataset` with tf.data limited to `cores` threads (options travel with the dataset to
    service workers)."""
    options = tf.data.Options()
    options.threading.private_threadpool_size = cores
    options.threading.max_intra_op_parallelism = 1
    options.autotune.cpu_budget = cores
    return dataset.with_options(options)


def _cpu_seconds(pids):
    """CPU seconds (user + system) used so far by the processes `pids`."""
    total = 0.0
    for pid in pids:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def throughput(dataset, seconds, pids=()):
    """(images/s, images per CPU second of this process and the processes `pids`, images per
    CPU second of this process alone) of iterating `dataset` in steady state."""
    iterator = iter(dataset.prefetch(2))
    for _ in range(3):   # warm-up: fills buffers, lets autotune settle
        next(iterator)
    count, start = 0, time.perf_counter()
    here, there = time.process_time(), _cpu_seconds(pids)
    while time.perf_counter() - start < seconds:
        images, _ = next(iterator)
        count += int(images.shape[0])
    here, there = time.process_time() - here, _cpu_seconds(pids) - there
    return count / (time.perf_counter() - start), count / (here + there), count / here


def images_per_second(dataset, cores, seconds):
    """Steady-state images/s of iterating `dataset` with tf.data limited to `cores` threads."""
    return throughput(limited(dataset, cores), seconds)[0]


def kernels_table(root, cores):
    """fused, naive and data.get() on one core and on all (the first table)."""
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
    fused, full = rows[0][1], rows[2][1]
    # Each round's ratio is of figures taken back to back, so it is the steadier one.
    ratios = [f / n for f, n in zip(rates[rows[0][0], 1], rates[rows[1][0], 1])]
    print("\n1 core, each round: " + "; ".join(
        f"{name.split(' ')[0]} " + " / ".join(f"{rate:.0f}" for rate in rates[name, 1])
        for name, _ in makers) + "; fused / naive " + " / ".join(f"{r:.2f}" for r in ratios))
    print(f"fused / naive: {fused / naive:.2f}x (target >= 1.2x). A {HOST_CORES}-core host "
          f"at the 1-core rate: fused {fused * HOST_CORES:,.0f}, data.get() "
          f"{full * HOST_CORES:,.0f} img/s (target {TARGET_IMAGES_PER_SECOND:,}).\n")


def main(argv):
    del argv
    cores = os.cpu_count()
    with tempfile.TemporaryDirectory() as tmp:
        root = DATA_DIR.value or tmp
        os.makedirs(root, exist_ok=True)
        mean_bytes = write_tfrecords(root, IMAGES.value, content=CONTENT.value)
        print(f"{IMAGES.value} synthetic {CONTENT.value} JPEGs, mean {mean_bytes / 1024:.0f} KB; "
              f"batch {BATCH}, {IMAGE_SIZE}x{IMAGE_SIZE}; "
              f"{platform.processor() or platform.machine()}, {cores} cores; "
              f"TensorFlow {tf.__version__}; load average {os.getloadavg()[0]:.1f}\n")
        per_core = {}
        if "kernels" in COMPARE.value:
            kernels_table(root, cores)
        if "shards" in COMPARE.value:
            per_core.update(shards_table(root, SECONDS.value, ROUNDS.value, MIN_SIDE.value,
                                         [float(value) for value in RAW_FRACTIONS.value]))
        if "service" in COMPARE.value:
            per_core.update(service_table(root, SECONDS.value, ROUNDS.value))
        if per_core:
            cores_table(per_core)
        print(f"\nload average at the end {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    app.run(main)
