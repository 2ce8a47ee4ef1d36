"""Image classification: the model, inputs, loss and metrics of a classification config.

    task = TASKS["classification"]   # a ClassificationTask
"""
import os

import keras

from mobilenet_tf import UserError, data, metrics, models
from mobilenet_tf.models import keras_import, options as model_options
from mobilenet_tf.tasks.base import Task

KERAS_APPLICATIONS_SIZES = (96, 128, 160, 192, 224)   # MobileNet V1/V2 weight resolutions


def model_options_of(config, num_classes):
    """The build() keyword options that config.model and the dataset ask for."""
    row = models.entry(config.model.name)
    name, size = row.name, config.dataset.image_size
    accepted = model_options.accepted_options(row.build)
    options = dict(input_shape=(size, size, 3), num_classes=num_classes,
                   dropout=config.model.dropout, include_preprocessing=True)
    # SqueezeNet has no batch norm and no width multiplier: the recipe's fields for them
    # only reach the models that have them.
    if "bn_momentum" in accepted:
        options.update(bn_momentum=config.model.bn_momentum, bn_epsilon=config.model.bn_epsilon)
    if "width" in accepted:
        options["width"] = config.model.width
    elif config.model.width != 1.0:
        raise UserError(f"model '{name}' has no width multiplier; leave model.width at 1.0")
    options.update(config.model.options.to_dict())
    return name, options


def add_weight_decay(model, weight_decay, regularize_depthwise=True):
    """L2 on conv and dense kernels with TF-slim's scale (wd * sum(w^2) / 2, as the papers
    train), not on biases or batch norm. Set on the variables, so it is a training concern
    and not part of the saved model."""
    if not weight_decay:
        return
    regularizer = keras.regularizers.L2(weight_decay / 2.0)
    for layer in model.layers:
        depthwise = isinstance(layer, keras.layers.DepthwiseConv2D)
        if depthwise and not regularize_depthwise:
            continue
        kernel = getattr(layer, "kernel", None)
        if kernel is not None and kernel.trainable:
            kernel.regularizer = regularizer


def keras_applications_model(config, name=None):
    """keras.applications' ImageNet model of classifier `name` (default config.model's) at
    config.model's width, from Keras's weight cache."""
    row = models.entry(name or config.model.name)
    if not row.keras_application:
        have = [r.name for r in models.MODELS
                if r.task == "classification" and r.keras_application]
        raise UserError(f"keras.applications has no ImageNet weights for {row.name}; "
                        f"it has them for {', '.join(have)}")
    name, constructor_name = row.name, row.keras_application
    constructor = getattr(keras.applications, constructor_name)
    kwargs = dict(weights="imagenet", include_top=False)
    if name != "xception":
        size = config.dataset.image_size
        kwargs.update(alpha=config.model.width,
                      input_shape=(size if size in KERAS_APPLICATIONS_SIZES else 224,) * 2 + (3,))
    if name.startswith("mobilenet_v3"):
        kwargs["minimalistic"] = bool(config.model.options.get("minimalistic", False))
    try:
        return constructor(**kwargs)
    except Exception as error:   # noqa: BLE001 (Keras raises a bare Exception offline)
        # Offline, keras.utils.get_file raises Exception("URL fetch failure on URL: ...");
        # no cached file or an unknown width, OSError or ValueError.
        if not isinstance(error, (OSError, ValueError)) and "URL fetch failure" not in str(
                error):
            raise
        cause = ("it could not be downloaded (no network?)" if "URL fetch failure" in str(error)
                 else str(error).splitlines()[0][:160])
        raise UserError(
            f"could not get keras.applications {constructor_name} ImageNet weights: {cause}; "
            "put the weights file in ~/.keras/models/ (download it where there is a network) "
            "or pass --init_from=PATH to a .keras, .h5 or run directory") from None


