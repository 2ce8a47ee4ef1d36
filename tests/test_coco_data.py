"""COCO-format detection data on tiny fixtures written in the real layouts (the official
annotations/ + val2017/ folders, a coco_json of your own, the Object Detection API's
TFRecords): counts, class mapping, boxes, crowd flags, empty images, padding, and what a
malformed annotation does."""
import json
import os

import numpy as np
import pytest
import tensorflow as tf

import ml_collections

from mobilenet_tf import UserError, config as config_lib, data, engine
from mobilenet_tf.data import coco
from mobilenet_tf.detection import anchors as anchor_lib

HEIGHT, WIDTH = 32, 48
SIZE = 32
ANCHORS = anchor_lib.ssd_anchors(anchor_lib.feature_map_sizes(SIZE, num_levels=3))
# Non-contiguous ids listed out of order: sorted 1, 3, 90 -> classes 0, 1, 2.
CATEGORIES = [{"id": 90, "name": "toothbrush"}, {"id": 1, "name": "person"},
              {"id": 3, "name": "car"}]
ANNOTATIONS = [
    {"id": 1, "image_id": 11, "category_id": 1, "bbox": [4, 8, 20, 12], "iscrowd": 0},
    {"id": 2, "image_id": 11, "category_id": 90, "bbox": [0, 0, 48, 32], "iscrowd": 1,
     "area": 700.0},
    {"id": 3, "image_id": 12, "category_id": 3, "bbox": [40, 24, 20, 20], "iscrowd": 0},
    {"id": 4, "image_id": 12, "category_id": 3, "bbox": [50, 5, 10, 10], "iscrowd": 0},
]   # image 13 has none; annotation 3 reaches outside (clipped), 4 lies outside (skipped)
EXPECTED_BOXES = {11: [[8 / 32, 4 / 48, 20 / 32, 24 / 48], [0, 0, 1, 1]],
                  12: [[24 / 32, 40 / 48, 1, 1]], 13: []}
EXPECTED_CLASSES = {11: [0, 2], 12: [1], 13: []}


def _jpeg(path, seed):
    pixels = np.random.default_rng(seed).integers(0, 255, (HEIGHT, WIDTH, 3), np.uint8)
    tf.io.write_file(path, tf.io.encode_jpeg(pixels))


def _official(root, annotations=ANNOTATIONS, categories=CATEGORIES, folder="val2017"):
    os.makedirs(f"{root}/annotations", exist_ok=True)
    images = [{"id": i, "file_name": f"{i:012d}.jpg", "height": HEIGHT, "width": WIDTH}
              for i in (11, 12, 13)]
    for image in images:
        _jpeg(f"{root}/{folder}/{image['file_name']}", image["id"])
    path = f"{root}/annotations/instances_{folder}.json"
    with open(path, "w") as file:
        json.dump({"images": images, "annotations": annotations, "categories": categories},
                  file)
    return str(root), path


def _get(name, split, data_dir, **options):
    options = {"anchors": ANCHORS, "image_size": SIZE, "batch_size": 4, **options}
    dataset, info = data.get_detection(name, split, data_dir=data_dir, **options)
    return list(dataset.as_numpy_iterator()), info


