"""Semantic segmentation: LR-ASPP (MobileNetV3) and Mobile DeepLabv3 (MobileNetV2) trained on
cityscapes, voc2012, your own masks or Shapes, scored by mIoU over the whole split.

The model is built for any input size (input_shape (None, None, 3)), so the same weights
train on crops and evaluate on full frames. Config fields beyond classification's (see
configs/common.py segmentation()): dataset.eval_size, dataset.scale_range, and the
`segmentation` section: class_weights, eval_scales, eval_flip, eval_window.
"""
import keras
import numpy as np
from keras import ops

from mobilenet_tf import UserError, data, metrics, models
from mobilenet_tf.data import masks as masks_data
from mobilenet_tf.data.mask_pipeline import PAD_VALUE
from mobilenet_tf.heads.layers import resize_bilinear
from mobilenet_tf.models import options as model_options
from mobilenet_tf.tasks import classification, weights
from mobilenet_tf.tasks.base import Task

FIXED_CLASSES = {"cityscapes": len(masks_data.CITYSCAPES_CLASSES),
                 "voc2012": len(masks_data.VOC_CLASSES),
                 "shapes": len(data.shapes.SEGMENTATION_CLASS_NAMES)}


def num_classes_of(config):
    """The dataset's number of classes, without reading it (masks: classes.txt or the
    num_classes option)."""
    name = config.dataset.name
    if name in FIXED_CLASSES:
        return FIXED_CLASSES[name]
    if name == "masks":
        return len(masks_data.masks_classes(config.dataset.data_dir,
                                            config.dataset.options.get("num_classes")))
    raise UserError(f"unknown segmentation dataset '{name}'; choose one of "
                    f"{', '.join(data.SEGMENTATION_DATASETS)}")


def _segmentation_metrics(model):
    found, stack = [], list(model.metrics)
    while stack:
        metric = stack.pop(0)
        if isinstance(metric, metrics.SegmentationMetric):
            found.append(metric)
        stack += [m for m in getattr(metric, "metrics", []) if m is not metric]
    return found


# -- Evaluation with several scales, flips or a sliding window --------------------------------

