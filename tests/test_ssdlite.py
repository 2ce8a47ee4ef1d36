"""SSDLite as specifications: one prediction per anchor at every input size, the papers'
parameter and MAdds counts, float32 outputs under mixed precision; box coding inverts the
input pipeline's; the losses on hand-made cases; NMS on hand-made boxes; the inference model
round-trips through a SavedModel; COCO AP of hand-made detections."""
import keras
import numpy as np
import pytest
import tensorflow as tf
from keras import ops

from mobilenet_tf import profile
from mobilenet_tf.data import target_assigner
from mobilenet_tf.detection import anchors, box_coder, losses, postprocess
from mobilenet_tf.detection.coco_metrics import CocoEvaluator
from mobilenet_tf.heads.ssdlite import prior_bias
from mobilenet_tf.models import build, without_initial_weights

MODELS = ("ssdlite_v2", "ssdlite_v3_large", "ssdlite_v3_small")


def _num_anchors(size):
    return len(anchors.ssd_anchors(anchors.feature_map_sizes(size)))


@pytest.mark.parametrize("name, size", [("ssdlite_v2", 130), ("ssdlite_v3_large", 96),
                                        ("ssdlite_v3_small", 130)])
def test_one_prediction_per_anchor_at_every_size(name, size):
    # 130: odd maps (9, 5, 3, 2, 1, 1); 96: (6, 3, 2, 1, 1, 1); 320 in the golden test below.
    model = build(name, num_classes=3, width=0.35, input_shape=(size, size, 3))
    outputs = model.output
    assert tuple(outputs["boxes"].shape) == (None, _num_anchors(size), 4)
    assert tuple(outputs["classes"].shape) == (None, _num_anchors(size), 4)
    assert _num_anchors(320) == 2034   # 20x20x3 + (10x10 + 5x5 + 3x3 + 2x2 + 1x1) x 6


# (model, taps the predictors read first at 320: C4_expand, then C5). V2: layer 15's
# expansion (576 = 6 x 96) and the 1280 conv; V3-Large: block 13's expansion 672 and the
# 960 / 2 conv of the halved tail; V3-Small: block 9's 288 and 576 / 2.
TAPS = [("ssdlite_v2", 576, 1280), ("ssdlite_v3_large", 672, 480),
        ("ssdlite_v3_small", 288, 288)]

# Parameters (BN moving statistics included, as Keras counts) and MAdds at 320x320 with the
# papers' 90 COCO classes (91 outputs per box). Papers: V2 paper Table 6, SSDLite on V2:
# 4.3M, 0.8B; V3 paper Table 6, V3-Large dagger 3.22M, 0.51B and V3-Small dagger 1.77M,
# 0.16B. Without BN's statistics and scales we count 4.45M (3.5% over the V2 paper: it gives
# one rounded figure and does not say what it counts), 3.22M and 1.77M; MAdds 0.80B, 0.51B,
# 0.16B. torchvision's ssdlite320_mobilenet_v3_large has 3,440,060: it puts 6 boxes, not 3,
# on the 20x20 map (about 0.19M more in that predictor).
GOLDEN = {"ssdlite_v2": (4_551_295, 804_397_504, 4.3e6, 0.04, 0.8e9),
          "ssdlite_v3_large": (3_281_199, 506_563_904, 3.22e6, 0.005, 0.51e9),
          "ssdlite_v3_small": (1_806_207, 162_303_424, 1.77e6, 0.005, 0.16e9)}


