"""Dataset loaders, each on a tiny fixture written here in the real on-disk format."""
import io
import os
import tarfile

import numpy as np
import pytest
import tensorflow as tf

from conftest import jpeg_bytes, png_bytes, prepare_tiny_tfds
from mobilenet_tf import UserError
from mobilenet_tf import data
from mobilenet_tf.data import folder, imagenet


def _example(encoded, label):
    feature = {
        "image/encoded": tf.train.Feature(bytes_list=tf.train.BytesList(value=[encoded])),
        "image/class/label": tf.train.Feature(int64_list=tf.train.Int64List(value=[label])),
        "image/format": tf.train.Feature(bytes_list=tf.train.BytesList(value=[b"JPEG"])),
    }
    return tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString()


def write_imagenet_tfrecords(root, shards, per_shard, split="train", extra_records=()):
    """The TPU tooling's layout: split-0000i-of-0000n files of JPEG Examples, labels 1..1000.
    Returns the 0-based labels written, in file order."""
    labels = []
    for shard in range(shards):
        path = os.path.join(root, f"{split}-{shard:05d}-of-{shards:05d}")
        with tf.io.TFRecordWriter(path) as writer:
            for i in range(per_shard):
                label = 1 + (shard * per_shard + i) * 37 % 1000
                size = (60 + 7 * i, 80 + 5 * shard)
                writer.write(_example(jpeg_bytes(*size, seed=shard * 100 + i), label))
                labels.append(label - 1)
            for record in extra_records:
                writer.write(record)
    return labels


def _all_labels(dataset):
    return sorted(np.concatenate([labels.numpy() for _, labels in dataset]).tolist())


def test_imagenet_tfrecords_read_with_zero_based_labels(tmp_path):
    written = write_imagenet_tfrecords(tmp_path, shards=2, per_shard=5, split="validation")
    dataset, info = data.get("imagenet", "validation", data_dir=str(tmp_path), batch_size=4,
                             image_size=32)
    assert info.num_examples == 10 and info.num_classes == 1000
    assert info.class_names[:2] == ("n01440764", "n01443537") and len(info.class_names) == 1000
    batches = list(dataset)
    assert [images.shape[0] for images, _ in batches] == [4, 4, 2]   # eval keeps every image
    images = batches[0][0]
    assert images.shape == (4, 32, 32, 3) and images.dtype == tf.uint8
    assert float(tf.math.reduce_std(tf.cast(images, tf.float32))) > 10   # pictures, not blanks
    assert _all_labels(dataset) == sorted(written)
    # Evaluation order is fixed: the two files interleaved round robin.
    assert batches[0][1].numpy().tolist() == [written[0], written[5], written[1], written[6]]


def test_imagenet_training_batches_are_shuffled_and_full(tmp_path):
    write_imagenet_tfrecords(tmp_path, shards=3, per_shard=4)
    dataset, info = data.get("imagenet", "train", data_dir=str(tmp_path), batch_size=5,
                             image_size=32, seed=1)
    batches = list(dataset)
    assert info.num_examples == 12 and len(batches) == 2   # 12 // 5, remainder dropped
    assert all(labels.shape == (5,) for _, labels in batches)


def test_corrupt_records_and_jpegs_are_skipped_and_counted(tmp_path, capfd):
    truncated = _example(jpeg_bytes(64, 64, seed=9)[:300], 7)
    not_a_jpeg = _example(b"this is not an image", 8)
    not_an_example = b"\x00\x01garbage"
    written = write_imagenet_tfrecords(tmp_path, shards=1, per_shard=6, split="validation",
                                       extra_records=(truncated, not_a_jpeg, not_an_example))
    dataset, info = data.get("imagenet", "validation", data_dir=str(tmp_path), batch_size=4,
                             image_size=32)
    assert _all_labels(dataset) == sorted(written)
    err = capfd.readouterr().err
    # The three bad records are counted in one line, not reported one by one.
    assert err.count("warning: skipped") == 1 and "skipped 3 corrupt" in err
    assert info.num_examples == 9


def test_missing_or_empty_imagenet_dir_is_a_user_error(tmp_path):
    with pytest.raises(UserError, match="does not exist"):
        data.get("imagenet", "train", data_dir=str(tmp_path / "nowhere"))
    with pytest.raises(UserError) as error:
        data.get("imagenet", "train", data_dir=str(tmp_path))
    message = str(error.value)
    for looked_for in ("train-*", "imagenet2012", "ILSVRC2012_img_train.tar", str(tmp_path)):
        assert looked_for in message
    with pytest.raises(UserError, match="needs --data_dir"):
        data.get("imagenet", "train")


