"""`python -m mobilenet_tf.data.prepare`: pre-resized copies that the loaders read back with
the same labels, boxes and masks; corrupt images skipped and named in one line; finished
shards kept on a rerun."""
import json
import os

import numpy as np
import pytest
import tensorflow as tf

from conftest import jpeg_bytes, png_bytes
from mobilenet_tf import UserError
from mobilenet_tf import data
from mobilenet_tf.data import coco, imagenet, masks, prepare, preprocess

CORRUPT = b"\xff\xd8\xff\xe0 truncated, not a JPEG"


def _loader_labels(data_dir, split):
    """The split's labels in the loader's evaluation order."""
    source = imagenet.load(split, data_dir=str(data_dir), training=False, seed=None,
                           input_context=None)
    return [int(source.parse(example)["label"]) for example in source.examples]


def _shards_in_order(output_dir):
    """(labels, (height, width) per image) of the prepared shards read one after another."""
    labels, sizes = [], []
    for name in sorted(os.listdir(output_dir)):
        for record in tf.data.TFRecordDataset(str(output_dir / name)):
            features = imagenet.parse_record({"record": record})
            labels.append(int(features["label"]))
            sizes.append(tuple(tf.image.extract_jpeg_shape(features["image_bytes"])[:2]
                               .numpy()))
    return labels, sizes


def test_imagenet_shards_keep_labels_skip_corrupt_images_and_resume(tmp_path, capsys):
    data_dir, output_dir = tmp_path / "imagenet", tmp_path / "resized"
    data_dir.mkdir()
    # Two shards of photo-sized and small JPEGs; the third record of the first is corrupt.
    shapes = [(120, 90), (80, 160), (0, 0), (40, 50), (96, 128), (100, 100), (64, 200)]
    labels = [3, 17, 5, 999, 0, 42, 7]
    for shard in range(2):
        with tf.io.TFRecordWriter(str(data_dir / f"validation-{shard:05d}-of-00002")) as w:
            for k in range(shard * 4, min(shard * 4 + 4, len(shapes))):
                height, width = shapes[k]
                encoded = CORRUPT if not height else jpeg_bytes(height, width, seed=k)
                w.write(prepare._imagenet_record(encoded, labels[k]))
    expected_labels, expected_sizes = _loader_labels(data_dir, "validation"), []
    for height, width in shapes:
        if height:
            scale = min(1.0, 64 / min(height, width))
            expected_sizes.append((round(height * scale), round(width * scale)))

    prepare.main(["--dataset=imagenet", f"--data_dir={data_dir}", f"--output_dir={output_dir}",
                  "--split=validation", "--min_side=64", "--num_shards=3"])
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and "skipped 1 image(s)" in lines[0], lines
    assert "validation example" in lines[0]
    shards = sorted(os.listdir(output_dir))
    assert shards == [f"validation-{i:05d}-of-00003" for i in range(3)]   # nothing partial
    got_labels, got_sizes = _shards_in_order(output_dir)
    # The shards are blocks of the loader's order; only the corrupt image is missing.
    assert got_labels == [label for label in expected_labels if label != 5]
    assert sorted(got_sizes) == sorted(expected_sizes)
    assert sorted(_loader_labels(output_dir, "validation")) == sorted(got_labels)

    # A rerun after an interruption: finished shards are kept as they are, the missing one
    # is written again, identical.
    first = output_dir / shards[0]
    before = (first.stat().st_mtime_ns, first.stat().st_ino)
    removed = (output_dir / shards[2]).read_bytes()
    (output_dir / shards[2]).unlink()
    prepare.main(["--dataset=imagenet", f"--data_dir={data_dir}", f"--output_dir={output_dir}",
                  "--split=validation", "--min_side=64", "--num_shards=3"])
    assert (first.stat().st_mtime_ns, first.stat().st_ino) == before
    assert (output_dir / shards[2]).read_bytes() == removed