@pytest.mark.parametrize("name, expand_channels, c5_channels", TAPS)
def test_params_madds_and_taps_match_the_papers(name, expand_channels, c5_channels):
    with without_initial_weights():   # counted and its layers' shapes read, never run
        model = build(name, num_classes=90)
        counted = profile.profile_model(model)
    params, madds, paper_params, tolerance, paper_madds = GOLDEN[name]
    assert (counted.total_params, counted.total_madds) == (params, madds)
    without_bn = counted.total_params - counted.params[profile.BN]
    assert without_bn == pytest.approx(paper_params, rel=tolerance)
    assert counted.total_madds == pytest.approx(paper_madds, rel=0.02)
    assert tuple(model.get_layer("box_predictor_0_depthwise").input.shape) == (
        None, 20, 20, expand_channels)
    assert tuple(model.get_layer("box_predictor_1_depthwise").input.shape) == (
        None, 10, 10, c5_channels)
    sizes = [tuple(model.get_layer(f"box_predictor_{level}_depthwise").input.shape[1:3])
             for level in range(6)]
    assert sizes == anchors.feature_map_sizes(320)


def test_profiler_reports_the_head():
    result, text = profile.profile_report("ssdlite_v3_small", width=0.35, resolution=128)
    assert 0 < result["head"]["params"] < result["params"] and "head" in text
    assert 0 < result["head"]["madds"] < result["madds"]


def test_ssdlite_outputs_float32_in_mixed_precision():
    # The .keras round trip is checked by tests/test_detection.py (evaluate.py reloads it).
    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    try:
        model = build("ssdlite_v3_small", num_classes=3, width=0.35, input_shape=(64, 64, 3))
        outputs = model(np.zeros((1, 64, 64, 3), "float32"), training=False)
        assert {v.dtype for v in model.weights} == {"float32"}
        assert model.get_layer("class_predictor_0_conv").compute_dtype == "bfloat16"
    finally:
        keras.mixed_precision.set_global_policy("float32")
    assert {k: v.dtype for k, v in outputs.items()} == {"boxes": "float32",
                                                         "classes": "float32"}


# -- Box coding ---------------------------------------------------------------------------

def test_pipeline_encode_then_decode_is_the_identity():
    rng = np.random.default_rng(0)
    centre = rng.uniform(0.2, 0.8, (50, 2))
    size = rng.uniform(0.05, 0.6, (50, 2))
    boxes = np.concatenate([centre - size / 2, centre + size / 2], -1).astype("float32")
    priors = anchors.ssd_anchors(anchors.feature_map_sizes(320))[:50]
    deltas = target_assigner.encode(tf.constant(boxes), tf.constant(priors)).numpy()
    np.testing.assert_allclose(ops.convert_to_numpy(box_coder.decode(deltas, priors)), boxes,
                               atol=1e-5)
    np.testing.assert_allclose(ops.convert_to_numpy(box_coder.encode(boxes, priors)), deltas,
                               atol=1e-4)
    # By hand: a box twice the anchor's size, its centre a tenth of the anchor's height down.
    anchor = np.array([[0.5, 0.5, 0.2, 0.2]], "float32")
    box = np.array([[0.32, 0.3, 0.72, 0.7]], "float32")
    np.testing.assert_allclose(ops.convert_to_numpy(box_coder.encode(box, anchor)),
                               [[1.0, 0.0, 5 * np.log(2), 5 * np.log(2)]], atol=1e-5)


# -- Losses -------------------------------------------------------------------------------

def _box_targets(deltas, classes):
    return np.concatenate([deltas, np.asarray(classes, "float32")[..., None]], -1)


def test_box_loss_is_smooth_l1_on_the_positives_over_their_count():
    deltas = np.zeros((2, 3, 4), "float32")
    predicted = np.zeros((2, 3, 4), "float32")
    predicted[0, 0] = [0.5, -2.0, 0.0, 0.0]   # positive: 0.5 * 0.25 + (2 - 0.5) = 1.625
    predicted[0, 1] = [9.0, 9.0, 9.0, 9.0]    # background: not counted
    predicted[1, 2] = [0.0, 0.0, 0.0, 1.0]    # positive: 0.5
    predicted[1, 1] = [5.0, 5.0, 5.0, 5.0]    # ignored (-1): not counted
    classes = [[2, 0, 0], [0, -1, 1]]
    loss = losses.BoxLoss()(_box_targets(deltas, classes), predicted)
    assert float(loss) == pytest.approx((1.625 + 0.5) / 2)
    assert float(losses.BoxLoss()(_box_targets(deltas, classes), deltas)) == 0.0
    # No positives: normalised by 1, not 0.
    assert float(losses.BoxLoss()(_box_targets(deltas, [[0, 0, 0], [0, 0, 0]]),
                                  predicted)) == 0.0