def test_official_layout_classes_boxes_crowd_and_empty_image(tmp_path, capfd):
    root, _ = _official(tmp_path)
    batches, info = _get("coco", "validation", root, groundtruth=True, max_boxes=3)
    assert "skipped 1 annotation" in capfd.readouterr().err
    assert info.num_examples == 3 and info.num_classes == 3
    assert info.class_names == ("person", "car", "toothbrush")
    assert info.category_ids == (1, 3, 90)
    [(images, targets)] = batches
    assert images.shape == (3, SIZE, SIZE, 3) and images.dtype == np.uint8
    np.testing.assert_array_equal(targets["image_id"], [11, 12, 13])
    np.testing.assert_array_equal(targets["original_size"], [[HEIGHT, WIDTH]] * 3)
    for k, image_id in enumerate((11, 12, 13)):
        n = len(EXPECTED_CLASSES[image_id])
        np.testing.assert_allclose(targets["gt_boxes"][k, :n].reshape(-1, 4),
                                   np.reshape(EXPECTED_BOXES[image_id], (-1, 4)), atol=1e-6)
        np.testing.assert_array_equal(targets["gt_classes"][k],
                                      EXPECTED_CLASSES[image_id] + [-1] * (3 - n))
    np.testing.assert_array_equal(targets["gt_is_crowd"][0], [False, True, False])
    # Area: the annotation's when given (700), else the clipped box's in pixels.
    np.testing.assert_allclose(targets["gt_area"][:2, :2], [[240.0, 700.0], [64.0, 0.0]])
    classes = targets["classes"]
    assert (classes[0] == 1).any() and (classes[0] == -1).any()   # crowd anchors ignored
    assert not (classes[0] == 3).any()                           # crowd is never a target
    assert (classes[1] == 2).any() and np.all(classes[2] == 0)   # empty: all background
    assert np.all(targets["boxes"][2] == 0)


def test_coco_json_with_split_in_paths_trains_on_every_image(tmp_path):
    _official(tmp_path / "mine", folder="train")
    batches, info = _get("coco_json", "train", str(tmp_path / "mine"), batch_size=3, seed=1,
                         annotation_file="annotations/instances_{split}.json",
                         image_dir="{split}")
    assert info.name == "coco_json" and info.category_ids == (1, 3, 90)
    [(images, targets)] = batches   # the empty image is kept for training too
    assert images.shape == (3, SIZE, SIZE, 3) and targets["classes"].shape == (3, len(ANCHORS))
    assert sorted(int((row > 0).any()) for row in targets["classes"]) == [0, 1, 1]


def test_corrupt_jpeg_is_skipped_as_in_classification(tmp_path, capfd):
    root, _ = _official(tmp_path)
    with open(f"{root}/val2017/000000000012.jpg", "wb") as file:
        file.write(b"\xff\xd8\xff not really a jpeg")
    batches, _ = _get("coco", "validation", root, groundtruth=True)
    np.testing.assert_array_equal(batches[0][1]["image_id"], [11, 13])
    assert f"skipped {root}/val2017/000000000012.jpg: corrupt" in capfd.readouterr().err


def _record(image_id, boxes, labels, crowd):
    pixels = np.full((HEIGHT, WIDTH, 3), 90, np.uint8)
    boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
    floats = lambda values: tf.train.Feature(float_list=tf.train.FloatList(value=values))
    ints = lambda values: tf.train.Feature(int64_list=tf.train.Int64List(value=values))
    data_bytes = lambda value: tf.train.Feature(bytes_list=tf.train.BytesList(value=[value]))
    feature = {"image/encoded": data_bytes(tf.io.encode_jpeg(pixels).numpy()),
               "image/height": ints([HEIGHT]), "image/width": ints([WIDTH]),
               "image/source_id": data_bytes(str(image_id).encode()),
               "image/object/class/label": ints(labels), "image/object/is_crowd": ints(crowd)}
    for k, side in enumerate(("ymin", "xmin", "ymax", "xmax")):
        feature[f"image/object/bbox/{side}"] = floats(boxes[:, k].tolist())
    return tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString()


def test_object_detection_api_tfrecords(tmp_path):
    with tf.io.TFRecordWriter(str(tmp_path / "coco_val.record-00000-of-00001")) as writer:
        writer.write(_record(42, [[0.1, 0.2, 0.5, 0.6], [0.0, 0.0, 1.0, 1.0]], [1, 90], [0, 1]))
        writer.write(_record(7, [], [], []))
    batches, info = _get("coco", "validation", str(tmp_path), groundtruth=True, max_boxes=2)
    assert info.num_examples == 2 and info.num_classes == 80
    assert info.category_ids[-1] == 90 and info.class_names[0] == "person"
    [(images, targets)] = batches
    np.testing.assert_array_equal(targets["image_id"], [42, 7])
    np.testing.assert_allclose(targets["gt_boxes"][0], [[0.1, 0.2, 0.5, 0.6], [0, 0, 1, 1]])
    np.testing.assert_array_equal(targets["gt_classes"], [[0, 79], [-1, -1]])
    np.testing.assert_array_equal(targets["gt_is_crowd"], [[False, True], [False, False]])
    np.testing.assert_allclose(targets["gt_area"][0], [0.16 * HEIGHT * WIDTH, HEIGHT * WIDTH],
                               rtol=1e-5)