def test_raw_records_hold_the_resized_pixels_and_read_mixed_with_jpeg(tmp_path, capfd):
    data_dir, output_dir = tmp_path / "imagenet", tmp_path / "raw"
    data_dir.mkdir()
    # With --raw_fraction=0.5 the 2nd and 4th are raw: one resized, one small enough as it is.
    shapes, labels = [(60, 80), (90, 40), (20, 30), (24, 30)], [3, 17, 999, 0]
    originals = [jpeg_bytes(height, width, seed=k) for k, (height, width) in enumerate(shapes)]
    with tf.io.TFRecordWriter(str(data_dir / "train-00000-of-00001")) as writer:
        for encoded, label in zip(originals, labels):
            writer.write(prepare._imagenet_record(encoded, label))
    prepare.main(["--dataset=imagenet", f"--data_dir={data_dir}", f"--output_dir={output_dir}",
                  "--split=train", "--min_side=32", "--raw_fraction=0.5"])

    records = list(tf.data.TFRecordDataset(str(output_dir / "train-00000-of-00001")))
    assert len(records) == 4
    seed = tf.constant([4, 2], tf.int64)
    for k, record in enumerate(records):
        features = imagenet.parse_record({"record": record})
        assert int(features["label"]) == labels[k]
        assert bool(preprocess.is_raw(features)) == (k in (1, 3))
        if k not in (1, 3):
            assert bool(tf.io.is_jpeg(features["image_bytes"]))
            continue
        original = tf.io.decode_jpeg(originals[k], channels=3)
        height, width = shapes[k]
        scale = min(1.0, 32 / min(height, width))
        resized = tf.image.resize(tf.cast(original, tf.float32),
                                  [round(height * scale), round(width * scale)], method="area")
        expected = tf.cast(tf.clip_by_value(resized + 0.5, 0, 255), tf.uint8)
        np.testing.assert_array_equal(preprocess.decode(features)["image"], expected)
        # The training and evaluation crops of the raw pixels are those of the decoded image.
        for crop in (lambda ex: preprocess.random_resized_crop(ex, seed, 16),
                     lambda ex: preprocess.center_crop(ex, 16)):
            np.testing.assert_array_equal(crop(features)["image"],
                                          crop({"image": expected})["image"])

    # A raw record 3 bytes short, in a second file: skipped and counted, the rest read.
    short = tf.train.Example.FromString(
        prepare._imagenet_record(b"", 5, np.zeros((32, 32, 3), np.uint8)))
    short.features.feature["image/encoded"].bytes_list.value[0] = bytes(32 * 32 * 3 - 3)
    with tf.io.TFRecordWriter(str(output_dir / "train-extra")) as writer:
        writer.write(short.SerializeToString())
    dataset, info = data.get("imagenet", "train", data_dir=str(output_dir), batch_size=2,
                             image_size=16, seed=0)
    got = sorted(int(label) for _, batch in dataset for label in batch)
    assert info.num_examples == 5 and got == sorted(labels)
    err = capfd.readouterr().err
    assert err.count("warning: skipped") == 1 and "skipped 1 corrupt" in err


def test_coco_json_boxes_stay_on_their_objects(tmp_path, capsys):
    data_dir, output_dir = tmp_path / "own", tmp_path / "resized"
    (data_dir / "images").mkdir(parents=True)
    images = [("a.jpg", 300, 200), ("b.png", 90, 160), ("bad.jpg", 100, 100)]
    for name, height, width in images:
        encoded = (CORRUPT if name.startswith("bad") else
                   (png_bytes if name.endswith(".png") else jpeg_bytes)(height, width))
        (data_dir / "images" / name).write_bytes(encoded)
    annotations = [
        {"id": 1, "image_id": 1, "category_id": 7, "bbox": [10, 20, 50, 100], "iscrowd": 0,
         "segmentation": [[10, 20, 60, 20, 60, 120]], "area": 5000},
        {"id": 2, "image_id": 1, "category_id": 9, "bbox": [150, 250, 40, 45], "iscrowd": 1,
         "segmentation": {"counts": "abc", "size": [300, 200]}},
        {"id": 3, "image_id": 2, "category_id": 9, "bbox": [100, 10, 30, 70], "area": 2100},
        {"id": 4, "image_id": 3, "category_id": 7, "bbox": [1, 1, 5, 5]}]
    content = {"images": [{"id": k + 1, "file_name": name, "height": height, "width": width}
                          for k, (name, height, width) in enumerate(images)],
               "annotations": annotations,
               "categories": [{"id": 7, "name": "cat"}, {"id": 9, "name": "dog"}]}
    annotation_file = data_dir / "train.json"
    annotation_file.write_text(json.dumps(content))

    prepare.main(["--dataset=coco_json", f"--annotation_file={annotation_file}",
                  f"--image_dir={data_dir / 'images'}", f"--output_dir={output_dir}",
                  "--split=train", "--max_side=100"])
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and "skipped 1 image(s)" in lines[0] and "bad.jpg" in lines[0]

    before = {record[0]: record for record in coco.read_annotations(str(annotation_file))[0]}
    after = coco.read_annotations(str(output_dir / "train.json"))
    assert after[1:3] == (("cat", "dog"), (7, 9))
    records = {record[0]: record for record in after[0]}
    assert sorted(records) == ["a.jpg", "b.png"]   # the corrupt image and its box are gone
    for name, (_, image_id, size, boxes, classes, crowd, area) in records.items():
        file_size = tuple(tf.io.decode_image(
            (output_dir / "images" / name).read_bytes()).shape[:2])
        assert size == file_size and max(size) == 100   # the JSON says the new size
        original = before[name]
        np.testing.assert_allclose(boxes, original[3], atol=1e-6)   # normalised: unchanged
        np.testing.assert_array_equal(classes, original[4])
        np.testing.assert_array_equal(crowd, original[5])
        scale = size[0] * size[1] / (original[2][0] * original[2][1])
        np.testing.assert_allclose(area, original[6] * scale, rtol=1e-5)
    written = json.loads((output_dir / "train.json").read_text())["annotations"]
    height, width = records["a.jpg"][2]
    polygon = [value * (width / 200 if k % 2 == 0 else height / 300)
               for k, value in enumerate(annotations[0]["segmentation"][0])]
    np.testing.assert_allclose(written[0]["segmentation"][0], polygon, rtol=1e-5)
    assert "segmentation" not in written[1]   # an RLE mask in the old pixels is dropped


