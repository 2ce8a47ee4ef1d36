"""The built-in Shapes dataset: deterministic, split-separated, and its labels, masks and
boxes agree with each other and with the pixels."""
import numpy as np
import pytest
import tensorflow as tf

from mobilenet_tf import UserError
from mobilenet_tf.data import shapes

SIZE = 64   # small images keep the many-example checks fast; geometry is size-independent
MIN_PIXELS = round(shapes.MIN_VISIBLE_FRACTION * SIZE * SIZE)


def _take(split="train", count=200, size=SIZE, seed=0):
    """The first `count` examples of a split, as dicts of numpy arrays."""
    return list(shapes.examples(split, seed, size, count).as_numpy_iterator())


@pytest.fixture(scope="module")
def train_examples():
    return _take()


def _assert_same(a, b):
    for key in ("image", "label", "boxes", "classes", "mask"):
        np.testing.assert_array_equal(np.asarray(a[key]), np.asarray(b[key]), err_msg=key)


def test_render_is_a_pure_function_of_seed_and_index():
    first = shapes.render(5, seed=7, image_size=SIZE)
    _assert_same(first, shapes.render(5, seed=7, image_size=SIZE))
    for other in (shapes.render(5, 8, SIZE), shapes.render(6, 7, SIZE)):
        assert not np.array_equal(first["image"], other["image"])
        assert not np.array_equal(first["mask"], other["mask"])


def test_examples_are_the_eager_renders_of_their_split_stream():
    # Every pixel, not just the masks: eager and tf.data must not round differently.
    stream = shapes.split_seed("validation", 3)
    for index, example in enumerate(_take("validation", count=12, seed=3)):
        _assert_same(example, shapes.render(index, stream, image_size=SIZE))


def test_splits_have_their_sizes_and_never_share_images():
    images = {}
    for split, size in shapes.SPLIT_SIZES.items():
        dataset = shapes.examples(split, image_size=SIZE)
        assert dataset.cardinality().numpy() == size
        images[split] = {e["image"].tobytes() for e in dataset.take(20).as_numpy_iterator()}
    assert not images["train"] & images["validation"]
    assert not images["train"] & images["test"]
    assert not images["validation"] & images["test"]


@pytest.mark.parametrize("size", [128, 64, 32])
def test_dtypes_and_shapes(size):
    dataset = shapes.examples("train", image_size=size, num_examples=8)
    spec = dataset.element_spec
    assert spec["image"] == tf.TensorSpec([size, size, 3], tf.uint8)
    assert spec["label"] == tf.TensorSpec([], tf.int32)
    assert spec["boxes"] == tf.TensorSpec([None, 4], tf.float32)
    assert spec["classes"] == tf.TensorSpec([None], tf.int32)
    assert spec["mask"] == tf.TensorSpec([size, size], tf.uint8)
    for example in dataset.as_numpy_iterator():
        assert 1 <= len(example["boxes"]) == len(example["classes"]) <= shapes.MAX_SHAPES
        assert example["mask"].max() <= len(shapes.CLASS_NAMES)


def test_max_shapes_bounds_the_number_of_shapes():
    counts = [len(e["classes"]) for e in shapes.examples("train", 0, 32, 30, max_shapes=7)
              .as_numpy_iterator()]
    assert max(counts) > shapes.MAX_SHAPES and max(counts) <= 7
    singles = shapes.examples("train", 0, 32, 10, max_shapes=1).as_numpy_iterator()
    assert all(len(e["classes"]) == 1 for e in singles)


