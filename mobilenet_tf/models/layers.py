"""Building blocks shared by the backbones: channel rounding, conv-BN-activation, the
depthwise-separable block (MobileNet V1), the inverted residual with linear bottleneck
(MobileNet V2 / V3), squeeze-and-excitation, and stochastic depth on residual branches.

Only `keras.layers` here, so every model runs under the TensorFlow and JAX backends and
reloads from a `.keras` file in safe mode with no custom objects (with depthwise="shifted",
the registered layers of models/shifted_depthwise.py, once `mobilenet_tf.models` is
imported). Layer names follow keras.applications for every weighted layer, so its published
weights map by name.
"""

import functools
import math

from keras import initializers, layers

from mobilenet_tf.models.shifted_depthwise import DEPTHWISE

# One BatchNormalization default for the whole zoo. epsilon=1e-3 is what keras.applications'
# weights were trained with. momentum=0.99 rather than keras.applications' 0.999: with 0.999
# the moving statistics of a short run (a few thousand steps) are still mostly their initial
# values, and the model is useless in inference mode. Builders pass their own when the user
# overrides it.
def batch_norm(momentum=0.99, epsilon=1e-3):
    """The BatchNormalization constructor every block calls, with the zoo's defaults."""
    return functools.partial(layers.BatchNormalization, momentum=momentum, epsilon=epsilon)


BatchNorm = batch_norm()


def kernel_init(scale=2.0):
    """He initialisation over fan-out (torchvision's for MobileNets). Keras's default,
    Glorot, counts a depthwise kernel's channels as its fan-in, so a 3x3 depthwise layer
    over C channels starts with outputs C times too small; BN hides that in training, but
    the moving variances then need thousands of steps to shrink to it, and a short run is
    useless in inference mode. Over fan-out the depthwise kernel's fan is its 9 taps.
    scale=1 for a kernel with no ReLU after it (a separable conv's depthwise half)."""
    return initializers.VarianceScaling(scale, mode="fan_out", distribution="truncated_normal")

# Activations by the names the spec tables and the `activation` option use. Each entry makes
# a built-in Keras layer (serialisable in safe mode). The suffix keeps keras.applications'
# naming ("block_1_expand_relu" for a ReLU6).
_ACTIVATIONS = {
    "relu": (lambda name: layers.ReLU(name=name), "relu"),
    "relu6": (lambda name: layers.ReLU(6.0, name=name), "relu"),
    "hard_swish": (lambda name: layers.Activation("hard_swish", name=name), "hard_swish"),
    "hard_sigmoid": (lambda name: layers.Activation("hard_sigmoid", name=name), "hard_sigmoid"),
    "swish": (lambda name: layers.Activation("swish", name=name), "swish"),
    # The exact (erf) GELU, as torch's nn.GELU: MobileNetV4-Hybrid-Large's activation.
    "gelu": (lambda name: layers.Activation("gelu", name=name), "gelu"),
}
ACTIVATIONS = tuple(_ACTIVATIONS)


