"""MobileNetV3 Large and Small (Howard et al., "Searching for MobileNetV3", arXiv:1905.02244 v5).

V2's inverted residual, plus squeeze-and-excitation on the expanded features, h-swish in the
deeper layers (x * ReLU6(x + 3) / 6, cheap where most of the cost is), 5x5 depthwise kernels
found by search, and the redesigned last stage (section 5.1): global pooling moves before the
final 1x1 convs, which then run on a 1x1 map and cost almost nothing.
"""

import collections
import functools

from keras import layers

from mobilenet_tf.models.common import classifier_output, finish_model, model_input
from mobilenet_tf.models.layers import StrideTracker, batch_norm, activation as apply_activation
from mobilenet_tf.models.layers import (conv_bn_act, drop_path_rate_at, inverted_residual,
                                        make_divisible)

Bneck = collections.namedtuple("Bneck", "kernel exp out se act stride")

# MobileNetV3-Large, Table 1 of arXiv:1905.02244. The stem is a 3x3 stride-2 conv of 16, h-swish.
#     k  exp  out  se     act           s
LARGE = (
    Bneck(3, 16,  16,  False, "relu",       1),
    Bneck(3, 64,  24,  False, "relu",       2),   # C2, stride 4
    Bneck(3, 72,  24,  False, "relu",       1),
    Bneck(5, 72,  40,  True,  "relu",       2),   # C3, stride 8
    Bneck(5, 120, 40,  True,  "relu",       1),
    Bneck(5, 120, 40,  True,  "relu",       1),
    Bneck(3, 240, 80,  False, "hard_swish", 2),   # C4, stride 16
    Bneck(3, 200, 80,  False, "hard_swish", 1),
    Bneck(3, 184, 80,  False, "hard_swish", 1),
    Bneck(3, 184, 80,  False, "hard_swish", 1),
    Bneck(3, 480, 112, True,  "hard_swish", 1),
    Bneck(3, 672, 112, True,  "hard_swish", 1),
    Bneck(5, 672, 160, True,  "hard_swish", 2),   # C5, stride 32
    Bneck(5, 960, 160, True,  "hard_swish", 1),
    Bneck(5, 960, 160, True,  "hard_swish", 1),
)

# MobileNetV3-Small, Table 2 of arXiv:1905.02244.
#     k  exp  out  se     act           s
SMALL = (
    Bneck(3, 16,  16,  True,  "relu",       2),   # C2, stride 4
    Bneck(3, 72,  24,  False, "relu",       2),   # C3, stride 8
    Bneck(3, 88,  24,  False, "relu",       1),
    Bneck(5, 96,  40,  True,  "hard_swish", 2),   # C4, stride 16
    Bneck(5, 240, 40,  True,  "hard_swish", 1),
    Bneck(5, 240, 40,  True,  "hard_swish", 1),
    Bneck(5, 120, 48,  True,  "hard_swish", 1),
    Bneck(5, 144, 48,  True,  "hard_swish", 1),
    Bneck(5, 288, 96,  True,  "hard_swish", 2),   # C5, stride 32
    Bneck(5, 576, 96,  True,  "hard_swish", 1),
    Bneck(5, 576, 96,  True,  "hard_swish", 1),
)

# The last stage: a 1x1 conv to `LAST_CONV[variant]` channels (6x the last block's output),
# global pooling, then a 1x1 conv without BN to `LAST_POINT[variant]` channels. Table 2 marks
# SE on Small's 576-channel conv; keras.applications (and the TF-slim checkpoints it loads)
# have none there, so neither do we, and the weights import.
STEM_CHANNELS = 16
LAST_CONV = {"large": 960, "small": 576}
LAST_POINT = {"large": 1280, "small": 1024}
TABLES = {"large": LARGE, "small": SMALL}
SE_RATIO = 0.25  # squeeze to 1/4 of the expanded channels (section 5.3)