def _windowed_logits(model, images, window):
    """Logits of (B, H, W, 3) images from window x window tiles, 1/3 overlap, averaged."""
    height, width = images.shape[1:3]
    padded = np.pad(images, [(0, 0), (0, max(window - height, 0)),
                             (0, max(window - width, 0)), (0, 0)],
                    constant_values=PAD_VALUE)
    stride = max(window * 2 // 3, 1)
    rows = list(range(0, max(padded.shape[1] - window, 0) + 1, stride))
    cols = list(range(0, max(padded.shape[2] - window, 0) + 1, stride))
    rows += [padded.shape[1] - window] if rows[-1] + window < padded.shape[1] else []
    cols += [padded.shape[2] - window] if cols[-1] + window < padded.shape[2] else []
    total, count = None, np.zeros(padded.shape[1:3] + (1,), np.float32)
    for top in rows:
        for left in cols:
            tile = padded[:, top:top + window, left:left + window]
            logits = ops.convert_to_numpy(model(tile, training=False))
            if total is None:
                total = np.zeros(padded.shape[:3] + logits.shape[-1:], np.float32)
            total[:, top:top + window, left:left + window] += logits
            count[top:top + window, left:left + window] += 1
    return (total / count)[:, :height, :width]


def predict_probabilities(model, images, scales=(1.0,), flip=False, window=0):
    """(B, H, W, 3) uint8 images -> (B, H, W, C) softmax probabilities averaged over the
    scales, optionally their left-right flips, each from a sliding window when window > 0."""
    images = np.asarray(images, np.float32)
    height, width = images.shape[1:3]
    total = 0.0
    for scale in scales:
        size = (max(round(height * scale), 1), max(round(width * scale), 1))
        scaled = ops.convert_to_numpy(resize_bilinear(images, *size))
        for flipped in (False, True) if flip else (False,):
            x = scaled[:, :, ::-1] if flipped else scaled
            logits = (_windowed_logits(model, x, window) if window
                      else ops.convert_to_numpy(model(x, training=False)))
            logits = logits[:, :, ::-1] if flipped else logits
            total = total + ops.convert_to_numpy(
                ops.softmax(resize_bilinear(logits, height, width), axis=-1))
    return total


class SegmentationTask(Task):
    """Per-pixel softmax over the dataset's classes (255 ignored), scored by mIoU."""

    name = "segmentation"
    DATASETS = tuple(data.SEGMENTATION_DATASETS)
    METRIC_NAMES = ("mIoU", "pixel_accuracy", "loss")
    BEST_METRIC = "mIoU"

    def check_config(self, config):
        """Task.check_config, and class weights of the dataset's length."""
        super().check_config(config)
        class_weights = list(config.segmentation.class_weights)
        if class_weights and len(class_weights) != num_classes_of(config):
            raise UserError(f"segmentation.class_weights has {len(class_weights)} entries; the "
                            f"dataset has {num_classes_of(config)} classes")

    def build_model(self, config, num_classes):
        """The segmentation model: uint8 or [0, 255] images of any size in, float32
        (B, H, W, num_classes) logits out."""
        self.check_config(config)
        row = models.entry(config.model.name)
        options = dict(input_shape=(None, None, 3), num_classes=num_classes,
                       width=config.model.width, bn_momentum=config.model.bn_momentum,
                       bn_epsilon=config.model.bn_epsilon, include_preprocessing=True)
        if "dropout" in model_options.accepted_options(row.build):
            options["dropout"] = config.model.dropout
        model = models.build(row.name, **{**options, **config.model.options.to_dict()})
        if config.model.sync_batch_norm:
            for layer in model.layers:
                if isinstance(layer, keras.layers.BatchNormalization):
                    layer.synchronized = True
        classification.add_weight_decay(model, config.train.weight_decay,
                                        config.train.regularize_depthwise)
        return model

    def build_inputs(self, config, split, *, training, input_context=None, epoch=0,
                     skip_batches=0):
        """(tf.data.Dataset of (uint8 images, uint8 masks), DatasetInfo) for one split; training
        crops dataset.image_size squares, evaluation pads to dataset.eval_size (see
        data.get_segmentation). Seeded per epoch, as classification's."""
        settings = config.dataset
        augment = training and settings.augment
        options = settings.options.to_dict()
        if settings.name == "shapes":   # generated at the crop size, not resized
            options.setdefault("image_size", settings.image_size)
        return data.get_segmentation(
            settings.name, split, data_dir=settings.data_dir or None,
            batch_size=config.train.batch_size, crop_size=(settings.image_size,) * 2,
            eval_size=tuple(settings.eval_size) or None,
            scale_range=tuple(settings.scale_range) if augment else (1.0, 1.0),
            training=training, seed=config.train.seed * 100_003 + epoch,
            input_context=input_context, shuffle_buffer=settings.shuffle_buffer,
            drop_remainder=training, skip_batches=skip_batches if training else 0,
            autotune=settings.get("autotune", "auto"), **options)

    def build_loss(self, config):
        """Cross-entropy over the valid pixels (255 ignored), optionally class-weighted."""
        return metrics.SegmentationLoss(class_weights=list(config.segmentation.class_weights)
                                        or None)

    def build_metrics(self, config):
        """mIoU and pixel accuracy, each from a confusion matrix summed over the split."""
        classes = num_classes_of(config)
        return [metrics.SegmentationMetric(classes, "miou"),
                metrics.SegmentationMetric(classes, "pixel_accuracy")]

    def extra_metrics(self, model):
        """{"per_class_iou": [...]} from the confusion matrix of the last evaluate() (None for a
        class neither present nor predicted)."""
        found = [m for m in _segmentation_metrics(model) if m.kind == "miou"]
        if not found:
            return {}
        confusion = ops.convert_to_numpy(found[0].confusion)
        return {"per_class_iou": metrics.scores_from_confusion(confusion)["per_class_iou"]}

    def evaluate(self, config, model, dataset):
        """mIoU, pixel accuracy and per-class IoU with config.segmentation's eval_scales,
        eval_flip and eval_window; None when they ask for plain single-scale evaluation (the
        engine's model.evaluate does that, with the loss)."""
        settings = config.segmentation
        scales = tuple(settings.eval_scales) or (1.0,)
        if scales == (1.0,) and not settings.eval_flip and not settings.eval_window:
            return None
        classes = num_classes_of(config)
        confusion = np.zeros((classes, classes), np.float64)
        for images, masks in dataset:
            probabilities = predict_probabilities(model, images.numpy(), scales,
                                                  settings.eval_flip, settings.eval_window)
            confusion += ops.convert_to_numpy(metrics.confusion_counts(masks.numpy(),
                                                                       probabilities, classes))
        return metrics.scores_from_confusion(confusion)

    def init_from(self, model, source, config):
        """weights.init_by_name: the backbone's ImageNet weights, or a saved model's."""
        return weights.init_by_name(model, source, config)

    def export_hook(self, config=None, **options):
        """export.segmentation's hook: a class map at a fixed size and probabilities
        (options: probabilities="coarse" | "full")."""
        from mobilenet_tf.export import segmentation as hook   # export imports the tasks
        return hook.HOOK.configure(config, **options)
