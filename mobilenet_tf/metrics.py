"""Classification loss and metrics that take class indices or (mixed) one-hot targets.

MixUp and CutMix make training targets one-hot vectors while evaluation targets stay class
indices; one loss and one metric object serve both. keras.ops only (any backend).
"""
import keras
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
    """1.0 where the target class (the largest weight for one-hot) is in the top k logits."""
    return ops.cast(ops.in_top_k(_as_indices(y_true), ops.cast(y_pred, "float32"), k),
                    "float32")


@keras.saving.register_keras_serializable(package="mobilenet_tf")
class TopKAccuracy(keras.metrics.MeanMetricWrapper):
    """Top-k accuracy for index or one-hot targets; named top1 / top5 by default."""

    def __init__(self, k=1, name=None, dtype=None):
        super().__init__(top_k_hits, name=name or f"top{k}", dtype=dtype, k=k)
        self.k = k

    def get_config(self):
        return {"k": self.k, "name": self.name, "dtype": self.dtype}
