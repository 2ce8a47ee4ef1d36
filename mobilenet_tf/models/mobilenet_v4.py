"""MobileNetV4 Conv-S, Conv-M, Conv-L, Hybrid-M and Hybrid-L (Qin et al., "MobileNetV4:
Universal Models for the Mobile Ecosystem", arXiv:2404.10518, ECCV 2024).

The Universal Inverted Bottleneck (UIB, section 3.1) is V2's inverted bottleneck with two
optional depthwise convolutions, one before the expansion ("start", DW K1) and one between
expansion and projection ("middle", DW K2); which ones a block has names it:

    IB        -     kxk   V2's inverted bottleneck       ExtraDW   kxk   kxk   both
    ConvNext  kxk   -     spatial mixing first           FFN       -     -     two 1x1 convs

A strided UIB strides its middle depthwise if it has one, else its start one. The early
stages use the fused IB (a kxk conv expands, a 1x1 projects); the Hybrid models interleave
Mobile MQA blocks (mobilenet_tf.models.attention) in the last two stages, and put layer
scale on every UIB and MQA block.

Inputs are ImageNet mean/std-normalised, as timm's and Model Garden's MobileNetV4 are
(include_preprocessing=True takes [0, 255] pixels), not [-1, 1] as the rest of the zoo.
padding="symmetric" (the default) pads strided convolutions as PyTorch does, so timm's
published weights (mobilenet_tf.models.timm_import) give timm's outputs; "same" is Keras's
one-op padding, which is what Model Garden trains with.
"""

import collections
import functools

from keras import layers

from mobilenet_tf.models.attention import LayerScale, mobile_mqa
from mobilenet_tf.models.common import classifier_output, finish_model, model_input
from mobilenet_tf.models.layers import (StrideTracker, batch_norm, conv_bn_act,
                                        depthwise_bn_act, drop_path_rate_at, make_divisible,
                                        residual_add)

# Block types, the paper's names. CONV and FUSED_IB take their kxk kernel in the k2 column.
CONV, FUSED_IB = "Conv2D", "FusedIB"
IB, CONVNEXT, EXTRA_DW, FFN = "IB", "ConvNext", "ExtraDW", "FFN"
# Which depthwise convs (start, middle) each UIB type has: checked against every row.
UIB_DEPTHWISE = {IB: (False, True), CONVNEXT: (True, False), EXTRA_DW: (True, True),
                 FFN: (False, False)}

# One row a block, in the papers' column order: block, DW K1, DW K2, expanded dim, output
# dim, stride (their first column, the input size, follows from the rows above).
Block = collections.namedtuple("Block", "block k1 k2 exp out stride")
# A Mobile MQA block: query heads, key (= value) dim, key/value downsampling stride, output.
MobileMQA = collections.namedtuple("MobileMQA", "heads key_dim kv_stride out")

# MNv4-Conv-S, the paper's appendix table "MNv4-Conv-S" (224 px). The two FusedIB rows are
# built as Model Garden and timm build them: their 1x1 projection has a ReLU too.
#      block     k1 k2 exp   out  s
CONV_SMALL = (
    Block(CONV,     0, 3, 0,    32,  2),
    Block(FUSED_IB, 0, 3, 32,   32,  2),   # C2, stride 4
    Block(FUSED_IB, 0, 3, 96,   64,  2),   # C3, stride 8
    Block(EXTRA_DW, 5, 5, 192,  96,  2),   # C4, stride 16
    Block(IB,       0, 3, 192,  96,  1),
    Block(IB,       0, 3, 192,  96,  1),
    Block(IB,       0, 3, 192,  96,  1),
    Block(IB,       0, 3, 192,  96,  1),
    Block(CONVNEXT, 3, 0, 384,  96,  1),
    Block(EXTRA_DW, 3, 3, 576,  128, 2),   # C5, stride 32
    Block(EXTRA_DW, 5, 5, 512,  128, 1),
    Block(IB,       0, 5, 512,  128, 1),
    Block(IB,       0, 5, 384,  128, 1),
    Block(IB,       0, 3, 512,  128, 1),
    Block(IB,       0, 3, 512,  128, 1),
    Block(CONV,     0, 1, 0,    960, 1),
)

