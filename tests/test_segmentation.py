"""Segmentation as specifications: LR-ASPP and Mobile DeepLabv3 give logits the size of any
input at the intended output stride, match the papers' parameter and MAdds counts, mIoU
equals a hand computation and ignores 255, and a small LR-ASPP learns Shapes on a CPU."""
import json
import os

import keras
import numpy as np
import pytest
import tensorflow as tf
from conftest import check_model_contract, evaluated_metrics, run_main

from mobilenet_tf import UserError, config as config_lib, metrics, profile
from mobilenet_tf.heads.layers import FittedAveragePool, resize_bilinear
from mobilenet_tf.models import build, without_initial_weights
from mobilenet_tf.tasks import TASKS, segmentation

SMALL = dict(width=0.35, input_shape=(None, None, 3))


@pytest.mark.parametrize("name", ["lraspp_v3_small", "deeplabv3_v2"])
def test_logits_are_the_size_of_any_input(name):
    model = build(name, num_classes=5, **SMALL)
    for height, width in [(64, 64), (65, 97), (33, 47)]:   # 97 = 6 * 16 + 1
        logits = model(np.zeros((2, height, width, 3), "float32"), training=False)
        assert tuple(logits.shape) == (2, height, width, 5) and logits.dtype == "float32"


@pytest.mark.parametrize("name, layer, stride", [
    ("lraspp_v3_large", "lraspp_conv", 16),       # C5: last stage dilated, not strided
    ("lraspp_v3_large", "lraspp_low_logits", 8),  # the C3 skip
    ("deeplabv3_v2", "aspp0", 16),
])
def test_dilation_gives_the_intended_output_stride(name, layer, stride):
    model = build(name, input_shape=(129, 257, 3), width=0.35)
    assert tuple(model.get_layer(layer).output.shape[1:3]) == (-(-129 // stride),
                                                              -(-257 // stride))


def test_deeplab_output_stride_8_doubles_the_rates():
    model = build("deeplabv3_v2", input_shape=(64, 64, 3), width=0.35, output_stride=8,
                  aspp=True)
    assert tuple(model.get_layer("aspp0").output.shape[1:3]) == (8, 8)
    assert [model.get_layer(f"aspp{i}").dilation_rate for i in (1, 2, 3)] == [
        (12, 12), (24, 24), (36, 36)]


def test_a_segmentation_model_saves_reloads_and_runs_in_mixed_precision(tmp_path):
    outputs = check_model_contract(
        lambda: build("lraspp_v3_small", num_classes=4, width=0.35, input_shape=(64, 64, 3)),
        64, tmp_path)
    assert outputs[0].dtype == "float32"


def test_pooling_branch_fits_the_kernel_and_works_at_unknown_sizes():
    pool = FittedAveragePool((49, 49), (16, 20))
    x = np.random.default_rng(0).normal(size=(1, 64, 128, 3)).astype("float32")
    # Figure 10 of the V3 paper at 1024x2048: 64x128 features, 49x49 windows -> 1 x 4.
    static = np.asarray(pool(x))
    expected = np.stack([x[0, :49, 20 * j:20 * j + 49].mean(axis=(0, 1)) for j in range(4)])
    np.testing.assert_allclose(static[0, 0], expected, rtol=1e-4, atol=1e-5)
    dynamic = tf.function(pool, input_signature=[tf.TensorSpec([None, None, None, 3])])
    np.testing.assert_allclose(dynamic(x).numpy(), static, rtol=1e-4, atol=1e-5)
    small = x[:, :30, :20]   # smaller than the kernel: global average pooling
    np.testing.assert_allclose(np.asarray(pool(small))[0, 0, 0], small.mean(axis=(0, 1, 2)),
                               rtol=1e-4, atol=1e-5)


def test_pooled_windows_are_means_of_slices_that_int8_xnnpack_runs_in_one_partition(tmp_path):
    """Issue 17: on a fixed-size map with a few windows (3 x 4 here) the pooling is MEANs of
    slices, not AVERAGE_POOL_2D, which XNNPACK has no int8 kernel for."""
    from mobilenet_tf.export import runners
    x = np.random.default_rng(2).normal(size=(4, 96, 128, 3)).astype("float32")
    inputs = keras.Input((96, 128, 3), batch_size=1)
    model = keras.Model(inputs, FittedAveragePool((49, 49), (16, 20))(inputs))
    expected = np.stack([np.stack([x[:, 16 * i:16 * i + 49, 20 * j:20 * j + 49].mean(axis=(1, 2))
                                   for j in range(4)], 1) for i in range(3)], 1)
    np.testing.assert_allclose(np.asarray(model(x)), expected, rtol=1e-4, atol=1e-5)
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = lambda: ([image[None]] for image in x)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    path = str(tmp_path / "pool_int8.tflite")
    with open(path, "wb") as f:
        f.write(converter.convert())
    assert runners.xnnpack_partitions(path) == (1, {})


def test_bilinear_resize_at_unknown_sizes_equals_tensorflows():
    x = np.random.default_rng(1).normal(size=(2, 7, 9, 3)).astype("float32")
    resize = tf.function(lambda t, h, w: resize_bilinear(t, h, w))
    ours = resize(x, tf.constant(13), tf.constant(20)).numpy()
    np.testing.assert_allclose(ours, tf.image.resize(x, (13, 20)).numpy(), atol=1e-5)


# The papers' counts: V3 paper Table 7 rows 8 and 11 (MAdds at 1024x2048, also Table 8) and
# V2 paper Table 7 (513x513). Params agree within 1.5%; our MAdds are 4-7% below the V3
# paper's for LR-ASPP (counting convolutions only, see README) and within 1% for DeepLab.
PAPER_COUNTS = [
    ("lraspp_v3_large", {}, (1024, 2048), 1.51e6, 0.015, 9.74e9, 0.05),
    ("lraspp_v3_small", {}, (1024, 2048), 0.47e6, 0.015, 2.90e9, 0.08),
    ("deeplabv3_v2", {}, (513, 513), 2.11e6, 0.02, 2.75e9, 0.01),
    ("deeplabv3_v2", {"aspp": True}, (513, 513), 4.52e6, 0.01, 5.8e9, 0.08),
]


@pytest.mark.parametrize("name, options, size, params, params_tol, madds, madds_tol",
                         PAPER_COUNTS, ids=lambda v: str(v) if isinstance(v, str) else None)
def test_params_and_madds_match_the_papers(name, options, size, params, params_tol, madds,
                                           madds_tol):
    with without_initial_weights():
        counted = profile.profile_model(build(name, input_shape=(*size, 3), **options))
    assert counted.total_params == pytest.approx(params, rel=params_tol)
    assert counted.total_madds == pytest.approx(madds, rel=madds_tol)


def test_profiler_takes_a_height_by_width_resolution():
    profile.FLAGS.unparse_flags()
    try:
        profile.FLAGS(["profile", "--model=lraspp_v3_small", "--resolution=512x1024", "--json"])
        report = json.loads(profile.run(profile.FLAGS))
    finally:
        profile.FLAGS.unparse_flags()
    assert report["resolution"] == "512x1024" and report["model"] == "lraspp_v3_small"
    # A quarter of the pixels of 1024x2048: a quarter of the MAdds (Table 8: 0.74B vs 2.90B).
    with without_initial_weights():
        full = profile.profile_model(build("lraspp_v3_small")).total_madds
    assert report["madds"] == pytest.approx(full / 4, rel=0.01)
    with pytest.raises(UserError, match="expected R or HxW"):
        profile.parse_resolution("1024by2048")


def test_miou_equals_a_hand_computation_and_ignores_255():
    # Three classes, 8 pixels, two of them ignored.
    labels = np.array([[[0, 0, 1, 1], [2, 2, 255, 255]]])
    predicted = np.array([[[0, 1, 1, 1], [2, 0, 0, 2]]])   # the last two must not count
    logits = np.eye(3, dtype="float32")[predicted] * 5.0
    # Class 0: TP 1, FP 1 (a 2 called 0), FN 1 (a 0 called 1) -> 1/3.
    # Class 1: TP 2, FP 1, FN 0 -> 2/3.   Class 2: TP 1, FP 0, FN 1 -> 1/2.
    expected_iou = [1 / 3, 2 / 3, 1 / 2]
    miou = metrics.SegmentationMetric(3, "miou")
    accuracy = metrics.SegmentationMetric(3, "pixel_accuracy")
    for metric in (miou, accuracy):   # two batches of the same: the sums, not a mean
        metric.update_state(labels, logits)
        metric.update_state(labels, logits)
    assert float(miou.result()) == pytest.approx(np.mean(expected_iou))
    assert float(accuracy.result()) == pytest.approx(4 / 6)
    scores = metrics.scores_from_confusion(keras.ops.convert_to_numpy(miou.confusion))
    assert scores["per_class_iou"] == pytest.approx(expected_iou)
    assert scores["mIoU"] == pytest.approx(np.mean(expected_iou))


def test_a_class_neither_present_nor_predicted_is_left_out_of_the_mean():
    confusion = np.array([[3, 1, 0], [0, 2, 0], [0, 0, 0]])
    scores = metrics.scores_from_confusion(confusion)
    assert scores["per_class_iou"] == [0.75, 2 / 3, None]
    assert scores["mIoU"] == pytest.approx((0.75 + 2 / 3) / 2)


def test_metric_evaluation_and_export_check_share_one_confusion_and_iou():
    # One confusion_matrix and one confusion_scores: the metric (keras.ops), the task's
    # evaluation (scores_from_confusion, numpy) and the export check agree.
    from mobilenet_tf.export import segmentation as export_segmentation
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 4, (3, 16, 16))
    labels[0, :4] = 255
    predicted = np.where(rng.uniform(size=labels.shape) < 0.7, labels % 255, 1) % 4
    logits = np.eye(4, dtype="float32")[predicted]
    metric = metrics.SegmentationMetric(4, "miou")
    metric.update_state(labels, logits)
    confusion = keras.ops.convert_to_numpy(metrics.confusion_matrix(labels, predicted, 4))
    assert confusion.sum() == (labels != 255).sum()
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(metric.confusion), confusion)
    scores = metrics.scores_from_confusion(confusion)
    assert float(metric.result()) == pytest.approx(scores["mIoU"], rel=1e-6)
    assert export_segmentation.miou(predicted, labels, 4) == scores["mIoU"]


def test_loss_is_the_mean_over_valid_pixels_with_class_weights():
    labels = np.array([[[0, 1], [255, 2]], [[1, 1], [255, 255]]])
    logits = np.random.default_rng(0).normal(size=(2, 2, 2, 3)).astype("float32")
    log_probs = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    weights = np.array([2.0, 1.0, 0.5])
    valid = labels != 255
    picked = np.take_along_axis(log_probs, np.where(valid, labels, 0)[..., None], -1)[..., 0]
    w = np.where(valid, weights[np.where(valid, labels, 0)], 0.0)
    expected = -(picked * w).sum() / w.sum()
    loss = metrics.SegmentationLoss(class_weights=weights.tolist())
    assert float(loss(labels, logits)) == pytest.approx(expected, rel=1e-5)
    plain = -(picked * valid).sum() / valid.sum()
    assert float(metrics.SegmentationLoss()(labels, logits)) == pytest.approx(plain, rel=1e-5)


def test_multi_scale_flipped_and_windowed_prediction_of_a_constant_model():
    # A model whose logits do not depend on the image: every evaluation strategy must give
    # its softmax back, at the input's size.
    inputs = keras.Input((None, None, 3))
    logits = keras.layers.Conv2D(4, 1, kernel_initializer="zeros",
                                 bias_initializer=keras.initializers.Constant([0, 1, 2, 3]))(
        inputs)
    model = keras.Model(inputs, logits)
    images = np.zeros((1, 30, 41, 3), "uint8")
    probabilities = segmentation.predict_probabilities(model, images, (0.5, 1.0, 1.5),
                                                       flip=True, window=16)
    expected = np.exp([0, 1, 2, 3]) / np.exp([0, 1, 2, 3]).sum()
    assert probabilities.shape == (1, 30, 41, 4)
    np.testing.assert_allclose(probabilities / 6, np.broadcast_to(expected, (1, 30, 41, 4)),
                               rtol=1e-5)


def test_recipes_pick_by_model_and_dataset():
    assert config_lib.recipe_for("lraspp_v3_large", "cityscapes").endswith(
        "lraspp_v3_large_cityscapes.py")
    assert config_lib.recipe_for("lraspp_v3_small", "shapes").endswith("shapes_seg.py")
    assert config_lib.recipe_for("deeplabv3_v2", "masks").endswith("own_segmentation.py")
    assert config_lib.recipe_for("mobilenet_v3_small", "shapes").endswith("shapes_cls.py")
    config = config_lib.load_recipe(config_lib.recipe_for("mobilenet_v2", "cityscapes"))
    config.dataset.name = "cityscapes"
    with pytest.raises(UserError, match="cityscapes is a segmentation dataset"):
        TASKS[config.task].check_config(config)
    for name in ("lraspp_v3_large_cityscapes", "lraspp_v3_small_cityscapes",
                 "deeplabv3_v2_voc", "shapes_seg"):
        config = config_lib.load_recipe(os.path.join(config_lib.CONFIG_DIR, name + ".py"))
        assert config.task == "segmentation"
        doc = open(os.path.join(config_lib.CONFIG_DIR, name + ".py")).read().split('"""')[1]
        assert "python train.py" in doc and "Expected" in doc and "Source" in doc


def test_bad_mask_through_train_py_is_one_line_naming_the_file(train_main, tmp_path,
                                                               monkeypatch, capsys):
    import PIL.Image
    for split in ("train", "val"):
        os.makedirs(tmp_path / split / "images")
        os.makedirs(tmp_path / split / "masks")
        PIL.Image.fromarray(np.zeros((40, 40, 3), np.uint8)).save(
            tmp_path / split / "images" / "x.png")
        PIL.Image.fromarray(np.full((40, 40), 9, np.uint8)).save(
            tmp_path / split / "masks" / "x.png")
    code, errors = run_main(train_main, monkeypatch, capsys, [
        "--model=lraspp_v3_small", "--dataset=masks", f"--data_dir={tmp_path}",
        "--config.dataset.options.num_classes=3", "--batch_size=1", "--steps=1",
        "--config.dataset.image_size=32", "--config.model.width=0.35",
        f"--model_dir={tmp_path / 'run'}"])
    assert code == 2 and len(errors) == 1, errors
    assert errors[0] == (f"error: mask {tmp_path}/train/masks/x.png has class id 9 but the "
                         "dataset has 3 classes (ids 0..2, and 255 for ignore)")


def test_segmentation_flags_that_do_not_fit_are_user_errors(train_main, monkeypatch, capsys,
                                                           tmp_path):
    never = tmp_path / "never-written"
    code, errors = run_main(train_main, monkeypatch, capsys, [
        "--model=lraspp_v3_small", "--dataset=cityscapes", "--data_dir=/nonexistent/cs",
        f"--model_dir={never}"])
    assert code == 2 and errors == ["error: cityscapes dataset: '/nonexistent/cs' is not a "
                                    "directory; give --data_dir with leftImg8bit/ and gtFine/ "
                                    "(the official layout)"]
    code, errors = run_main(train_main, monkeypatch, capsys, [
        "--model=lraspp_v3_small", "--dataset=shapes", "--config.model.name=mobilenet_v2",
        f"--model_dir={never}"])
    assert code == 2 and errors[0].startswith("error: model 'mobilenet_v2' is a classification "
                                              "model; segmentation models: lraspp_v3_large")
    assert not never.exists()


# The Shapes run: conftest's SEGMENTATION_RUN, the session's shared trained_segmentation_run
# (600 steps of a width-0.35 LR-ASPP, mIoU 0.70-0.72 on 3 seeds, about 60 CPU s).
@pytest.mark.slow
def test_a_small_lraspp_learns_shapes_masks_in_minutes_on_a_cpu(trained_segmentation_run):
    run = trained_segmentation_run
    final, tmp_path = run.final, run.model_dir
    print(f"shapes segmentation: {final}, {run.wall_seconds:.0f} s wall, "
          f"{run.cpu_seconds:.0f} s CPU")
    assert final["step"] == 600
    assert final["mIoU"] >= 0.6, final
    assert len(final["per_class_iou"]) == 7 and final["per_class_iou"][0] > 0.9
    written = json.loads((tmp_path / "final_metrics.json").read_text())
    assert written["mIoU"] == pytest.approx(final["mIoU"])
    # evaluate.py reloads the saved model (custom layers registered) from the run's config
    # and scores the whole validation split the same way.
    again = evaluated_metrics(tmp_path, f"--plots_dir={tmp_path / 'plots'}")
    assert again["mIoU"] == pytest.approx(final["mIoU"], abs=1e-4)
    assert again["pixel_accuracy"] == pytest.approx(final["pixel_accuracy"], abs=1e-4)
    assert set(again) >= {"mIoU", "pixel_accuracy", "loss", "per_class_iou"}
    assert len(again["per_class_iou"]) == 7
    # --plots_dir: the per-class IoU as a bar chart and a table.
    assert (tmp_path / "plots" / "per_class_iou.png").read_bytes()[:4] == b"\x89PNG"
    table = (tmp_path / "plots" / "per_class_iou.csv").read_text().splitlines()
    assert table[:2] == ["class,IoU", f"background,{again['per_class_iou'][0]:.4f}"]
