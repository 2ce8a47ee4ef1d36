"""predict.py on Shapes images with each task's shared trained run (conftest): outputs at
the images' own sizes, the Keras model's own answers, a drawn box where its detection is, a
COCO results file that scores the AP evaluate.py reports, class-id PNGs equal to the
model's argmax, a .tflite export with its Keras model's top-1; the TensorBoard pictures of
the training runs read back from their event files; and bad input as one line."""
import json
import os

import keras
import numpy as np
import pytest
from PIL import Image
from conftest import run_here
# The session's export of the trained V3-Small (every format, checked): its module-scoped
# cache fixture, imported so exported_model finds it here too.
from test_export import _exports, exported_model  # noqa: F401

from mobilenet_tf import config as config_lib, export
from mobilenet_tf.data import shapes
from mobilenet_tf.export import source
from mobilenet_tf.visualize import draw


def run_images(run_dir, count):
    """(config, uint8 images, labels) of the first `count` validation images of a run."""
    config = config_lib.from_json_file(str(run_dir / "config.json"))
    return (config, *source.images(config, config.dataset.eval_split, count))


def write_pngs(folder, images, names):
    os.makedirs(folder, exist_ok=True)
    for image, name in zip(images, names):
        Image.fromarray(image).save(folder / name)


def predict(*args):
    """predict.py ARGS in this process; (exit code, stderr), after checking it succeeded."""
    code, stderr = run_here("predict.py", *args)
    assert code in (0, None), stderr[-3000:]
    return code, stderr


def records(output_dir):
    return {os.path.basename(r["file"]): r
            for r in json.loads((output_dir / "predictions.json").read_text())}


@pytest.mark.slow
def test_classification_gives_the_models_top_k_and_skips_an_unreadable_file(
        trained_shapes_run, tmp_path):
    run_dir = trained_shapes_run.model_dir
    _, images, labels = run_images(run_dir, 12)
    folder, out = tmp_path / "photos", tmp_path / "out"
    names = [f"shape_{i:02d}.png" for i in range(12)]
    write_pngs(folder, images, names)
    Image.fromarray(images[0]).resize((150, 100)).save(folder / "wide.jpg")
    (folder / "notes.jpg").write_text("not an image")
    _, stderr = predict(f"--model_dir={run_dir}", f"--output_dir={out}", "--draw", "--top_k=3",
                        str(folder))

    skipped = [line for line in stderr.splitlines() if line.startswith("skipped")]
    assert len(skipped) == 1 and skipped[0].startswith(
        f"skipped 1 file(s) that could not be read as images: {folder}/notes.jpg ("), stderr
    found = records(out)
    assert sorted(found) == sorted(names + ["wide.jpg"])
    for record in found.values():
        probabilities = [entry["probability"] for entry in record["top_k"]]
        assert len(probabilities) == 3 and probabilities == sorted(probabilities, reverse=True)
        assert sum(probabilities) <= 1 + 1e-6
        assert {entry["class"] for entry in record["top_k"]} <= set(shapes.CLASS_NAMES)
    # The Keras model's own answer on the same pixels, and (a trained model) mostly right.
    model = keras.saving.load_model(run_dir / "final.keras", compile=False)
    expected = np.asarray(model(images, training=False)).argmax(-1)
    predicted = [found[name]["top_k"][0]["class_id"] for name in names]
    assert predicted == expected.tolist()
    assert np.mean(np.asarray(predicted) == labels) >= 0.75
    rows = (out / "predictions.csv").read_text().splitlines()
    assert rows[0] == "file,width,height,class_1,probability_1,class_2,probability_2,class_3," \
                      "probability_3" and len(rows) == 14
    # Drawn at the image's own size, the answer on it.
    with Image.open(found["wide.jpg"]["drawn"]) as drawn:
        assert drawn.size == (150, 100)
        assert np.any(np.asarray(drawn) != np.asarray(Image.open(folder / "wide.jpg")))