# MNv4-Conv-M, the paper's appendix table "MNv4-Conv-M" (256 px).
#      block     k1 k2 exp   out  s
CONV_MEDIUM = (
    Block(CONV,     0, 3, 0,    32,  2),
    Block(FUSED_IB, 0, 3, 128,  48,  2),   # C2, stride 4
    Block(EXTRA_DW, 3, 5, 192,  80,  2),   # C3, stride 8
    Block(EXTRA_DW, 3, 3, 160,  80,  1),
    Block(EXTRA_DW, 3, 5, 480,  160, 2),   # C4, stride 16
    Block(EXTRA_DW, 3, 3, 640,  160, 1),
    Block(EXTRA_DW, 3, 3, 640,  160, 1),
    Block(EXTRA_DW, 3, 5, 640,  160, 1),
    Block(EXTRA_DW, 3, 3, 640,  160, 1),
    Block(CONVNEXT, 3, 0, 640,  160, 1),
    Block(FFN,      0, 0, 320,  160, 1),
    Block(CONVNEXT, 3, 0, 640,  160, 1),
    Block(EXTRA_DW, 5, 5, 960,  256, 2),   # C5, stride 32
    Block(EXTRA_DW, 5, 5, 1024, 256, 1),
    Block(EXTRA_DW, 3, 5, 1024, 256, 1),
    Block(EXTRA_DW, 3, 5, 1024, 256, 1),
    Block(FFN,      0, 0, 1024, 256, 1),
    Block(CONVNEXT, 3, 0, 1024, 256, 1),
    Block(EXTRA_DW, 3, 5, 512,  256, 1),
    Block(EXTRA_DW, 5, 5, 1024, 256, 1),
    Block(FFN,      0, 0, 1024, 256, 1),
    Block(FFN,      0, 0, 1024, 256, 1),
    Block(CONVNEXT, 5, 0, 512,  256, 1),
    Block(CONV,     0, 1, 0,    960, 1),
)

# MNv4-Conv-L, the paper's appendix table "MNv4-Conv-L" (384 px).
#      block     k1 k2 exp   out  s
CONV_LARGE = (
    Block(CONV,     0, 3, 0,    24,  2),
    Block(FUSED_IB, 0, 3, 96,   48,  2),   # C2, stride 4
    Block(EXTRA_DW, 3, 5, 192,  96,  2),   # C3, stride 8
    Block(EXTRA_DW, 3, 3, 384,  96,  1),
    Block(EXTRA_DW, 3, 5, 384,  192, 2),   # C4, stride 16
    Block(EXTRA_DW, 3, 3, 768,  192, 1),
    Block(EXTRA_DW, 3, 3, 768,  192, 1),
    Block(EXTRA_DW, 3, 3, 768,  192, 1),
    Block(EXTRA_DW, 3, 5, 768,  192, 1),
    Block(EXTRA_DW, 5, 3, 768,  192, 1),
    Block(EXTRA_DW, 5, 3, 768,  192, 1),
    Block(EXTRA_DW, 5, 3, 768,  192, 1),
    Block(EXTRA_DW, 5, 3, 768,  192, 1),
    Block(EXTRA_DW, 5, 3, 768,  192, 1),
    Block(CONVNEXT, 3, 0, 768,  192, 1),
    Block(EXTRA_DW, 5, 5, 768,  512, 2),   # C5, stride 32
    Block(EXTRA_DW, 5, 5, 2048, 512, 1),
    Block(EXTRA_DW, 5, 5, 2048, 512, 1),
    Block(EXTRA_DW, 5, 5, 2048, 512, 1),
    Block(CONVNEXT, 5, 0, 2048, 512, 1),
    Block(EXTRA_DW, 5, 3, 2048, 512, 1),
    Block(CONVNEXT, 5, 0, 2048, 512, 1),
    Block(CONVNEXT, 5, 0, 2048, 512, 1),
    Block(EXTRA_DW, 5, 3, 2048, 512, 1),
    Block(EXTRA_DW, 5, 5, 2048, 512, 1),
    Block(CONVNEXT, 5, 0, 2048, 512, 1),
    Block(CONVNEXT, 5, 0, 2048, 512, 1),
    Block(CONVNEXT, 5, 0, 2048, 512, 1),
    Block(CONV,     0, 1, 0,    960, 1),
)

