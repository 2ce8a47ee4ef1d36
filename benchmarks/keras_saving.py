"""What mobilenet_tf.keras_saving buys: a .keras save, a weights checkpoint (save_weights, as
train.py's checkpoints) and a .keras load, timed with Keras's get_attr_skipset as released
(its cache never hits, so it constructs a Layer per layer saved or loaded) and with the cache
that importing mobilenet_tf.models installs, alternating in one process.

    python benchmarks/keras_saving.py [--rounds=5] [--models=mobilenet_v3_large,...]

Prints the median CPU seconds per operation. Record figures with the date, the machine and
the load average in benchmarks/RESULTS.md.
"""
import argparse
import os
import platform
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from mobilenet_tf.startup import import_tensorflow_quietly  # noqa: E402

import_tensorflow_quietly()

import keras  # noqa: E402
from keras.src.saving import saving_lib  # noqa: E402

from mobilenet_tf.models import build  # noqa: E402

CACHED = saving_lib.get_attr_skipset
RELEASED = getattr(CACHED, "__wrapped__", CACHED)


def cpu_seconds(action):
    """The CPU seconds (user + system) `action()` takes."""
    started = time.process_time()
    action()
    return time.process_time() - started


def time_model(name, rounds, directory):
    """{(operation, "released" | "cached"): [CPU s per round]} for model `name` at 224 px."""
    model = build(name, input_shape=(224, 224, 3))
    path, weights = os.path.join(directory, "m.keras"), os.path.join(directory, "m.weights.h5")
    model.save(path)   # first save and load: imports and one-time set-up, untimed
    keras.saving.load_model(path, compile=False)
    times = {}
    for _ in range(rounds):
        for label, lookup in (("released", RELEASED), ("cached", CACHED)):
            saving_lib.get_attr_skipset = lookup
            try:
                for operation, action in (
                        ("save .keras", lambda: model.save(path)),
                        ("save_weights", lambda: model.save_weights(weights)),
                        ("load .keras", lambda: keras.saving.load_model(path, compile=False))):
                    times.setdefault((operation, label), []).append(cpu_seconds(action))
            finally:
                saving_lib.get_attr_skipset = CACHED
    return model, times


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--models", default="mobilenet_v3_large,mobilenet_v4_hybrid_large")
    args = parser.parse_args()
    if RELEASED is CACHED:
        sys.exit("error: this Keras caches get_attr_skipset itself; nothing to compare")
    print(f"keras {keras.__version__}, {platform.machine()}, {os.cpu_count()} cores, load "
          f"average {os.getloadavg()[0]:.1f}; median CPU s of {args.rounds} rounds\n")
    print("| model | layers | operation | as released | cached | saved |")
    print("|---|---:|---|---:|---:|---:|")
    with tempfile.TemporaryDirectory() as directory:
        for name in args.models.split(","):
            model, times = time_model(name, args.rounds, directory)
            for operation in ("save .keras", "save_weights", "load .keras"):
                released = statistics.median(times[operation, "released"])
                cached = statistics.median(times[operation, "cached"])
                print(f"| {name} | {len(model.layers)} | {operation} | {released:.3f} | "
                      f"{cached:.3f} | {1 - cached / released:.0%} |")


if __name__ == "__main__":
    main()
