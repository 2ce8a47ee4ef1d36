"""From the SSDLite model's per-anchor outputs to detections: decode the boxes, score the
classes, per-class non-maximum suppression, keep the best. keras.ops only (Keras has no NMS
op), so it runs in the model's backend, inside a SavedModel and under JAX.

    inference = detection_model(model)           # images -> {"boxes", "scores", "classes",
    outputs = inference(images)                  #            "num_detections"}
    inference.export("detector", format="tf_saved_model")

NMS is the exact greedy algorithm on a fixed-size candidate set: per image and class the
`candidates_per_class` highest-scoring anchors (sorted), their IoU matrix, and a candidate is
kept when its score passes the threshold and no kept candidate of the same class before it
overlaps it by more than iou_threshold. All shapes are static, so it runs in a
SavedModel, in TFLite and under JAX's jit.
"""
import keras
import numpy as np
from keras import ops

from mobilenet_tf.detection import box_coder

# The OD API's SSDLite configs (batch_non_max_suppression): iou 0.6, 100 per class, 100 in
# all; their score_threshold 1e-8 is raised to 0.01 (torchvision uses 0.001), which drops
# nothing COCO AP needs at 100 detections and keeps the candidate sets small.
SCORE_THRESHOLD = 0.01
IOU_THRESHOLD = 0.6
MAX_PER_CLASS = 100
MAX_DETECTIONS = 100
CANDIDATES_PER_CLASS = 200


def class_scores(logits, score="sigmoid"):
    """(..., A, C + 1) logits (column 0 background) -> (..., A, C) class probabilities:
    independent sigmoids (focal-loss models) or the softmax over all C + 1 columns."""
    logits = ops.cast(logits, "float32")
    if score == "sigmoid":
        return ops.sigmoid(logits[..., 1:])
    if score == "softmax":
        return ops.softmax(logits, axis=-1)[..., 1:]
    raise ValueError(f"score {score!r}: use 'sigmoid' or 'softmax'")


def _greedy_keep(overlap, valid):
    """(B, C, K, K) bool overlaps, (B, C, K) bool valid candidates in descending score order
    -> (B, C, K) bool kept by greedy NMS.

    Greedy NMS's answer is the one fixed point of "keep i when it is valid and no kept j < i
    overlaps it", found by applying that rule to all candidates at once until nothing
    changes (as TensorFlow's non_max_suppression_padded does within a tile). Each round
    settles at least the next candidate in order, so it ends within K rounds, and in
    practice after as many as the longest chain of suppressions (a few): a handful of matrix
    products instead of K dependent steps (25x less CPU in eager mode at K = 200)."""
    k = valid.shape[-1]
    earlier = ops.cast(overlap, "float32") * np.tril(np.ones((k, k), np.float32), -1)
    valid = ops.cast(valid, "float32")

    def round_(keep, changed):
        suppressed = ops.matmul(earlier, ops.expand_dims(keep, -1))[..., 0] > 0.5
        kept = ops.where(suppressed, 0.0, valid)
        return kept, ops.any(kept != keep)

    keep, _ = ops.while_loop(lambda keep, changed: changed, round_,
                             (valid, ops.convert_to_tensor(True)), maximum_iterations=k)
    return keep > 0.5