def make_divisible(value, divisor=8, min_value=None):
    """Rounds a channel count to the nearest multiple of `divisor`, never below `min_value`
    and never more than 10% below `value` (the rule of the MobileNet V2/V3 reference code)."""
    min_value = divisor if min_value is None else min_value
    rounded = max(min_value, int(value + divisor / 2) // divisor * divisor)
    if rounded < 0.9 * value:
        rounded += divisor
    return rounded


def activation(x, kind, name):
    """Applies the activation `kind` ("relu", "relu6", "hard_swish", ...) as a layer named
    `name` + its conventional suffix; `kind=None` is the identity (linear bottleneck)."""
    if kind is None:
        return x
    make_layer, suffix = _ACTIVATIONS[kind]
    return make_layer(f"{name}_{suffix}" if name else None)(x)


def symmetric_padding(x, kernel, strides, dilation, padding, name):
    """(x, the conv's own padding) for padding "same", "valid" or "symmetric".

    "symmetric" pads a strided convolution by (kernel - 1) // 2 on every side, as PyTorch
    does (timm's weights were trained so); Keras's "same" puts the odd pixel of a stride-2
    conv's padding at the bottom and right only. A ZeroPadding2D named `name + "_pad"`
    then a "valid" conv. At stride 1 both pad symmetrically, so "same" is kept there."""
    if padding != "symmetric":
        return x, padding
    if strides == 1 or kernel == 1:
        return x, "same"
    pad = dilation * (kernel - 1) // 2
    return layers.ZeroPadding2D(pad, name=f"{name}_pad")(x), "valid"


def conv_bn_act(x, filters, kernel, name, *, strides=1, dilation=1, act="relu6",
                padding="same", use_bias=False, norm=BatchNorm, bn_name=None, act_name=None):
    """Conv2D -> BN -> activation, the stem and 1x1 layers of every MobileNet.

    (B, H, W, C) -> (B, H / strides, W / strides, filters). `bn_name` and `act_name` default
    to `name + "_bn"` and `name`; V2's keras.applications names need them overridden.
    padding: "same", "valid" or "symmetric" (symmetric_padding).
    """
    x, padding = symmetric_padding(x, kernel, strides, dilation, padding, name)
    x = layers.Conv2D(filters, kernel, strides=strides, dilation_rate=dilation,
                      padding=padding, use_bias=use_bias, kernel_initializer=kernel_init(),
                      name=name)(x)
    if norm is not None:
        x = norm(name=bn_name or f"{name}_bn")(x)
    return activation(x, act, act_name or name)


def depthwise_layers(kind="conv"):
    """(depthwise, separable) layer classes of the `depthwise` build option: "conv"
    (keras.layers.DepthwiseConv2D, SeparableConv2D) or "shifted" (their subclasses computing
    the depthwise part as k x k shifted multiply-adds; same weights: shifted_depthwise.py)."""
    if kind not in DEPTHWISE:
        raise ValueError(f"depthwise must be one of {tuple(DEPTHWISE)}, got {kind!r}")
    return DEPTHWISE[kind]


def depthwise_bn_act(x, kernel, name, *, strides=1, dilation=1, depth_multiplier=1,
                     act="relu6", norm=BatchNorm, bn_name=None, act_name=None, padding="same",
                     depthwise="conv"):
    """DepthwiseConv2D -> BN -> activation: the spatial filtering half of a separable conv.

    'same' padding equals keras.applications' explicit ZeroPadding2D + 'valid' pair
    for the even feature sizes of the standard resolutions, in one op; "symmetric" is
    PyTorch's (symmetric_padding). depthwise: "conv" or "shifted" (depthwise_layers).
    """
    x, padding = symmetric_padding(x, kernel, strides, dilation, padding, name)
    depthwise_conv, _ = depthwise_layers(depthwise)
    x = depthwise_conv(kernel, strides=strides, dilation_rate=dilation,
                       depth_multiplier=depth_multiplier, padding=padding, use_bias=False,
                       depthwise_initializer=kernel_init(), name=name)(x)
    x = norm(name=bn_name or f"{name}_bn")(x)
    return activation(x, act, act_name or name)


def squeeze_excite(x, squeeze_channels, prefix, *, gate="hard_sigmoid"):
    """Squeeze-and-excitation (Hu et al.) as MobileNetV3 uses it on the expanded features:
    global pool -> 1x1 conv + ReLU -> 1x1 conv + gate -> channel-wise rescale.

    (B, H, W, C) -> (B, H, W, C).
    """
    channels = x.shape[-1]
    s = layers.GlobalAveragePooling2D(keepdims=True, name=f"{prefix}squeeze_excite_avg_pool")(x)
    s = layers.Conv2D(squeeze_channels, 1, name=f"{prefix}squeeze_excite_conv")(s)
    s = activation(s, "relu", f"{prefix}squeeze_excite")
    s = layers.Conv2D(channels, 1, name=f"{prefix}squeeze_excite_conv_1")(s)
    s = activation(s, gate, f"{prefix}squeeze_excite")
    return layers.Multiply(name=f"{prefix}squeeze_excite_mul")([x, s])


def inverted_residual(x, *, expanded, out, kernel, strides, dilation, act, se_channels,
                      prefix, norm=BatchNorm, bn_suffix="_bn", endpoints=None,
                      zero_init_residual=False, drop_path_rate=0.0, depthwise="conv"):
    """The MobileNet V2 / V3 block: 1x1 expansion -> kxk depthwise -> (SE) -> linear 1x1
    projection, with an identity shortcut when the shape is unchanged.

    (B, H, W, C) -> (B, H / strides, W / strides, out). The expansion is skipped when
    `expanded` equals the input channels (the first block of every table). If `endpoints`
    is a dict, the expansion output is stored in it under "expand" (SSDLite taps it).
    zero_init_residual: a block with a shortcut starts as the identity (its projection's BN
    scale is 0; Goyal et al., arXiv:1706.02677, section 5.1), an initialisation only.
    drop_path_rate: stochastic depth on the block's branch when it has a shortcut (drop_path).
    depthwise: how the depthwise conv is computed, "conv" or "shifted" (depthwise_layers).
    """
    in_channels = x.shape[-1]
    residual = strides == 1 and in_channels == out
    shortcut = x
    if expanded != in_channels:
        x = conv_bn_act(x, expanded, 1, f"{prefix}expand", act=act, norm=norm,
                        bn_name=f"{prefix}expand{bn_suffix}")
        if endpoints is not None:
            endpoints["expand"] = x
    x = depthwise_bn_act(x, kernel, f"{prefix}depthwise", strides=strides, dilation=dilation,
                         act=act, norm=norm, bn_name=f"{prefix}depthwise{bn_suffix}",
                         depthwise=depthwise)
    if se_channels:
        x = squeeze_excite(x, se_channels, prefix)
    if residual and zero_init_residual:
        norm = functools.partial(norm, gamma_initializer="zeros")
    x = conv_bn_act(x, out, 1, f"{prefix}project", act=None, norm=norm,
                    bn_name=f"{prefix}project{bn_suffix}")
    if residual:
        x = residual_add(shortcut, x, prefix, drop_path_rate)
    return x


# How a model's drop_path_rate is spread over its residual blocks (drop_path_rate_at).
DROP_PATH_SCHEDULES = ("linear", "constant")


def drop_path(x, rate, prefix):
    """Stochastic depth (Huang et al., arXiv:1603.09382) on a residual branch (B, ..., C):
    in training each sample's branch is zeroed with probability `rate` and the kept ones are
    scaled by 1 / (1 - rate), so the branch's expected value is unchanged; at inference it is
    the identity, so an exported graph has nothing of it. Keras's Dropout drawing one value
    per sample (noise_shape (B, 1, ..., 1)) is exactly that, with its own seed generator on
    every backend, and stays a built-in layer (safe-mode .keras files need no custom object).
    rate 0 adds no layer."""
    if not rate:
        return x
    return layers.Dropout(rate, noise_shape=(None,) + (1,) * (len(x.shape) - 1),
                          name=f"{prefix}drop_path")(x)


def residual_add(shortcut, x, prefix, drop_path_rate=0.0):
    """shortcut + drop_path(x, drop_path_rate): how every residual block ends."""
    x = drop_path(x, drop_path_rate, prefix)
    return layers.Add(name=f"{prefix}add")([shortcut, x])


def drop_path_rate_at(rate, position, count, schedule="linear"):
    """The drop-path rate of the block at `position` of `count`: `rate` on every block
    ("constant"), or rate * position / count ("linear": deeper blocks are dropped more, the
    early ones that every later block builds on least: Huang et al.'s linear decay rule)."""
    if schedule not in DROP_PATH_SCHEDULES:
        raise ValueError(f"drop_path_schedule must be one of {DROP_PATH_SCHEDULES}, "
                         f"got {schedule!r}")
    return rate if schedule == "constant" else rate * position / count


class StrideTracker:
    """Turns the table's strides into (stride, dilation) pairs for a target output stride.

    Once the running stride reaches `output_stride`, later downsampling becomes dilation
    (atrous convolution, DeepLab's rule: the layer that would have strided keeps the
    current rate, the layers after it use the multiplied rate). `level` is the nominal
    pyramid level log2(stride) the layer would have had, which names the endpoints.
    """

    def __init__(self, output_stride=None):
        self.output_stride = output_stride
        self.stride = 1            # actual stride of the feature map so far
        self.nominal = 1           # stride it would have without dilation
        self.rate = 1

    def step(self, strides):
        """Returns (strides, dilation) for a layer of the table with `strides`."""
        self.nominal *= strides
        if self.output_stride is not None and self.stride * strides > self.output_stride:
            rate, self.rate = self.rate, self.rate * strides
            return 1, rate
        self.stride *= strides
        return strides, self.rate

    @property
    def level(self):
        """The pyramid level of the current feature map: log2 of its nominal stride."""
        return int(math.log2(self.nominal))
