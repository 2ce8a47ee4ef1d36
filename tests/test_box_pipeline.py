"""data.get_detection on the built-in Shapes: batch layout, targets that decode back to the
ground truth, evaluation ground truth padded to max_boxes, seeded order and exact resume."""
import numpy as np
import pytest

from mobilenet_tf import UserError, data
from mobilenet_tf.data import box_pipeline, shapes
from mobilenet_tf.detection import anchors as anchor_lib

SIZE = 64
ANCHORS = anchor_lib.ssd_anchors(anchor_lib.feature_map_sizes(SIZE, num_levels=4))


def _batches(split, **options):
    options = {"anchors": ANCHORS, "image_size": SIZE, "batch_size": 4, "num_examples": 12,
               **options}
    dataset, info = data.get_detection("shapes", split, **options)
    return list(dataset.as_numpy_iterator()), info


def _decode(deltas, anchors):
    deltas = deltas / [10.0, 10.0, 5.0, 5.0]
    centre = deltas[:, :2] * anchors[:, 2:] + anchors[:, :2]
    size = np.exp(deltas[:, 2:]) * anchors[:, 2:]
    return np.concatenate([centre - size / 2, centre + size / 2], axis=1)


def test_evaluation_batches_targets_and_padded_ground_truth():
    batches, info = _batches("validation", groundtruth=True, max_boxes=6, num_examples=6)
    assert info.num_classes == 6 and info.num_examples == 6 and info.image_size == SIZE
    assert [len(images) for images, _ in batches] == [4, 2]   # evaluation keeps the rest
    images, targets = batches[0]
    assert images.shape == (4, SIZE, SIZE, 3) and images.dtype == np.uint8
    assert targets["boxes"].shape == (4, len(ANCHORS), 4)
    assert targets["classes"].shape == (4, len(ANCHORS)) and targets["classes"].dtype == np.int32
    assert targets["gt_boxes"].shape == (4, 6, 4) and targets["gt_is_crowd"].dtype == bool
    np.testing.assert_array_equal(targets["image_id"], [0, 1, 2, 3])
    np.testing.assert_array_equal(targets["original_size"], [[SIZE, SIZE]] * 4)
    for k in range(4):
        example = shapes.render(k, shapes.split_seed("validation", 0), SIZE)
        n = len(example["classes"])
        np.testing.assert_array_equal(images[k], example["image"].numpy())
        np.testing.assert_allclose(targets["gt_boxes"][k, :n], example["boxes"].numpy())
        np.testing.assert_array_equal(targets["gt_classes"][k, :n], example["classes"].numpy())
        assert np.all(targets["gt_classes"][k, n:] == -1) and not targets["gt_is_crowd"].any()
        box = example["boxes"].numpy()
        area = (box[:, 2] - box[:, 0]) * (box[:, 3] - box[:, 1]) * SIZE * SIZE
        np.testing.assert_allclose(targets["gt_area"][k, :n], area, rtol=1e-5)
        # Positive anchors decode to their ground-truth boxes, with their classes.
        positive = targets["classes"][k] > 0
        assert positive.sum() >= n
        decoded = _decode(targets["boxes"][k][positive], ANCHORS[positive])
        distance = np.abs(decoded[:, None] - box[None]).max(axis=2)   # (P, n)
        assert np.all(distance.min(axis=1) < 1e-4)
        matched = distance.argmin(axis=1)
        np.testing.assert_array_equal(targets["classes"][k][positive] - 1,
                                      example["classes"].numpy()[matched])
        assert np.all(targets["boxes"][k][~positive] == 0)


def test_training_is_seeded_augmented_and_resumes_exactly():
    first, _ = _batches("train", seed=3)
    resumed, _ = _batches("train", seed=3, skip_batches=1)   # a second build, one batch on
    assert len(first) == 3 and len(resumed) == 2   # 12 examples, remainder dropped
    for (a_images, a_targets), (b_images, b_targets) in zip(first[1:], resumed):
        np.testing.assert_array_equal(a_images, b_images)
        np.testing.assert_array_equal(a_targets["boxes"], b_targets["boxes"])
        np.testing.assert_array_equal(a_targets["classes"], b_targets["classes"])
    classes = np.stack([targets["classes"] for _, targets in first])
    assert classes.min() >= 0 and classes.max() <= 6 and (classes > 0).any()
    plain, _ = _batches("train", seed=3, augmentation=data.BoxAugmentation(
        crop=False, expand=False, photometric=False, flip=False))
    assert not np.array_equal(plain[0][0], first[0][0])


def test_unknown_dataset_and_bad_sizes_are_user_errors():
    with pytest.raises(UserError, match="unknown detection dataset"):
        data.get_detection("nope", "train", anchors=ANCHORS, image_size=SIZE, batch_size=2)
    with pytest.raises(UserError, match="batch_size"):
        data.get_detection("shapes", "train", anchors=ANCHORS, image_size=SIZE, batch_size=0)
    with pytest.raises(UserError, match="does not take"):
        data.get_detection("shapes", "train", anchors=ANCHORS, image_size=SIZE, batch_size=2,
                           annotation_file="x.json")


def test_packed_targets_carry_the_class_as_a_fifth_box_column():
    dataset, _ = data.get_detection("shapes", "validation", anchors=ANCHORS, image_size=SIZE,
                                    batch_size=4, num_examples=4)
    (images, plain), = dataset.as_numpy_iterator()
    (packed_images, packed), = box_pipeline.with_packed_targets(dataset).as_numpy_iterator()
    np.testing.assert_array_equal(packed_images, images)
    assert packed["boxes"].shape == (4, len(ANCHORS), 5)
    np.testing.assert_array_equal(packed["boxes"][..., :4], plain["boxes"])
    np.testing.assert_array_equal(packed["boxes"][..., 4], plain["classes"])
    np.testing.assert_array_equal(packed["classes"], plain["classes"])
