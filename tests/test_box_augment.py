"""SSD's box-aware augmentation: boxes stay in [0, 1] and follow the pixels they bound,
eagerly and inside tf.data; the crop meets its IoU constraint; flips mirror boxes."""
import numpy as np
import pytest
import tensorflow as tf

from mobilenet_tf.data import box_augment
from mobilenet_tf.data import target_assigner

HEIGHT, WIDTH = 40, 60
# Three disjoint boxes in pixels [y0, x0, y1, x1), each painted with its own blue value.
PIXEL_BOXES = np.array([[4, 6, 20, 30], [22, 34, 38, 58], [25, 2, 33, 12]])
BLUES = (250, 200, 150)   # none is the expansion fill's 104
GEOMETRY_ONLY = box_augment.BoxAugmentation(photometric=False)


def _example():
    """Red = column and green = row, so a crop shows where it was taken; blue = the box."""
    image = np.zeros((HEIGHT, WIDTH, 3), np.uint8)
    image[..., 0] = np.arange(WIDTH)[None, :]
    image[..., 1] = np.arange(HEIGHT)[:, None]
    for (y0, x0, y1, x1), blue in zip(PIXEL_BOXES, BLUES):
        image[y0:y1, x0:x1, 2] = blue
    boxes = (PIXEL_BOXES / [HEIGHT, WIDTH, HEIGHT, WIDTH]).astype(np.float32)
    return {"image": image, "boxes": boxes, "classes": np.array([0, 1, 2], np.int32),
            "is_crowd": np.array([False, True, False]),
            "area": np.array([1.0, 2.0, 3.0], np.float32)}


def _run(mode, function, seeds):
    """function(features, seed) for each seed, eagerly or mapped over a tf.data pipeline."""
    example = _example()
    seeds = np.array([[s, 7] for s in seeds], np.int64)
    if mode == "eager":
        results = [function({k: tf.constant(v) for k, v in example.items()}, tf.constant(s))
                   for s in seeds]
        return [{k: v.numpy() for k, v in result.items()} for result in results]
    dataset = tf.data.Dataset.from_tensor_slices(seeds).map(
        lambda seed: function({k: tf.constant(v) for k, v in example.items()}, seed))
    return list(dataset.as_numpy_iterator())


modes = pytest.mark.parametrize("mode", ["eager", "tf.data"])


@modes
def test_boxes_follow_the_pixels_through_expand_crop_and_flip(mode):
    results = _run(mode, lambda f, s: box_augment.augment(f, s, GEOMETRY_ONLY), range(12))
    shapes = set()
    for result in results:
        image, boxes = result["image"], result["boxes"]
        shapes.add(image.shape)
        assert np.all((boxes >= 0) & (boxes <= 1)) and len(boxes) >= 1
        assert len(result["classes"]) == len(result["is_crowd"]) == len(result["area"])
        for box, label, crowd, area in zip(boxes, result["classes"], result["is_crowd"],
                                           result["area"]):
            assert crowd == (label == 1) and area == label + 1   # fields stay together
            rows, columns = np.nonzero(image[..., 2] == BLUES[label])
            height, width = image.shape[:2]
            drawn = [rows.min() / height, columns.min() / width, (rows.max() + 1) / height,
                     (columns.max() + 1) / width]
            np.testing.assert_allclose(box, drawn, atol=1e-5)
    assert len(shapes) > 3   # expansions and crops really happened


@modes
def test_crop_meets_the_minimum_iou_and_keeps_boxes_by_centre(mode):
    crop = lambda f, s: box_augment.extract(box_augment.random_crop(f, s, min_ious=(0.5,)))
    results = _run(mode, crop, range(16))
    boxes = _example()["boxes"]
    cropped = 0
    for result in results:
        image = result["image"]
        if image.shape == (HEIGHT, WIDTH, 3):
            np.testing.assert_allclose(result["boxes"], boxes)
            continue
        cropped += 1
        top, left = int(image[0, 0, 1]), int(image[0, 0, 0])   # green = row, red = column
        height, width = image.shape[:2]
        window = np.array([[top / HEIGHT, left / WIDTH, (top + height) / HEIGHT,
                            (left + width) / WIDTH]], np.float32)
        overlaps = target_assigner.pairwise_iou(window, boxes).numpy()[0]
        assert overlaps[[0, 2]].max() >= 0.5   # the crowd box (1) does not count
        assert 0.5 <= height / width <= 2.0
        centres = (boxes[:, :2] + boxes[:, 2:]) / 2
        inside = np.all((centres > window[:, :2]) & (centres < window[:, 2:]), axis=1)
        np.testing.assert_array_equal(result["classes"], np.nonzero(inside)[0])
    assert 0 < cropped < 16   # "keep the image" is one of the two choices


