"""The task interface: everything the engine, evaluate.py and export.py call on a task.

    task = TASKS[config.task]                       # mobilenet_tf.tasks
    model = task.build_model(config, num_classes)
    dataset, info = task.build_inputs(config, "train", training=True)
    model.compile(loss=task.build_loss(config), metrics=task.build_metrics(config))

A task is a subclass of Task, one instance each in mobilenet_tf.tasks.TASKS. Which models
belong to it is the registry's `task` column (mobilenet_tf.models.registry); which datasets,
the loaders it names in DATASETS.
"""
import abc

import keras
import numpy as np

from mobilenet_tf import UserError, data, models


class Task(abc.ABC):
    """What is specific to one task; the engine does the rest once for all of them."""

    name = ""              # the registry's task column
    DATASETS = ()          # dataset names its loaders take (tfds:NAME is classification's)
    METRIC_NAMES = ()      # the model.evaluate results reported, in order
    BEST_METRIC = ""       # best.keras follows its validation value (higher is better)

    # -- What a task must provide -----------------------------------------------------------
    @abc.abstractmethod
    def build_model(self, config, num_classes):
        """The config's model, uint8 or [0, 255] images in, float32 outputs."""

    @abc.abstractmethod
    def build_inputs(self, config, split, *, training, input_context=None, epoch=0,
                     skip_batches=0):
        """(batched tf.data.Dataset of (images, targets), DatasetInfo) of one split; training
        data seeded by the config's seed and `epoch`, skipping `skip_batches` on resume."""

    @abc.abstractmethod
    def build_loss(self, config):
        """The loss (or {output: loss}) model.compile takes."""

    @abc.abstractmethod
    def build_metrics(self, config):
        """The metrics (or {output: metrics}) model.compile takes."""

    @abc.abstractmethod
    def init_from(self, model, source, config):
        """Loads weights into `model` before training or evaluation: "keras_applications",
        a `.keras` model or a run's model dir, or a `.weights.h5` file."""

    @abc.abstractmethod
    def export_hook(self, config=None, **options):
        """The mobilenet_tf.export hook (an export.hook.ExportHook) for this task's models:
        what the exported signature returns and how an artifact is checked."""

    # -- What a task may refine ---------------------------------------------------------------
    def check_config(self, config):
        """UserError, before anything is built or written, for a model of another task or a
        dataset this task cannot read. Tasks extend it with their own fields."""
        row = models.entry(config.model.name)
        if row.task != self.name:
            raise UserError(f"model '{row.name}' is a {row.task} model; {self.name} models: "
                            f"{', '.join(models.names(self.name))}")
        dataset = config.dataset.name
        if not self.reads(dataset):
            from mobilenet_tf.tasks import task_of_dataset
            other = task_of_dataset(dataset)
            hint = (f"{dataset} is a {other} dataset; pick a {other} model: --model="
                    f"{' | '.join(models.names(other))}" if other else
                    f"unknown {self.name} dataset '{dataset}'; choose one of "
                    f"{', '.join(self.DATASETS)}")
            raise UserError(hint)
        data.autotuned(config.dataset.get("autotune", "auto"), dataset)   # a bad value: UserError

    def reads(self, dataset):
        """Whether this task's loaders take dataset `dataset`."""
        return dataset in self.DATASETS

    def evaluate(self, config, model, dataset):
        """Metrics of `model` on `dataset` computed the task's own way, or None for
        model.evaluate's (segmentation: multi-scale, flipped or sliding-window)."""
        return None

    def extra_metrics(self, model):
        """What the task reads from the model's metric state after model.evaluate
        (segmentation: per-class IoU)."""
        return {}

    def split_metrics(self, config, model, split=None):
        """What the task scores over a whole split outside model.evaluate (detection: COCO
        AP, which needs decoding, NMS and the images' ground truth)."""
        return {}

    def freeze_backbone(self, model, config):
        """Makes every layer but the new ones (the registry's new_layers of config's model)
        untrainable, so only the head trains; frozen batch norm runs in inference mode."""
        new_layers = models.entry(config.model.name).new_layers
        for layer in model.layers:
            if layer.weights and not layer.name.startswith(new_layers):
                layer.trainable = False


def predict_batches(run, dataset):
    """Yields (run's outputs as numpy, the batch's targets) for each (images, targets) batch
    of `dataset`. A smaller last batch is padded with blank images to the first batch's size
    and the padding's outputs cut off: a new batch size would make predict_on_batch trace the
    model again (0.4 CPU s for V3-Small, 0.8 s for an SSDLite with its NMS), for more than
    running it on the padding costs."""
    full = None
    for images, targets in dataset:
        images, count = np.asarray(images), len(images)
        full = full or count
        if count < full:
            blank = np.zeros((full - count, *images.shape[1:]), images.dtype)
            images = np.concatenate([images, blank])
        outputs = keras.tree.map_structure(
            lambda value: keras.ops.convert_to_numpy(value)[:count], run(images))
        yield outputs, targets
