"""SSDLite export (issues 7, 17): export.py on a detection run writes the SavedModel with the
NMS in the graph and TFLite float32 with LiteRT's TFLite_Detection_PostProcess custom op (the
default), which give the Keras detection model's detections, and a table with the COCO AP
difference; the graph-NMS TFLite variant gives them in built-in ops, under a file name of its
own; int8 runs in one XNNPACK partition beside the op; int8 with the graph NMS is refused in
one line; every artifact carries the run's labels."""
import json
import os

import keras
import numpy as np
import pytest

from mobilenet_tf import UserError, config as config_lib, export
from mobilenet_tf.data import shapes
from mobilenet_tf.export import detection, report, runners, source
from mobilenet_tf.models import build
from conftest import run_here_capturing
from test_export import REPO, WIDTH

SIZE, CLASSES, IMAGES = 128, 6, 16   # Shapes has 6 classes
# A fresh model scores every (anchor, class) alike: at the recipe's threshold (0.01) every
# image would have 100 detections (the cap) or none. The threshold is set where about this
# fraction of the check images' scores pass, so each image gets a few detections.
PASSING = 0.004


def shapes_config():
    """configs/shapes_det.py made cheap: few Shapes images rendered, V3-Small 0.35 at SIZE."""
    config = config_lib.load_recipe(os.path.join(REPO, "configs", "shapes_det.py"))
    config.model.update(width=WIDTH)
    config.dataset.image_size = SIZE   # the recipe's size may change; these tests fix theirs
    config.dataset.options.update(num_examples=IMAGES, eval_examples=IMAGES)
    return config


def spread_detector():
    """A seeded, untrained SSDLite V3-Small 0.35 with its class scores spread 20x wider
    than a fresh head's (which starts every class at the focal prior, 0.01)."""
    keras.utils.set_random_seed(0)
    model = build("ssdlite_v3_small", width=WIDTH, input_shape=(SIZE, SIZE, 3),
                  num_classes=CLASSES, include_preprocessing=True, class_prior=0.01)
    for layer in model.layers:
        if layer.name.startswith("class_predictor_") and layer.name.endswith("_conv"):
            kernel, bias = layer.get_weights()
            layer.set_weights([20 * kernel, bias + 2.5])
    return model


def score_threshold(model, images):
    """The class score that PASSING of `model`'s (anchor, class) scores on `images` exceed."""
    logits = np.asarray(model(images.astype("float32"))["classes"])[..., 1:]
    return float(1 / (1 + np.exp(-np.quantile(logits, 1 - PASSING))))


@pytest.fixture(scope="module")
def shapes_images():
    """(uint8 images, ground-truth dict) of IMAGES Shapes validation images, as export.py
    draws them for the check."""
    return source.images(shapes_config(), "validation", IMAGES)


@pytest.fixture(scope="module")
def detector(shapes_images):
    """(spread_detector(), the score threshold for the check images)."""
    model = spread_detector()
    return model, score_threshold(model, shapes_images[0])


def custom_options(path):
    """{custom op name: its flexbuffer options} of a LiteRT file."""
    from ai_edge_litert import schema_py_generated as schema
    from flatbuffers import flexbuffers

    with open(path, "rb") as f:
        model = schema.ModelT.InitFromPackedBuf(bytearray(f.read()), 0)
    return {model.operatorCodes[op.opcodeIndex].customCode.decode():
            flexbuffers.Loads(bytes(op.customOptions))
            for subgraph in model.subgraphs for op in subgraph.operators
            if model.operatorCodes[op.opcodeIndex].customCode}