def _tar_of(members):
    """Bytes of an uncompressed tar holding {name: bytes}."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name, content in members.items():
            member = tarfile.TarInfo(name)
            member.size = len(content)
            tar.addfile(member, io.BytesIO(content))
    return buffer.getvalue()


def test_imagenet_from_the_official_tars_via_tfds(tmp_path):
    # The official layout: the train tar holds one tar per synset; the val tar holds flat
    # JPEGs whose labels TFDS looks up by name (images 1..3 are synsets 65, 970, 230).
    train = {f"{synset}.tar": _tar_of({f"{synset}_{i}.JPEG": jpeg_bytes(50, 60, seed=i)
                                       for i in range(2)})
             for synset in ("n01440764", "n01443537")}
    (tmp_path / "ILSVRC2012_img_train.tar").write_bytes(_tar_of(train))
    val = {f"ILSVRC2012_val_{i:08d}.JPEG": jpeg_bytes(70, 50, seed=i) for i in (1, 2, 3)}
    (tmp_path / "ILSVRC2012_img_val.tar").write_bytes(_tar_of(val))
    assert imagenet.find_layout(str(tmp_path), "validation")[0] == "manual"

    dataset, info = data.get("imagenet", "validation", data_dir=str(tmp_path), batch_size=8,
                             image_size=32)
    assert info.num_examples == 3 and info.class_names[0] == "n01440764"
    assert _all_labels(dataset) == [65, 230, 970]
    # Prepared once: the next run finds the TFDS form and reads the training split from it.
    assert imagenet.find_layout(str(tmp_path), "train")[0] == "tfds"
    train_set, train_info = data.get("imagenet", "train", data_dir=str(tmp_path), batch_size=4,
                                     image_size=32, seed=0)
    assert train_info.num_examples == 4 and _all_labels(train_set) == [0, 0, 1, 1]


def _write_folder(root, counts, encoder=jpeg_bytes, start_seed=0):
    for class_index, (name, count) in enumerate(counts.items()):
        os.makedirs(root / name, exist_ok=True)
        for i in range(count):
            suffix = ".jpg" if encoder is jpeg_bytes else ".png"
            seed = start_seed + 100 * class_index + i
            (root / name / f"img_{i}{suffix}").write_bytes(encoder(40 + i, 50, seed=seed))


def test_folder_split_is_deterministic_disjoint_and_complete(tmp_path):
    _write_folder(tmp_path, {"tulip": 30, "daisy": 25})
    _write_folder(tmp_path, {"rose": 20}, encoder=png_bytes)
    train, labels, names = folder.list_files(str(tmp_path), "train", validation_fraction=0.2)
    validation, _, _ = folder.list_files(str(tmp_path), "validation", validation_fraction=0.2)
    assert names == ("daisy", "rose", "tulip")   # sorted, not in creation order
    assert not set(train) & set(validation) and len(train) + len(validation) == 75
    assert 5 <= len(validation) <= 25
    assert folder.list_files(str(tmp_path), "train", validation_fraction=0.2)[0] == train

    dataset, info = data.get("folder", "validation", data_dir=str(tmp_path), batch_size=64,
                             image_size=24, validation_fraction=0.2)
    assert info.num_classes == 3 and info.num_examples == len(validation)
    images, labels = next(iter(dataset))
    assert images.shape == (len(validation), 24, 24, 3) and set(labels.numpy()) <= {0, 1, 2}

    # Adding images never moves an old one across the split.
    _write_folder(tmp_path, {"tulip": 40}, start_seed=1000)
    assert set(train) <= set(folder.list_files(str(tmp_path), "train", 0.2)[0])


def test_folder_with_train_and_val_folders_uses_them(tmp_path):
    _write_folder(tmp_path / "train", {"cat": 4, "dog": 3})
    _write_folder(tmp_path / "val", {"cat": 2, "dog": 1})
    dataset, info = data.get("folder", "validation", data_dir=str(tmp_path), batch_size=8,
                             image_size=16)
    assert info.num_examples == 3 and _all_labels(dataset) == [0, 0, 1]


def test_folder_errors_name_the_path(tmp_path):
    with pytest.raises(UserError, match="nowhere"):
        data.get("folder", "train", data_dir=str(tmp_path / "nowhere"))
    with pytest.raises(UserError, match="no class sub-folders"):
        data.get("folder", "train", data_dir=str(tmp_path))
    (tmp_path / "empty_class").mkdir()
    with pytest.raises(UserError, match="has one class folder .empty_class.; a classifier "
                                        "needs two or more"):
        data.get("folder", "train", data_dir=str(tmp_path))
    (tmp_path / "other_class").mkdir()
    with pytest.raises(UserError, match="no .* images"):
        data.get("folder", "train", data_dir=str(tmp_path))


def test_unreadable_image_file_is_skipped(tmp_path):
    _write_folder(tmp_path / "train", {"a": 3, "b": 1})
    _write_folder(tmp_path / "val", {"a": 2})
    (tmp_path / "val" / "a" / "broken.jpg").write_bytes(b"\xff\xd8\xff not really")
    dataset, info = data.get("folder", "validation", data_dir=str(tmp_path), batch_size=8,
                             image_size=16)
    assert info.num_examples == 3 and _all_labels(dataset) == [0, 0]


def test_prepared_tfds_dataset_loads_by_name_without_download(tmp_path):
    prepare_tiny_tfds(tmp_path)
    # "validation" falls back to the dataset's "test" split.
    dataset, info = data.get("tfds:tiny_flowers", "validation", data_dir=str(tmp_path),
                             batch_size=8, image_size=16)
    assert info.num_examples == 4 and info.class_names == ("iris", "lily", "poppy")
    assert _all_labels(dataset) == [0, 0, 1, 2]
    train, train_info = data.get("tfds:tiny_flowers", "train[:6]", data_dir=str(tmp_path),
                                 batch_size=3, image_size=16, seed=0)
    assert train_info.num_examples == 6 and len(list(train)) == 2
    with pytest.raises(UserError, match="no split 'extra'"):
        data.get("tfds:tiny_flowers", "extra", data_dir=str(tmp_path))
    with pytest.raises(UserError, match="tfds build mnist"):
        data.get("tfds:mnist", "train", data_dir=str(tmp_path))


def test_unknown_dataset_and_option_are_user_errors():
    with pytest.raises(UserError, match="unknown dataset 'imagenet21k'.*shapes"):
        data.get("imagenet21k", "train")
    with pytest.raises(UserError, match="does not take"):
        data.get("shapes", "train", colour="blue")
    with pytest.raises(UserError, match="batch_size"):
        data.get("shapes", "train", batch_size=0)


def test_shapes_batches_are_the_generators_images_normalised():
    from mobilenet_tf.data import shapes
    dataset, info = data.get("shapes", "validation", batch_size=60, image_size=32,
                             num_examples=120, seed=5)
    assert info.num_classes == 6 and info.num_examples == 120 and info.image_size == 32
    assert info.class_names == shapes.CLASS_NAMES
    images, labels = next(iter(dataset))
    assert images.shape == (60, 32, 32, 3) and np.bincount(labels.numpy()).tolist() == [10] * 6
    # The run's seed shuffles and augments training only; evaluation data never changes.
    first = shapes.render(0, shapes.split_seed("validation", 0), 32)
    np.testing.assert_array_equal(images[0], first["image"])   # bytes, untouched
    assert int(labels[0]) == int(first["label"])


def test_shapes_workers_render_disjoint_shares():
    labels_per_worker = []
    for worker in range(2):
        context = tf.distribute.InputContext(2, worker, 2)
        dataset, _ = data.get("shapes", "validation", batch_size=20, image_size=16,
                              num_examples=24, input_context=context)
        batches = list(dataset)
        assert [len(labels) for _, labels in batches] == [10, 2]
        labels_per_worker.append(np.concatenate([labels for _, labels in batches]))
    # Worker 0 renders the even indices, worker 1 the odd: labels are index % 6.
    assert labels_per_worker[0].tolist() == [i % 6 for i in range(0, 24, 2)]
    assert labels_per_worker[1].tolist() == [i % 6 for i in range(1, 24, 2)]


def test_a_record_failing_its_checksum_skips_the_rest_of_its_file_with_a_warning(tmp_path,
                                                                                capfd):
    written = write_imagenet_tfrecords(tmp_path, shards=2, per_shard=4, split="validation")
    path = tmp_path / "validation-00001-of-00002"
    damaged = bytearray(path.read_bytes())
    record_bytes = len(damaged) // 4
    damaged[record_bytes + record_bytes // 2] ^= 0xFF   # inside the second record's data
    path.write_bytes(bytes(damaged))
    dataset, _ = data.get("imagenet", "validation", data_dir=str(tmp_path), batch_size=8,
                          image_size=16)
    # File 0 whole, and file 1's first record: the reader cannot resynchronise after a
    # damaged record, so the file's last three are lost, and said so.
    assert _all_labels(dataset) == sorted(written[:5])
    err = capfd.readouterr().err
    assert err.count("warning: corrupt record in") == 1 and str(path) in err


def test_bytes_are_added_up_across_chunks_of_records(tmp_path, capfd):
    # More records than one chunk holds, so the count of bytes read spans chunks.
    count = 2 * imagenet._RECORDS_PER_CHUNK + 5
    path = tmp_path / "train-00000-of-00001"
    with tf.io.TFRecordWriter(str(path)) as writer:
        for i in range(count):
            writer.write(b"%05d" % i)   # framed: 8 length + 4 CRC + 5 data + 4 CRC = 21 bytes
    read = lambda: list(imagenet._read_tfrecord_file(str(path), path.stat().st_size)
                        .as_numpy_iterator())
    assert read() == [b"%05d" % i for i in range(count)]
    assert "warning" not in capfd.readouterr().err
    damaged = bytearray(path.read_bytes())
    damaged[21 * (count - 3) + 12] ^= 0xFF   # the data of the third record from the end
    path.write_bytes(bytes(damaged))
    assert len(read()) == count - 3
    assert capfd.readouterr().err.count("warning: corrupt record in") == 1
