"""Lite R-ASPP (LR-ASPP) on MobileNetV3: the segmentation head of Howard et al., "Searching for
MobileNetV3" (arXiv:1905.02244 v5), section 6.4 and Figure 10.

    C5 (stride 16, last block dilated, its channels halved) --> 1x1 conv 128, BN, ReLU --.
        \--> large-kernel average pool --> 1x1 conv 128 --> sigmoid --> resize ------ x --.
                                                                                          |
    bilinear x2 to stride 8 --> 1x1 conv to classes --> + <-- 1x1 conv to classes <-- C3 (stride 8)
                                                        |
                                          bilinear to the input size --> logits

The paper's Cityscapes candidates (Table 7, rows 8 and 11; Table 8): V3-Large and V3-Small
with the last block's filters halved ("RF2", reduced_tail="segmentation"), 128 filters in the head,
72.36 / 68.38 val mIoU, 1.51M / 0.47M params, 9.74B / 2.90B MAdds at 1024x2048.
"""
import functools

import keras
from keras import layers

from mobilenet_tf.heads.layers import FittedAveragePool, ResizeLike
from mobilenet_tf.models.common import classifier_output
from mobilenet_tf.models.layers import batch_norm, conv_bn_act, kernel_init
from mobilenet_tf.models.mobilenet_v3 import build_mobilenet_v3
from mobilenet_tf.models.mobilenet_v4 import build_mobilenet_v4

HEAD_CHANNELS = 128          # F in Table 7 (256 is its other setting)
# Figure 10's pooling: kernel 49 x 49, stride (16, 20). 49 is the stride-16 feature size of
# the 769 x 769 training crop (research/deeplab's image_pooling_crop_size), so training pools
# globally and full 1024 x 2048 frames get a row of 4 pooled gates.
POOL_SIZE = (49, 49)
POOL_STRIDES = (16, 20)
CITYSCAPES_SHAPE = (1024, 2048, 3)   # the resolution of the paper's MAdds


def lraspp_head(features, image, num_classes, *, channels=HEAD_CHANNELS, pool_size=POOL_SIZE,
                pool_strides=POOL_STRIDES, norm=None):
    """{"C3": (B, H/8, W/8, c3), "C5": (B, H/16, W/16, c5)}, image (B, H, W, 3) ->
    (B, H, W, num_classes) float32 logits."""
    norm = norm or batch_norm()
    high, low = features["C5"], features["C3"]
    x = conv_bn_act(high, channels, 1, "lraspp_conv", act="relu", norm=norm)
    gate = FittedAveragePool(pool_size, pool_strides, name="lraspp_pool")(high)
    gate = layers.Conv2D(channels, 1, kernel_initializer=kernel_init(1.0),
                         name="lraspp_pool_conv")(gate)
    gate = layers.Activation("sigmoid", name="lraspp_pool_sigmoid")(gate)
    gate = ResizeLike(name="lraspp_pool_resize")([gate, x])
    x = layers.Multiply(name="lraspp_mul")([x, gate])
    x = ResizeLike(name="lraspp_upsample")([x, low])
    x = layers.Conv2D(num_classes, 1, kernel_initializer=kernel_init(1.0),
                      name="lraspp_logits")(x)
    skip = layers.Conv2D(num_classes, 1, kernel_initializer=kernel_init(1.0),
                         name="lraspp_low_logits")(low)
    x = layers.Add(name="lraspp_add")([x, skip])
    x = ResizeLike(name="upsample")([x, image])
    return classifier_output(x, None)


def build_lraspp(variant, *, width=1.0, input_shape=CITYSCAPES_SHAPE, num_classes=19,
                 output_stride=16, reduced_tail="segmentation", minimalistic=False,
                 head_channels=HEAD_CHANNELS, pool_size=POOL_SIZE, pool_strides=POOL_STRIDES,
                 bn_momentum=0.99, bn_epsilon=1e-3, include_preprocessing=False,
                 depthwise="conv", name=None):
    """MobileNetV3 `variant` ("large" / "small") + LR-ASPP: (B, H, W, 3) -> (B, H, W,
    num_classes) logits at any H, W (input_shape=(None, None, 3) for one model of every size).
    reduced_tail: "segmentation" (the paper's RF2, as research/deeplab builds it), True
    (detection's, first expansion kept) or False (the classification backbone). Backbone
    layers keep their classification names, so ImageNet weights map by name. depthwise:
    "conv" or "shifted" (layers.depthwise_layers; the same weights)."""
    backbone = build_mobilenet_v3(
        variant, width=width, minimalistic=minimalistic, reduced_tail=reduced_tail,
        input_shape=input_shape, features_only=True, output_stride=output_stride,
        bn_momentum=bn_momentum, bn_epsilon=bn_epsilon,
        include_preprocessing=include_preprocessing, depthwise=depthwise)
    image = backbone.inputs[0]
    # backbone.output is the endpoint dict; the head continues its graph, so the model is
    # flat (no nested backbone model) and its layers keep their names.
    logits = lraspp_head(backbone.output, image, num_classes, channels=head_channels,
                         pool_size=pool_size, pool_strides=pool_strides,
                         norm=batch_norm(bn_momentum, bn_epsilon))
    return keras.Model(image, logits, name=name or f"lraspp_mobilenet_v3_{variant}_{width:g}")


def build_lraspp_v4_conv_medium(*, width=1.0, input_shape=CITYSCAPES_SHAPE, num_classes=19,
                                output_stride=16, head_channels=HEAD_CHANNELS,
                                pool_size=POOL_SIZE, pool_strides=POOL_STRIDES,
                                padding="symmetric", bn_momentum=0.99, bn_epsilon=1e-5,
                                include_preprocessing=False, depthwise="conv", name=None):
    """MobileNetV4-Conv-M + LR-ASPP: the V3 paper's head (section 6.4) on V4's C3 (80
    channels, stride 8) and C5 (its last 960-channel conv, dilated to `output_stride`), full
    width (V3's segmentation variants halve the last stage; Model Garden's
    MobileNetV4ConvMediumSeg does likewise, not built here). (B, H, W, 3) ImageNet-normalised
    -> (B, H, W, num_classes) logits at any H, W."""
    backbone = build_mobilenet_v4(
        "conv_medium", width=width, input_shape=input_shape, features_only=True,
        output_stride=output_stride, padding=padding, bn_momentum=bn_momentum,
        bn_epsilon=bn_epsilon, include_preprocessing=include_preprocessing,
        depthwise=depthwise)
    image = backbone.inputs[0]
    logits = lraspp_head(backbone.output, image, num_classes, channels=head_channels,
                         pool_size=pool_size, pool_strides=pool_strides,
                         norm=batch_norm(bn_momentum, bn_epsilon))
    return keras.Model(image, logits, name=name or f"lraspp_mobilenet_v4_conv_medium_{width:g}")


build_lraspp_v3_large = functools.partial(build_lraspp, "large")
build_lraspp_v3_small = functools.partial(build_lraspp, "small")
