"""mobilenet_tf.keras_saving: with our models imported, a .keras save or a weights
checkpoint no longer constructs a throwaway Keras layer for each layer it saves, and what it
writes still loads back the same."""
import keras
import numpy as np
from keras.src.layers.layer import Layer
from keras.src.saving import saving_lib

from mobilenet_tf import keras_saving
from mobilenet_tf.models import build


def _layers_constructed_while(action, monkeypatch):
    count = [0]
    original = Layer.__init__

    def counting(self, *args, **kwargs):
        count[0] += 1
        original(self, *args, **kwargs)

    with monkeypatch.context() as counted:
        counted.setattr(Layer, "__init__", counting)
        action()
    return count[0]


def test_saving_constructs_no_layer_per_layer_and_round_trips(tmp_path, monkeypatch):
    assert keras_saving.cache_attribute_skipsets()   # the Keras we pin has the bug
    assert saving_lib.get_attr_skipset("Layer") is saving_lib.get_attr_skipset("Layer")
    model = build("mobilenet_v3_small", width=0.35, input_shape=(32, 32, 3), num_classes=4)
    assert len(model.layers) > 100
    path, weights = tmp_path / "model.keras", tmp_path / "model.weights.h5"
    assert _layers_constructed_while(lambda: model.save(path), monkeypatch) <= 2
    assert _layers_constructed_while(lambda: model.save_weights(weights), monkeypatch) <= 2
    # Keras's own function, uncached: a Layer for every layer saved.
    with monkeypatch.context() as keras_as_released:
        keras_as_released.setattr(saving_lib, "get_attr_skipset",
                                  saving_lib.get_attr_skipset.__wrapped__)
        assert _layers_constructed_while(lambda: model.save(path), monkeypatch) > len(
            model.layers)
    x = np.random.default_rng(0).uniform(-1, 1, (2, 32, 32, 3)).astype("float32")
    reloaded = keras.saving.load_model(path, compile=False)
    np.testing.assert_allclose(model(x), reloaded(x), atol=1e-6)
    # The cache outlives clear_session, which resets the state Keras meant to cache in.
    keras.backend.clear_session(free_memory=False)
    assert saving_lib.get_attr_skipset("Layer") is saving_lib.get_attr_skipset("Layer")
