"""Losses and metrics. keras.ops only (any backend).

Classification: class indices or (mixed) one-hot targets; MixUp and CutMix make training
targets one-hot vectors while evaluation targets stay class indices, and one loss and one
metric object serve both. Segmentation: per-pixel cross-entropy ignoring label 255, and mIoU
and pixel accuracy from a confusion matrix accumulated over the whole split.
"""
import keras
import numpy as np
from keras import ops


def _as_one_hot(targets, num_classes):
    """(B,) indices or (B, C) vectors -> (B, C) float32 vectors."""
    if len(targets.shape) == 1 or (len(targets.shape) == 2 and targets.shape[-1] == 1):
        return ops.one_hot(ops.reshape(ops.cast(targets, "int32"), [-1]), num_classes)
    return ops.cast(targets, "float32")


def _as_indices(targets):
    """(B,) indices or (B, C) vectors -> (B,) int32 indices of the largest weight."""
    if len(targets.shape) == 2 and targets.shape[-1] != 1:
        return ops.cast(ops.argmax(targets, axis=-1), "int32")
    return ops.reshape(ops.cast(targets, "int32"), [-1])


@keras.saving.register_keras_serializable(package="mobilenet_tf")
class ClassificationLoss(keras.losses.Loss):
    """Softmax cross-entropy on logits with label smoothing, for index or one-hot targets."""

    def __init__(self, label_smoothing=0.0, name="classification_loss", **kwargs):
        super().__init__(name=name, **kwargs)
        self.label_smoothing = float(label_smoothing)

    def call(self, y_true, y_pred):
        num_classes = y_pred.shape[-1]
        targets = _as_one_hot(y_true, num_classes)
        if self.label_smoothing:
            targets = targets * (1.0 - self.label_smoothing) + self.label_smoothing / num_classes
        log_probs = ops.log_softmax(ops.cast(y_pred, "float32"), axis=-1)
        return -ops.sum(targets * log_probs, axis=-1)

    def get_config(self):
        return {**super().get_config(), "label_smoothing": self.label_smoothing}


def top_k_hits(y_true, y_pred, k):
    """1.0 where the target class (the largest weight for one-hot) is in the top k logits.

    Ties count against the prediction: a hit needs at most k logits (the target's own
    included) at or above the target's, so a dead model whose logits are all equal scores 0,
    not the 100% that `ops.in_top_k` gives it, and a NaN logit is a miss."""
    logits = ops.cast(y_pred, "float32")
    target = ops.take_along_axis(logits, ops.expand_dims(_as_indices(y_true), -1), axis=-1)
    at_or_above = ops.sum(ops.cast(logits >= target, "int32"), axis=-1)
    return ops.cast(ops.logical_and(at_or_above >= 1, at_or_above <= k), "float32")


@keras.saving.register_keras_serializable(package="mobilenet_tf")
class TopKAccuracy(keras.metrics.MeanMetricWrapper):
    """Top-k accuracy for index or one-hot targets; named top1 / top5 by default."""

    def __init__(self, k=1, name=None, dtype=None):
        super().__init__(top_k_hits, name=name or f"top{k}", dtype=dtype, k=k)
        self.k = k

    def get_config(self):
        return {"k": self.k, "name": self.name, "dtype": self.dtype}


# -- Segmentation -----------------------------------------------------------------------------

IGNORE_LABEL = 255


def _valid_pixels(y_true, num_classes, ignore_label):
    """(B*H*W,) int32 labels (0 where ignored) and (B*H*W,) float32 1/0 validity."""
    labels = ops.reshape(ops.cast(y_true, "int32"), [-1])
    valid = ops.logical_and(labels != ignore_label, labels < num_classes)
    return ops.where(valid, labels, 0), ops.cast(valid, "float32")


@keras.saving.register_keras_serializable(package="mobilenet_tf")
class SegmentationLoss(keras.losses.Loss):
    """Per-pixel softmax cross-entropy on (B, H, W, C) logits against (B, H, W) class ids,
    ignoring `ignore_label`, optionally weighted per class; the mean over the batch's valid
    pixels (each image gets its share, so Keras's mean over the batch is that mean)."""

    def __init__(self, ignore_label=IGNORE_LABEL, class_weights=None,
                 name="segmentation_loss", **kwargs):
        super().__init__(name=name, **kwargs)
        self.ignore_label = int(ignore_label)
        self.class_weights = [float(w) for w in class_weights] if class_weights else None

    def call(self, y_true, y_pred):
        logits = ops.cast(y_pred, "float32")
        batch, num_classes = ops.shape(logits)[0], logits.shape[-1]
        labels, weights = _valid_pixels(y_true, num_classes, self.ignore_label)
        log_probs = ops.reshape(ops.log_softmax(logits, axis=-1), [-1, num_classes])
        picked = ops.take_along_axis(log_probs, labels[:, None], axis=1)[:, 0]
        if self.class_weights:
            weights = weights * ops.take(ops.convert_to_tensor(self.class_weights), labels)
        per_image = ops.sum(ops.reshape(-picked * weights, [batch, -1]), axis=1)
        return per_image * ops.cast(batch, "float32") / ops.maximum(ops.sum(weights), 1.0)

    def get_config(self):
        return {**super().get_config(), "ignore_label": self.ignore_label,
                "class_weights": self.class_weights}


