"""Weights from keras.applications load into our models and give the same logits."""

import h5py
import keras
import numpy as np
import pytest
from conftest import images, keras_application, our_model, randomize_weights

from mobilenet_tf import UserError
from mobilenet_tf.models import build, import_keras_applications

KA = keras.applications


# A width per family that exercises make_divisible's rounding where the family has one.
IMPORT_WIDTHS = {"mobilenet_v1": 0.5, "mobilenet_v2": 0.75, "mobilenet_v3_large": 0.75,
                 "mobilenet_v3_small": 1.0, "xception": 1.0}


def keras_pair(name, size):
    """(keras.applications model with random weights, our untrained equivalent)."""
    width = IMPORT_WIDTHS[name]
    return (keras_application(name, width, size=size, classifier_activation=None),
            our_model(name, width, size=size))


@pytest.mark.parametrize("name,size", [("mobilenet_v1", 64), ("mobilenet_v2", 64),
                                       ("mobilenet_v3_large", 64), ("mobilenet_v3_small", 64),
                                       ("xception", 71)])
def test_imported_weights_give_the_same_logits(name, size):
    source, ours = keras_pair(name, size)
    randomize_weights(source)
    import_keras_applications(source, ours)
    x = images(2, size)
    expected = np.asarray(source(x, training=False))
    np.testing.assert_allclose(np.asarray(ours(x, training=False)), expected, atol=1e-4)
    assert np.abs(expected).max() > 1.0   # the comparison is not between two near-zero outputs


def test_v3_minimalistic_imports():
    source = randomize_weights(keras_application("mobilenet_v3_small", minimalistic=True,
                                                 size=64, classifier_activation=None))
    ours = import_keras_applications(
        source, our_model("mobilenet_v3_small", minimalistic=True, size=64))
    x = images(2, 64)
    np.testing.assert_allclose(ours(x), source(x), atol=1e-4)


def write_released_h5(model, path):
    """The layout of keras.applications' published weight files (Keras 2 HDF5: a
    `layer_names` attribute, one group per layer, `weight_names` per group)."""
    with h5py.File(path, "w") as f:
        weighted = [layer for layer in model.layers if layer.weights]
        f.attrs["layer_names"] = [layer.name.encode() for layer in model.layers]
        for layer in model.layers:
            group = f.create_group(layer.name)
            names = [f"{layer.name}/{w.path.split('/')[-1]}:0" for w in layer.weights]
            group.attrs["weight_names"] = [n.encode() for n in names]
            for n, value in zip(names, layer.get_weights()):
                group.create_dataset(n, data=value)
        assert weighted


def test_imports_from_a_released_h5_file_and_a_keras_file(tmp_path):
    source = randomize_weights(KA.MobileNetV2(weights=None, alpha=0.5, input_shape=(64, 64, 3),
                                              classifier_activation=None))
    x = images(2, 64)
    expected = np.asarray(source(x, training=False))
    write_released_h5(source, tmp_path / "mobilenet_v2_0.5.h5")
    source.save(tmp_path / "source.keras")
    for path in (tmp_path / "mobilenet_v2_0.5.h5", tmp_path / "source.keras"):
        ours = import_keras_applications(path, build("v2", width=0.5, input_shape=(64, 64, 3)))
        np.testing.assert_allclose(ours(x, training=False), expected, atol=1e-4)


def test_headless_target_takes_the_backbone_only():
    source = randomize_weights(KA.MobileNetV3Small(weights=None, input_shape=(64, 64, 3),
                                                   include_preprocessing=False))
    ours = import_keras_applications(source, build("v3_small", include_top=False,
                                                   input_shape=(64, 64, 3)))
    np.testing.assert_array_equal(ours.get_layer("conv_1").get_weights()[0],
                                  source.get_layer("conv_1").get_weights()[0])


@pytest.mark.parametrize("target_options,message", [
    ({"width": 0.75}, "cannot import weights into layer 'Conv1'"),
    ({"width": 0.5, "num_classes": 10}, "include_top=False"),
])
def test_mismatch_fails_clearly_and_writes_nothing(target_options, message):
    source = KA.MobileNetV2(weights=None, alpha=0.5, input_shape=(64, 64, 3))
    target = build("v2", input_shape=(64, 64, 3), **target_options)
    before = [np.copy(w) for w in target.get_weights()]
    with pytest.raises(UserError, match=message.replace("(", r"\(")):
        import_keras_applications(source, target)
    for old, new in zip(before, target.get_weights()):
        np.testing.assert_array_equal(old, new)


def test_different_architecture_is_named():
    with pytest.raises(UserError, match="has no counterpart in the source"):
        import_keras_applications(KA.MobileNet(weights=None, input_shape=(64, 64, 3)),
                                  build("v2", input_shape=(64, 64, 3)))


def test_unreadable_sources_get_a_clear_error(tmp_path):
    with pytest.raises(UserError, match="does not exist"):
        import_keras_applications(tmp_path / "nope.h5", build("v2", width=0.35))
    model = build("v2", width=0.35, input_shape=(64, 64, 3))
    model.save_weights(tmp_path / "ours.weights.h5")
    with pytest.raises(UserError, match="stores no layer names"):
        import_keras_applications(tmp_path / "ours.weights.h5", model)
