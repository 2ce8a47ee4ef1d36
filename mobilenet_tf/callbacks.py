"""Callbacks for model.fit: NaN guard, preemption-safe checkpoints, best model, TensorBoard.

Training runs one fit() per epoch (engine.train), so every callback here keeps its state
across fit() calls and counts steps with the optimizer's iteration counter, which is saved
in checkpoints and so survives a restart.
"""
import contextlib
import json
import math
import os
import time

import keras
import numpy as np
import tensorflow as tf

CHECKPOINT_INDEX = "checkpoint.json"


def global_step(model):
    """Optimizer steps taken so far (restored with the checkpoint)."""
    return int(keras.ops.convert_to_numpy(model.optimizer.iterations))


def _inner_optimizer(model):
    optimizer = model.optimizer
    return getattr(optimizer, "inner_optimizer", optimizer)   # under a LossScaleOptimizer


def has_ema(model):
    """Whether the model's optimizer keeps a moving average of the weights."""
    return bool(getattr(_inner_optimizer(model), "use_ema", False))


@contextlib.contextmanager
def ema_weights(model):
    """Within the block the model holds its EMA weights (when it has any), then its own."""
    if model.optimizer is None or not has_ema(model):
        yield model
        return
    swapper = keras.callbacks.SwapEMAWeights()
    swapper.set_model(model)
    swapper._swap_variables()   # Keras's swap, which handles tf.distribute variables
    try:
        yield model
    finally:
        swapper._swap_variables()


@contextlib.contextmanager
def without_weight_decay(model):
    """Within the block the kernels' L2 penalties are off, so a reported loss is the data loss
    alone, the same for a model built for training (weight decay on its kernels) and one
    loaded from a `.keras` file (which keeps none): one definition of `loss` everywhere."""
    held = [(variable, variable.regularizer) for variable in model.weights
            if getattr(variable, "regularizer", None) is not None]
    for variable, _ in held:
        variable.regularizer = None
    try:
        yield model
    finally:
        for variable, regularizer in held:
            variable.regularizer = regularizer


def _all_finite(model):
    return all(np.all(np.isfinite(keras.ops.convert_to_numpy(weight)))
               for weight in model.weights if "float" in str(weight.dtype))


class NanGuard(keras.callbacks.Callback):
    """Stops training at the first NaN or infinite loss; `diverged_at` says at which step.

    Put it before Checkpointer, which then saves nothing after the loss went bad."""

    def __init__(self):
        super().__init__()
        self.diverged_at = None

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(float(loss)):
            self.diverged_at = global_step(self.model)
            self.model.stop_training = True


class Checkpointer(keras.callbacks.Callback):
    """Saves model and optimizer state every `every_steps` steps and at every epoch end.

    Each checkpoint is written under a temporary name and renamed when complete, then the
    index (checkpoint.json) is replaced the same way, so a kill at any moment leaves the
    index naming only complete files. The newest `keep` checkpoints are kept. Only the chief
    writes; every worker restores.
    """

    def __init__(self, directory, every_steps, keep=2, is_chief=True, nan_guard=None,
                 extra_state=None):
        super().__init__()
        self.directory = directory
        self.every_steps = every_steps
        self.keep = max(keep, 1)
        self.is_chief = is_chief
        self.nan_guard = nan_guard
        self.extra_state = extra_state or (lambda: {})
        self.last_saved_step = None

    def read_index(self):
        """The index of the newest complete checkpoint, or None when there is none."""
        path = os.path.join(self.directory, CHECKPOINT_INDEX)
        if not tf.io.gfile.exists(path):
            return None
        with tf.io.gfile.GFile(path) as f:
            return json.load(f)

    def restore(self, model):
        """Loads the newest checkpoint into `model` (compiled, optimizer built); its index,
        or None when the directory holds no checkpoint."""
        index = self.read_index()
        if index is None:
            return None
        model.load_weights(os.path.join(self.directory, index["file"]))
        self.last_saved_step = index["step"]
        return index

    def save(self):
        """Writes a checkpoint of the current step (once per step, finite weights only)."""
        step = global_step(self.model)
        if not self.is_chief or (self.nan_guard is not None
                                 and self.nan_guard.diverged_at is not None):
            return
        if step == self.last_saved_step:   # weights already saved: only the position moved
            index = self.read_index()
            _write_json_atomically(os.path.join(self.directory, CHECKPOINT_INDEX),
                                   {**index, **self.extra_state()})
            return
        if not _all_finite(self.model):
            return
        tf.io.gfile.makedirs(self.directory)
        name = f"ckpt-{step:09d}.weights.h5"
        final = os.path.join(self.directory, name)
        partial = final + ".partial.weights.h5"
        self.model.save_weights(partial)
        tf.io.gfile.rename(partial, final, overwrite=True)
        previous = self.read_index() or {"files": []}
        files = [f for f in previous.get("files", []) if f != name] + [name]
        index = {"step": step, "file": name, "files": files[-self.keep:],
                 "time": time.time(), **self.extra_state()}
        _write_json_atomically(os.path.join(self.directory, CHECKPOINT_INDEX), index)
        for stale in files[:-self.keep]:
            path = os.path.join(self.directory, stale)
            if tf.io.gfile.exists(path):
                tf.io.gfile.remove(path)
        self.last_saved_step = step

    def on_train_batch_end(self, batch, logs=None):
        if self.every_steps and global_step(self.model) % self.every_steps == 0:
            self.save()

    def on_epoch_end(self, epoch, logs=None):
        self.save()


