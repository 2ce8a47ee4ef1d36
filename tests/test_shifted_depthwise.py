"""depthwise="shifted": the depthwise convolutions as k x k shifted multiply-adds compute what
keras.layers.DepthwiseConv2D / SeparableConv2D compute, with the same weights, forward and
backward, under TensorFlow and JAX (models/shifted_depthwise.py)."""

import json
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

from conftest import REPO_ROOT, jax_env
from mobilenet_tf import UserError
from mobilenet_tf.models import build
from mobilenet_tf.models.shifted_depthwise import (ShiftedDepthwiseConv2D,
                                                   ShiftedSeparableConv2D, same_padding)
from test_backends import BLOCK_TENSORFLOW

# kernel, strides, dilation, padding, (height, width), depth multiplier, bias
CASES = [
    (3, 1, 1, "same", (8, 8), 1, False),
    (3, 2, 1, "same", (8, 8), 1, False),     # TensorFlow's "same": the odd pixel at the end
    (3, 2, 1, "same", (9, 7), 1, True),      # odd sizes: padding on both sides
    (5, 2, 1, "same", (10, 9), 1, False),
    (5, 1, 1, "valid", (9, 9), 1, False),
    (3, 2, 1, "valid", (10, 9), 1, True),
    (3, 1, 2, "same", (9, 10), 1, False),    # dilation 2 (output_stride's atrous layers)
    (3, 1, 2, "valid", (11, 11), 1, False),
    (3, 2, 1, "same", (8, 8), 2, True),      # depth multiplier 2 (V1's option)
]


def _pair(conv_class, shifted_class, config, input_shape, seed=0):
    """(Keras's layer, ours) built on `input_shape`, ours with the other's weights."""
    reference = conv_class(**config)
    reference.build(input_shape)
    rng = np.random.default_rng(seed)
    reference.set_weights([rng.normal(0, 1, w.shape).astype("float32")
                           for w in reference.get_weights()])
    shifted = shifted_class.from_config(reference.get_config())
    shifted.build(input_shape)
    shifted.set_weights(reference.get_weights())
    return reference, shifted


def _values_and_gradients(layer, x):
    """(outputs, d loss / d x, [d loss / d w for each weight]) of a loss that weights every
    output by a fixed random number (so every output's gradient differs)."""
    x = tf.constant(x)
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(x)
        y = layer(x)
        weights = np.random.default_rng(4).normal(0, 1, y.shape).astype("float32")
        loss = tf.reduce_sum(y * weights)
    return (y.numpy(), tape.gradient(loss, x).numpy(),
            [g.numpy() for g in tape.gradient(loss, layer.trainable_variables)])


@pytest.mark.parametrize("kernel, strides, dilation, padding, size, multiplier, bias", CASES)
def test_depthwise_outputs_and_gradients_equal_keras(kernel, strides, dilation, padding, size,
                                                     multiplier, bias):
    config = dict(kernel_size=kernel, strides=strides, dilation_rate=dilation,
                  padding=padding, depth_multiplier=multiplier, use_bias=bias)
    shape = (2, *size, 3)
    reference, shifted = _pair(keras.layers.DepthwiseConv2D, ShiftedDepthwiseConv2D, config,
                               shape)
    x = np.random.default_rng(1).normal(0, 1, shape).astype("float32")
    expected, got = _values_and_gradients(reference, x), _values_and_gradients(shifted, x)
    np.testing.assert_allclose(got[0], expected[0], atol=1e-5, rtol=1e-5)
    np.testing.assert_allclose(got[1], expected[1], atol=1e-4, rtol=1e-5)   # input gradient
    for ours, theirs in zip(got[2], expected[2]):                          # kernel (and bias)
        np.testing.assert_allclose(ours, theirs, atol=1e-4, rtol=1e-5)


def test_same_padding_is_tensorflows():
    # stride 2, 3x3: an even side pads (0, 1), an odd one (1, 1); stride 1 pads (1, 1).
    assert same_padding(8, 3, 2, 1) == (0, 1)
    assert same_padding(9, 3, 2, 1) == (1, 1)
    assert same_padding(8, 3, 1, 1) == (1, 1)
    assert same_padding(8, 5, 2, 1) == (1, 2)
    assert same_padding(9, 3, 1, 2) == (2, 2)