# MNv4-Hybrid-M, the paper's appendix table "MNv4-Hybrid-M" (256 px).
#      block     k1 k2 exp   out  s        MobileMQA(heads, key_dim, kv_stride, out)
HYBRID_MEDIUM = (
    Block(CONV,     0, 3, 0,    32,  2),
    Block(FUSED_IB, 0, 3, 128,  48,  2),   # C2, stride 4
    Block(EXTRA_DW, 3, 5, 192,  80,  2),   # C3, stride 8
    Block(EXTRA_DW, 3, 3, 160,  80,  1),
    Block(EXTRA_DW, 3, 5, 480,  160, 2),   # C4, stride 16
    Block(FFN,      0, 0, 320,  160, 1),
    Block(EXTRA_DW, 3, 3, 640,  160, 1),
    Block(EXTRA_DW, 3, 5, 640,  160, 1),
    MobileMQA(4, 64, 2, 160),
    Block(EXTRA_DW, 3, 3, 640,  160, 1),
    MobileMQA(4, 64, 2, 160),
    Block(CONVNEXT, 3, 0, 640,  160, 1),
    MobileMQA(4, 64, 2, 160),
    Block(EXTRA_DW, 3, 3, 640,  160, 1),
    MobileMQA(4, 64, 2, 160),
    Block(CONVNEXT, 3, 0, 640,  160, 1),
    Block(EXTRA_DW, 5, 5, 960,  256, 2),   # C5, stride 32
    Block(EXTRA_DW, 5, 5, 1024, 256, 1),
    Block(EXTRA_DW, 3, 5, 1024, 256, 1),
    Block(EXTRA_DW, 3, 5, 1024, 256, 1),
    Block(FFN,      0, 0, 512,  256, 1),
    Block(EXTRA_DW, 3, 5, 512,  256, 1),
    Block(FFN,      0, 0, 512,  256, 1),
    Block(FFN,      0, 0, 1024, 256, 1),
    MobileMQA(4, 64, 1, 256),
    Block(CONVNEXT, 3, 0, 1024, 256, 1),
    MobileMQA(4, 64, 1, 256),
    Block(EXTRA_DW, 5, 5, 1024, 256, 1),
    MobileMQA(4, 64, 1, 256),
    Block(CONVNEXT, 5, 0, 1024, 256, 1),
    MobileMQA(4, 64, 1, 256),
    Block(CONVNEXT, 5, 0, 1024, 256, 1),
    Block(CONV,     0, 1, 0,    960, 1),
)

