"""Depthwise convolutions written as their k x k shifted multiply-adds: the `depthwise="shifted"`
build option, a candidate for training speed under XLA (benchmarks/NOTES.md, experiment 9).

A k x k depthwise convolution is, at every output pixel, a sum over the k * k taps (i, j) of
the padded input at (stride * y + dilation * i, stride * x + dilation * j) times the tap's
per-channel weight: k * k strided slices of one tensor, each scaled per channel and added.
Written so in keras.ops, XLA can fuse it with the BN and activation around it into one pass
over the activations, and automatic differentiation makes its filter gradient k * k
multiply-reduce passes (the sum over B, H, W of a slice times the output gradient), where
`feature_group_count=C`'s filter gradient is lowered as a C x C `batch_group_count`
convolution on the CPU (NOTES.md; the GPU profile of device_run.sh says what it is there).

The layers subclass keras.layers.DepthwiseConv2D and SeparableConv2D and change only `call`:
the same variables (names, shapes, initialisers, config), so keras.applications and timm
weights, checkpoints and `isinstance` checks (profile, weight decay, timm import) work as
with the default layers, and a model built with either option takes the other's weights.
Products are accumulated in float32 at least (the convolution's own accumulator), so
mixed_bfloat16 does not round k * k partial sums. keras.ops only (TensorFlow, JAX); registered
serializables, so a `.keras` file reloads once `mobilenet_tf.models` is imported. Spatial
sizes unknown at trace time (a TensorFlow graph of any input size) and channels_first fall
back to the parent's convolution, which computes the same function.
"""
import keras
from keras import layers, ops

_HALF = ("float16", "bfloat16")


def same_padding(size, kernel, stride, dilation):
    """(before, after) of TensorFlow's "same" padding along one axis: ceil(size / stride)
    outputs, the odd pixel of the padding after (bottom / right)."""
    span = dilation * (kernel - 1) + 1
    outputs = -(-size // stride)
    total = max((outputs - 1) * stride + span - size, 0)
    return total // 2, total - total // 2


def shifted_depthwise_conv(x, kernel, strides=(1, 1), padding="valid", dilation_rate=(1, 1)):
    """ops.depthwise_conv(x, kernel, ...) (channels_last) as shifted multiply-adds.

    x (B, H, W, C) with static H and W, kernel (kh, kw, C, m) -> (B, H', W', C * m), output
    channel c * m + j from input channel c (TensorFlow's order); padding "same" or "valid".
    """
    kh, kw, channels, multiplier = kernel.shape
    (sh, sw), (dh, dw) = strides, dilation_rate
    height, width = x.shape[1], x.shape[2]
    if padding == "same":
        (top, bottom), (left, right) = (same_padding(height, kh, sh, dh),
                                        same_padding(width, kw, sw, dw))
        if top or bottom or left or right:
            x = ops.pad(x, ((0, 0), (top, bottom), (left, right), (0, 0)))
        height, width = height + top + bottom, width + left + right
    out_h = (height - dh * (kh - 1) - 1) // sh + 1
    out_w = (width - dw * (kw - 1) - 1) // sw + 1
    dtype = keras.backend.standardize_dtype(x.dtype)
    accumulate = "float32" if dtype in _HALF else dtype
    x, kernel = ops.cast(x, accumulate), ops.cast(kernel, accumulate)
    total = None
    for i in range(kh):
        for j in range(kw):
            tap = x[:, i * dh:i * dh + (out_h - 1) * sh + 1:sh,
                    j * dw:j * dw + (out_w - 1) * sw + 1:sw, :]
            if multiplier == 1:
                term = tap * kernel[i, j, :, 0]
            else:   # (B, H', W', C, m) -> (B, H', W', C * m): c * m + j
                term = ops.reshape(ops.expand_dims(tap, -1) * kernel[i, j],
                                   (-1, out_h, out_w, channels * multiplier))
            total = term if total is None else total + term
    return ops.cast(total, dtype)


def _shiftable(layer, inputs):
    return layer.data_format == "channels_last" and all(
        isinstance(size, int) for size in tuple(inputs.shape)[1:3])


def _finish(layer, outputs):
    """The bias and activation, as the parent layers apply them (channels_last)."""
    if layer.use_bias:
        outputs = ops.add(outputs, layer.bias)
    return layer.activation(outputs) if layer.activation is not None else outputs


@keras.saving.register_keras_serializable(package="mobilenet_tf")
class ShiftedDepthwiseConv2D(layers.DepthwiseConv2D):
    """keras.layers.DepthwiseConv2D computed as shifted multiply-adds (module docstring):
    the same variables, arguments and outputs. (B, H, W, C) -> (B, H', W', C * m)."""

    def call(self, inputs):
        if not _shiftable(self, inputs):
            return super().call(inputs)
        return _finish(self, shifted_depthwise_conv(
            inputs, self.kernel, self.strides, self.padding, self.dilation_rate))


@keras.saving.register_keras_serializable(package="mobilenet_tf")
class ShiftedSeparableConv2D(layers.SeparableConv2D):
    """keras.layers.SeparableConv2D with its depthwise half as shifted multiply-adds, then
    the 1x1 pointwise convolution. (B, H, W, C) -> (B, H', W', filters)."""

    def call(self, inputs):
        if not _shiftable(self, inputs):
            return super().call(inputs)
        x = shifted_depthwise_conv(inputs, self.depthwise_kernel, self.strides, self.padding,
                                   self.dilation_rate)
        x = ops.conv(x, self.pointwise_kernel, strides=1, padding="valid",
                     data_format=self.data_format)
        return _finish(self, x)


# The `depthwise` build option: the depthwise and separable layer classes it builds with.
DEPTHWISE = {"conv": (layers.DepthwiseConv2D, layers.SeparableConv2D),
             "shifted": (ShiftedDepthwiseConv2D, ShiftedSeparableConv2D)}