def test_separable_outputs_and_gradients_equal_keras():
    config = dict(filters=5, kernel_size=3, strides=2, padding="same", use_bias=True,
                  activation="relu")
    reference, shifted = _pair(keras.layers.SeparableConv2D, ShiftedSeparableConv2D, config,
                               (2, 9, 8, 4))
    x = np.random.default_rng(2).normal(0, 1, (2, 9, 8, 4)).astype("float32")
    expected, got = _values_and_gradients(reference, x), _values_and_gradients(shifted, x)
    np.testing.assert_allclose(got[0], expected[0], atol=1e-5, rtol=1e-5)
    np.testing.assert_allclose(got[1], expected[1], atol=1e-4, rtol=1e-5)
    for ours, theirs in zip(got[2], expected[2]):
        np.testing.assert_allclose(ours, theirs, atol=1e-4, rtol=1e-5)


def test_shifted_v3_small_takes_the_same_weights_and_gives_the_same_outputs(tmp_path):
    options = dict(width=0.35, input_shape=(32, 32, 3), num_classes=7)
    default, shifted = build("v3_small", **options), build("v3_small", depthwise="shifted",
                                                          **options)
    assert [(w.path, w.shape) for w in shifted.weights] == [
        (w.path, w.shape) for w in default.weights]
    assert sum(isinstance(layer, ShiftedDepthwiseConv2D) for layer in shifted.layers) == 11
    assert all(isinstance(layer, keras.layers.DepthwiseConv2D) for layer in shifted.layers
               if "depthwise" in layer.name and not layer.name.endswith(("_bn", "_relu",
                                                                          "_hard_swish")))
    shifted.set_weights(default.get_weights())
    x = np.random.default_rng(3).uniform(-1, 1, (2, 32, 32, 3)).astype("float32")
    expected = default(x, training=False).numpy()   # eagerly: no tracing, faster here
    np.testing.assert_allclose(shifted(x, training=False), expected, atol=1e-5, rtol=1e-4)
    # A registered serializable: the .keras file reloads as the same layers.
    shifted.save(tmp_path / "shifted.keras")
    loaded = keras.saving.load_model(tmp_path / "shifted.keras")
    assert isinstance(loaded.get_layer("expanded_conv_depthwise"), ShiftedDepthwiseConv2D)
    np.testing.assert_allclose(loaded(x, training=False), expected, atol=1e-5, rtol=1e-4)


def test_bad_depthwise_option_is_a_user_error():
    with pytest.raises(UserError, match="depthwise must be one of conv, shifted"):
        build("v2", depthwise="fft")
    with pytest.raises(UserError, match="has no option 'depthwise'"):
        build("squeezenet1_1", depthwise="shifted")


JAX_SCRIPT = BLOCK_TENSORFLOW + r'''
import json
import jax
import keras
import numpy as np
from mobilenet_tf.models.shifted_depthwise import ShiftedDepthwiseConv2D

result = {"backend": keras.backend.backend()}
for name, (kernel, strides, padding, size) in {"k3s2": (3, 2, "same", 9),
                                              "k5s1": (5, 1, "valid", 10)}.items():
    reference = keras.layers.DepthwiseConv2D(kernel, strides=strides, padding=padding,
                                             use_bias=False)
    reference.build((2, size, size, 4))
    rng = np.random.default_rng(0)
    kernel_value = rng.normal(0, 1, reference.kernel.shape).astype("float32")
    x = rng.normal(0, 1, (2, size, size, 4)).astype("float32")
    shifted = ShiftedDepthwiseConv2D.from_config(reference.get_config())
    shifted.build((2, size, size, 4))

    def loss(layer, kernel, x):
        y, _ = layer.stateless_call([kernel], [], x)
        return (y * y).sum(), y

    values = {}
    for label, layer in (("conv", reference), ("shifted", shifted)):
        (_, y), grads = jax.value_and_grad(loss, argnums=(1, 2), has_aux=True)(
            layer, kernel_value, x)
        values[label] = [np.asarray(v) for v in (y, *grads)]
    result[name] = [float(np.abs(a - b).max()) for a, b in zip(values["conv"],
                                                                values["shifted"])]
result["tensorflow_loaded"] = any(m.startswith("tensorflow") for m in sys.modules)
print("RESULT " + json.dumps(result))
'''


def test_shifted_equals_keras_under_jax_without_tensorflow():
    proc = subprocess.run([sys.executable, "-c", JAX_SCRIPT], env=jax_env(), text=True,
                          capture_output=True, timeout=300, cwd=REPO_ROOT)
    assert proc.returncode == 0, proc.stderr[-3000:]
    line = next(l for l in proc.stdout.splitlines() if l.startswith("RESULT "))
    result = json.loads(line[len("RESULT "):])
    assert result["backend"] == "jax" and not result["tensorflow_loaded"]
    for case in ("k3s2", "k5s1"):   # outputs, kernel gradient, input gradient
        assert max(result[case]) < 1e-4, (case, result[case])
