"""Mobile DeepLabv3 on MobileNetV2: Sandler et al., "MobileNetV2" (arXiv:1801.04381),
section 6.3 and its Table 7, with the DeepLabv3 head of Chen et al. (arXiv:1706.05587).

The head works on the *second last* feature map (the 320 channels of the last bottleneck,
not the 1280 of the final 1x1 conv, "MNet V2*"), at output stride 16 or 8:

    features --> 1x1 conv 256, BN, ReLU --------------------------.
             --> 3x3 conv 256, rate r, BN, ReLU  (x3, ASPP only) --+--> concat --> 1x1 conv 256,
             --> global pool --> 1x1 conv 256, BN, ReLU --> resize -'     BN, ReLU --> dropout
                                                                      --> 1x1 conv to classes
                                                                      --> bilinear to the input

Table 7 on PASCAL VOC 2012 val (COCO-pretrained, 513 x 513): with ASPP 75.70 mIoU, 4.52M
params, 5.8B MAdds; without (the on-device candidate, our default) 75.32, 2.11M, 2.75B.
Rates (6, 12, 18) at output stride 16, doubled at 8 (research/deeplab's flags).
"""
import keras
from keras import layers

from mobilenet_tf.heads.layers import ResizeLike
from mobilenet_tf.models.common import classifier_output
from mobilenet_tf.models.layers import batch_norm, conv_bn_act, kernel_init
from mobilenet_tf.models.mobilenet_v2 import build_mobilenet_v2

HEAD_CHANNELS = 256
ATROUS_RATES = (6, 12, 18)   # at output stride 16
SECOND_LAST = "block_16_project_BN"   # V2's 320-channel map, before Conv_1
# Table 7's "512 x 512" PASCAL frame, as research/deeplab crops it (513 = 32 * 16 + 1); its
# 2.75B MAdds are what the reduced head computes at 513 (2.60B at 512).
VOC_SHAPE = (513, 513, 3)


def deeplabv3_head(x, image, num_classes, *, aspp=False, rates=ATROUS_RATES,
                   channels=HEAD_CHANNELS, dropout=0.1, norm=None):
    """(B, h, w, C) features, image (B, H, W, 3) -> (B, H, W, num_classes) float32 logits."""
    norm = norm or batch_norm()
    branches = [conv_bn_act(x, channels, 1, "aspp0", act="relu", norm=norm)]
    if aspp:
        branches += [conv_bn_act(x, channels, 3, f"aspp{i + 1}", dilation=rate, act="relu",
                                 norm=norm) for i, rate in enumerate(rates)]
    pooled = layers.GlobalAveragePooling2D(keepdims=True, name="image_pooling_avg")(x)
    pooled = conv_bn_act(pooled, channels, 1, "image_pooling", act="relu", norm=norm)
    branches.append(ResizeLike(name="image_pooling_resize")([pooled, x]))
    x = layers.Concatenate(name="aspp_concat")(branches)
    x = conv_bn_act(x, channels, 1, "concat_projection", act="relu", norm=norm)
    if dropout:
        x = layers.Dropout(dropout, name="dropout")(x)
    x = layers.Conv2D(num_classes, 1, kernel_initializer=kernel_init(1.0), name="logits")(x)
    x = ResizeLike(name="upsample")([x, image])
    return classifier_output(x, None)


def build_deeplabv3_v2(*, width=1.0, input_shape=VOC_SHAPE, num_classes=21, output_stride=16,
                       aspp=False, atrous_rates=ATROUS_RATES, head_channels=HEAD_CHANNELS,
                       dropout=0.1, activation="relu6", bn_momentum=0.99, bn_epsilon=1e-3,
                       include_preprocessing=False, zero_init_residual=False,
                       depthwise="conv", name=None):
    """MobileNetV2 + DeepLabv3 head: (B, H, W, 3) -> (B, H, W, num_classes) logits at any
    H, W. aspp=False is the paper's reduced head (1x1 and image pooling only); atrous_rates
    are given for output stride 16 and doubled at 8. zero_init_residual: the backbone's
    (build_mobilenet_v2), for training from scratch. depthwise: the backbone's, "conv" or
    "shifted" (layers.depthwise_layers; the same weights)."""
    backbone = build_mobilenet_v2(
        width=width, input_shape=input_shape, features_only=True,
        output_stride=output_stride, activation=activation, bn_momentum=bn_momentum,
        bn_epsilon=bn_epsilon, include_preprocessing=include_preprocessing,
        zero_init_residual=zero_init_residual, depthwise=depthwise)
    features = backbone.get_layer(SECOND_LAST).output
    rates = tuple(rate * 16 // output_stride for rate in atrous_rates)
    logits = deeplabv3_head(features, backbone.inputs[0], num_classes, aspp=aspp, rates=rates,
                            channels=head_channels, dropout=dropout,
                            norm=batch_norm(bn_momentum, bn_epsilon))
    return keras.Model(backbone.inputs[0], logits,
                       name=name or f"deeplabv3_mobilenet_v2_{width:g}")
