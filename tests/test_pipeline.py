"""The shared pipeline: reproducibility, sharding, skipping, caching and batch augmentation."""
import numpy as np
import pytest
import tensorflow as tf

from conftest import jpeg_bytes
from mobilenet_tf import UserError, data
from mobilenet_tf.data import Augmentation, augment, pipeline
from mobilenet_tf.detection import anchors as anchor_lib

from test_data_sources import write_imagenet_tfrecords


@pytest.fixture(scope="module")
def imagenet_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("imagenet")
    write_imagenet_tfrecords(root, shards=4, per_shard=6)
    write_imagenet_tfrecords(root, shards=2, per_shard=5, split="validation")
    return str(root)


def _numpy(dataset):
    return [(images.numpy(), labels.numpy()) for images, labels in dataset]


def _same(first, second):
    return len(first) == len(second) and all(
        np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1]) for a, b in zip(first, second))


def test_a_seeded_training_run_is_reproducible_and_epochs_differ(imagenet_dir):
    def batches(seed):
        dataset, _ = data.get("imagenet", "train", data_dir=imagenet_dir, batch_size=8,
                              image_size=32, seed=seed)
        return _numpy(dataset), _numpy(dataset)   # two epochs of one dataset

    first_epoch, second_epoch = batches(seed=5)
    again_first, again_second = batches(seed=5)
    other_seed, _ = batches(seed=6)
    assert _same(first_epoch, again_first) and _same(second_epoch, again_second)
    assert not _same(first_epoch, second_epoch)   # reshuffled and re-cropped every epoch
    assert not _same(first_epoch, other_seed)


@pytest.mark.parametrize("augmentation", [Augmentation(), Augmentation(mixup_alpha=0.4)])
def test_skip_batches_resumes_the_seeded_stream_where_it_stopped(imagenet_dir, augmentation):
    def batches(skip_batches):
        dataset, _ = data.get("imagenet", "train", data_dir=imagenet_dir, batch_size=4,
                              image_size=32, seed=3, augmentation=augmentation,
                              skip_batches=skip_batches)
        return _numpy(dataset)

    whole = batches(0)
    assert len(whole) == 6
    assert _same(batches(2), whole[2:])   # same examples, same crops, same mixing


def test_workers_read_disjoint_shards_that_cover_the_split(imagenet_dir):
    # Two workers with one replica each, as distribute_datasets_from_function passes them.
    seen = []
    for worker in range(2):
        context = tf.distribute.InputContext(num_input_pipelines=2, input_pipeline_id=worker,
                                             num_replicas_in_sync=2)
        dataset, info = data.get("imagenet", "validation", data_dir=imagenet_dir,
                                 batch_size=4, image_size=16, input_context=context)
        images, labels = zip(*_numpy(dataset))
        assert max(len(batch) for batch in labels) == 2   # the global batch of 4, halved
        seen.append(sorted(np.concatenate(labels).tolist()))
    assert not set(seen[0]) & set(seen[1])
    assert len(seen[0]) + len(seen[1]) == info.num_examples == 10


def test_more_workers_than_files_shard_by_record(imagenet_dir):
    counts = []
    for worker in range(3):
        context = tf.distribute.InputContext(3, worker, 3)
        dataset, _ = data.get("imagenet", "validation", data_dir=imagenet_dir, batch_size=3,
                              image_size=16, input_context=context)
        counts.append(sum(len(labels) for _, labels in _numpy(dataset)))
    assert sum(counts) == 10 and max(counts) - min(counts) <= 1


def test_cached_evaluation_gives_the_same_batches(imagenet_dir):
    plain, _ = data.get("imagenet", "validation", data_dir=imagenet_dir, batch_size=4,
                        image_size=24)
    cached, _ = data.get("imagenet", "validation", data_dir=imagenet_dir, batch_size=4,
                         image_size=24, cache=True)
    expected = _numpy(plain)
    assert len(expected) == 3
    for _ in range(2):   # the second epoch comes from the cache
        got = _numpy(cached)
        for (a_images, a_labels), (b_images, b_labels) in zip(expected, got):
            np.testing.assert_array_equal(a_labels, b_labels)
            # decode_and_crop_jpeg vs crop of the decoded image: equal up to JPEG rounding.
            assert np.abs(a_images.astype(float) - b_images).mean() < 1.0