def reduce_tail(table, segmentation=False):
    """The V3 paper's "V3-dagger" for detection and segmentation (section 6.3): the channels
    of the last stage halved, from the last stride-2 block on (its input side excepted).
    segmentation=True halves that first block's expansion too, as research/deeplab's
    mobilenet_v3_{large,small}_seg do (336 not 672 for Large), which gives the V3 paper's
    Table 7 parameter counts (1.51M and 0.47M with LR-ASPP)."""
    last = max(i for i, row in enumerate(table) if row.stride == 2)
    return table[:last] + tuple(
        row._replace(out=row.out // 2,
                     exp=row.exp // 2 if i > last or segmentation else row.exp)
        for i, row in enumerate(table) if i >= last)


def minimalize(row):
    """The minimalistic variant: no SE, no h-swish, only 3x3 kernels (CPU/DSP friendly)."""
    return row._replace(kernel=3, se=False, act="relu")


def build_mobilenet_v3(variant, *, width=1.0, minimalistic=False, reduced_tail=False,
                       input_shape=(224, 224, 3), num_classes=1000, include_top=True,
                       pooling=None, dropout=0.2, classifier_activation=None, features_only=False,
                       output_stride=None, bn_momentum=0.99, bn_epsilon=1e-3,
                       drop_path_rate=0.0, drop_path_schedule="linear",
                       include_preprocessing=False, depthwise="conv", name=None):
    """MobileNetV3 "large" or "small": (B, H, W, 3) in [-1, 1] -> (B, num_classes) logits
    (or `classifier_activation`), or the C2..C5 + C4_expand endpoints. reduced_tail: True
    (detection's halved last stage) or "segmentation" (its first expansion halved too).
    drop_path_rate: stochastic depth on the blocks with a shortcut, row i of the table's n at
    drop_path_rate * i / (n + 1) ("linear"; timm's count, whose block list ends with the 1x1
    conv to LAST_CONV) or at drop_path_rate ("constant"). depthwise: "conv" or "shifted"
    (layers.depthwise_layers; the same weights)."""
    norm = batch_norm(bn_momentum, bn_epsilon)
    table = (reduce_tail(TABLES[variant], segmentation=reduced_tail == "segmentation")
             if reduced_tail else TABLES[variant])
    table = tuple(map(minimalize, table)) if minimalistic else table
    act = "relu" if minimalistic else "hard_swish"
    inputs, x = model_input(input_shape, include_preprocessing)
    tracker = StrideTracker(output_stride)
    strides, _ = tracker.step(2)
    # keras.applications keeps the stem at 16 channels at every width.
    x = conv_bn_act(x, STEM_CHANNELS, 3, "conv", strides=strides, act=act, norm=norm)
    features = {}
    table_in = STEM_CHANNELS
    for block_id, row in enumerate(table):
        # The table gives absolute expansion sizes; keras.applications applies their ratio to
        # the *scaled* input channels, which differs after rounding at width != 1.
        expanded = make_divisible(x.shape[-1] * (row.exp / table_in))
        level_before = tracker.level
        strides, dilation = tracker.step(row.stride)
        taps = {}
        x = inverted_residual(
            x, expanded=expanded, out=make_divisible(row.out * width), kernel=row.kernel,
            strides=strides, dilation=dilation, act=row.act, norm=norm, endpoints=taps,
            se_channels=make_divisible(expanded * SE_RATIO) if row.se else None,
            drop_path_rate=drop_path_rate_at(drop_path_rate, block_id, len(table) + 1,
                                             drop_path_schedule),
            prefix=f"expanded_conv_{block_id}_" if block_id else "expanded_conv_",
            depthwise=depthwise)
        if level_before == 4 and tracker.level == 5:
            features["C4_expand"] = taps["expand"]  # SSDLite's first map (V3 paper, 6.2)
        features[f"C{tracker.level}"] = x
        table_in = row.out
    last_conv_ratio = LAST_CONV[variant] / TABLES[variant][-1].out
    x = conv_bn_act(x, make_divisible(x.shape[-1] * last_conv_ratio), 1, "conv_1", act=act,
                    norm=norm)
    features[f"C{tracker.level}"] = x
    last_point = LAST_POINT[variant] // (2 if reduced_tail else 1)
    last_point = make_divisible(last_point * width) if width > 1.0 else last_point

    def head(x):
        x = layers.GlobalAveragePooling2D(keepdims=True, name="avg_pool")(x)
        x = layers.Conv2D(last_point, 1, name="conv_2")(x)  # no BN here (Table 1, "NBN")
        x = apply_activation(x, act, "conv_2")
        if dropout:
            x = layers.Dropout(dropout, name="dropout")(x)
        x = layers.Conv2D(num_classes, 1, name="logits")(x)
        x = layers.Flatten(name="flatten")(x)
        return classifier_output(x, classifier_activation)

    suffix = "_minimalistic" if minimalistic else ""
    name = name or f"mobilenet_v3_{variant}{suffix}_{width:g}"
    return finish_model(inputs, x, features, name=name, include_top=include_top, pooling=pooling,
                        features_only=features_only, head=head)


build_mobilenet_v3_large = functools.partial(build_mobilenet_v3, "large")
build_mobilenet_v3_small = functools.partial(build_mobilenet_v3, "small")
