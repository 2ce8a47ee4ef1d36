"""Mobile MQA, the attention block of the MobileNetV4 Hybrid models (Qin et al., arXiv:2404.10518,
section 3.3), and layer scale.

Multi-query attention (Shazeer, arXiv:1911.02150): every query head shares one key and one
value head, which cuts the memory traffic that bounds attention on mobile accelerators. The
keys and values are computed on a map downsampled by a strided 3x3 depthwise convolution
(+ BN) when `kv_stride` is 2 ("spatial reduction", the paper's Mobile MQA), so the attention
matrix has a quarter of the columns.

    x --> BN --> 1x1 conv to heads * key_dim ------------------------- queries --.
           |--> (3x3 dw stride 2 + BN) --> 1x1 conv to key_dim ------- keys ----- softmax(q k / sqrt(d)) v
           `--> (3x3 dw stride 2 + BN) --> 1x1 conv to value_dim ----- values --'      |
    x + layer scale * (1x1 conv to C <------------------------------------------------'

The projections are plain Conv2D layers, so the weights map by name and the profiler counts
them; the two matrix products are MultiQueryAttention, the one layer here with no weights.
Both layers use keras.ops only (TensorFlow and JAX) and are registered serializables: a
`.keras` file of a Hybrid model reloads in safe mode once `mobilenet_tf.models` is imported.
"""
import keras
from keras import layers, ops

from mobilenet_tf.models.layers import depthwise_bn_act, residual_add

LAYER_SCALE_INIT = 1e-5   # the paper's and timm's initial layer scale


@keras.saving.register_keras_serializable(package="mobilenet_tf")
class LayerScale(keras.layers.Layer):
    """x * gamma, one learned scale per channel, starting at `init_value` (Touvron et al.,
    CaiT, arXiv:2103.17239): a residual branch starts close to zero.

    (B, ..., C) -> (B, ..., C)."""

    def __init__(self, init_value=LAYER_SCALE_INIT, **kwargs):
        super().__init__(**kwargs)
        self.init_value = float(init_value)

    def build(self, input_shape):
        self.gamma = self.add_weight(
            name="gamma", shape=(input_shape[-1],),
            initializer=keras.initializers.Constant(self.init_value))

    def call(self, x):
        return x * ops.cast(self.gamma, x.dtype)

    def get_config(self):
        return {**super().get_config(), "init_value": self.init_value}


@keras.saving.register_keras_serializable(package="mobilenet_tf")
class MultiQueryAttention(keras.layers.Layer):
    """[queries (B, H, W, heads * d), keys (B, h, w, d), values (B, h, w, dv)] ->
    (B, H, W, heads * dv): softmax(q k^T / sqrt(d)) v per query head, all heads over the one
    key and value head. Channel j * d + i of the queries is head j's i-th component, and
    likewise for the output (timm's and Model Garden's layout, so their weights map)."""

    def __init__(self, num_heads, **kwargs):
        super().__init__(**kwargs)
        self.num_heads = int(num_heads)

    def call(self, inputs):
        queries, keys, values = inputs
        key_dim, value_dim = keys.shape[-1], values.shape[-1]
        shape = ops.shape(queries)
        batch, height, width = shape[0], shape[1], shape[2]
        q = ops.reshape(queries, (batch, -1, self.num_heads, key_dim))
        k = ops.reshape(keys, (batch, -1, key_dim))
        v = ops.reshape(values, (batch, -1, value_dim))
        logits = ops.einsum("bnhd,bmd->bnhm", q, k) * (key_dim ** -0.5)
        # Softmax in float32 under mixed precision: exponentials of large logits overflow
        # float16.
        if logits.dtype in ("float16", "bfloat16"):
            logits = ops.cast(logits, "float32")
        weights = ops.cast(ops.softmax(logits, axis=-1), v.dtype)
        out = ops.einsum("bnhm,bmv->bnhv", weights, v)
        return ops.reshape(out, (batch, height, width, self.num_heads * value_dim))

    def compute_output_shape(self, input_shape):
        queries, _, values = input_shape
        return (*queries[:3], self.num_heads * values[-1])

    def get_config(self):
        return {**super().get_config(), "num_heads": self.num_heads}


def _key_value_input(x, kv_stride, kernel, prefix, norm, padding, depthwise="conv"):
    """The map keys or values are computed from: x, or x downsampled by a strided depthwise
    conv + BN (no activation) when kv_stride > 1."""
    if kv_stride == 1:
        return x
    return depthwise_bn_act(x, kernel, f"{prefix}_down", strides=kv_stride, act=None,
                            norm=norm, padding=padding, depthwise=depthwise)


def mobile_mqa(x, *, num_heads, key_dim, value_dim, kv_stride, out, prefix, norm,
               padding="same", kv_kernel=3, layer_scale=True, drop_path_rate=0.0,
               depthwise="conv"):
    """The Mobile MQA block: (B, H, W, C) -> (B, H, W, out), with the shortcut when
    out == C. BN (no activation) on the input, multi-query attention, a 1x1 output
    projection, layer scale, stochastic depth (drop_path_rate, on a block with a shortcut).
    No biases on the projections (as the paper's reference code)."""
    shortcut, channels = x, x.shape[-1]
    x = norm(name=f"{prefix}input_bn")(x)
    queries = layers.Conv2D(num_heads * key_dim, 1, use_bias=False, name=f"{prefix}query")(x)
    key_input = _key_value_input(x, kv_stride, kv_kernel, f"{prefix}key", norm, padding,
                                 depthwise)
    keys = layers.Conv2D(key_dim, 1, use_bias=False, name=f"{prefix}key")(key_input)
    value_input = _key_value_input(x, kv_stride, kv_kernel, f"{prefix}value", norm, padding,
                                   depthwise)
    values = layers.Conv2D(value_dim, 1, use_bias=False, name=f"{prefix}value")(value_input)
    x = MultiQueryAttention(num_heads, name=f"{prefix}attention")([queries, keys, values])
    x = layers.Conv2D(out, 1, use_bias=False, name=f"{prefix}output")(x)
    if layer_scale:
        x = LayerScale(name=f"{prefix}layer_scale")(x)
    if out == channels:
        x = residual_add(shortcut, x, prefix, drop_path_rate)
    return x
