"""MobileNetV2: inverted residuals and linear bottlenecks (Sandler et al., arXiv:1801.04381).

Each block expands the channels t times with a 1x1 conv, filters them with a 3x3 depthwise
conv, then projects back with a *linear* 1x1 conv: ReLU on a low-dimensional bottleneck
destroys information (the paper's Figure 1, `python -m mobilenet_tf.profile --relu_manifold`),
so the projection has no activation. The shortcut joins the thin bottlenecks.
"""

import collections

from keras import layers

from mobilenet_tf.models.common import classifier_output, finish_model, model_input
from mobilenet_tf.models.layers import (StrideTracker, batch_norm, conv_bn_act, inverted_residual,
                                        make_divisible)

# expansion factor, output channels, repeats, stride of the first repeat
Bottleneck = collections.namedtuple("Bottleneck", "t c n s")

# MobileNetV2, Table 2 of arXiv:1801.04381. A 3x3 stride-2 conv of 32 channels comes first.
#           t   c    n  s
BLOCKS = (
    Bottleneck(1, 16,  1, 1),
    Bottleneck(6, 24,  2, 2),   # C2, stride 4
    Bottleneck(6, 32,  3, 2),   # C3, stride 8
    Bottleneck(6, 64,  4, 2),   # C4, stride 16
    Bottleneck(6, 96,  3, 1),
    Bottleneck(6, 160, 3, 2),   # C5, stride 32
    Bottleneck(6, 320, 1, 1),
)
STEM_CHANNELS = 32
LAST_CHANNELS = 1280  # the 1x1 conv before pooling; kept at 1280 for width < 1 (section 5.1)


def build_mobilenet_v2(*, width=1.0, input_shape=(224, 224, 3), num_classes=1000,
                       include_top=True, pooling=None, dropout=0.2, classifier_activation=None,
                       features_only=False, output_stride=None, activation="relu6",
                       bn_momentum=0.99, bn_epsilon=1e-3, include_preprocessing=False,
                       zero_init_residual=False, depthwise="conv", name=None):
    """MobileNetV2 at width multiplier `width`: (B, H, W, 3) in [-1, 1] -> (B, num_classes)
    logits (or `classifier_activation`), or the C2..C5 + C4_expand endpoints.
    zero_init_residual starts every block with a shortcut as the identity: from scratch on
    a small dataset it learns several times faster (configs/shapes_cls_v2.py).
    depthwise: "conv" or "shifted" (layers.depthwise_layers; the same weights)."""
    norm = batch_norm(bn_momentum, bn_epsilon)
    inputs, x = model_input(input_shape, include_preprocessing)
    tracker = StrideTracker(output_stride)
    strides, _ = tracker.step(2)
    # Channel counts follow keras.applications exactly (int() before rounding) so weights load.
    x = conv_bn_act(x, make_divisible(STEM_CHANNELS * width), 3, "Conv1", strides=strides,
                    act=activation, norm=norm, bn_name="bn_Conv1")
    features = {}
    block_id = 0
    for row in BLOCKS:
        out = make_divisible(int(row.c * width))
        for repeat in range(row.n):
            level_before = tracker.level
            strides, dilation = tracker.step(row.s if repeat == 0 else 1)
            taps = {}
            x = inverted_residual(
                x, expanded=row.t * x.shape[-1], out=out, kernel=3, strides=strides,
                dilation=dilation, act=activation, se_channels=None, norm=norm, bn_suffix="_BN",
                prefix=f"block_{block_id}_" if block_id else "expanded_conv_", endpoints=taps,
                zero_init_residual=zero_init_residual, depthwise=depthwise)
            if level_before == 4 and tracker.level == 5:
                features["C4_expand"] = taps["expand"]  # SSDLite's first map (V2 paper, 6.2)
            features[f"C{tracker.level}"] = x
            block_id += 1
    last = make_divisible(LAST_CHANNELS * width) if width > 1.0 else LAST_CHANNELS
    x = conv_bn_act(x, last, 1, "Conv_1", act=activation, norm=norm, act_name="out")
    features[f"C{tracker.level}"] = x

    def head(x):
        x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
        if dropout:
            x = layers.Dropout(dropout, name="dropout")(x)
        x = layers.Dense(num_classes, name="predictions")(x)
        return classifier_output(x, classifier_activation)

    return finish_model(inputs, x, features, name=name or f"mobilenet_v2_{width:g}",
                        include_top=include_top, pooling=pooling,
                        features_only=features_only, head=head)