def test_export_py_on_a_detection_run_gives_the_keras_detections_and_the_ap_difference(
        detector, shapes_images, tmp_path):
    """A run as train.py leaves it for SSDLite on Shapes (config.json, final.keras), exported
    by default: the SavedModel with the graph NMS, TFLite with LiteRT's NMS op; the config's
    anchors and NMS settings, the ground-truth boxes of its evaluation split for AP. (The
    SavedModel and TFLite round trips are tested here only: each export of a detector costs
    seconds.)"""
    model, threshold = detector
    model_dir = tmp_path / "run"
    model_dir.mkdir()
    config = shapes_config()
    config.detection.score_threshold = threshold
    (model_dir / "config.json").write_text(config_lib.to_json(config))
    model.save(model_dir / "final.keras")
    metrics, output_dir = tmp_path / "metrics.json", tmp_path / "out"
    code, stdout, stderr = run_here_capturing(
        "export.py", f"--model_dir={model_dir}", "--format=saved_model,tflite_float32",
        f"--output_dir={output_dir}", f"--check_images={IMAGES}", "--latency_runs=0",
        f"--metrics_out={metrics}")
    assert code in (0, None), stderr[-3000:]
    assert "| max box diff | max score diff | detections matched | AP | AP - Keras |" in stdout
    assert sorted(os.listdir(output_dir)) == ["labels.json", "labels.txt",
                                              "model_float32_nms_op.tflite", "saved_model"]
    # A run from before labels.json: the label map of its config's dataset, in every artifact.
    assert "labels (labels.txt, labels.json, and in each artifact): 6 classes: circle, square" \
        in stdout
    assert (output_dir / "labels.txt").read_text().split() == list(shapes.CLASS_NAMES)
    rows = {row["format"]: row for row in json.loads(metrics.read_text())["rows"]}
    for row in rows.values():
        assert row["labels_match"] is True, row
        assert row["matched"] == 1.0 and row["same_count"] == 1.0, row
        assert row["max_box_diff"] <= 1e-4 and row["max_score_diff"] <= 1e-4, row
        assert abs(row["ap_delta"]) <= 1e-6 and abs(row["ap50_delta"]) <= 1e-6, row
        assert row["detections"] >= 3 * IMAGES, row   # not trivial: agreement means something
    # TFLite: the network in one XNNPACK partition, then the NMS op and nothing after it.
    path = str(output_dir / "model_float32_nms_op.tflite")
    row = rows["tflite_float32"]
    assert row["xnnpack_partitions"] == 1 and row["undelegated_ops"] == {
        "CAST": 1, "TFLite_Detection_PostProcess": 1}, row
    assert row["graph"]["fused"], row["graph"]
    options = custom_options(path)["TFLite_Detection_PostProcess"]
    assert options["use_regular_nms"] and options["num_classes"] == CLASSES
    assert options["max_detections"] == 100 and abs(options["nms_iou_threshold"] - 0.6) < 1e-6
    # Called directly, in the interpreter phone runtimes embed: uint8 pixels in, the op's
    # float32 outputs, the top boxes (clipped, as an app draws them) and classes of Keras.
    from ai_edge_litert.interpreter import Interpreter
    interpreter = Interpreter(model_path=path, num_threads=1)
    (image,) = interpreter.get_input_details()
    assert image["dtype"] == np.uint8 and list(image["shape"]) == [1, SIZE, SIZE, 3]
    images, _ = shapes_images
    outputs = interpreter.get_signature_runner()(images=images[:1])
    assert {name: value.dtype for name, value in outputs.items()} == dict.fromkeys(
        ["boxes", "classes", "num_detections", "scores"], np.float32)
    serving = export.Serving(model, detection.configure(config))
    keras_outputs = report.reference_outputs(serving, images[:1])
    top = min(3, int(keras_outputs["num_detections"][0]))
    assert top > 0
    np.testing.assert_allclose(np.clip(outputs["boxes"][0, :top], 0, 1),
                               keras_outputs["boxes"][0, :top], atol=1e-4)
    np.testing.assert_array_equal(outputs["classes"][0, :top], keras_outputs["classes"][0, :top])


