"""SSD's multibox loss in keras.ops: smooth L1 on the positives' box deltas, plus either a
sigmoid focal loss over every anchor (TF Object Detection API's SSDLite MobileNetV3 configs)
or softmax cross-entropy with 3:1 hard negative mining (SSD, the V2 SSDLite config,
torchvision). Both parts are normalised by the batch's number of positive anchors (at
least 1), as SSD and the OD API's normalize_loss_by_num_matches do.

Keras compiles one loss per model output, so the task passes {"boxes": BoxLoss(), "classes":
FocalLoss() | HardNegativeSoftmaxLoss()}. Targets (from the input pipeline):
    boxes   (B, A, 5) float32: the 4 encoded deltas, then the anchor's class target (the box
            loss needs to know the positives; tasks/detection.py packs it)
    classes (B, A) int: 0 background, c + 1 for class c, -1 ignored (crowd matches)
Each loss returns one value per image, summed by Keras ("sum" reduction): total / positives.
"""
import keras
from keras import ops

FOCAL_ALPHA = 0.75   # OD API ssdlite_mobilenet_v3_*_320x320_coco: weighted_sigmoid_focal
FOCAL_GAMMA = 2.0
NEGATIVES_PER_POSITIVE = 3   # SSD section 2.2, torchvision's neg_to_pos_ratio


def _per_positive(per_image, positive):
    """(B,) per-image sums -> the same over the batch's positive count (at least 1)."""
    count = ops.maximum(ops.sum(ops.cast(positive, "float32")), 1.0)
    return per_image / count


def smooth_l1(difference, delta=1.0):
    """Elementwise Huber / smooth L1: 0.5 x^2 / delta where |x| < delta, else |x| - delta / 2."""
    absolute = ops.abs(difference)
    return ops.where(absolute < delta, 0.5 * difference ** 2 / delta, absolute - 0.5 * delta)


def sigmoid_focal(labels_one_hot, logits, alpha=FOCAL_ALPHA, gamma=FOCAL_GAMMA):
    """Elementwise focal loss (Lin et al., arXiv:1708.02002, eq. 5) of sigmoid logits:
    -alpha_t (1 - p_t)^gamma log(p_t), with the log computed stably from the logits."""
    z = labels_one_hot
    cross_entropy = ops.maximum(logits, 0) - logits * z + ops.log1p(ops.exp(-ops.abs(logits)))
    p = ops.sigmoid(logits)
    p_t = p * z + (1 - p) * (1 - z)
    alpha_t = alpha * z + (1 - alpha) * (1 - z)
    return alpha_t * (1 - p_t) ** gamma * cross_entropy


def softmax_cross_entropy(labels, logits):
    """(B, A) int labels (>= 0), (B, A, K) logits -> (B, A) cross-entropy."""
    log_probs = ops.log_softmax(logits, axis=-1)
    return -ops.squeeze(ops.take_along_axis(log_probs, labels[..., None], axis=-1), -1)


def hard_negatives(negative_losses, negative, count):
    """(B, A) losses, (B, A) bool candidates, (B,) how many per image -> (B, A) bool: the
    `count` highest-loss candidates of each image (fewer if it has fewer)."""
    scores = ops.where(negative, ops.stop_gradient(negative_losses), -1.0)
    order = ops.argsort(-scores, axis=-1)
    rank = ops.argsort(order, axis=-1)   # each anchor's place in the descending order
    return negative & (rank < ops.cast(count, rank.dtype)[:, None])


class BoxLoss(keras.losses.Loss):
    """Smooth L1 (Huber, delta 1) summed over the positives' 4 deltas, over the positives."""

    def __init__(self, delta=1.0, weight=1.0, name="box_loss", **kwargs):
        kwargs.setdefault("reduction", "sum")
        super().__init__(name=name, **kwargs)
        self.delta, self.weight = delta, weight

    def call(self, y_true, y_pred):
        """(B, A, 5) deltas + class target, (B, A, 4) predicted deltas -> (B,)."""
        positive = y_true[..., 4] > 0
        error = ops.sum(smooth_l1(y_true[..., :4] - y_pred, self.delta), axis=-1)
        per_image = ops.sum(ops.where(positive, error, 0.0), axis=-1)
        return self.weight * _per_positive(per_image, positive)

    def get_config(self):
        return {**super().get_config(), "delta": self.delta, "weight": self.weight}