def test_skipping_keeps_every_good_element_in_order(capfd):
    good = [jpeg_bytes(20, 20, seed=i) for i in range(12)]
    encoded = good[:3] + [b"junk"] + good[3:] + [good[0][:100]]
    dataset = tf.data.Dataset.from_tensor_slices({"image_bytes": encoded})
    decoded = pipeline.map_skipping_corrupt(
        dataset, lambda ex: tf.io.decode_jpeg(ex["image_bytes"], channels=3))
    options = tf.data.Options()
    options.deterministic = True
    out = list(decoded.with_options(options).as_numpy_iterator())
    assert len(out) == 12
    for image, encoded_good in zip(out, good):
        np.testing.assert_array_equal(image, tf.io.decode_jpeg(encoded_good, channels=3))
    assert capfd.readouterr().err.count("warning: skipped") == 1


def test_drops_at_the_very_end_are_counted_and_tuples_are_spread_as_map_does(capfd):
    # One good image, then ten bad ones: only the end marker shows them gone.
    encoded = [jpeg_bytes(20, 20, seed=0)] + [b"junk"] * 10
    dataset = tf.data.Dataset.from_tensor_slices((encoded, list(range(11))))
    decoded = pipeline.map_skipping_corrupt(
        dataset, lambda image_bytes, label: (tf.io.decode_jpeg(image_bytes), label))
    out = list(decoded.as_numpy_iterator())
    assert len(out) == 1 and out[0][1] == 0
    err = capfd.readouterr().err
    assert err.count("warning: skipped") == 1 and "skipped 10 " in err


def test_a_corrupt_file_is_named_once_not_every_epoch(tmp_path, capfd):
    paths = []
    for k in range(5):
        paths.append(str(tmp_path / f"{k}.jpg"))
        with open(paths[-1], "wb") as f:
            f.write(jpeg_bytes(16, 16, seed=k) if k != 2 else b"\xff\xd8 truncated")
    dataset = tf.data.Dataset.from_tensor_slices({"path": paths})
    decoded = pipeline.map_skipping_corrupt(
        dataset, lambda ex: tf.io.decode_jpeg(tf.io.read_file(ex["path"]), channels=3))
    for _ in range(2):   # two epochs
        assert len(list(decoded.as_numpy_iterator())) == 4
    err = capfd.readouterr().err
    assert err.count("warning: skipped") == 1, err
    assert f"skipped {paths[2]}: corrupt or unreadable" in err


def test_the_end_marker_follows_the_last_element():
    marked = pipeline.with_end_marker(tf.data.Dataset.range(3), tf.constant(-1, tf.int64))
    assert list(marked.as_numpy_iterator()) == [(False, 0), (False, 1), (False, 2), (True, -1)]


def test_mixup_mixes_images_and_labels_by_the_same_weight():
    images = tf.reshape(tf.range(4, dtype=tf.float32), [4, 1, 1, 1]) * tf.ones([4, 6, 6, 3])
    labels = tf.one_hot([0, 1, 2, 3], 4)
    mixed_images, mixed_labels = augment.mixup(images, labels, tf.constant(0.7))
    # Image i is 0.7 * i + 0.3 * (3 - i); label i weighs class i by 0.7 and 3 - i by 0.3.
    np.testing.assert_allclose(mixed_images[:, 0, 0, 0], [0.9, 1.3, 1.7, 2.1], rtol=1e-6)
    np.testing.assert_allclose(mixed_labels[0], [0.7, 0, 0, 0.3], rtol=1e-6)


@pytest.mark.parametrize("seed", range(6))
def test_cutmix_label_weight_is_the_pasted_area(seed):
    images = tf.concat([tf.zeros([1, 16, 20, 3]), tf.ones([1, 16, 20, 3])], axis=0)
    labels = tf.one_hot([0, 1], 2)
    lam = augment._beta(tf.constant([seed, 9]), 1.0)
    mixed, mixed_labels = augment.cutmix(images, labels, lam, tf.constant([seed, 3]))
    pasted = float(tf.reduce_mean(mixed[0]))   # fraction of image 0 now taken from image 1
    np.testing.assert_allclose(mixed_labels[0], [1 - pasted, pasted], atol=1e-6)
    np.testing.assert_allclose(tf.reduce_sum(mixed_labels, -1), [1, 1], atol=1e-6)