def test_masks_are_resized_by_nearest_neighbour_with_their_images(tmp_path, capsys):
    data_dir, output_dir = tmp_path / "masks", tmp_path / "resized"
    (data_dir / "classes.txt").parent.mkdir()
    (data_dir / "classes.txt").write_text("background\nroad\ncar\n")
    mask = np.zeros((90, 120, 1), np.uint8)
    mask[:, 40:] = 1
    mask[30:60, 70:100] = 2
    mask[:, 117:] = 255   # ignored
    for split, stem in (("train", "x"), ("train", "y"), ("val", "z")):
        for folder in ("images", "masks"):
            (data_dir / split / folder).mkdir(parents=True, exist_ok=True)
        (data_dir / split / "images" / f"{stem}.jpg").write_bytes(
            CORRUPT if stem == "y" else jpeg_bytes(90, 120))
        (data_dir / split / "masks" / f"{stem}.png").write_bytes(tf.io.encode_png(mask).numpy())

    with pytest.raises(SystemExit):
        prepare.main(["--dataset=masks", f"--data_dir={data_dir}", "--max_side=100",
                      f"--output_dir={data_dir}"])
    assert "would overwrite the originals" in capsys.readouterr().err
    prepare.prepare("masks", data_dir=str(data_dir), output_dir=str(output_dir),
                    splits=["train", "validation"], max_side=60)
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and "skipped 1 image(s)" in lines[0] and "y.jpg" in lines[0]

    for split, stem in (("train", "x"), ("validation", "z")):
        images, mask_paths = masks.masks_files(str(output_dir), split)   # as the loader finds
        assert [os.path.basename(path) for path in images] == [f"{stem}.jpg"]
        image = tf.io.decode_jpeg(open(images[0], "rb").read())
        resized = tf.io.decode_png(open(mask_paths[0], "rb").read())
        assert image.shape[:2] == resized.shape[:2] == (45, 60)
        np.testing.assert_array_equal(
            resized, tf.image.resize(mask, [45, 60], method="nearest").numpy())
        assert set(np.unique(resized)) == {0, 1, 2, 255}
    assert (output_dir / "classes.txt").read_text() == "background\nroad\ncar\n"


def test_prepare_refuses_unclear_settings():
    with pytest.raises(UserError, match="one of --min_side"):
        prepare.prepare("imagenet", data_dir="x", output_dir="y", splits=["train"])
    with pytest.raises(UserError, match="one of --min_side"):
        prepare.prepare("imagenet", data_dir="x", output_dir="y", splits=["train"],
                        min_side=256, max_side=512)
    with pytest.raises(UserError, match="in 0..1"):
        prepare.prepare("imagenet", data_dir="x", output_dir="y", splits=["train"],
                        min_side=256, raw_fraction=1.5)
    # Detection and mask datasets are image files: no raw form for their loaders to read.
    with pytest.raises(UserError, match="applies to --dataset=imagenet"):
        prepare.prepare("coco_json", data_dir="x", output_dir="y", splits=["train"],
                        max_side=640, raw_fraction=0.5)