def non_max_suppression(boxes, scores, *, score_threshold=SCORE_THRESHOLD,
                        iou_threshold=IOU_THRESHOLD, max_per_class=MAX_PER_CLASS,
                        max_detections=MAX_DETECTIONS, candidates_per_class=CANDIDATES_PER_CLASS):
    """Per-class NMS. (B, A, 4) corner boxes, (B, A, C) scores -> {"boxes": (B, N, 4),
    "scores": (B, N), "classes": (B, N) int32 in 0..C-1, "num_detections": (B,) int32} with
    N = max_detections, best first, padded with zeros after num_detections."""
    num_anchors, num_classes = scores.shape[-2], scores.shape[-1]
    k = min(candidates_per_class, num_anchors)
    values, index = ops.top_k(ops.transpose(scores, (0, 2, 1)), k)   # (B, C, K), sorted
    candidates = ops.take_along_axis(ops.expand_dims(boxes, 1), index[..., None], axis=2)
    overlap = box_coder.pairwise_iou(candidates, candidates) > iou_threshold
    keep = _greedy_keep(overlap, values > score_threshold)
    # Candidates are sorted, so the first max_per_class kept ones of a class are its best.
    keep = keep & (ops.cumsum(ops.cast(keep, "int32"), axis=-1) <= max_per_class)
    flat_scores = ops.reshape(ops.where(keep, values, -1.0), (-1, num_classes * k))
    flat_boxes = ops.reshape(candidates, (-1, num_classes * k, 4))
    n = min(max_detections, num_classes * k)
    top_scores, top = ops.top_k(flat_scores, n)
    found = top_scores > -1.0
    result = {
        "boxes": ops.where(found[..., None], ops.clip(
            ops.take_along_axis(flat_boxes, top[..., None], axis=1), 0.0, 1.0), 0.0),
        "scores": ops.where(found, top_scores, 0.0),
        "classes": ops.where(found, top // k, 0),
        "num_detections": ops.sum(ops.cast(found, "int32"), axis=-1),
    }
    if n < max_detections:   # fewer candidates than detections asked for: pad to N
        pad = max_detections - n
        result = {key: value if key == "num_detections" else ops.pad(
            value, [(0, 0), (0, pad)] + [(0, 0)] * (len(value.shape) - 2))
            for key, value in result.items()}
    result["classes"] = ops.cast(result["classes"], "int32")
    return result


@keras.saving.register_keras_serializable(package="mobilenet_tf")
class DetectionPostprocess(keras.layers.Layer):
    """[(B, A, 4) deltas, (B, A, C + 1) logits] -> detections (see non_max_suppression),
    boxes normalised [ymin, xmin, ymax, xmax] clipped to the image."""

    def __init__(self, anchors, score="sigmoid", score_threshold=SCORE_THRESHOLD,
                 iou_threshold=IOU_THRESHOLD, max_per_class=MAX_PER_CLASS,
                 max_detections=MAX_DETECTIONS, candidates_per_class=CANDIDATES_PER_CLASS,
                 **kwargs):
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)
        self.anchors = np.asarray(anchors, np.float32)
        self.options = dict(score_threshold=float(score_threshold),
                            iou_threshold=float(iou_threshold), max_per_class=int(max_per_class),
                            max_detections=int(max_detections),
                            candidates_per_class=int(candidates_per_class))
        self.score = score

    def call(self, inputs):
        deltas, logits = inputs
        boxes = box_coder.decode(deltas, self.anchors)
        return non_max_suppression(boxes, class_scores(logits, self.score), **self.options)

    def compute_output_spec(self, inputs):
        batch, n = inputs[0].shape[0], self.options["max_detections"]
        return {"boxes": keras.KerasTensor((batch, n, 4), "float32"),
                "scores": keras.KerasTensor((batch, n), "float32"),
                "classes": keras.KerasTensor((batch, n), "int32"),
                "num_detections": keras.KerasTensor((batch,), "int32")}

    def get_config(self):
        return {**super().get_config(), "anchors": self.anchors.tolist(), "score": self.score,
                **self.options}


def detection_model(model, anchors, *, score="sigmoid", **options):
    """A keras.Model from images (what `model` takes: [0, 255] with its preprocessing) to
    {"boxes" (B, N, 4) normalised [ymin, xmin, ymax, xmax], "scores" (B, N), "classes"
    (B, N) int32 class ids, "num_detections" (B,) int32}. anchors: (A, 4) [cy, cx, h, w]
    of the model's outputs; options: non_max_suppression's."""
    image = keras.Input(model.input_shape[1:], name="image")
    outputs = model(image)
    detections = DetectionPostprocess(anchors, score=score, name="postprocess", **options)(
        [outputs["boxes"], outputs["classes"]])
    return keras.Model(image, detections, name=f"{model.name}_detector")