def test_focal_loss_by_hand_and_near_zero_for_a_confident_right_answer():
    # One positive anchor of class 0 (target 1) with logits 0: p = 0.5 in both columns.
    # Column 0 (background, z = 0): 0.25 * 0.5^2 * log 2; column 1 (z = 1): 0.75 * 0.5^2 * log 2.
    loss = losses.FocalLoss()(np.array([[1]]), np.zeros((1, 1, 2), "float32"))
    assert float(loss) == pytest.approx(0.25 * np.log(2), rel=1e-5)
    labels = np.array([[1, 0, 2, -1]])
    logits = np.full((1, 4, 3), -20.0, "float32")
    logits[0, 0, 1] = logits[0, 1, 0] = logits[0, 2, 2] = 20.0
    logits[0, 3] = [20.0, -20.0, 20.0]   # ignored: however wrong, it adds nothing
    assert 0.0 <= float(losses.FocalLoss()(labels, logits)) < 1e-12


def test_softmax_loss_mines_the_hardest_negatives_three_per_positive():
    labels = np.array([[1, 0, 0, 0, 0, 0, -1]])
    logits = np.zeros((1, 7, 2), "float32")
    # Background logit margins: each negative's loss is log(1 + e^-margin).
    logits[0, 1:6, 0] = [4.0, -1.0, 2.0, -3.0, 0.5]
    logits[0, 6, 1] = 10.0   # ignored, and the hardest of all: never mined
    ce = lambda margin: np.log1p(np.exp(-margin))
    expected = ce(0.0) + ce(-3.0) + ce(-1.0) + ce(0.5)   # the positive + the 3 hardest
    loss = losses.HardNegativeSoftmaxLoss()(labels, logits)
    assert float(loss) == pytest.approx(expected, rel=1e-5)
    chosen = losses.hard_negatives(np.array([[5.0, 1.0, 3.0, 9.0]]),
                                   np.array([[True, True, True, False]]), np.array([2]))
    assert ops.convert_to_numpy(chosen).tolist() == [[True, False, True, False]]
    perfect = np.where(np.eye(2)[np.maximum(labels, 0)] > 0, 20.0, -20.0).astype("float32")
    assert float(losses.HardNegativeSoftmaxLoss()(labels, perfect)) < 1e-12


# -- Non-maximum suppression and the inference model --------------------------------------

def _nms(boxes, scores, **options):
    result = postprocess.non_max_suppression(np.array([boxes], "float32"),
                                             np.array([scores], "float32"), **options)
    count = int(result["num_detections"][0])
    as_list = lambda x: ops.convert_to_numpy(x).astype(float).round(3).tolist()
    return (as_list(result["boxes"][0, :count]), as_list(result["scores"][0, :count]),
            ops.convert_to_numpy(result["classes"][0, :count]).tolist())


def test_nms_suppresses_overlaps_within_a_class_only():
    boxes = [[0, 0, .5, .5], [0, 0, .5, .52], [.5, .5, 1, 1], [0, 0, .5, .5], [0, .2, .5, .7]]
    scores = [[.9, 0], [.8, 0], [.7, 0], [0, .6], [.5, 0]]   # (A, C)
    kept_boxes, kept_scores, kept_classes = _nms(boxes, scores, max_detections=10)
    # Box 1 overlaps box 0 (IoU 0.96) in class 0: gone. Box 3 is the same place in class 1:
    # kept. Box 4 overlaps box 0 by 0.43 < 0.6: kept.
    assert kept_scores == [0.9, 0.7, 0.6, 0.5] and kept_classes == [0, 0, 1, 0]
    assert kept_boxes[2] == [0, 0, .5, .5]
    # A box suppressed by a suppressed box is kept (greedy, not "any higher box").
    chain = [[0, 0, .4, .4], [0, .15, .4, .55], [0, .3, .4, .7]]   # IoU 0.45 neighbours
    assert _nms(chain, [[.9], [.8], [.7]], iou_threshold=0.4)[1] == [0.9, 0.7]