def test_boxes_are_tight_around_their_class_pixels(train_examples):
    for example in train_examples:
        mask, covered = example["mask"], np.zeros([SIZE, SIZE], bool)
        for box, cls in zip(example["boxes"], example["classes"]):
            assert 0.0 <= box[0] < box[2] <= 1.0 and 0.0 <= box[1] < box[3] <= 1.0
            pixels = box * SIZE
            np.testing.assert_array_equal(pixels, np.round(pixels))   # on pixel edges
            y0, x0, y1, x1 = pixels.astype(int)
            inside = mask[y0:y1, x0:x1] == cls + 1
            # Tight: the shape touches all four edges of its box ...
            assert inside[0].any() and inside[-1].any()
            assert inside[:, 0].any() and inside[:, -1].any()
            # ... and shows at least the minimum a kept shape must show.
            assert inside.sum() >= MIN_PIXELS
            covered[y0:y1, x0:x1] |= inside
        # Every shape pixel lies in a box of its class: no shape is missing from the boxes.
        np.testing.assert_array_equal(covered, mask > 0)
        assert set(np.unique(mask[mask > 0]) - 1) == set(example["classes"])


def test_label_is_the_largest_shape_and_has_the_most_pixels(train_examples):
    for example in train_examples:
        label = example["label"]
        assert example["classes"][0] == label   # boxes[0] is the largest shape's
        areas = np.bincount(example["mask"].ravel(), minlength=7)[1:]
        assert np.argmax(areas) == label and areas[label] > areas.sum() - areas[label]
        y0, x0, y1, x1 = (example["boxes"][0] * SIZE).astype(int)
        assert (y1 - y0) * (x1 - x0) > 0.08 * SIZE * SIZE


def test_labels_are_exactly_balanced():
    labels = [int(e["label"]) for e in _take(count=600)]
    np.testing.assert_array_equal(np.bincount(labels), [100] * 6)


def test_shapes_stand_out_from_the_background(train_examples):
    for example in train_examples:
        image, mask = example["image"].astype(float), example["mask"]
        shape = image[mask == example["label"] + 1].mean(axis=0)
        background = image[mask == 0].mean(axis=0)
        assert np.abs(shape - background).max() > 35, (shape, background)


def test_bad_options_are_user_errors():
    with pytest.raises(UserError, match="validation"):
        shapes.examples("valid")
    with pytest.raises(UserError, match="image_size"):
        shapes.examples("train", image_size=4)


def test_no_seed_is_seed_zero():
    assert shapes.split_seed("test", None) == shapes.split_seed("test", 0)


@pytest.mark.parametrize("name", shapes.CLASS_NAMES)
def test_each_shape_has_its_analytic_area(name):
    """The implicit shapes, drawn large on their own, cover the area their factor promises."""
    cls = shapes.CLASS_NAMES.index(name)
    radius, size = 60.0, 128
    params = {"classes": tf.constant([cls] * 3), "radius": tf.constant([radius] * 3),
              "centre": tf.constant([[64.0, 64.0]] * 3), "angle": tf.constant([0.0, 0.4, 2.0])}
    masks = shapes._window_masks(params, tf.zeros([3, 2], tf.int32), size).numpy()
    expected = shapes._AREA_FACTOR[cls] * radius ** 2
    np.testing.assert_allclose(masks.sum(axis=(1, 2)), expected, rtol=0.02)


def test_shapes_lie_inside_the_image_and_their_windows():
    """Masks drawn in windows equal masks drawn on a grid larger than the image."""
    size, margin = 96, 8
    for index in range(12):
        key = tf.constant([1, index], tf.int64)
        params = shapes._shape_params(key, tf.constant(index, tf.int64), float(size), 4)
        windowed = tf.concat([
            shapes._shape_masks(params, slice(0, 1), shapes.LARGEST_AREA, size),
            shapes._shape_masks(params, slice(1, None), shapes.OTHER_AREA, size)], axis=0)
        whole = shapes._window_masks(params, tf.fill([4, 2], -margin), size + 2 * margin)
        np.testing.assert_array_equal(
            windowed.numpy(), whole.numpy()[:, margin:-margin, margin:-margin])
        assert whole.numpy().sum() == windowed.numpy().sum()   # nothing beyond the image
        area = float(params["radius"][0]) ** 2 * shapes._AREA_FACTOR[int(params["classes"][0])]
        assert shapes.LARGEST_AREA[0] <= area / size ** 2 <= shapes.LARGEST_AREA[1]