def test_malformed_annotations_name_what_to_fix(tmp_path):
    unknown = ANNOTATIONS + [{"id": 7, "image_id": 11, "category_id": 5, "bbox": [1, 1, 2, 2]}]
    _, path = _official(tmp_path / "a", annotations=unknown)
    with pytest.raises(UserError, match="annotation 7 has category_id 5"):
        coco.read_annotations(path)
    orphan = [{"id": 8, "image_id": 99, "category_id": 1, "bbox": [1, 1, 2, 2]}]
    _, path = _official(tmp_path / "b", annotations=orphan)
    with pytest.raises(UserError, match="annotation 8 has image_id 99"):
        coco.read_annotations(path)
    broken = [{"id": 9, "image_id": 11, "category_id": 1, "bbox": [1, 2]}]
    _, path = _official(tmp_path / "c", annotations=broken)
    with pytest.raises(UserError, match=r"annotation 9 has bbox \[1, 2\]"):
        coco.read_annotations(path)
    _, path = _official(tmp_path / "e")
    with open(path) as file:
        content = json.load(file)
    content["images"][0]["id"] = "eleven"
    with open(path, "w") as file:
        json.dump(content, file)
    with pytest.raises(UserError, match="has id 'eleven'"):
        coco.read_annotations(path)
    root, _ = _official(tmp_path / "d")
    os.remove(f"{root}/val2017/000000000013.jpg")
    with pytest.raises(UserError, match="000000000013.jpg .* is missing"):
        _get("coco", "validation", root)


def test_a_json_is_read_once_per_process_until_it_changes(tmp_path, monkeypatch):
    root, path = _official(tmp_path)
    calls, read = [], coco.read_annotations
    monkeypatch.setattr(coco, "read_annotations", lambda p: calls.append(p) or read(p))
    load = lambda: coco.load("validation", data_dir=root, training=True, seed=0,
                             input_context=None)
    assert load().info.num_examples == 3 and load().info.category_ids == (1, 3, 90)
    assert len(calls) == 1   # train.py builds the pipeline each epoch: parse once
    os.utime(path, (1, 1))
    load()
    assert len(calls) == 2


def test_missing_data_and_options_are_user_errors(tmp_path):
    with pytest.raises(UserError, match="coco needs --data_dir"):
        _get("coco", "validation", None)
    with pytest.raises(UserError, match="does not exist"):
        _get("coco", "validation", str(tmp_path / "nowhere"))
    with pytest.raises(UserError, match="no COCO 2017 validation"):
        _get("coco", "validation", str(tmp_path))
    with pytest.raises(UserError, match="needs annotation_file"):
        _get("coco_json", "train", str(tmp_path))
    with pytest.raises(UserError, match="annotation file .* does not exist"):
        _get("coco_json", "train", str(tmp_path), annotation_file="x.json")