def confusion_matrix(labels, predicted, num_classes, ignore_label=IGNORE_LABEL):
    """(C, C) int32 counts of (true class, predicted class) over the pixels of (...) class
    ids `labels` and `predicted` whose label is a class (ignore_label left out)."""
    labels, valid = _valid_pixels(labels, num_classes, ignore_label)
    predicted = ops.reshape(ops.cast(predicted, "int32"), [-1])
    pairs = labels * num_classes + predicted
    # segment_sum with a static count (JAX's bincount needs one, which keras does not pass);
    # int32 counts stay exact past float32's 2^24.
    counts = ops.segment_sum(ops.cast(valid, "int32"), pairs,
                             num_segments=num_classes * num_classes)
    return ops.reshape(counts, [num_classes, num_classes])


def confusion_counts(y_true, y_pred, num_classes, ignore_label=IGNORE_LABEL):
    """(C, C) float32 confusion_matrix of (B, H, W) labels and (B, H, W, C) logits."""
    return ops.cast(confusion_matrix(y_true, ops.argmax(y_pred, axis=-1), num_classes,
                                     ignore_label), "float32")


def confusion_scores(confusion, xp=ops):
    """(C, C) counts (rows true, columns predicted) -> {"per_class_iou" (C,): IoU = TP /
    (TP + FP + FN), 0 for a class that neither occurs nor is predicted; "present" (C,) bool:
    it occurs or is predicted; "mIoU": the mean IoU of the present classes, as
    research/deeplab's mean_iou; "pixel_accuracy"}. The one place this is computed: in
    keras.ops (the metric, in the compiled step) or, with xp=numpy, in float64 numpy."""
    true_positive = xp.diagonal(confusion)
    union = xp.sum(confusion, axis=0) + xp.sum(confusion, axis=1) - true_positive
    present = union > 0
    iou = true_positive / xp.maximum(union, 1.0)   # counts: a present class has union >= 1
    count = xp.sum(xp.where(present, 1.0, 0.0))
    return {"per_class_iou": iou, "present": present,
            "mIoU": xp.sum(xp.where(present, iou, 0.0)) / xp.maximum(count, 1.0),
            "pixel_accuracy": xp.sum(true_positive) / xp.maximum(xp.sum(confusion), 1.0)}


def scores_from_confusion(confusion):
    """numpy (C, C) counts -> {"mIoU", "pixel_accuracy", "per_class_iou"} as Python floats
    (confusion_scores in float64), per-class IoU None for a class neither present nor
    predicted."""
    scores = confusion_scores(np.asarray(confusion, np.float64), xp=np)
    per_class = [float(iou) if present else None
                 for iou, present in zip(scores["per_class_iou"], scores["present"])]
    return {"mIoU": float(scores["mIoU"]), "pixel_accuracy": float(scores["pixel_accuracy"]),
            "per_class_iou": per_class}


@keras.saving.register_keras_serializable(package="mobilenet_tf")
class SegmentationMetric(keras.metrics.Metric):
    """mIoU ("miou") or pixel accuracy ("pixel_accuracy") from a confusion matrix summed
    over every batch of the split (not a mean of per-batch scores), pixels labelled
    `ignore_label` left out. `confusion` holds the counts for per-class IoU."""

    def __init__(self, num_classes, kind="miou", ignore_label=IGNORE_LABEL, name=None,
                 dtype=None):
        if kind not in ("miou", "pixel_accuracy"):
            raise ValueError(f"kind must be 'miou' or 'pixel_accuracy', got {kind!r}")
        super().__init__(name=name or ("mIoU" if kind == "miou" else kind), dtype=dtype)
        self.num_classes, self.kind, self.ignore_label = int(num_classes), kind, ignore_label
        self.confusion = self.add_variable(shape=(self.num_classes, self.num_classes),
                                           initializer="zeros", dtype="float32",
                                           name="confusion")

    def update_state(self, y_true, y_pred, sample_weight=None):
        del sample_weight
        self.confusion.assign_add(confusion_counts(y_true, y_pred, self.num_classes,
                                                   self.ignore_label))

    def result(self):
        scores = confusion_scores(ops.convert_to_tensor(self.confusion))
        return scores["mIoU" if self.kind == "miou" else "pixel_accuracy"]

    def reset_state(self):
        self.confusion.assign(ops.zeros(self.confusion.shape, "float32"))

    def get_config(self):
        return {"num_classes": self.num_classes, "kind": self.kind,
                "ignore_label": self.ignore_label, "name": self.name, "dtype": self.dtype}