def write_atomically(path, write):
    """write(temporary path), then renamed to `path` (any tf.io.gfile path): a reader or a
    crash never sees half a file."""
    partial = path + ".partial"
    write(partial)
    tf.io.gfile.rename(partial, path, overwrite=True)


def write_text_atomically(path, text):
    """Writes `text` (str, or bytes such as a PNG) to `path` with write_atomically."""
    def write(partial):
        with tf.io.gfile.GFile(partial, "wb" if isinstance(text, bytes) else "w") as f:
            f.write(text)
    write_atomically(path, write)


def _write_json_atomically(path, value):
    write_text_atomically(path, json.dumps(value, indent=2))


def save_model_atomically(model, path, same_as=None):
    """model.save(path) under a temporary name, renamed when complete. same_as: a `.keras`
    file already saved from these same weights, copied instead (a model of tens of MB takes
    seconds to serialise)."""
    partial = path[:-len(".keras")] + ".partial.keras"
    if same_as:
        tf.io.gfile.copy(same_as, partial, overwrite=True)
    else:
        model.save(partial)
    tf.io.gfile.rename(partial, path, overwrite=True)


class OutputLosses(keras.callbacks.Callback):
    """Reports each `<output>_output_loss` metric (detection.losses.OutputLoss) as
    `<output>_loss`, in place of Keras's own per-output loss, in the logs of fit's batches
    and epochs (validation included); place it first, so the callbacks after it (progress
    bar, TensorBoard, History) see the corrected logs. Keras hands callbacks a copy of
    evaluate()'s result: rename() that result itself."""

    SUFFIX = "_output_loss"

    @classmethod
    def rename(cls, logs):
        """Renames the keys of `logs` in place (and returns it)."""
        for key in [key for key in (logs or {}) if key.endswith(cls.SUFFIX)]:
            logs[key[:-len(cls.SUFFIX)] + "_loss"] = logs.pop(key)
        return logs

    def on_train_batch_end(self, batch, logs=None):
        self.rename(logs)

    def on_epoch_end(self, epoch, logs=None):
        self.rename(logs)


class BestModel(keras.callbacks.Callback):
    """Saves `best.keras` (EMA weights when there are any) when the monitored validation
    metric improves; `best` is restored from the checkpoint index on resume."""

    def __init__(self, path, monitor="val_top1", best=None, is_chief=True):
        super().__init__()
        self.path = path
        self.monitor = monitor
        self.best = best
        self.is_chief = is_chief
        self.saved_at_step = None   # the optimizer step of the weights in `path`, this run

    def on_epoch_end(self, epoch, logs=None):
        value = (logs or {}).get(self.monitor)
        if value is None or (self.best is not None and value <= self.best):
            return
        self.best = float(value)
        if self.is_chief:
            with ema_weights(self.model):
                save_model_atomically(self.model, self.path)
            self.saved_at_step = global_step(self.model)