def _prepare_tfds_coco(data_dir):
    """A two-image coco/2017 prepared by TFDS itself, with the features of TFDS's COCO
    (image, image/id, objects: area, bbox, id, is_crowd, label)."""
    import tensorflow_datasets as tfds
    features = tfds.features.FeaturesDict({
        "image": tfds.features.Image(shape=(None, None, 3), encoding_format="jpeg"),
        "image/filename": tfds.features.Text(), "image/id": np.int64,
        "objects": tfds.features.Sequence({
            "area": np.int64, "bbox": tfds.features.BBoxFeature(), "id": np.int64,
            "is_crowd": np.bool_, "label": tfds.features.ClassLabel(
                names=["person", "bicycle", "car"])})})
    pixels = np.full((HEIGHT, WIDTH, 3), 60, np.uint8)
    examples = [
        {"image": pixels, "image/filename": "a.jpg", "image/id": 5, "objects": {
            "area": [100, 50], "bbox": [tfds.features.BBox(0.1, 0.2, 0.5, 0.6),
                                        tfds.features.BBox(0.0, 0.0, 1.0, 1.0)],
            "id": [1, 2], "is_crowd": [False, True], "label": [2, 0]}},
        {"image": pixels, "image/filename": "b.jpg", "image/id": 6, "objects": {
            "area": [], "bbox": np.zeros((0, 4), np.float32), "id": [], "is_crowd": [],
            "label": []}}]

    class Coco(tfds.core.GeneratorBasedBuilder, skip_registration=True):
        VERSION = tfds.core.Version("1.1.0")
        BUILDER_CONFIGS = [tfds.core.BuilderConfig(name="2017")]

        def _info(self):
            return tfds.core.DatasetInfo(builder=self, features=features)

        def _split_generators(self, download_manager):
            return {"validation": enumerate(examples)}

        def _generate_examples(self):
            raise AssertionError("the split generator is given")

    Coco(data_dir=data_dir, config="2017").download_and_prepare()


def test_tfds_prepared_coco(tmp_path):
    _prepare_tfds_coco(str(tmp_path))
    batches, info = _get("coco", "validation", str(tmp_path), groundtruth=True, max_boxes=3)
    assert info.num_examples == 2 and info.class_names == ("person", "bicycle", "car")
    assert info.category_ids == (1, 2, 3)   # by name, from COCO's table
    [(images, targets)] = batches
    np.testing.assert_array_equal(targets["image_id"], [5, 6])
    np.testing.assert_allclose(targets["gt_boxes"][0, :2], [[0.1, 0.2, 0.5, 0.6], [0, 0, 1, 1]])
    np.testing.assert_array_equal(targets["gt_classes"], [[2, 0, -1], [-1, -1, -1]])
    np.testing.assert_array_equal(targets["gt_is_crowd"][0], [False, True, False])
    np.testing.assert_array_equal(targets["gt_area"][0], [100, 50, 0])


def test_a_run_on_coco_json_writes_its_labels_with_the_category_ids(tmp_path, monkeypatch):
    """labels.json, written by engine.train at the start of a run next to config.json (here
    the run stops right after), holds the class names in class order and the dataset's own
    non-contiguous category ids, so detections can be mapped back to them."""
    ids = {1: 3, 3: 7, 90: 11}   # CATEGORIES' ids -> 3, 7, 11, listed out of order
    categories = [{"id": 11, "name": "fox"}, {"id": 3, "name": "cat"}, {"id": 7, "name": "dog"}]
    annotations = [dict(a, category_id=ids[a["category_id"]]) for a in ANNOTATIONS]
    _official(tmp_path / "mine", annotations, categories, folder="train")
    config = config_lib.load_recipe(os.path.join(config_lib.CONFIG_DIR, "shapes_det.py"))
    config.dataset.update(name="coco_json", data_dir=str(tmp_path / "mine"), eval_split="train")
    config.dataset.options = ml_collections.ConfigDict(
        {"annotation_file": "annotations/instances_{split}.json", "image_dir": "{split}"})
    config.train.batch_size = 3

    class Stop(Exception):
        pass

    def stop(*args, **kwargs):
        raise Stop
    # No model and no training: only what the start writes matters (config.json and
    # labels.json come right after the model is built, before the first callback).
    monkeypatch.setattr(engine, "prepare_model", lambda *args, **kwargs: None)
    monkeypatch.setattr(engine.callbacks, "NanGuard", stop)
    with pytest.raises(Stop):
        engine.train(config, str(tmp_path / "run"))
    assert (tmp_path / "run" / "config.json").exists()
    assert json.loads((tmp_path / "run" / "labels.json").read_text()) == {
        "dataset": "coco_json", "class_names": ["cat", "dog", "fox"], "category_ids": [3, 7, 11]}
