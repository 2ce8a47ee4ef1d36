"""SSD matching and encoding on hand-made cases, eagerly and inside tf.data; the pipeline's
TensorFlow box geometry gives the model's keras.ops numbers (box_coder)."""
import math

import numpy as np
import pytest
import tensorflow as tf
from keras import ops

from mobilenet_tf.data import target_assigner
from mobilenet_tf.detection import anchors as anchor_lib, box_coder

# Four anchors [cy, cx, h, w]: two small ones side by side at the top, a big one in the
# middle, and one at the bottom right.
ANCHORS = np.array([[0.25, 0.25, 0.5, 0.5], [0.25, 0.75, 0.5, 0.5], [0.5, 0.5, 0.8, 0.8],
                    [0.875, 0.875, 0.25, 0.25]], np.float32)


def _run(mode, boxes, classes, is_crowd=None, anchors=ANCHORS):
    """assign() eagerly, or on a one-element tf.data pipeline (as get_detection runs it)."""
    boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
    classes = np.asarray(classes, np.int32)
    crowd = np.zeros(len(classes), bool) if is_crowd is None else np.asarray(is_crowd, bool)
    if mode == "eager":
        result = target_assigner.assign(boxes, classes, anchors, crowd)
        return {key: value.numpy() for key, value in result.items()}
    dataset = tf.data.Dataset.from_tensors((boxes, classes, crowd)).map(
        lambda b, c, k: target_assigner.assign(b, c, anchors, k))
    return next(iter(dataset.as_numpy_iterator()))


modes = pytest.mark.parametrize("mode", ["eager", "tf.data"])


def test_iou_by_hand():
    a = np.array([[0.0, 0.0, 0.5, 0.5], [0.0, 0.0, 0.0, 0.0]], np.float32)
    b = np.array([[0.0, 0.25, 0.5, 0.75], [0.5, 0.5, 1.0, 1.0]], np.float32)
    expected = [[1 / 3, 0.0], [0.0, 0.0]]
    np.testing.assert_allclose(target_assigner.pairwise_iou(a, b).numpy(), expected, rtol=1e-6)
    np.testing.assert_allclose(ops.convert_to_numpy(box_coder.pairwise_iou(a, b)), expected,
                               rtol=1e-6)


@modes
def test_the_pipelines_geometry_equals_the_models(mode):
    # One definition per framework: the TensorFlow ops here (tf.data runs them even when
    # Keras runs on JAX) and box_coder's keras.ops give the same numbers, with one SCALES.
    rng = np.random.default_rng(0)
    centre, size = rng.uniform(0.2, 0.8, (30, 2)), rng.uniform(0.05, 0.6, (30, 2))
    boxes = np.concatenate([centre - size / 2, centre + size / 2], -1).astype(np.float32)
    priors = anchor_lib.ssd_anchors(anchor_lib.feature_map_sizes(320))[::60][:30]

    def pipeline_side(b, a):
        return {"centre": target_assigner.to_centre(b),
                "corners": target_assigner.to_corners(target_assigner.to_centre(b)),
                "iou": target_assigner.pairwise_iou(b, target_assigner.to_corners(a)),
                "deltas": target_assigner.encode(b, a)}

    if mode == "eager":
        ours = {k: v.numpy() for k, v in pipeline_side(boxes, priors).items()}
    else:
        ours = next(iter(tf.data.Dataset.from_tensors((boxes, priors)).map(pipeline_side)
                         .as_numpy_iterator()))
    model_side = {"centre": box_coder.to_centre(boxes),
                  "corners": box_coder.to_corners(box_coder.to_centre(boxes)),
                  "iou": box_coder.pairwise_iou(boxes, box_coder.to_corners(priors)),
                  "deltas": box_coder.encode(boxes, priors)}
    for key, value in model_side.items():
        np.testing.assert_allclose(ours[key], ops.convert_to_numpy(value), rtol=1e-5,
                                   atol=1e-6, err_msg=key)
    np.testing.assert_allclose(ours["corners"], boxes, atol=1e-6)   # the round trip
    assert ours["iou"].max() > 0.1   # some boxes do overlap some anchors
    assert target_assigner.SCALES is box_coder.SCALES == (10.0, 10.0, 5.0, 5.0)


def test_encode_by_hand():
    box = tf.constant([[0.1, 0.2, 0.5, 0.4]])   # centre (0.3, 0.3), size (0.4, 0.2)
    anchor = tf.constant([[0.25, 0.25, 0.5, 0.5]])
    expected = [10 * 0.05 / 0.5, 10 * 0.05 / 0.5, 5 * math.log(0.4 / 0.5),
                5 * math.log(0.2 / 0.5)]
    np.testing.assert_allclose(target_assigner.encode(box, anchor).numpy()[0], expected,
                               rtol=1e-5)