def test_tflite_with_the_graph_nms_gives_the_keras_detections_in_built_in_ops(
        detector, shapes_images, tmp_path):
    model, threshold = detector
    hook = detection.DetectionExport(detection.anchors_for(model), postprocess="graph",
                                     score_threshold=threshold)
    serving = export.Serving(model, hook)
    # The NMS-op file of an earlier export into the same folder is kept: each variant has a
    # name of its own.
    (tmp_path / "model_float32_nms_op.tflite").write_bytes(b"NMS op variant")
    path = export.export(serving, ["tflite_float32"], str(tmp_path))["tflite_float32"]
    assert os.path.basename(path) == "model_float32.tflite"
    assert (tmp_path / "model_float32_nms_op.tflite").read_bytes() == b"NMS op variant"
    (row,) = export.check(serving, {"tflite_float32": path}, *shapes_images, latency_runs=0)
    print(f"\nssdlite_v3_small, graph NMS\n{export.table([row], hook)}")
    assert row["matched"] == 1.0 and row["same_count"] == 1.0, row
    assert row["max_box_diff"] <= 1e-4 and row["max_score_diff"] <= 1e-4, row
    assert abs(row["ap_delta"]) <= 1e-6 and row["detections"] >= 3 * IMAGES, row
    # Built-in ops only (the NMS loop is a WHILE), and the NMS's own MINIMUM / MAXIMUM / DIV
    # do not count against the fused hard activations.
    with open(path, "rb") as f:
        ops = {name for name, _ in export.graph.ops(f.read())}
    assert "WHILE" in ops and "CUSTOM" not in ops
    assert row["graph"]["fused"], row["graph"]
    from ai_edge_litert.interpreter import Interpreter
    assert Interpreter(model_path=path).get_signature_list()["serving_default"]["outputs"] == [
        "boxes", "classes", "num_detections", "scores"]


def test_int8_ssdlite_runs_in_one_xnnpack_partition_beside_the_nms_op(detector, shapes_images,
                                                                      tmp_path):
    """Issue 17: the int8 detector on LiteRT's CPU delegate in one piece, its outputs the NMS
    op's (h-swish as XNNPACK's int8 ops, the six prediction maps concatenated four at a
    time, no int8 MINIMUM capping the deltas, nothing after the op)."""
    model, threshold = detector
    hook = detection.DetectionExport(detection.anchors_for(model), score_threshold=threshold)
    images, labels = shapes_images
    path = export.export(export.Serving(model, hook), ["tflite_int8"], str(tmp_path),
                         representative=lambda: (x[None].astype("float32") for x in images[:8])
                         )["tflite_int8"]
    partitions, left = runners.xnnpack_partitions(path)
    # Left: the uint8 input's QUANTIZE and the NMS op; not one op of the network.
    assert (partitions, left) == (1, {"QUANTIZE": 1, "TFLite_Detection_PostProcess": 1})
    (row,) = export.check(export.Serving(model, hook), {"tflite_int8": path}, images, labels,
                          latency_runs=0)
    print(f"\nssdlite_v3_small int8\n{export.table([row], hook)}")
    # The op's boxes are the file's float32 outputs: matched boxes agree to float precision
    # (when a clip after the op was quantized with the model they were 8-bit, 3.4e-3 off).
    # Matching itself is what int8 scores near this untrained model's threshold give (0.80).
    assert row["max_box_diff"] <= 1e-4 and row["matched"] >= 0.75, row


def test_int8_with_the_graph_nms_is_refused_in_one_line(detector, tmp_path):
    model, _ = detector
    serving = export.Serving(model, detection.DetectionExport(detection.anchors_for(model),
                                                              postprocess="graph"))
    with pytest.raises(UserError, match="--detection_postprocess=tflite_op") as error:
        export.export(serving, ["tflite_int8"], str(tmp_path), representative=lambda: [])
    assert "\n" not in str(error.value) and os.listdir(tmp_path) == []