@pytest.mark.slow
def test_a_tflite_export_predicts_the_top1_of_its_keras_model(request, trained_shapes_run,
                                                              tmp_path):
    _, _, _, export_dir = exported_model(request, "mobilenet_v3_small")
    _, images, _ = run_images(trained_shapes_run.model_dir, 24)
    names = [f"{i}.png" for i in range(24)]
    write_pngs(tmp_path / "photos", images, names)
    answers = {}
    for source_flag in (f"--model_dir={trained_shapes_run.model_dir}",
                        f"--model={export_dir / export.FILENAMES['tflite_float32']}"):
        out = tmp_path / str(len(answers))
        predict(source_flag, f"--output_dir={out}", str(tmp_path / "photos"))
        found = records(out)
        answers[source_flag] = [found[name]["top_k"][0]["class"] for name in names]
    keras_answers, tflite_answers = answers.values()
    assert tflite_answers == keras_answers   # names from the labels inside the .tflite


@pytest.mark.slow
def test_detection_boxes_are_drawn_where_detected_and_score_evaluate_pys_ap(
        trained_detection_run, tmp_path):
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval
    run_dir = trained_detection_run.model_dir
    final = json.loads((run_dir / "final_metrics.json").read_text())
    _, images, truth = run_images(run_dir, 300)   # the whole validation split
    folder, out = tmp_path / "photos", tmp_path / "out"
    names = [f"{int(i)}.png" for i in truth["image_id"]]
    write_pngs(folder, images, names)
    annotations = tmp_path / "annotations.json"
    annotations.write_text(json.dumps(coco_groundtruth(images, names, truth)))
    predict(f"--model_dir={run_dir}", f"--output_dir={out}", f"--coco_annotations={annotations}",
            "--batch_size=64", str(folder))

    # The results file in pycocotools: the AP that evaluate.py reports (final_metrics.json).
    ground_truth = COCO(str(annotations))
    evaluation = COCOeval(ground_truth, ground_truth.loadRes(str(out / "detections.json")),
                          "bbox")
    evaluation.evaluate()
    evaluation.accumulate()
    evaluation.summarize()
    assert evaluation.stats[0] == pytest.approx(final["AP"], abs=2e-3)
    assert evaluation.stats[1] == pytest.approx(final["AP50"], abs=2e-3)

    # The best detection of an image is drawn where it is, on top: its left and right
    # edges in its class's colour, not the column between them, at the image's size.
    found = records(out)
    name = min((name for name in names if found[name]["detections"]),
               key=lambda name: len(found[name]["detections"]))
    best = max(found[name]["detections"], key=lambda detection: detection["score"])
    x0, y0, x1, y1 = best["box"]
    with Image.open(found[name]["drawn"]) as drawn:
        drawn = np.asarray(drawn)
    assert drawn.shape == images[names.index(name)].shape
    colour = draw.palette(6)[best["class_id"]]
    rows = slice(int(y0) + 14, int(y1) - 1)   # below the label tab

    def share(*columns):   # of the rows, in the colour (the best of the columns tried)
        return max(np.mean(np.all(drawn[rows, x] == colour, axis=-1)) for x in columns)
    assert share(int(x0), round(x0)) >= 0.8, (best, name)
    assert share(int(x1) - 1, round(x1) - 1) >= 0.8, (best, name)
    assert share((int(x0) + int(x1)) // 2) < 0.3, (best, name)


def coco_groundtruth(images, names, truth):
    """A COCO annotation file of the images (file names `names`) and their boxes, as the
    evaluation's ground truth: category id class + 1, the dataset's areas and crowd flags."""
    annotations = []
    for i, image_id in enumerate(truth["image_id"]):
        height, width = images[i].shape[:2]
        real = truth["gt_classes"][i] >= 0
        boxes = draw.pixel_boxes(truth["gt_boxes"][i][real], height, width)
        for box, cls, area, crowd in zip(boxes, truth["gt_classes"][i][real],
                                         truth["gt_area"][i][real], truth["gt_is_crowd"][i][real]):
            annotations.append({"id": len(annotations) + 1, "image_id": int(image_id),
                                "category_id": int(cls) + 1, "area": float(area),
                                "iscrowd": int(crowd),
                                "bbox": [box[0], box[1], box[2] - box[0], box[3] - box[1]]})
    return {"images": [{"id": int(i), "file_name": name, "height": image.shape[0],
                        "width": image.shape[1]}
                       for i, name, image in zip(truth["image_id"], names, images)],
            "annotations": annotations,
            "categories": [{"id": c + 1, "name": n} for c, n in enumerate(shapes.CLASS_NAMES)]}


@pytest.mark.slow
def test_segmentation_class_ids_are_the_models_argmax_at_the_images_size(
        trained_segmentation_run, tmp_path):
    run_dir = trained_segmentation_run.model_dir
    _, images, _ = run_images(run_dir, 3)
    folder, out = tmp_path / "photos", tmp_path / "out"
    write_pngs(folder, images, ["a.png", "b.png", "c.png"])
    Image.fromarray(images[0]).resize((130, 75)).save(folder / "wide.png")
    predict(f"--model_dir={run_dir}", f"--output_dir={out}", str(folder))

    model = keras.saving.load_model(run_dir / "final.keras", compile=False)
    found = records(out)
    for name in ("a.png", "b.png", "c.png", "wide.png"):
        with Image.open(folder / name) as image:
            pixels = np.asarray(image)
        with Image.open(found[name]["class_ids"]) as class_ids:
            class_ids = np.asarray(class_ids)
        expected = np.asarray(model(pixels[None], training=False))[0].argmax(-1)
        assert class_ids.shape == pixels.shape[:2]
        np.testing.assert_array_equal(class_ids, expected)
        with Image.open(found[name]["overlay"]) as overlay:
            assert overlay.size == (pixels.shape[1], pixels.shape[0])
        assert sum(found[name]["class_fractions"].values()) == pytest.approx(1.0)
    # A trained model finds shapes, not only background.
    assert any(len(record["class_fractions"]) > 1 for record in found.values())


def _pictures(run_dir):
    """{tag: [(step, (H, W, 3) image)]} of the validation run's image summaries, read with
    TensorBoard's event reader."""
    import tensorflow as tf
    from tensorboard.backend.event_processing import event_accumulator
    events = event_accumulator.EventAccumulator(str(run_dir / "logs" / "validation"),
                                                size_guidance={"tensors": 0})
    events.Reload()
    return {tag: [(event.step, tf.io.decode_png(tf.make_ndarray(event.tensor_proto)[2])
                   .numpy()) for event in events.Tensors(tag)]
            for tag in events.Tags()["tensors"] if tag.startswith("validation/")}


@pytest.mark.slow
def test_training_writes_pictures_of_each_validation_to_tensorboard(
        trained_shapes_run, trained_detection_run, trained_segmentation_run):
    classification = _pictures(trained_shapes_run.model_dir)
    # Four epochs, validated after each: the drawn images and the confusion matrix each time.
    assert set(classification) == {"validation/predictions", "validation/confusion_matrix"}
    steps = [step for step, _ in classification["validation/predictions"]]
    assert steps == [93, 186, 279, 372]
    assert [step for step, _ in classification["validation/confusion_matrix"]] == steps
    assert all(image.shape[0] > 100 and image.shape[1] > 300
               for _, image in classification["validation/predictions"])
    # Detection: validated once, at the end, and its final COCO evaluation's PR curves.
    detection = _pictures(trained_detection_run.model_dir)
    assert set(detection) == {"validation/predictions", "validation/pr_curves"}
    assert [step for step, _ in detection["validation/pr_curves"]] == [465]
    segmentation = _pictures(trained_segmentation_run.model_dir)
    assert [step for step, _ in segmentation["validation/predictions"]] == [600]


def test_a_model_file_that_is_not_ours_is_one_line_naming_what_it_is(tmp_path):
    photo = tmp_path / "photo.png"
    Image.fromarray(np.zeros((32, 32, 3), np.uint8)).save(photo)
    (tmp_path / "model.tflite").write_text("not a flatbuffer")
    foreign = keras.Sequential([keras.Input((8, 8, 3)), keras.layers.Flatten(),
                                keras.layers.Dense(4)])
    foreign.save(tmp_path / "foreign.keras")
    (tmp_path / "weights.h5").write_text("")
    cases = [
        (f"--model={tmp_path / 'model.tflite'}", f"{tmp_path / 'model.tflite'} could not be "
                                                 "opened as a TFLite model"),
        (f"--model={tmp_path / 'foreign.keras'}", f"{tmp_path / 'foreign.keras'} is a Keras "
                                                  "model (input (None, 8, 8, 3), output "
                                                  "(None, 4)) but no train.py config.json"),
        (f"--model={tmp_path / 'weights.h5'}", f"{tmp_path / 'weights.h5'} is a weights file "
                                               "(no architecture); predict.py takes a train.py "
                                               "run"),
        ("--model=mobilenet_v2", "--model=mobilenet_v2: predict.py needs a trained model, not "
                                 "an architecture name"),
    ]
    for flag, message in cases:
        code, stderr = run_here("predict.py", flag, f"--output_dir={tmp_path / 'out'}",
                                str(photo))
        errors = [line for line in stderr.splitlines() if line.startswith("error")]
        assert code == 2 and len(errors) == 1 and errors[0].startswith(f"error: {message}"), (
            flag, stderr[-2000:])
        assert "Traceback" not in stderr
    code, stderr = run_here("predict.py", f"--model={tmp_path / 'foreign.keras'}",
                            f"--output_dir={tmp_path / 'out'}", str(tmp_path / "missing.jpg"))
    assert code == 2 and f"error: {tmp_path / 'missing.jpg'} does not exist" in stderr
    assert not (tmp_path / "out").exists()


def test_drawn_boxes_and_overlays_keep_the_image_elsewhere():
    image = np.full((40, 60, 3), 50, np.uint8)
    boxes = draw.pixel_boxes([[0.25, 0.5, 0.75, 0.9]], 40, 60)   # [x0, y0, x1, y1]
    np.testing.assert_allclose(boxes, [[30, 10, 54, 30]])
    drawn = draw.draw_boxes(image, boxes, [""], [(255, 0, 0)], width=1)
    assert np.all(drawn[10, 30:54] == (255, 0, 0)) and np.all(drawn[29, 30:54] == (255, 0, 0))
    assert np.all(drawn[10:30, 30] == (255, 0, 0)) and np.all(drawn[10:30, 53] == (255, 0, 0))
    assert np.all(drawn[11:29, 31:53] == 50) and np.all(drawn[:, :30] == 50)
    class_map = np.zeros((40, 60), np.int64)
    class_map[:, 30:] = 1
    blended = draw.overlay(image, class_map, draw.palette(2, background=True))
    assert np.all(blended[:, :30] == 50)   # background: the image as it was
    assert np.all(blended[:, 30:] == np.floor(0.5 * 50 + 0.5 * draw.palette(2)[1] + 0.5))


def test_detections_are_written_in_the_datasets_category_ids_and_pixels(tmp_path):
    """A coco_json run's label map (COCO category ids 3, 7, 11): detections.json names them,
    in the image's pixels, and loads in pycocotools against that dataset's annotations."""
    from pycocotools.coco import COCO
    from mobilenet_tf.predict import model, writers
    label_map = {"dataset": "coco_json", "class_names": ["cat", "dog", "fox"],
                 "category_ids": [3, 7, 11]}
    predictor = model.Predictor("detection", None, (64, 64), label_map, None, "test")
    writer = writers.DetectionWriter(predictor, str(tmp_path), draw_images=False,
                                     image_ids={"street.jpg": 42})
    outputs = {"boxes": np.array([[0.1, 0.2, 0.5, 0.6], [0.0, 0.0, 1.0, 1.0], [0, 0, 0, 0]]),
               "scores": np.array([0.9, 0.2, 0.0]), "classes": np.array([2, 0, 0]),
               "num_detections": np.array(2)}
    writer.add("photos/street.jpg", np.zeros((100, 200, 3), np.uint8), outputs)
    writer.close()
    results = json.loads((tmp_path / "detections.json").read_text())
    assert [(r["image_id"], r["category_id"], r["score"]) for r in results] == [
        (42, 11, 0.9), (42, 3, 0.2)]
    np.testing.assert_allclose(results[0]["bbox"], [40, 10, 80, 40])   # x, y, w, h
    listed = json.loads((tmp_path / "predictions.json").read_text())[0]["detections"]
    assert [d["class"] for d in listed] == ["fox"]   # the one at or above 0.3
    ground_truth = COCO()
    ground_truth.dataset = {
        "images": [{"id": 42, "height": 100, "width": 200}],
        "annotations": [{"id": 1, "image_id": 42, "category_id": 11, "bbox": [40, 10, 80, 40],
                         "area": 3200, "iscrowd": 0}],
        "categories": json.loads((tmp_path / "images.json").read_text())["categories"]}
    ground_truth.createIndex()
    loaded = ground_truth.loadRes(str(tmp_path / "detections.json"))
    assert sorted(loaded.getCatIds()) == [3, 7, 11] and len(loaded.getAnnIds()) == 2