def test_mixing_augmentations_give_one_hot_labels_that_sum_to_one(imagenet_dir):
    for augmentation in (Augmentation(mixup_alpha=0.2), Augmentation(cutmix_alpha=1.0),
                         Augmentation(mixup_alpha=0.8, cutmix_alpha=1.0)):
        dataset, info = data.get("imagenet", "train", data_dir=imagenet_dir, batch_size=6,
                                 image_size=16, seed=0, augmentation=augmentation)
        images, labels = next(iter(dataset))
        assert info.label_format == "one_hot" and labels.shape == (6, 1000)
        np.testing.assert_allclose(tf.reduce_sum(labels, -1), np.ones(6), atol=1e-5)
        assert float(tf.reduce_max(labels)) < 1.0 or augmentation.cutmix_alpha > 0
        assert images.dtype == tf.uint8 and images.shape == (6, 16, 16, 3)


def test_randaugment_changes_training_images(imagenet_dir):
    plain, _ = data.get("imagenet", "train", data_dir=imagenet_dir, batch_size=6,
                        image_size=32, seed=0)
    augmented, _ = data.get("imagenet", "train", data_dir=imagenet_dir, batch_size=6,
                            image_size=32, seed=0,
                            augmentation=Augmentation(randaugment_ops=2,
                                                      randaugment_magnitude=0.9))
    (plain_images, plain_labels), = _numpy(plain.take(1))
    (aug_images, aug_labels), = _numpy(augmented.take(1))
    np.testing.assert_array_equal(plain_labels, aug_labels)   # same order, same crops
    assert aug_images.shape == plain_images.shape
    assert aug_images.dtype == np.uint8
    assert np.abs(aug_images.astype(float) - plain_images).mean() > 1.0


def test_bad_options_are_user_errors():
    from mobilenet_tf import UserError
    with pytest.raises(UserError, match="crop_fraction"):
        data.get("shapes", "validation", crop_fraction=1.5)
    with pytest.raises(UserError, match="mixup_alpha"):
        data.get("shapes", "train", augmentation=Augmentation(mixup_alpha=-1))
    with pytest.raises(UserError, match="image_size"):
        data.get("shapes", "train", image_size=2)


def test_tf_data_autotunes_files_not_shapes_unless_the_recipe_says():
    """dataset.autotune "auto" (the default): off for the built-in Shapes, whose short runs
    autotuning slows (data.autotuned), on for files; "on" and "off" apply to any dataset, and
    each task's pipeline takes the setting."""
    assert [data.autotuned(setting, name) for setting in ("auto", "on", "off")
            for name in ("shapes", "imagenet", "coco_json")] == [
        False, True, True, True, True, True, False, False, False]
    images, _ = data.get("shapes", "validation", batch_size=4, image_size=16, num_examples=4)
    masks, _ = data.get_segmentation("shapes", "validation", batch_size=2, crop_size=(16, 16),
                                     num_examples=2, autotune="on")
    boxes, _ = data.get_detection(
        "shapes", "validation", anchors=anchor_lib.ssd_anchors([(4, 4)]), image_size=64,
        batch_size=2, num_examples=2)
    assert [dataset.options().autotune.enabled for dataset in (images, masks, boxes)] == [
        False, True, False]
    # A bad setting fails before the loader runs: here before 6,000 Shapes images are drawn.
    bad = "dataset.autotune must be one of auto, on, off, got 'yes'"
    with pytest.raises(UserError, match=bad):
        data.get("shapes", "train", batch_size=4, autotune="yes")
    with pytest.raises(UserError, match=bad):
        data.get_segmentation("shapes", "train", autotune="yes")
    with pytest.raises(UserError, match=bad):
        data.get_detection("shapes", "train", anchors=anchor_lib.ssd_anchors([(4, 4)]),
                           image_size=64, batch_size=2, autotune="yes")
