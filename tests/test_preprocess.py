"""Preprocessing functions, each checked eagerly and inside tf.data (they can differ)."""
import numpy as np
import pytest
import tensorflow as tf

from conftest import jpeg_bytes, photo, png_bytes
from mobilenet_tf.data import preprocess

SEED = tf.constant([3, 7], tf.int64)


def _in_tf_data(function, features):
    """function applied to one element inside a tf.data map (graph mode)."""
    dataset = tf.data.Dataset.from_tensors(features).map(function)
    return next(iter(dataset))


@pytest.mark.parametrize("encode", [jpeg_bytes, png_bytes], ids=["jpeg", "png"])
def test_random_resized_crop_is_the_same_eagerly_and_in_tf_data(encode):
    features = {"image_bytes": tf.constant(encode(150, 200, seed=1)), "label": tf.constant(4)}
    crop = lambda f: preprocess.random_resized_crop(f, SEED, 64)
    eager = crop(features)
    graph = _in_tf_data(crop, features)
    assert eager["image"].shape == (64, 64, 3) and eager["image"].dtype == tf.float32
    assert "image_bytes" not in eager and int(eager["label"]) == 4
    np.testing.assert_array_equal(eager["image"], graph["image"])
    assert 0.0 <= float(tf.reduce_min(eager["image"])) <= float(tf.reduce_max(eager["image"])) <= 255


def test_fused_jpeg_crop_decodes_the_same_pixels_as_decode_then_crop():
    encoded = jpeg_bytes(375, 500, seed=2)
    decoded = tf.io.decode_jpeg(encoded, channels=3)
    for seed in range(5):
        seed = tf.constant([seed, 0], tf.int64)
        fused = preprocess.random_resized_crop({"image_bytes": tf.constant(encoded)}, seed, 96)
        naive = preprocess.random_resized_crop({"image": decoded}, seed, 96)
        # libjpeg's cropped decode reproduces the full decode up to rounding in chroma upsampling.
        assert float(tf.reduce_max(tf.abs(fused["image"] - naive["image"]))) <= 8.0
        assert float(tf.reduce_mean(tf.abs(fused["image"] - naive["image"]))) < 0.5


def test_crop_windows_follow_the_inception_ranges():
    shape = tf.constant([375, 500, 3])
    areas, ratios, offsets = [], [], set()
    for seed in range(300):
        y, x, h, w = (int(v) for v in preprocess.random_crop_window(shape, [seed, 1]))
        assert 0 <= y and y + h <= 375 and 0 <= x and x + w <= 500
        areas.append(h * w / (375 * 500))
        ratios.append(w / h)
        offsets.add((y, x))
    # Rounding to whole pixels moves the ratio and the area a little past the nominal ranges.
    assert min(areas) >= 0.08 * 0.95 and max(areas) <= 1.0
    assert min(ratios) >= 0.75 * 0.97 and max(ratios) <= 4 / 3 * 1.03
    assert 0.3 < np.mean(areas) < 0.7 and len(offsets) > 250


def test_center_crop_takes_the_middle_of_the_short_side():
    # Pixel value = column index, so the crop's first and last columns tell where it was taken.
    columns = np.tile(np.arange(200, dtype=np.uint8)[None, :, None], (100, 1, 3))
    out = preprocess.center_crop({"image": tf.constant(columns)}, image_size=50,
                                 crop_fraction=0.5)["image"].numpy()
    assert out.shape == (50, 50, 3)
    # Short side 100 -> a 50x50 window centred at column 100: columns 75..124.
    assert out[0, 0, 0] == pytest.approx(75, abs=0.5) and out[0, -1, 0] == pytest.approx(124, abs=0.5)


def test_center_crop_of_jpeg_bytes_matches_the_decoded_image():
    encoded = jpeg_bytes(240, 320, seed=3)
    fused = preprocess.center_crop({"image_bytes": tf.constant(encoded)}, 224)["image"]
    naive = preprocess.center_crop({"image": tf.io.decode_jpeg(encoded)}, 224)["image"]
    graph = _in_tf_data(lambda f: preprocess.center_crop(f, 224),
                        {"image_bytes": tf.constant(encoded)})["image"]
    assert float(tf.reduce_mean(tf.abs(fused - naive))) < 0.5
    np.testing.assert_array_equal(fused, graph)


def test_flip_is_a_fair_coin_and_deterministic():
    image = tf.constant(photo(8, 8))
    flipped = 0
    for seed in range(200):
        out = preprocess.random_flip({"image": image}, [seed, 5])["image"]
        again = preprocess.random_flip({"image": image}, [seed, 5])["image"]
        np.testing.assert_array_equal(out, again)
        if not np.array_equal(out, image):
            np.testing.assert_array_equal(out, image[:, ::-1])
            flipped += 1
    assert 70 < flipped < 130


def test_to_uint8_rounds_and_saturates():
    out = preprocess.to_uint8({"image": tf.constant([-3.0, 0.4, 127.5, 254.6, 300.0])})["image"]
    assert out.dtype == tf.uint8 and out.numpy().tolist() == [0, 0, 128, 255, 255]


def test_resize_keeps_an_image_of_the_right_size_as_it_is():
    image = tf.constant(photo(16, 16))
    assert preprocess.resize({"image": image}, 16)["image"] is image
    assert preprocess.resize({"image": image}, 8)["image"].shape == (8, 8, 3)


def test_grey_and_rgba_pngs_become_rgb():
    grey = tf.io.encode_png(photo(20, 30)[:, :, :1]).numpy()
    rgba = tf.io.encode_png(np.concatenate([photo(20, 30), photo(20, 30)[:, :, :1]], -1)).numpy()
    for encoded in (grey, rgba):
        out = preprocess.center_crop({"image_bytes": tf.constant(encoded)}, 16, 1.0)["image"]
        assert out.shape == (16, 16, 3)