# MNv4-Hybrid-L, the paper's appendix table "MNv4-Hybrid-L" (384 px), GELU throughout.
#      block     k1 k2 exp   out  s        MobileMQA(heads, key_dim, kv_stride, out)
HYBRID_LARGE = (
    Block(CONV,     0, 3, 0,    24,  2),
    Block(FUSED_IB, 0, 3, 96,   48,  2),   # C2, stride 4
    Block(EXTRA_DW, 3, 5, 192,  96,  2),   # C3, stride 8
    Block(EXTRA_DW, 3, 3, 384,  96,  1),
    Block(EXTRA_DW, 3, 5, 384,  192, 2),   # C4, stride 16
    Block(EXTRA_DW, 3, 3, 768,  192, 1),
    Block(EXTRA_DW, 3, 3, 768,  192, 1),
    Block(EXTRA_DW, 3, 3, 768,  192, 1),
    Block(EXTRA_DW, 3, 5, 768,  192, 1),
    Block(EXTRA_DW, 5, 3, 768,  192, 1),
    Block(EXTRA_DW, 5, 3, 768,  192, 1),
    MobileMQA(8, 48, 2, 192),
    Block(EXTRA_DW, 5, 3, 768,  192, 1),
    MobileMQA(8, 48, 2, 192),
    Block(EXTRA_DW, 5, 3, 768,  192, 1),
    MobileMQA(8, 48, 2, 192),
    Block(EXTRA_DW, 5, 3, 768,  192, 1),
    MobileMQA(8, 48, 2, 192),
    Block(CONVNEXT, 3, 0, 768,  192, 1),
    Block(EXTRA_DW, 5, 5, 768,  512, 2),   # C5, stride 32
    Block(EXTRA_DW, 5, 5, 2048, 512, 1),
    Block(EXTRA_DW, 5, 5, 2048, 512, 1),
    Block(EXTRA_DW, 5, 5, 2048, 512, 1),
    Block(CONVNEXT, 5, 0, 2048, 512, 1),
    Block(EXTRA_DW, 5, 3, 2048, 512, 1),
    Block(CONVNEXT, 5, 0, 2048, 512, 1),
    Block(CONVNEXT, 5, 0, 2048, 512, 1),
    Block(EXTRA_DW, 5, 3, 2048, 512, 1),
    Block(EXTRA_DW, 5, 5, 2048, 512, 1),
    MobileMQA(8, 64, 1, 512),
    Block(CONVNEXT, 5, 0, 2048, 512, 1),
    MobileMQA(8, 64, 1, 512),
    Block(CONVNEXT, 5, 0, 2048, 512, 1),
    MobileMQA(8, 64, 1, 512),
    Block(CONVNEXT, 5, 0, 2048, 512, 1),
    MobileMQA(8, 64, 1, 512),
    Block(CONVNEXT, 5, 0, 2048, 512, 1),
    Block(CONV,     0, 1, 0,    960, 1),
)

Spec = collections.namedtuple("Spec", "table resolution act hybrid fused_project_act")
SPECS = {
    "conv_small": Spec(CONV_SMALL, 224, "relu", False, True),
    "conv_medium": Spec(CONV_MEDIUM, 256, "relu", False, False),
    "conv_large": Spec(CONV_LARGE, 384, "relu", False, False),
    "hybrid_medium": Spec(HYBRID_MEDIUM, 256, "relu", True, False),
    "hybrid_large": Spec(HYBRID_LARGE, 384, "gelu", True, False),
}
HEAD_CHANNELS = 1280   # the 1x1 conv after pooling (every table's second-to-last row)
# ImageNet's mean and standard deviation of [0, 1] pixels (timm's and Model Garden's).
IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
PADDINGS = ("symmetric", "same")


def check_table(table):
    """Raises ValueError for a row whose kernels contradict its block type (a table typo)."""
    for i, row in enumerate(table):
        if isinstance(row, Block) and row.block in UIB_DEPTHWISE:
            if UIB_DEPTHWISE[row.block] != (bool(row.k1), bool(row.k2)):
                raise ValueError(f"row {i} {row}: a {row.block} has depthwise convs "
                                 f"(start, middle) = {UIB_DEPTHWISE[row.block]}")


for _spec in SPECS.values():
    check_table(_spec.table)


def _project_norm(norm, residual, zero_init_residual):
    """The projection's BN: gamma starting at 0 in a block with a shortcut when
    zero_init_residual (the block starts as the identity; Goyal et al., arXiv:1706.02677)."""
    if residual and zero_init_residual:
        return functools.partial(norm, gamma_initializer="zeros")
    return norm


