"""Box geometry for the model and for evaluation, in keras.ops so it runs in the model's
backend (TensorFlow, JAX) and on numpy arrays: centre / corner conversions, pairwise IoU
and SSD's box coding (Liu et al., arXiv:1512.02325, eq. 2, with the TF Object Detection
API's scales 10, 10, 5, 5: SCALES, the one place they are written).

For a box with centre (cy, cx) and size (h, w) and an anchor (acy, acx, ah, aw):
    deltas = [10 (cy - acy) / ah, 10 (cx - acx) / aw, 5 log(h / ah), 5 log(w / aw)]
The input pipeline needs the same geometry in TensorFlow ops (tf.data runs TensorFlow even
when Keras runs on JAX): mobilenet_tf.data.target_assigner holds that version, with these
SCALES. Boxes are [ymin, xmin, ymax, xmax], anchors [cy, cx, h, w], both normalised to
[0, 1].
"""
import math

from keras import ops

SCALES = (10.0, 10.0, 5.0, 5.0)
# exp() of a size delta is capped here (torchvision's bound, log(1000 / 16)), so an untrained
# model's wild predictions decode to huge boxes, not to inf and NaN IoUs.
MAX_LOG_SCALE = math.log(1000.0 / 16)


def to_centre(boxes):
    """(..., 4) [ymin, xmin, ymax, xmax] -> (..., 4) [cy, cx, h, w]."""
    ymin, xmin, ymax, xmax = ops.unstack(boxes, 4, axis=-1)
    return ops.stack([(ymin + ymax) / 2, (xmin + xmax) / 2, ymax - ymin, xmax - xmin], -1)


def to_corners(centred):
    """(..., 4) [cy, cx, h, w] -> (..., 4) [ymin, xmin, ymax, xmax]."""
    cy, cx, h, w = ops.unstack(centred, 4, axis=-1)
    return ops.stack([cy - h / 2, cx - w / 2, cy + h / 2, cx + w / 2], -1)


def encode(boxes, anchors, scales=SCALES):
    """(..., A, 4) boxes [ymin, xmin, ymax, xmax], (A, 4) anchors [cy, cx, h, w] ->
    (..., A, 4) deltas. Boxes must have positive size."""
    boxes = to_centre(ops.cast(boxes, "float32"))
    anchors = ops.cast(anchors, "float32")
    cy, cx, h, w = ops.unstack(boxes, 4, axis=-1)
    acy, acx, ah, aw = ops.unstack(anchors, 4, axis=-1)
    return ops.stack([scales[0] * (cy - acy) / ah, scales[1] * (cx - acx) / aw,
                      scales[2] * ops.log(h / ah), scales[3] * ops.log(w / aw)], -1)


def decode(deltas, anchors, scales=SCALES):
    """(..., A, 4) deltas, (A, 4) anchors [cy, cx, h, w] -> (..., A, 4) boxes [ymin, xmin,
    ymax, xmax], normalised (not clipped to the image)."""
    deltas = ops.cast(deltas, "float32")
    anchors = ops.cast(anchors, "float32")
    dy, dx, dh, dw = ops.unstack(deltas, 4, axis=-1)
    acy, acx, ah, aw = ops.unstack(anchors, 4, axis=-1)
    cy = dy / scales[0] * ah + acy
    cx = dx / scales[1] * aw + acx
    h = ops.exp(ops.minimum(dh / scales[2], MAX_LOG_SCALE)) * ah
    w = ops.exp(ops.minimum(dw / scales[3], MAX_LOG_SCALE)) * aw
    return to_corners(ops.stack([cy, cx, h, w], -1))


def pairwise_iou(boxes1, boxes2):
    """(..., N, 4), (..., M, 4) corner boxes -> (..., N, M) intersection over union (0 where
    both boxes are empty)."""
    a = ops.expand_dims(boxes1, -2)
    b = ops.expand_dims(boxes2, -3)
    height = ops.maximum(ops.minimum(a[..., 2], b[..., 2]) - ops.maximum(a[..., 0], b[..., 0]), 0)
    width = ops.maximum(ops.minimum(a[..., 3], b[..., 3]) - ops.maximum(a[..., 1], b[..., 1]), 0)
    intersection = height * width
    area_a = (a[..., 2] - a[..., 0]) * (a[..., 3] - a[..., 1])
    area_b = (b[..., 2] - b[..., 0]) * (b[..., 3] - b[..., 1])
    union = area_a + area_b - intersection
    return intersection / ops.maximum(union, 1e-9)