class FocalLoss(keras.losses.Loss):
    """Sigmoid focal loss over every non-ignored anchor and all C + 1 columns (one-hot, the
    background column included, as the OD API's SSD with add_background_class), over the
    positives."""

    def __init__(self, alpha=FOCAL_ALPHA, gamma=FOCAL_GAMMA, weight=1.0, name="focal_loss",
                 **kwargs):
        kwargs.setdefault("reduction", "sum")
        super().__init__(name=name, **kwargs)
        self.alpha, self.gamma, self.weight = alpha, gamma, weight

    def call(self, y_true, y_pred):
        """(B, A) class targets, (B, A, C + 1) logits -> (B,)."""
        labels = ops.cast(y_true, "int32")
        valid = ops.cast(labels >= 0, "float32")[..., None]
        one_hot = ops.one_hot(ops.maximum(labels, 0), ops.shape(y_pred)[-1])
        loss = sigmoid_focal(one_hot, y_pred, self.alpha, self.gamma) * valid
        per_image = ops.sum(loss, axis=(1, 2))
        return self.weight * _per_positive(per_image, labels > 0)

    def get_config(self):
        return {**super().get_config(), "alpha": self.alpha, "gamma": self.gamma,
                "weight": self.weight}


class HardNegativeSoftmaxLoss(keras.losses.Loss):
    """Softmax cross-entropy over the positives and, per image, the `negatives_per_positive`
    times as many background anchors with the highest loss (SSD's hard negative mining),
    over the positives."""

    def __init__(self, negatives_per_positive=NEGATIVES_PER_POSITIVE, weight=1.0,
                 name="softmax_loss", **kwargs):
        kwargs.setdefault("reduction", "sum")
        super().__init__(name=name, **kwargs)
        self.negatives_per_positive, self.weight = negatives_per_positive, weight

    def call(self, y_true, y_pred):
        """(B, A) class targets, (B, A, C + 1) logits -> (B,)."""
        labels = ops.cast(y_true, "int32")
        positive, negative = labels > 0, labels == 0
        loss = softmax_cross_entropy(ops.maximum(labels, 0), y_pred)
        count = self.negatives_per_positive * ops.sum(ops.cast(positive, "int32"), axis=-1)
        chosen = positive | hard_negatives(loss, negative, count)
        per_image = ops.sum(ops.where(chosen, loss, 0.0), axis=-1)
        return self.weight * _per_positive(per_image, positive)

    def get_config(self):
        return {**super().get_config(), "negatives_per_positive": self.negatives_per_positive,
                "weight": self.weight}


def ssd_losses(classification="focal", *, alpha=FOCAL_ALPHA, gamma=FOCAL_GAMMA,
               negatives_per_positive=NEGATIVES_PER_POSITIVE, box_weight=1.0,
               class_weight=1.0):
    """{"boxes": BoxLoss, "classes": the `classification` loss ("focal" or "softmax")}, for
    model.compile(loss=...)."""
    if classification == "focal":
        classes = FocalLoss(alpha, gamma, weight=class_weight)
    elif classification == "softmax":
        classes = HardNegativeSoftmaxLoss(negatives_per_positive, weight=class_weight)
    else:
        raise ValueError(f"classification loss {classification!r}: use 'focal' or 'softmax'")
    return {"boxes": BoxLoss(weight=box_weight), "classes": classes}


class OutputLoss(keras.metrics.Mean):
    """One output's loss averaged over the images seen, each batch weighted by its number of
    images, as Keras averages the total `loss`, so the per-output losses add up to it.

    Keras's own per-output loss trackers do not: they weight a batch by its static size
    (unknown for an evaluation split, whose last batch is smaller, so every batch counts 1)
    and, on a dataset of unknown length, count the step that finds the data exhausted as one
    more batch. Logged as `<output>_output_loss`; callbacks.OutputLosses reports it as
    `<output>_loss` in their place."""

    def __init__(self, loss, name="output_loss", **kwargs):
        super().__init__(name=name, **kwargs)
        self.loss = loss

    def update_state(self, y_true, y_pred, sample_weight=None):
        images = ops.cast(ops.shape(y_pred)[0], "float32")
        return super().update_state(ops.cast(self.loss(y_true, y_pred), "float32"),
                                    sample_weight=images)

    def get_config(self):
        return {**super().get_config(), "loss": keras.saving.serialize_keras_object(self.loss)}


class PositiveAccuracy(keras.metrics.Metric):
    """The fraction of positive anchors whose highest object-class logit (background left
    out, so it means the same for sigmoid and softmax scores) is their class: a cheap
    validation signal, higher is better (COCO AP needs decoding and NMS over the split)."""

    def __init__(self, name="positive_accuracy", **kwargs):
        super().__init__(name=name, **kwargs)
        self.correct = self.add_variable((), initializer="zeros", name="correct")
        self.total = self.add_variable((), initializer="zeros", name="total")

    def update_state(self, y_true, y_pred, sample_weight=None):
        labels = ops.cast(y_true, "int32")
        positive = ops.cast(labels > 0, "float32")
        best = ops.cast(ops.argmax(y_pred[..., 1:], axis=-1), "int32") + 1
        hit = ops.cast(best == labels, "float32") * positive
        self.correct.assign_add(ops.sum(hit))
        self.total.assign_add(ops.sum(positive))

    def result(self):
        return self.correct / ops.maximum(self.total, 1.0)

    def reset_state(self):
        self.correct.assign(0.0)
        self.total.assign(0.0)