class ClassificationTask(Task):
    """Softmax classification over the dataset's classes, scored by top-1 and top-5."""

    name = "classification"
    DATASETS = (*data.DATASETS, data.TFDS_PREFIX + "NAME")
    METRIC_NAMES = ("top1", "top5", "loss")
    BEST_METRIC = "top1"

    def reads(self, dataset):
        return dataset in self.DATASETS or dataset.startswith(data.TFDS_PREFIX)

    def build_model(self, config, num_classes):
        """The classifier: uint8 or [0, 255] images in, float32 logits out."""
        name, options = model_options_of(config, num_classes)
        model = models.build(name, **options)
        if config.model.sync_batch_norm:
            for layer in model.layers:
                if isinstance(layer, keras.layers.BatchNormalization):
                    layer.synchronized = True   # read at call time: over all replicas
        add_weight_decay(model, config.train.weight_decay, config.train.regularize_depthwise)
        return model

    def init_from(self, model, source, config):
        """Loads weights into `model` before training or evaluation.

        source: "keras_applications" (keras.applications' ImageNet weights, from Keras's cache;
        a new classifier when the classes differ), a timm `.safetensors` file (MobileNetV4;
        likewise), a `.keras` model or a run's model dir (its final model), or a `.weights.h5`
        file of the same architecture.
        """
        if source.endswith(".safetensors"):
            return models.import_timm(source, model, new_head=True)
        if source == "keras_applications":
            return keras_import.import_keras_applications(
                keras_applications_model(config), model, new_head=True)
        if os.path.isdir(source):
            candidates = [os.path.join(source, name) for name in ("final.keras", "best.keras")]
            found = [path for path in candidates if os.path.exists(path)]
            if not found:
                raise UserError(f"--init_from={source}: no final.keras or best.keras in it")
            source = found[0]
        if source.endswith(".weights.h5"):
            if not os.path.exists(source):
                raise UserError(f"--init_from={source}: file not found")
            model.load_weights(source, skip_mismatch=True)
            return model
        return keras_import.import_keras_applications(source, model, new_head=True)

    def build_inputs(self, config, split, *, training, input_context=None, epoch=0,
                     skip_batches=0):
        """(tf.data.Dataset of (uint8 images, labels), DatasetInfo) for one split.

        Training data is seeded per epoch (config seed and epoch number), so epoch e of a run
        is the same stream whether or not the run was interrupted before it."""
        settings = config.dataset
        # .get: a run's config.json from before the crop and flip fields has neither.
        augmentation = data.Augmentation(
            crop_area_range=tuple(settings.get("crop_area_range", (0.08, 1.0))),
            flip=settings.get("flip", True),
            randaugment_ops=settings.randaugment_ops,
            randaugment_magnitude=settings.randaugment_magnitude,
            mixup_alpha=settings.mixup_alpha, cutmix_alpha=settings.cutmix_alpha)
        augment = training and settings.augment
        return data.get(
            settings.name, split, data_dir=settings.data_dir or None,
            batch_size=config.train.batch_size, image_size=settings.image_size,
            training=augment, seed=config.train.seed * 100_003 + epoch,
            input_context=input_context, augmentation=augmentation,
            crop_fraction=settings.crop_fraction, shuffle_buffer=settings.shuffle_buffer,
            cache=settings.cache, drop_remainder=training,
            skip_batches=skip_batches if augment else 0,
            autotune=settings.get("autotune", "auto"), **settings.options.to_dict())

    def build_loss(self, config):
        """Softmax cross-entropy with the recipe's label smoothing."""
        return metrics.ClassificationLoss(label_smoothing=config.train.label_smoothing)

    def build_metrics(self, config):
        """top1 and top5 accuracy (top5 only when there are more than 5 classes)."""
        del config
        return [metrics.TopKAccuracy(1), metrics.TopKAccuracy(5)]

    def export_hook(self, config=None, **options):
        """export.classification's hook: softmax probabilities, compared by top-1."""
        from mobilenet_tf.export import classification as hook   # export imports the tasks
        return hook.HOOK.configure(config, **options)