def _greedy_reference(boxes, scores, iou_threshold):
    """Greedy NMS in plain Python over one class: indices kept, best first."""
    kept = []
    for i in np.argsort(-scores, kind="stable"):
        if all(_iou(boxes[i], boxes[j]) <= iou_threshold for j in kept):
            kept.append(i)
    return kept


def _iou(a, b):
    height = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    width = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = height * width
    area = lambda box: (box[2] - box[0]) * (box[3] - box[1])
    return inter / (area(a) + area(b) - inter)


def test_nms_keeps_what_greedy_nms_keeps_on_crowded_random_boxes():
    # Dense, overlapping boxes make long chains of suppression (a box kept because the one
    # that would suppress it was suppressed), where a wrong fixed point would show.
    rng = np.random.default_rng(0)
    for trial in range(4):
        count = 60
        centre = rng.uniform(0.2, 0.8, (count, 2))
        size = rng.uniform(0.1, 0.4, (count, 2))
        boxes = np.concatenate([centre - size / 2, centre + size / 2], 1).astype("float32")
        scores = rng.uniform(0.05, 1.0, (count, 1)).astype("float32")
        result = postprocess.non_max_suppression(
            boxes[None], scores[None], score_threshold=0.0, iou_threshold=0.3,
            max_per_class=count, max_detections=count, candidates_per_class=count)
        found = int(result["num_detections"][0])
        expected = _greedy_reference(boxes, scores[:, 0], 0.3)
        assert found == len(expected), trial
        np.testing.assert_allclose(np.asarray(result["scores"][0][:found]),
                                   scores[expected, 0], rtol=1e-6)
        np.testing.assert_allclose(np.asarray(result["boxes"][0][:found]),
                                   np.clip(boxes[expected], 0, 1), atol=1e-6)


def test_nms_threshold_and_maximum_counts():
    boxes = [[i / 10, 0, i / 10 + 0.05, 0.05] for i in range(6)]   # disjoint
    scores = [[.9, .3], [.8, .2], [.05, .6], [.4, 0], [.3, 0], [.02, .01]]
    _, kept, _ = _nms(boxes, scores, score_threshold=0.1, max_detections=20)
    assert kept == [0.9, 0.8, 0.6, 0.4, 0.3, 0.3, 0.2]
    _, kept, classes = _nms(boxes, scores, score_threshold=0.1, max_per_class=2)
    assert kept == [0.9, 0.8, 0.6, 0.3] and classes == [0, 0, 1, 1]
    _, kept, _ = _nms(boxes, scores, score_threshold=0.1, max_detections=3)
    assert kept == [0.9, 0.8, 0.6]
    result = postprocess.non_max_suppression(np.array([boxes], "float32"),
                                             np.array([scores], "float32"), max_detections=20,
                                             score_threshold=0.1, candidates_per_class=2)
    assert result["boxes"].shape == (1, 20, 4) and int(result["num_detections"][0]) == 4