class TensorBoard(keras.callbacks.Callback):
    """Scalars (loss, metrics, learning rate, images/second) every `every_steps` steps and
    per epoch, a grid of training images once, and an optional profiler trace of the steps
    in `profile_steps` (start, end). Steps are the optimizer's, so resumed runs continue
    the same curves."""

    def __init__(self, log_dir, every_steps, global_batch_size, profile_steps=None,
                 enabled=True):
        super().__init__()
        self.log_dir = log_dir
        self.every_steps = max(every_steps, 1)
        self.global_batch_size = global_batch_size
        self.profile_steps = profile_steps
        self.enabled = enabled
        self.profiling = False
        self._last = None
        if enabled:
            self.train_writer = tf.summary.create_file_writer(os.path.join(log_dir, "train"))
            self.eval_writer = tf.summary.create_file_writer(
                os.path.join(log_dir, "validation"))

    def write_images(self, images, step, name="augmented_training_images", columns=8):
        """A grid of uint8 images (N, H, W, 3), as the pipeline feeds them to the model."""
        if not self.enabled:
            return
        images = np.asarray(images)[:columns * 2]
        rows = -(-len(images) // columns)
        pad = rows * columns - len(images)
        images = np.concatenate([images, np.zeros((pad, *images.shape[1:]), images.dtype)])
        height, width = images.shape[1:3]
        grid = images.reshape(rows, columns, height, width, -1).transpose(0, 2, 1, 3, 4)
        grid = grid.reshape(1, rows * height, columns * width, -1)
        with self.train_writer.as_default():
            tf.summary.image(name, grid, step=step)

    def on_train_batch_begin(self, batch, logs=None):
        if self.enabled and self.profile_steps and not self.profiling:
            if global_step(self.model) == self.profile_steps[0]:
                tf.profiler.experimental.start(os.path.join(self.log_dir, "train"))
                self.profiling = True

    def on_train_batch_end(self, batch, logs=None):
        step = global_step(self.model)
        if self.profiling and step >= self.profile_steps[1]:
            tf.profiler.experimental.stop()
            self.profiling = False
        now = time.perf_counter()
        if self._last is None:   # the first step includes tracing: time from its end
            self._last = (step, now)
            return
        if step % self.every_steps or not self.enabled:
            return
        last_step, last_time = self._last
        scalars = {f"batch_{k}": v for k, v in (logs or {}).items()}
        if step > last_step:
            scalars["images_per_second"] = (step - last_step) * self.global_batch_size / (
                now - last_time)
        scalars["learning_rate"] = float(keras.ops.convert_to_numpy(
            self.model.optimizer.learning_rate))
        self._write(self.train_writer, scalars, step)
        self._last = (step, now)

    def on_epoch_end(self, epoch, logs=None):
        if not self.enabled:
            return
        step = global_step(self.model)
        logs = logs or {}
        train = {f"epoch_{k}": v for k, v in logs.items() if not k.startswith("val_")}
        train["epoch"] = epoch + 1
        self._write(self.train_writer, train, step)
        self._write(self.eval_writer, {f"epoch_{k[4:]}": v for k, v in logs.items()
                                       if k.startswith("val_")}, step)

    def on_train_end(self, logs=None):
        if self.profiling:
            tf.profiler.experimental.stop()
            self.profiling = False
        self._last = None   # the next fit() traces nothing new, but reopens its iterator

    def write_validation_image(self, name, image, step):
        """One uint8 (H, W, 3) picture into the validation run (visualize.summaries)."""
        if not self.enabled:
            return
        with self.eval_writer.as_default():
            tf.summary.image(name, np.asarray(image, np.uint8)[None], step=step)
        self.eval_writer.flush()

    def write_scalars(self, scalars, step):
        """Validation-side scalars, e.g. the final evaluation."""
        if self.enabled:
            self._write(self.eval_writer, scalars, step)

    @staticmethod
    def _write(writer, scalars, step):
        with writer.as_default():
            for name, value in scalars.items():
                tf.summary.scalar(name, float(value), step=step)
        writer.flush()