@modes
def test_flip_maps_xmin_to_one_minus_xmax(mode):
    results = _run(mode, box_augment.random_flip, range(8))
    example = _example()
    flips = 0
    for result in results:
        if np.array_equal(result["image"], example["image"]):
            np.testing.assert_array_equal(result["boxes"], example["boxes"])
            continue
        flips += 1
        np.testing.assert_array_equal(result["image"], example["image"][:, ::-1])
        b = example["boxes"]
        np.testing.assert_allclose(result["boxes"], np.stack(
            [b[:, 0], 1 - b[:, 3], b[:, 2], 1 - b[:, 1]], axis=1), atol=1e-6)
    assert 0 < flips < 8


@modes
def test_photometric_distortion_changes_colours_not_boxes(mode):
    results = _run(mode, box_augment.photometric_distort, [0, 1, 2, 3])
    again = _run(mode, box_augment.photometric_distort, [0])[0]
    np.testing.assert_array_equal(again["image"], results[0]["image"])
    changed = 0
    for result in results:
        image = result["image"]
        assert image.dtype == np.float32 and image.min() >= 0 and image.max() <= 255
        np.testing.assert_array_equal(result["boxes"], _example()["boxes"])
        changed += not np.allclose(image, _example()["image"], atol=1)
    assert changed >= 2


def test_expansion_fills_with_the_mean_pixel_and_shrinks_boxes():
    example = {k: tf.constant(v) for k, v in _example().items()}
    grown = 0
    for seed in range(6):
        result = box_augment.extract(box_augment.random_expand(example, tf.constant([seed, 1])))
        image = result["image"].numpy()
        height, width = image.shape[:2]
        assert HEIGHT <= height <= 4 * HEIGHT and WIDTH <= width <= 4 * WIDTH
        grown += height > HEIGHT
        filled = np.isclose(image, box_augment.MEAN_PIXEL, atol=1e-3).all(axis=2)
        assert filled.sum() == height * width - HEIGHT * WIDTH   # all but the image
        sides = (result["boxes"].numpy()[:, 2:] - result["boxes"].numpy()[:, :2])
        np.testing.assert_allclose(sides * [height, width], PIXEL_BOXES[:, 2:]
                                   - PIXEL_BOXES[:, :2], atol=1e-4)
    assert grown >= 2


def test_extract_at_the_output_size_keeps_boxes_on_their_pixels():
    # A 2x zoom-out sampled at 2x the image's size: every output pixel is one input pixel.
    example = {k: tf.constant(v) for k, v in _example().items()}
    window = tf.constant([-HEIGHT / 2, -WIDTH, 1.5 * HEIGHT, WIDTH], tf.float32)   # 2H x 2W
    boxes = (PIXEL_BOXES + [HEIGHT / 2, WIDTH, HEIGHT / 2, WIDTH]) / [2 * HEIGHT, 2 * WIDTH,
                                                                      2 * HEIGHT, 2 * WIDTH]
    result = box_augment.extract({**example, "window": window, "boxes": boxes,
                                  "flip": tf.constant(True)}, size=80)
    image = result["image"].numpy()
    assert image.shape == (80, 80, 3) and "window" not in result and "flip" not in result
    rows, columns = np.nonzero(np.abs(image[..., 2] - BLUES[0]) < 1)
    y0, x0, y1, x1 = PIXEL_BOXES[0] + [HEIGHT / 2, WIDTH, HEIGHT / 2, WIDTH]
    # Height 2H -> 80 (x1), width 2W -> 80 (x 2/3), mirrored: x -> 80 - x.
    assert (rows.min(), rows.max() + 1) == (y0, y1)
    assert abs(columns.min() - (80 - x1 * 80 / (2 * WIDTH))) <= 1
    assert abs(columns.max() + 1 - (80 - x0 * 80 / (2 * WIDTH))) <= 1
    assert np.allclose(image[:, 40:], box_augment.MEAN_PIXEL, atol=1e-3)   # left half: fill


def test_image_without_boxes_passes_through_every_step():
    example = {"image": tf.zeros([16, 24, 3], tf.uint8), "boxes": tf.zeros([0, 4]),
               "classes": tf.zeros([0], tf.int32)}
    result = box_augment.augment(example, tf.constant([1, 2]))
    assert result["boxes"].shape == (0, 4) and result["image"].shape[2] == 3