@modes
def test_box_equal_to_an_anchor_matches_it_with_zero_deltas(mode):
    out = _run(mode, [[0.0, 0.5, 0.5, 1.0]], [4])   # exactly anchor 1
    np.testing.assert_array_equal(out["classes"], [0, 5, 0, 0])
    np.testing.assert_allclose(out["boxes"], np.zeros((4, 4)), atol=1e-6)
    assert out["boxes"].dtype == np.float32 and out["classes"].dtype == np.int32


@modes
def test_box_below_threshold_is_forced_onto_its_best_anchor(mode):
    # A small box inside anchor 3: IoU 0.36 with it, below 0.5, and less with the others.
    box = [0.8, 0.8, 0.95, 0.95]
    overlaps = target_assigner.pairwise_iou(tf.constant([box]),
                                            target_assigner.to_corners(ANCHORS)).numpy()[0]
    assert overlaps.max() < 0.5 and overlaps.argmax() == 3
    out = _run(mode, [box], [2])
    np.testing.assert_array_equal(out["classes"], [0, 0, 0, 3])
    expected = target_assigner.encode(tf.constant([box]), ANCHORS[3:]).numpy()[0]
    np.testing.assert_allclose(out["boxes"][3], expected, rtol=1e-5)
    assert np.all(out["boxes"][:3] == 0)


@modes
def test_two_boxes_competing_for_anchors(mode):
    # Box 0 covers anchors 0 and 1 (IoU 0.5 with each, so its forced anchor is 0, the first
    # of the ties); box 1 is anchor 0 itself. Anchor 0 goes to box 1 (IoU 1 beats 0.5),
    # anchor 1 to box 0 by the threshold.
    out = _run(mode, [[0.0, 0.0, 0.5, 1.0], [0.0, 0.0, 0.5, 0.5]], [0, 1])
    np.testing.assert_array_equal(out["classes"], [2, 1, 0, 0])
    np.testing.assert_allclose(out["boxes"][0], 0.0, atol=1e-6)
    np.testing.assert_allclose(out["boxes"][1], [0.0, -5.0, 0.0, 5 * math.log(2.0)],
                               rtol=1e-5)


def test_two_boxes_with_one_best_anchor_the_closer_one_wins():
    # Both boxes' best anchor is 2 and neither reaches 0.5 elsewhere.
    boxes = [[0.2, 0.2, 0.8, 0.8], [0.15, 0.15, 0.85, 0.85]]
    out = _run("eager", boxes, [0, 1])
    assert out["classes"][2] == 2   # box 1, IoU 0.766, beats box 0, IoU 0.5625


@modes
def test_crowd_anchors_are_ignored(mode):
    # A crowd box on anchor 2 and a plain box on anchor 3: anchor 2 is ignored, and a crowd
    # box is never forced onto an anchor.
    out = _run(mode, [[0.1, 0.1, 0.9, 0.9], [0.75, 0.75, 1.0, 1.0]], [0, 1],
               is_crowd=[True, False])
    np.testing.assert_array_equal(out["classes"], [0, 0, -1, 2])
    out = _run(mode, [[0.8, 0.8, 0.95, 0.95]], [0], is_crowd=[True])
    np.testing.assert_array_equal(out["classes"], [0, 0, 0, 0])


@modes
def test_positive_anchor_is_not_ignored_under_a_crowd_box(mode):
    out = _run(mode, [[0.1, 0.1, 0.9, 0.9], [0.1, 0.1, 0.9, 0.9]], [0, 1],
               is_crowd=[True, False])
    np.testing.assert_array_equal(out["classes"], [0, 0, 2, 0])


@modes
def test_image_without_boxes_is_all_background(mode):
    out = _run(mode, np.zeros((0, 4)), np.zeros((0,)))
    np.testing.assert_array_equal(out["classes"], [0, 0, 0, 0])
    assert np.all(out["boxes"] == 0) and np.all(np.isfinite(out["boxes"]))


def test_ssdlite_anchors_every_box_gets_an_anchor():
    anchors = anchor_lib.ssd_anchors(anchor_lib.feature_map_sizes(320))
    boxes = np.array([[0.1, 0.1, 0.3, 0.2], [0.4, 0.5, 0.95, 0.9], [0.0, 0.0, 0.02, 0.03]],
                     np.float32)
    out = _run("tf.data", boxes, [0, 1, 2], anchors=anchors)
    assert out["boxes"].shape == (2034, 4) and out["classes"].shape == (2034,)
    assert set(np.unique(out["classes"])) == {0, 1, 2, 3}
    assert np.all(np.isfinite(out["boxes"]))
    # Decoding the positives by hand gives the matched boxes back.
    positive = out["classes"] > 0
    deltas, anchor = out["boxes"][positive] / [10, 10, 5, 5], anchors[positive]
    centre = deltas[:, :2] * anchor[:, 2:] + anchor[:, :2]
    size = np.exp(deltas[:, 2:]) * anchor[:, 2:]
    decoded = np.concatenate([centre - size / 2, centre + size / 2], axis=1)
    np.testing.assert_allclose(decoded, boxes[out["classes"][positive] - 1], atol=1e-5)
