"""MobileNet V1: depthwise separable convolutions (Howard et al., arXiv:1704.04861).

A standard kxk conv from M to N channels costs Dk*Dk*M*N*Df*Df multiply-adds; a 3x3 depthwise
conv followed by a 1x1 pointwise conv costs Dk*Dk*M*Df*Df + M*N*Df*Df, a ratio of
1/N + 1/Dk^2, about 8 to 9 times fewer for 3x3 kernels
(`python -m mobilenet_tf.profile --model=v1 --standard_conv` measures it).
"""

import collections

from keras import layers

from mobilenet_tf.models.common import classifier_output, finish_model, model_input
from mobilenet_tf.models.layers import StrideTracker, batch_norm, conv_bn_act, depthwise_bn_act

DwConv = collections.namedtuple("DwConv", "out stride")  # 3x3 depthwise (stride) + 1x1 pointwise

# MobileNet V1, Table 1 of arXiv:1704.04861, after a 3x3 stride-2 conv of 32 channels.
# The table prints stride 2 for the second-to-last depthwise layer at 7x7; every reference
# implementation (and keras.applications' weights) uses stride 1 there, as do we.
#       out   s
BLOCKS = (
    DwConv(64,   1),
    DwConv(128,  2),   # C2, stride 4
    DwConv(128,  1),
    DwConv(256,  2),   # C3, stride 8
    DwConv(256,  1),
    DwConv(512,  2),   # C4, stride 16
    DwConv(512,  1),
    DwConv(512,  1),
    DwConv(512,  1),
    DwConv(512,  1),
    DwConv(512,  1),
    DwConv(1024, 2),   # C5, stride 32
    DwConv(1024, 1),
)
STEM_CHANNELS = 32


def build_mobilenet_v1(*, width=1.0, depth_multiplier=1, input_shape=(224, 224, 3),
                       num_classes=1000, include_top=True, pooling=None, dropout=1e-3,
                       classifier_activation=None, features_only=False, output_stride=None,
                       activation="relu6", bn_momentum=0.99, bn_epsilon=1e-3,
                       include_preprocessing=False, depthwise="conv", name=None):
    """MobileNet V1 at width multiplier `width` (the paper's alpha; any positive float) and
    depthwise `depth_multiplier`: (B, H, W, 3) in [-1, 1] -> (B, num_classes) logits, or
    the C2..C5 endpoints. The paper's resolution multiplier is `input_shape`.
    depthwise: "conv" or "shifted" (layers.depthwise_layers; the same weights)."""
    norm = batch_norm(bn_momentum, bn_epsilon)
    inputs, x = model_input(input_shape, include_preprocessing)
    tracker = StrideTracker(output_stride)
    strides, _ = tracker.step(2)
    # int() rather than rounding to 8: the paper's rule, and keras.applications'.
    x = conv_bn_act(x, int(STEM_CHANNELS * width), 3, "conv1", strides=strides,
                    act=activation, norm=norm)
    features = {}
    for block_id, row in enumerate(BLOCKS, start=1):
        strides, dilation = tracker.step(row.stride)
        x = depthwise_bn_act(x, 3, f"conv_dw_{block_id}", strides=strides, dilation=dilation,
                             depth_multiplier=depth_multiplier, act=activation, norm=norm,
                             depthwise=depthwise)
        x = conv_bn_act(x, int(row.out * width), 1, f"conv_pw_{block_id}", act=activation,
                        norm=norm)
        features[f"C{tracker.level}"] = x

    def head(x):
        x = layers.GlobalAveragePooling2D(keepdims=True, name="avg_pool")(x)
        if dropout:
            x = layers.Dropout(dropout, name="dropout")(x)
        x = layers.Conv2D(num_classes, 1, name="conv_preds")(x)
        x = layers.Flatten(name="flatten")(x)
        return classifier_output(x, classifier_activation)

    return finish_model(inputs, x, features, name=name or f"mobilenet_v1_{width:g}",
                        include_top=include_top, pooling=pooling,
                        features_only=features_only, head=head)
