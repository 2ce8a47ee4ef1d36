"""SSD training targets for one image, in TensorFlow, so they are computed in tf.data; with
the TensorFlow versions of the box geometry (to_centre, to_corners, pairwise_iou, encode)
that the input pipeline uses. mobilenet_tf.detection.box_coder holds the same functions in
keras.ops for the model (decoding, NMS under any backend); tf.data needs TensorFlow ops even
when Keras runs on JAX, so these are the pipeline's and only the pipeline's.

Matching (SSD, Liu et al. 2016, section 2.2; as torchvision's SSD and the TF Object
Detection API's argmax matcher with force_match_for_each_row):
- every anchor goes to the non-crowd ground-truth box it overlaps most; it is positive when
  that IoU is at least `threshold` (0.5);
- every ground-truth box is also forced onto the anchor it overlaps most, so no object goes
  without a positive anchor; when several boxes share that anchor, the one overlapping it
  most gets it (ties: the first box);
- an anchor left negative whose best IoU with a crowd box (COCO iscrowd=1) is at least
  `threshold` is ignored (class -1): crowd regions are neither objects nor background;
- an image without boxes gives all-background targets.

Encoding (SSD, box_coder.SCALES 10, 10, 5, 5): a box of centre (cy, cx) and size (h, w)
matched to an anchor (acy, acx, ah, aw) is [10 (cy - acy) / ah, 10 (cx - acx) / aw,
5 log(h / ah), 5 log(w / aw)]; mobilenet_tf.detection.box_coder.decode inverts it.
"""
import tensorflow as tf

from mobilenet_tf.detection.box_coder import SCALES

MATCH_THRESHOLD = 0.5
_MIN_SIZE = 1e-8   # keeps log() finite on the (never used) deltas of unmatched anchors


def to_corners(boxes):
    """(..., 4) [cy, cx, h, w] -> (..., 4) [ymin, xmin, ymax, xmax]."""
    centre, size = boxes[..., :2], boxes[..., 2:]
    return tf.concat([centre - size / 2, centre + size / 2], axis=-1)


def to_centre(boxes):
    """(..., 4) [ymin, xmin, ymax, xmax] -> (..., 4) [cy, cx, h, w]."""
    return tf.concat([(boxes[..., :2] + boxes[..., 2:]) / 2, boxes[..., 2:] - boxes[..., :2]],
                     axis=-1)


def pairwise_iou(boxes_a, boxes_b):
    """(N, 4) and (M, 4) [ymin, xmin, ymax, xmax] -> (N, M) intersection over union; 0 where
    both boxes are empty."""
    a, b = boxes_a[:, None, :], boxes_b[None, :, :]
    height = tf.maximum(tf.minimum(a[..., 2], b[..., 2]) - tf.maximum(a[..., 0], b[..., 0]), 0)
    width = tf.maximum(tf.minimum(a[..., 3], b[..., 3]) - tf.maximum(a[..., 1], b[..., 1]), 0)
    intersection = height * width
    area = lambda box: (box[..., 2] - box[..., 0]) * (box[..., 3] - box[..., 1])
    return tf.math.divide_no_nan(intersection, area(a) + area(b) - intersection)


def encode(boxes, anchors, scales=SCALES):
    """(..., 4) [ymin, xmin, ymax, xmax] boxes and (..., 4) [cy, cx, h, w] anchors ->
    (..., 4) SSD deltas."""
    boxes = to_centre(tf.cast(boxes, tf.float32))
    anchors = tf.cast(anchors, tf.float32)
    size = tf.maximum(boxes[..., 2:], _MIN_SIZE)
    centre = (boxes[..., :2] - anchors[..., :2]) / anchors[..., 2:]
    deltas = tf.concat([centre, tf.math.log(size / anchors[..., 2:])], axis=-1)
    return deltas * tf.constant(scales, tf.float32)


def match(boxes, anchors, is_crowd=None, threshold=MATCH_THRESHOLD):
    """(G, 4) boxes [ymin, xmin, ymax, xmax] against (A, 4) anchors [cy, cx, h, w] ->
    (matched box index (A,) int32, positive (A,) bool, ignored (A,) bool). The index is only
    meaningful where positive."""
    boxes = tf.cast(boxes, tf.float32)
    crowd = tf.zeros(tf.shape(boxes)[:1], tf.bool) if is_crowd is None else \
        tf.cast(is_crowd, tf.bool)
    # One empty, never-matching box at the end: argmax over boxes works for G = 0.
    boxes = tf.concat([boxes, tf.zeros([1, 4])], axis=0)
    crowd = tf.concat([crowd, [False]], axis=0)
    overlaps = pairwise_iou(boxes, to_corners(tf.cast(anchors, tf.float32)))   # (G + 1, A)
    plain = tf.where(crowd[:, None], -1.0, overlaps)
    best_box = tf.argmax(plain, axis=0, output_type=tf.int32)
    positive = tf.reduce_max(plain, axis=0) >= threshold
    # Forced matches: each box's best anchor (boxes overlapping nothing are left out).
    best_anchor = tf.argmax(plain, axis=1, output_type=tf.int32)
    pairs = tf.equal(best_anchor[:, None], tf.range(tf.shape(plain)[1])[None, :]) & \
        (tf.reduce_max(plain, axis=1) > 0)[:, None]
    forced = tf.reduce_any(pairs, axis=0)
    forced_box = tf.argmax(tf.where(pairs, plain, -1.0), axis=0, output_type=tf.int32)
    best_box = tf.where(forced, forced_box, best_box)
    positive = positive | forced
    crowd_overlap = tf.reduce_max(tf.where(crowd[:, None], overlaps, 0.0), axis=0)
    ignored = ~positive & (crowd_overlap >= threshold)
    return best_box, positive, ignored


def assign(boxes, classes, anchors, is_crowd=None, threshold=MATCH_THRESHOLD):
    """One image's ground truth -> SSD targets.

    boxes (G, 4) float [ymin, xmin, ymax, xmax] in [0, 1], classes (G,) int 0..C-1, anchors
    (A, 4) [cy, cx, h, w], is_crowd (G,) bool or None. Returns {"boxes": float32 (A, 4)
    deltas, zeros where not positive; "classes": int32 (A,), 0 background, c + 1 for class c,
    -1 ignored}."""
    anchors = tf.cast(anchors, tf.float32)
    index, positive, ignored = match(boxes, anchors, is_crowd, threshold)
    boxes = tf.concat([tf.cast(boxes, tf.float32), [[0.0, 0.0, 1.0, 1.0]]], axis=0)
    classes = tf.concat([tf.cast(classes, tf.int32), [-1]], axis=0)
    deltas = encode(tf.gather(boxes, index), anchors)
    labels = tf.where(positive, tf.gather(classes, index) + 1,
                      tf.where(ignored, -1, 0))
    return {"boxes": tf.where(positive[:, None], deltas, 0.0), "classes": labels}