def universal_inverted_bottleneck(x, row, *, expanded, out, strides, dilation, act, norm,
                                  padding, prefix, layer_scale, endpoints,
                                  zero_init_residual=False, drop_path_rate=0.0,
                                  depthwise="conv"):
    """The UIB: (start kxk depthwise + BN) -> 1x1 expansion + BN + act -> (middle kxk
    depthwise + BN + act) -> 1x1 projection + BN -> (layer scale) -> (drop path), with the
    shortcut when the shape is unchanged. The stride goes to the middle depthwise if there
    is one. (B, H, W, C) -> (B, H / strides, W / strides, out); endpoints["expand"] = the
    expansion."""
    shortcut, channels = x, x.shape[-1]
    if row.k1:
        x = depthwise_bn_act(x, row.k1, f"{prefix}start_dw", strides=1 if row.k2 else strides,
                             dilation=dilation, act=None, norm=norm, padding=padding,
                             depthwise=depthwise)
    x = conv_bn_act(x, expanded, 1, f"{prefix}expand", act=act, norm=norm)
    endpoints["expand"] = x
    if row.k2:
        x = depthwise_bn_act(x, row.k2, f"{prefix}middle_dw", strides=strides,
                             dilation=dilation, act=act, norm=norm, padding=padding,
                             depthwise=depthwise)
    residual = row.stride == 1 and channels == out
    x = conv_bn_act(x, out, 1, f"{prefix}project", act=None,
                    norm=_project_norm(norm, residual, zero_init_residual))
    if layer_scale:
        x = LayerScale(name=f"{prefix}layer_scale")(x)
    if residual:
        x = residual_add(shortcut, x, prefix, drop_path_rate)
    return x


def fused_inverted_bottleneck(x, kernel, *, expanded, out, strides, dilation, act, norm,
                              padding, prefix, project_act, endpoints, zero_init_residual=False,
                              drop_path_rate=0.0):
    """The fused IB: kxk conv expansion + BN + act -> 1x1 projection + BN (+ project_act)
    (-> drop path), with the shortcut when the shape is unchanged.
    (B, H, W, C) -> (B, H / s, W / s, out)."""
    shortcut, channels = x, x.shape[-1]
    x = conv_bn_act(x, expanded, kernel, f"{prefix}expand", strides=strides,
                    dilation=dilation, act=act, norm=norm, padding=padding)
    endpoints["expand"] = x
    residual = strides == 1 and channels == out
    x = conv_bn_act(x, out, 1, f"{prefix}project", act=project_act,
                    norm=_project_norm(norm, residual, zero_init_residual))
    if residual:
        x = residual_add(shortcut, x, prefix, drop_path_rate)
    return x


def _block(x, row, *, table_in, width, strides, dilation, spec, act, norm, padding, prefix,
           endpoints, zero_init_residual, drop_path_rate, depthwise="conv"):
    """One table row as layers."""
    if isinstance(row, MobileMQA):
        return mobile_mqa(x, num_heads=row.heads, key_dim=row.key_dim,
                          value_dim=row.key_dim, kv_stride=row.kv_stride,
                          out=make_divisible(row.out * width), prefix=prefix, norm=norm,
                          padding=padding, layer_scale=spec.hybrid,
                          drop_path_rate=drop_path_rate, depthwise=depthwise)
    out = make_divisible(row.out * width)
    if row.block == CONV:
        return conv_bn_act(x, out, row.k2, f"{prefix}conv", strides=strides,
                           dilation=dilation, act=act, norm=norm, padding=padding)
    # Absolute expansions, as the paper gives them; their ratio to the block's input applies
    # to the scaled input (as timm and Model Garden apply their expansion ratios).
    expanded = make_divisible(x.shape[-1] * (row.exp / table_in))
    options = dict(expanded=expanded, out=out, strides=strides, dilation=dilation, act=act,
                   norm=norm, padding=padding, prefix=prefix, endpoints=endpoints,
                   zero_init_residual=zero_init_residual, drop_path_rate=drop_path_rate)
    if row.block == FUSED_IB:
        return fused_inverted_bottleneck(
            x, row.k2, project_act=act if spec.fused_project_act else None, **options)
    return universal_inverted_bottleneck(x, row, layer_scale=spec.hybrid, depthwise=depthwise,
                                         **options)


