"""Xception: Inception taken to the extreme (Chollet, arXiv:1610.02357).

Every Inception branch becomes a 3x3 filter on a single channel, so the module is a
depthwise-separable convolution; 36 of them in 14 blocks with residual connections.
"""

import collections

from keras import layers

from mobilenet_tf.models.common import classifier_output, finish_model, model_input
from mobilenet_tf.models.layers import (StrideTracker, batch_norm, conv_bn_act, depthwise_layers,
                                        kernel_init)

# A residual block of separable 3x3 convs (each BN'd, ReLU before each one except where
# `relu_first` is False), ending in a 3x3 max pool + strided 1x1 conv shortcut when stride 2,
# else an identity shortcut.
XBlock = collections.namedtuple("XBlock", "filters stride relu_first")

# Xception, Figure 5 of arXiv:1610.02357. Block 1 is two 3x3 convs (32 stride 2, 64), unpadded.
#        separable conv filters  s  relu first
ENTRY_FLOW = (
    XBlock((128, 128),          2, False),   # block 2, C2, stride 4
    XBlock((256, 256),          2, True),    # block 3, C3, stride 8
    XBlock((728, 728),          2, True),    # block 4, C4, stride 16
)
MIDDLE_FLOW = (XBlock((728, 728, 728), 1, True),) * 8   # blocks 5 to 12
EXIT_FLOW = (XBlock((728, 1024),        2, True),)      # block 13, C5, stride 32
EXIT_CONVS = (1536, 2048)                               # block 14: separable conv, BN, ReLU each
STEM = ((32, 2), (64, 1))                               # block 1: (filters, stride), 3x3 'valid'


def xception_block(x, row, block, stride, dilation, norm, separable=layers.SeparableConv2D):
    """One residual block of the table. (B, H, W, C) -> (B, H/stride, W/stride, filters[-1])."""
    shortcut = x
    for i, filters in enumerate(row.filters, start=1):
        name = f"block{block}_sepconv{i}"
        if row.relu_first or i > 1:
            x = layers.ReLU(name=f"{name}_act")(x)
        # The dilated rate applies from the block after the one that stops striding.
        x = separable(filters, 3, padding="same", use_bias=False, dilation_rate=dilation,
                      depthwise_initializer=kernel_init(1.0),
                      pointwise_initializer=kernel_init(), name=name)(x)
        x = norm(name=f"{name}_bn")(x)
    if row.stride == 1:
        return layers.Add(name=f"block{block}_add")([x, shortcut])
    x = layers.MaxPooling2D(3, strides=stride, padding="same", name=f"block{block}_pool")(x)
    shortcut = layers.Conv2D(row.filters[-1], 1, strides=stride, padding="same", use_bias=False,
                             kernel_initializer=kernel_init(),
                             name=f"block{block}_residual")(shortcut)
    shortcut = norm(name=f"block{block}_residual_bn")(shortcut)
    return layers.Add(name=f"block{block}_add")([x, shortcut])


def build_xception(*, input_shape=(299, 299, 3), num_classes=1000, include_top=True,
                   pooling=None, dropout=0.0, classifier_activation=None, features_only=False,
                   output_stride=None, bn_momentum=0.99, bn_epsilon=1e-3,
                   include_preprocessing=False, depthwise="conv", name=None):
    """Xception: (B, H, W, 3) in [-1, 1], H and W at least 71 -> (B, num_classes) logits,
    or the C2..C5 endpoints. depthwise: "conv" or "shifted" (the separable convs' depthwise
    half as shifted multiply-adds, layers.depthwise_layers; the same weights)."""
    separable = depthwise_layers(depthwise)[1]
    norm = batch_norm(bn_momentum, bn_epsilon)
    inputs, x = model_input(input_shape, include_preprocessing)
    tracker = StrideTracker(output_stride)
    for i, (filters, stride) in enumerate(STEM, start=1):
        strides, _ = tracker.step(stride)
        x = conv_bn_act(x, filters, 3, f"block1_conv{i}", strides=strides, padding="valid",
                        act="relu", norm=norm)
    features = {}
    for block, row in enumerate(ENTRY_FLOW + MIDDLE_FLOW + EXIT_FLOW, start=2):
        rate = tracker.rate
        strides, _ = tracker.step(row.stride)
        x = xception_block(x, row, block, strides, rate, norm, separable)
        features[f"C{tracker.level}"] = x
    for i, filters in enumerate(EXIT_CONVS, start=1):
        name = f"block14_sepconv{i}"
        x = separable(filters, 3, padding="same", use_bias=False, dilation_rate=tracker.rate,
                      depthwise_initializer=kernel_init(1.0),
                      pointwise_initializer=kernel_init(), name=name)(x)
        x = norm(name=f"{name}_bn")(x)
        x = layers.ReLU(name=f"{name}_act")(x)
    features[f"C{tracker.level}"] = x

    def head(x):
        x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
        if dropout:
            x = layers.Dropout(dropout, name="dropout")(x)
        x = layers.Dense(num_classes, name="predictions")(x)
        return classifier_output(x, classifier_activation)

    return finish_model(inputs, x, features, name=name or "xception", include_top=include_top,
                        pooling=pooling, features_only=features_only, head=head)