def test_inference_model_round_trips_through_a_saved_model(tmp_path):
    model = build("ssdlite_v3_small", num_classes=3, width=0.35, input_shape=(96, 96, 3),
                  include_preprocessing=True, class_prior=0.01)
    detector = postprocess.detection_model(model, anchors.ssd_anchors(
        anchors.feature_map_sizes(96)), score_threshold=0.0, max_detections=20)
    # Focal-loss models start every object class at the prior (-4.6 for 0.01) and the
    # background column at its complement, for each of a location's 3 boxes.
    bias = model.get_layer("class_predictor_0_conv").bias.numpy().reshape(3, 4)
    np.testing.assert_allclose(bias[:, 1:], prior_bias(0.01), rtol=1e-6)
    np.testing.assert_allclose(bias[:, 0], -prior_bias(0.01), rtol=1e-6)
    assert prior_bias(0.01) == pytest.approx(-np.log(99.0))
    images = np.random.default_rng(0).uniform(0, 255, (2, 96, 96, 3)).astype("float32")
    expected = {k: ops.convert_to_numpy(v) for k, v in detector(images).items()}
    assert expected["boxes"].shape == (2, 20, 4) and expected["classes"].dtype == np.int32
    assert expected["num_detections"].tolist() == [20, 20]
    detector.export(str(tmp_path / "saved"), format="tf_saved_model", verbose=False)
    loaded = tf.saved_model.load(str(tmp_path / "saved"))   # keep it: it owns the variables
    served = loaded.serve(tf.constant(images))
    for key, value in expected.items():
        np.testing.assert_allclose(served[key].numpy(), value, atol=1e-5)


# -- COCO evaluation ----------------------------------------------------------------------

def _image(boxes, classes, crowd=None):
    count = len(boxes)
    return {"image_id": np.array([7]), "original_size": np.array([[100, 100]]),
            "gt_boxes": np.array([boxes], "float32"), "gt_classes": np.array([classes]),
            "gt_is_crowd": np.array([crowd or [False] * count]),
            "gt_area": np.array([[(b[2] - b[0]) * (b[3] - b[1]) * 1e4 for b in boxes]])}


def _detections(boxes, scores, classes):
    return {"boxes": np.array([boxes], "float32"), "scores": np.array([scores]),
            "classes": np.array([classes]), "num_detections": np.array([len(boxes)])}


def test_coco_ap_of_hand_made_detections():
    gt = _image([[0, 0, .5, .5], [0, 0, 0, 0]], [0, -1])   # one 50x50 box, one padding row
    evaluator = CocoEvaluator(num_classes=2)
    evaluator.add(_detections([[0, 0, .5, .5]], [.9], [0]), gt)
    result = evaluator.result()
    per_class = result.pop("per_class_AP")   # class 1 has no ground truth: None
    assert per_class[0] == pytest.approx(1.0) and per_class[1] is None
    assert result == pytest.approx({"AP": 1.0, "AP50": 1.0, "AP75": 1.0, "APs": None,
                                    "APm": 1.0, "APl": None})
    # Shifted by 0.117 of the side: IoU 0.62, a hit at IoU thresholds 0.5, 0.55, 0.6 of ten.
    evaluator = CocoEvaluator(num_classes=2)
    evaluator.add(_detections([[0, .1173, .5, .6173], [.6, .6, .9, .9]], [.9, .8], [0, 1]), gt)
    result = evaluator.result()
    assert result["AP50"] == pytest.approx(1.0) and result["AP75"] == 0.0
    assert result["AP"] == pytest.approx(0.3)   # class 1 has no ground truth: not averaged
    # A detection on a crowd region is neither a hit nor a false positive.
    evaluator = CocoEvaluator(num_classes=2)
    evaluator.add(_detections([[0, 0, .5, .5], [.5, .5, 1, 1]], [.9, .95], [0, 0]),
                  _image([[0, 0, .5, .5], [.5, .5, 1, 1]], [0, 0], crowd=[False, True]))
    assert evaluator.result()["AP"] == pytest.approx(1.0)


def test_positive_accuracy_scores_the_object_classes_of_positive_anchors():
    metric = losses.PositiveAccuracy()
    labels = np.array([[2, 0, 1, -1]])
    logits = np.array([[[9.0, 1.0, 2.0],    # background highest, class 2 the best object: hit
                        [0.0, 5.0, 0.0],    # background anchor: not scored
                        [0.0, 1.0, 3.0],    # class 1 expected, 2 predicted: miss
                        [0.0, 0.0, 9.0]]], "float32")   # ignored: not scored
    metric.update_state(labels, logits)
    assert float(metric.result()) == pytest.approx(0.5)