def build_mobilenet_v4(variant, *, width=1.0, input_shape=None, num_classes=1000,
                       include_top=True, pooling=None, dropout=0.2, classifier_activation=None,
                       features_only=False, output_stride=None, padding="symmetric",
                       zero_init_residual=False, drop_path_rate=0.0,
                       drop_path_schedule="linear", bn_momentum=0.99, bn_epsilon=1e-5,
                       include_preprocessing=False, depthwise="conv", name=None):
    """MobileNetV4 `variant` (a SPECS key): (B, H, W, 3) ImageNet-normalised images (or [0,
    255] with include_preprocessing) -> (B, num_classes) logits (or `classifier_activation`),
    or the C2..C5 + C4_expand endpoints. input_shape: default the paper's resolution.
    padding: "symmetric" (PyTorch's, timm's weights) or "same" (Keras's). bn_epsilon 1e-5 is
    PyTorch's, which timm's weights were trained with. zero_init_residual: every convolutional
    block with a shortcut starts as the identity (an initialisation; Shapes uses it).
    drop_path_rate: stochastic depth on every block with a shortcut (UIB, fused IB, Mobile
    MQA), row i of the table at drop_path_rate * (i + 1) / (rows + 2) ("linear") or at
    drop_path_rate ("constant"): Model Garden's count, which numbers the stem 0 and counts the
    pooling and the 1280-channel head conv as blocks too. depthwise: "conv" or "shifted"
    (layers.depthwise_layers; the same weights)."""
    spec = SPECS[variant]
    if padding not in PADDINGS:
        raise ValueError(f"padding must be one of {PADDINGS}, got {padding!r}")
    norm = batch_norm(bn_momentum, bn_epsilon)
    input_shape = input_shape or (spec.resolution, spec.resolution, 3)
    inputs, x = model_input(input_shape, include_preprocessing,
                            mean=IMAGENET_MEAN, std=IMAGENET_STD)
    tracker, features, table_in = StrideTracker(output_stride), {}, 3
    for block_id, row in enumerate(spec.table):
        level_before = tracker.level
        strides, dilation = tracker.step(getattr(row, "stride", 1))
        taps = {}
        x = _block(x, row, table_in=table_in, width=width, strides=strides, dilation=dilation,
                   spec=spec, act=spec.act, norm=norm, padding=padding,
                   prefix=f"block_{block_id}_", endpoints=taps,
                   zero_init_residual=zero_init_residual, depthwise=depthwise,
                   drop_path_rate=drop_path_rate_at(drop_path_rate, block_id + 1,
                                                    len(spec.table) + 2, drop_path_schedule))
        if level_before == 4 and tracker.level == 5 and "expand" in taps:
            features["C4_expand"] = taps["expand"]   # SSDLite's first map (V3 paper, 6.2)
        features[f"C{tracker.level}"] = x
        table_in = row.out
    head_channels = make_divisible(HEAD_CHANNELS * width) if width > 1.0 else HEAD_CHANNELS

    def head(x):
        # timm and Model Garden: pooling, then a 1x1 conv with BN and activation (no bias),
        # then the classifier (the paper's last two Conv2D rows).
        x = layers.GlobalAveragePooling2D(keepdims=True, name="avg_pool")(x)
        x = conv_bn_act(x, head_channels, 1, "head_conv", act=spec.act, norm=norm)
        x = layers.Flatten(name="flatten")(x)
        if dropout:
            x = layers.Dropout(dropout, name="dropout")(x)
        x = layers.Dense(num_classes, name="logits")(x)
        return classifier_output(x, classifier_activation)

    name = name or f"mobilenet_v4_{variant}_{width:g}"
    return finish_model(inputs, x, features, name=name, include_top=include_top, pooling=pooling,
                        features_only=features_only, head=head)


build_mobilenet_v4_conv_small = functools.partial(build_mobilenet_v4, "conv_small")
build_mobilenet_v4_conv_medium = functools.partial(build_mobilenet_v4, "conv_medium")
build_mobilenet_v4_conv_large = functools.partial(build_mobilenet_v4, "conv_large")
build_mobilenet_v4_hybrid_medium = functools.partial(build_mobilenet_v4, "hybrid_medium")
build_mobilenet_v4_hybrid_large = functools.partial(build_mobilenet_v4, "hybrid_large")
