"""Shared fixtures and the model-contract helper every model test uses."""

import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(autouse=True)
def _fresh_keras_state():
    """Each test starts with float32 and a clean name scope, whatever the last one did."""
    keras.mixed_precision.set_global_policy("float32")
    keras.backend.clear_session()
    yield
    keras.mixed_precision.set_global_policy("float32")


def randomize_weights(model, seed=0):
    """Random weights everywhere, BN moving variances positive, so parity tests compare
    something more telling than freshly initialised (mostly identity) BN layers."""
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        weights = layer.get_weights()
        if not weights:
            continue
        new = [rng.normal(0.0, 0.2, w.shape).astype(w.dtype) for w in weights]
        if isinstance(layer, keras.layers.BatchNormalization):
            new[-1] = rng.uniform(0.5, 1.5, weights[-1].shape).astype(weights[-1].dtype)
        layer.set_weights(new)
    return model


def images(batch, size, seed=0):
    """(batch, size, size, 3) float32 images in [-1, 1], the models' input range."""
    return np.random.default_rng(seed).uniform(-1, 1, (batch, size, size, 3)).astype("float32")


def check_model_contract(build_model, size, tmp_path):
    """What every model in the zoo promises (keras-hub's run_vision_backbone_test, ours):

    - `.keras` round trip in safe mode, no custom objects, identical outputs;
    - `predict` on a batched tf.data input gives the same as a direct call;
    - under mixed_bfloat16 the variables stay float32 and the outputs are float32.
    """
    import tensorflow as tf

    model = randomize_weights(build_model())
    x = images(2, size)
    expected = keras.tree.map_structure(np.asarray, model(x, training=False))
    path = tmp_path / "model.keras"
    model.save(path)
    reloaded = keras.saving.load_model(path, safe_mode=True)
    keras.tree.map_structure(lambda a, b: np.testing.assert_allclose(a, np.asarray(b), atol=1e-5),
                             expected, reloaded(x, training=False))
    predicted = model.predict(tf.data.Dataset.from_tensor_slices(x).batch(1), verbose=0)
    keras.tree.map_structure(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4),
                             expected, predicted)

    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    try:
        mixed = build_model()
        assert {v.dtype for v in mixed.weights} == {"float32"}
        outputs = keras.tree.flatten(mixed(x, training=False))
    finally:
        keras.mixed_precision.set_global_policy("float32")
    return outputs
