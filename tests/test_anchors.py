"""SSD default boxes: counts, scales, centres, aspect ratios and order, as the TF Object
Detection API's ssd_anchor_generator lays them out for SSDLite 320."""
import math

import keras
import numpy as np
import pytest

from mobilenet_tf.detection import anchors, box_coder

SSDLITE_320 = [(20, 20), (10, 10), (5, 5), (3, 3), (2, 2), (1, 1)]
# Boxes per level: 3 per location at 20x20 (reduce_first), 6 elsewhere.
LEVEL_COUNTS = [1200, 600, 150, 54, 24, 6]


def _levels(boxes, counts=LEVEL_COUNTS):
    return np.split(boxes, np.cumsum(counts)[:-1])


def test_feature_map_sizes_halve_from_stride_16():
    assert anchors.feature_map_sizes(320) == SSDLITE_320
    assert anchors.feature_map_sizes(300) == [(19, 19), (10, 10), (5, 5), (3, 3), (2, 2),
                                              (1, 1)]
    assert anchors.feature_map_sizes(64, num_levels=4) == [(4, 4), (2, 2), (1, 1), (1, 1)]


def test_ssdlite_320_count_per_level_and_total():
    boxes = anchors.ssd_anchors(SSDLITE_320)
    assert boxes.shape == (2034, 4) and boxes.dtype == np.float32
    assert [anchors.boxes_per_location(k) for k in range(6)] == [3, 6, 6, 6, 6, 6]
    assert anchors.boxes_per_location(0, reduce_first=False) == 6
    assert len(anchors.ssd_anchors(SSDLITE_320, reduce_first=False)) == 2400 + 834
    for level, ((h, w), count) in enumerate(zip(SSDLITE_320, LEVEL_COUNTS)):
        assert h * w * anchors.boxes_per_location(level) == count


def test_scales_per_level_and_aspect_ratios_are_width_over_height():
    boxes = _levels(anchors.ssd_anchors(SSDLITE_320))
    scales = [0.2 + 0.15 * k for k in range(6)] + [1.0]   # 0.2 .. 0.95 in 6 steps
    # Level 0, reduced: (0.1, 1), (0.2, 2), (0.2, 0.5).
    np.testing.assert_allclose(boxes[0][:3, 2:], [
        [0.1, 0.1], [0.2 / math.sqrt(2), 0.2 * math.sqrt(2)],
        [0.2 * math.sqrt(2), 0.2 / math.sqrt(2)]], rtol=1e-6)
    for level in range(1, 6):
        one_location = boxes[level][:6]
        size = np.sqrt(one_location[:, 2] * one_location[:, 3])   # geometric mean = scale
        expected = [scales[level]] * 5 + [math.sqrt(scales[level] * scales[level + 1])]
        np.testing.assert_allclose(size, expected, rtol=1e-5)
        ratio = one_location[:, 3] / one_location[:, 2]   # width / height
        np.testing.assert_allclose(ratio, [1.0, 2.0, 0.5, 3.0, 0.333, 1.0], rtol=1e-5)
    np.testing.assert_allclose(boxes[5][5, 2], math.sqrt(0.95), rtol=1e-6)   # next = 1.0


def test_centres_and_row_major_order():
    boxes = _levels(anchors.ssd_anchors(SSDLITE_320))
    level = boxes[1].reshape(10, 10, 6, 4)   # (i, j, box, coordinate)
    np.testing.assert_allclose(level[..., 0], ((np.arange(10) + 0.5) / 10)[:, None, None]
                               * np.ones((10, 10, 6)), rtol=1e-6)
    np.testing.assert_allclose(level[..., 1], ((np.arange(10) + 0.5) / 10)[None, :, None]
                               * np.ones((10, 10, 6)), rtol=1e-6)
    # Row-major: the second location is (0, 1), one column to the right.
    np.testing.assert_allclose(boxes[0][3], [0.025, 0.075, 0.1, 0.1], rtol=1e-6)
    np.testing.assert_allclose(boxes[5][:, :2], 0.5)


@pytest.mark.parametrize("sizes", [[(4, 6), (2, 3)], [(3, 3)]])
def test_non_square_maps_and_single_level(sizes):
    boxes = anchors.ssd_anchors(sizes, reduce_first=False)
    per_location = anchors.boxes_per_location(1)
    assert len(boxes) == sum(h * w for h, w in sizes) * per_location
    height, width = sizes[0]
    first = boxes[: height * width * per_location].reshape(height, width, per_location, 4)
    np.testing.assert_allclose(first[0, :, 0, 1], (np.arange(width) + 0.5) / width, rtol=1e-6)
    np.testing.assert_allclose(first[:, 0, 0, 0], (np.arange(height) + 0.5) / height, rtol=1e-6)


def test_to_corners():
    corners = box_coder.to_corners(np.array([[0.5, 0.25, 0.2, 0.1]], np.float32))
    np.testing.assert_allclose(keras.ops.convert_to_numpy(corners), [[0.4, 0.2, 0.6, 0.3]],
                               rtol=1e-6)
