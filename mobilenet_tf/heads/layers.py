"""The two layers the segmentation heads need that Keras lacks, for inputs of any size:
resizing to another tensor's spatial size, and average pooling with a large kernel that
shrinks to fit a smaller feature map. keras.ops only, so they run under TensorFlow and JAX.

Both are registered Keras serializables: a `.keras` file of a segmentation model reloads in
safe mode once `mobilenet_tf.models` is imported (which imports this module).
"""
import keras
from keras import ops


def _static(size):
    return size if isinstance(size, int) else None


def _coordinates(out_size, in_size):
    """Bilinear sampling positions with half-pixel centres (tf.image.resize's convention):
    (lower index, upper index, weight of the upper) for each of out_size outputs."""
    scale = ops.cast(in_size, "float32") / ops.cast(out_size, "float32")
    position = (ops.cast(ops.arange(out_size), "float32") + 0.5) * scale - 0.5
    position = ops.clip(position, 0.0, ops.cast(in_size - 1, "float32"))
    lower = ops.cast(ops.floor(position), "int32")
    upper = ops.minimum(lower + 1, in_size - 1)
    return lower, upper, position - ops.cast(lower, "float32")


def resize_bilinear(x, height, width):
    """(B, h, w, C) -> (B, height, width, C), bilinear with half-pixel centres, where the
    sizes may be tensors (ops.image.resize needs Python ints under TensorFlow)."""
    if isinstance(height, int) and isinstance(width, int):
        if tuple(x.shape[1:3]) == (height, width):
            return x
        return ops.image.resize(x, (height, width), interpolation="bilinear")
    dtype = x.dtype
    x = ops.cast(x, "float32")
    shape = ops.shape(x)
    top, bottom, wy = _coordinates(height, shape[1])
    left, right, wx = _coordinates(width, shape[2])
    wy = ops.reshape(wy, (1, -1, 1, 1))
    wx = ops.reshape(wx, (1, 1, -1, 1))
    rows = ops.take(x, top, axis=1) * (1.0 - wy) + ops.take(x, bottom, axis=1) * wy
    x = ops.take(rows, left, axis=2) * (1.0 - wx) + ops.take(rows, right, axis=2) * wx
    return ops.cast(x, dtype)


@keras.saving.register_keras_serializable(package="mobilenet_tf")
class ResizeLike(keras.layers.Layer):
    """[x (B, h, w, C), reference (B, H, W, ...)] -> x resized bilinearly to (B, H, W, C).

    Upsampling by "the other tensor's size" rather than by a factor keeps the output the
    input's size when a side is not a multiple of the stride (a 1025-pixel side is 65 at
    stride 16 and 129 at stride 8, not 130)."""

    def call(self, inputs):
        x, reference = inputs
        height, width = reference.shape[1], reference.shape[2]
        if _static(height) is None or _static(width) is None:
            shape = ops.shape(reference)
            height, width = shape[1], shape[2]
        return resize_bilinear(x, height, width)

    def compute_output_shape(self, input_shape):
        x, reference = input_shape
        return (x[0], reference[1], reference[2], x[3])


def _pool_axis(x, axis, kernel, stride):
    """Average over windows of `kernel` (clipped to the axis length) every `stride` along
    `axis`, 'valid' placement, by differences of a cumulative sum (any length, any backend)."""
    length = ops.shape(x)[axis]
    kernel = ops.minimum(kernel, length)
    count = (length - kernel) // stride + 1
    cumulative = ops.cumsum(x, axis=axis)
    zero = ops.zeros_like(ops.take(cumulative, ops.arange(1), axis=axis))
    cumulative = ops.concatenate([zero, cumulative], axis=axis)
    starts = ops.arange(count) * stride
    total = ops.take(cumulative, starts + kernel, axis=axis) - ops.take(cumulative, starts,
                                                                         axis=axis)
    return total / ops.cast(kernel, x.dtype)


# Up to this many pooled positions on a fixed-size map are computed as MEANs of slices.
MEAN_WINDOWS = 16


def _concatenate_in_fours(tensors, axis):
    """ops.concatenate at most four tensors at a time (XNNPACK's CONCATENATION takes up to
    four inputs; more would cut the delegated graph)."""
    while len(tensors) > 1:
        tensors = [ops.concatenate(tensors[i:i + 4], axis=axis) if len(tensors[i:i + 4]) > 1
                   else tensors[i] for i in range(0, len(tensors), 4)]
    return tensors[0]


@keras.saving.register_keras_serializable(package="mobilenet_tf")
class FittedAveragePool(keras.layers.Layer):
    """Average pooling with a large kernel and stride, the kernel clipped to the feature map
    ('valid' windows): LR-ASPP's pooling branch (V3 paper, section 6.4 and Figure 10). At the
    training crop it covers the whole map (global pooling); on a larger image it gives a few
    pooled positions, e.g. 1 x 4 on a 64 x 128 map with kernel 49 and stride (16, 20).

    (B, H, W, C) -> (B, (H - kh) // sh + 1, (W - kw) // sw + 1, C), kh = min(kernel, H).
    """

    def __init__(self, pool_size=(49, 49), strides=(16, 20), **kwargs):
        super().__init__(**kwargs)
        self.pool_size = tuple(int(k) for k in pool_size)
        self.strides = tuple(int(s) for s in strides)

    def _windows(self, height, width):
        kernel = (min(self.pool_size[0], height), min(self.pool_size[1], width))
        return kernel, ((height - kernel[0]) // self.strides[0] + 1,
                        (width - kernel[1]) // self.strides[1] + 1)

    def call(self, x):
        height, width = x.shape[1], x.shape[2]
        if _static(height) is not None and _static(width) is not None:
            kernel, size = self._windows(height, width)
            if kernel == (height, width):   # the whole map: a MEAN, which XNNPACK runs in
                return ops.mean(x, axis=(1, 2), keepdims=True)   # int8 (AVERAGE_POOL_2D: not)
            if size[0] * size[1] > MEAN_WINDOWS:
                return ops.average_pool(x, kernel, self.strides, padding="valid")
            # A few windows (1 x 4 on a Cityscapes frame): each a MEAN of its slice, so an
            # int8 export stays in XNNPACK, which has no int8 AVERAGE_POOL_2D.
            (kh, kw), (sh, sw) = kernel, self.strides
            rows = [_concatenate_in_fours(
                [ops.mean(x[:, i * sh:i * sh + kh, j * sw:j * sw + kw], axis=(1, 2),
                          keepdims=True) for j in range(size[1])], axis=2)
                for i in range(size[0])]
            return _concatenate_in_fours(rows, axis=1)
        dtype = x.dtype
        x = ops.cast(x, "float32")
        x = _pool_axis(x, 1, self.pool_size[0], self.strides[0])
        x = _pool_axis(x, 2, self.pool_size[1], self.strides[1])
        return ops.cast(x, dtype)

    def compute_output_shape(self, input_shape):
        batch, height, width, channels = input_shape
        if height is None or width is None:
            return (batch, None, None, channels)
        _, size = self._windows(height, width)
        return (batch, *size, channels)

    def get_config(self):
        return {**super().get_config(), "pool_size": self.pool_size, "strides": self.strides}
