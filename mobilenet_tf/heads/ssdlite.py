"""SSDLite: SSD (Liu et al., arXiv:1512.02325) with every prediction and extra-layer convolution
made depthwise-separable, as the MobileNetV2 paper (arXiv:1801.04381, section 6.2) introduced
it and the MobileNetV3 paper (arXiv:1905.02244, section 6.3) reused it.

    C4_expand (stride 16: the expansion inside the first stride-32 block) ---------> map 1
    C5 (stride 32: the last conv before pooling) ----------------------------------> map 2
      --> 1x1 d/2, 3x3 depthwise stride 2, 1x1 d (BN + ReLU6 each), d = 512 ------> map 3
      --> the same with d = 256, 256, 128 ------------------------------------> maps 4, 5, 6
    on every map: box predictor   3x3 depthwise + BN + ReLU6, 1x1 conv to n * 4
                  class predictor 3x3 depthwise + BN + ReLU6, 1x1 conv to n * (C + 1)
    reshaped to (B, A_level, 4) / (B, A_level, C + 1) and concatenated in anchor order
    (mobilenet_tf.detection.anchors: level by level, row-major, the boxes of a location).

At 320x320 the six maps are 20, 10, 5, 3, 2, 1 (2,034 anchors). The papers' counts: SSDLite
on MobileNetV2 4.3M params, 0.8B MAdds (V2 paper, Table 6); on MobileNetV3-Large with the
halved last stage ("V3-Large dagger") 3.22M params, 0.51B MAdds, 22.0 mAP (V3 paper, Table 6).
Ours with 80 classes: see tests/test_ssdlite.py and README "Detection".
"""
import functools
import math

import keras
import numpy as np
from keras import layers

from mobilenet_tf.detection import anchors as anchors_lib
from mobilenet_tf.models.layers import batch_norm, conv_bn_act, depthwise_bn_act
from mobilenet_tf.models.mobilenet_v2 import build_mobilenet_v2
from mobilenet_tf.models.mobilenet_v3 import build_mobilenet_v3
from mobilenet_tf.models.mobilenet_v4 import build_mobilenet_v4

EXTRA_DEPTHS = (512, 256, 256, 128)   # the four extra layers (V2 paper, section 6.2)
MIN_DEPTH = 16                        # the OD API's and torchvision's floor at small widths
SSD_SHAPE = (320, 320, 3)
COCO_CLASSES = 80


def prior_bias(probability):
    """The class-logit bias that makes every sigmoid start at `probability` (RetinaNet's
    prior, -log((1 - p) / p) = -4.6 for 0.01), so the focal loss does not start flooded by
    the background anchors."""
    return -math.log((1.0 - probability) / probability)


# The prediction convs start small, as the OD API's SSDLite configs (truncated normal, stddev
# 0.03) and torchvision's SSDLite (normal, 0.03) start them: He init over a 1x1 conv's few
# outputs (12 to 42) gives a standard deviation of 0.15-0.3, so the first class logits carry
# noise of about 2 on top of the focal prior and the box deltas start far from zero.
PREDICTOR_STDDEV = 0.03


def extra_depth(depth, width):
    """An extra layer's channels at width multiplier `width`: max(16, int(depth * width)), as
    the OD API's SSD MobileNet feature extractors and torchvision scale them."""
    return max(MIN_DEPTH, int(depth * width))


def extra_block(x, depth, name, norm, depthwise="conv"):
    """SSDLite's extra layer: 1x1 conv to depth/2, 3x3 depthwise stride 2, 1x1 conv to depth,
    each with BN and ReLU6. (B, H, W, c) -> (B, ceil(H / 2), ceil(W / 2), depth)."""
    x = conv_bn_act(x, depth // 2, 1, f"{name}_reduce", norm=norm)
    x = depthwise_bn_act(x, 3, f"{name}_depthwise", strides=2, norm=norm, depthwise=depthwise)
    return conv_bn_act(x, depth, 1, f"{name}_project", norm=norm)


def predictor(x, outputs, per_box, name, norm, bias=None, depthwise="conv"):
    """A separable prediction layer: 3x3 depthwise + BN + ReLU6, then a 1x1 conv (with bias,
    `bias` (per_box,) repeated per box, or zeros) to `outputs` channels, reshaped to (B, H * W *
    outputs / per_box, per_box): row-major over the locations, a location's boxes together."""
    x = depthwise_bn_act(x, 3, f"{name}_depthwise", norm=norm, depthwise=depthwise)
    initial = (keras.initializers.Constant(np.tile(bias, outputs // per_box))
               if bias is not None else "zeros")
    start = keras.initializers.TruncatedNormal(stddev=PREDICTOR_STDDEV)
    x = layers.Conv2D(outputs, 1, kernel_initializer=start, bias_initializer=initial,
                      name=f"{name}_conv")(x)
    return layers.Reshape((-1, per_box), name=f"{name}_reshape")(x)


def ssdlite_head(features, num_classes, *, width=1.0, extra_depths=EXTRA_DEPTHS,
                 aspect_ratios=anchors_lib.ASPECT_RATIOS, reduce_first=True, class_prior=None,
                 norm=None, depthwise="conv"):
    """{"C4_expand": (B, H/16, W/16, c), "C5": (B, H/32, W/32, c')} -> {"boxes": (B, A, 4)
    box deltas, "classes": (B, A, num_classes + 1) logits (column 0 background)}, float32.
    class_prior: start every object class's sigmoid there and the background's at 1 -
    class_prior (the focal loss's bias init). depthwise: "conv" or "shifted"
    (layers.depthwise_layers)."""
    norm = norm or batch_norm()
    maps = [features["C4_expand"], features["C5"]]
    for k, depth in enumerate(extra_depths, start=1):
        maps.append(extra_block(maps[-1], extra_depth(depth, width), f"extra_{k}", norm,
                                depthwise))
    # The prior: each object class starts at class_prior and the background column at
    # 1 - class_prior, so the first steps do not go into learning that most anchors are
    # background (the OD API's -4.6 on every column starts background at 0.01 too).
    bias = (np.array([-prior_bias(class_prior)] + [prior_bias(class_prior)] * num_classes,
                     np.float32) if class_prior else None)
    boxes, classes = [], []
    for level, x in enumerate(maps):
        n = anchors_lib.boxes_per_location(level, aspect_ratios, reduce_first)
        boxes.append(predictor(x, n * 4, 4, f"box_predictor_{level}", norm,
                               depthwise=depthwise))
        classes.append(predictor(x, n * (num_classes + 1), num_classes + 1,
                                 f"class_predictor_{level}", norm, bias=bias,
                                 depthwise=depthwise))
    # float32 outputs under mixed precision: the losses and the decoding want them.
    box_out = layers.Activation("linear", dtype="float32", name="boxes")(
        concatenate_in_fours(boxes, "box_concat"))
    class_out = layers.Activation("linear", dtype="float32", name="classes")(
        concatenate_in_fours(classes, "class_concat"))
    return {"boxes": box_out, "classes": class_out}


def concatenate_in_fours(tensors, name):
    """Concatenates along axis 1, at most four tensors per CONCATENATION op (the last one
    named `name`): XNNPACK, LiteRT's CPU delegate, takes concatenations of up to four
    inputs, and a larger one is left to LiteRT's own kernels, cutting the delegated graph
    in two (the six prediction maps of SSDLite)."""
    groups = [tensors[start:start + 4] for start in range(0, len(tensors), 4)]
    if len(groups) == 1:
        return layers.Concatenate(axis=1, name=name)(tensors)
    parts = [group[0] if len(group) == 1 else
             layers.Concatenate(axis=1, name=f"{name}_{k}")(group)
             for k, group in enumerate(groups)]
    return concatenate_in_fours(parts, name)


def _backbone(family, *, width, input_shape, reduced_tail, minimalistic, norm_options,
              include_preprocessing, depthwise):
    if family == "v2":
        return build_mobilenet_v2(width=width, input_shape=input_shape, features_only=True,
                                  include_preprocessing=include_preprocessing,
                                  depthwise=depthwise, **norm_options)
    return build_mobilenet_v3(family, width=width, input_shape=input_shape,
                              features_only=True, reduced_tail=reduced_tail,
                              minimalistic=minimalistic,
                              include_preprocessing=include_preprocessing,
                              depthwise=depthwise, **norm_options)


def build_ssdlite(family, *, width=1.0, input_shape=SSD_SHAPE, num_classes=COCO_CLASSES,
                  reduced_tail=True, minimalistic=False, class_prior=None,
                  aspect_ratios=anchors_lib.ASPECT_RATIOS, bn_momentum=0.99, bn_epsilon=1e-3,
                  include_preprocessing=False, depthwise="conv", name=None):
    """SSDLite on MobileNet `family` ("v2", "large", "small"): (B, S, S, 3) images ([-1, 1],
    or [0, 255] with include_preprocessing) -> {"boxes": (B, A, 4), "classes": (B, A,
    num_classes + 1)} with A = len(anchors.ssd_anchors(anchors.feature_map_sizes(S))).
    reduced_tail (V3 only): the V3 paper's halved last stage, on by default as in its best
    detection results; False keeps the ImageNet backbone's shapes. depthwise: "conv" or
    "shifted", backbone and head (layers.depthwise_layers; the same weights)."""
    norm_options = dict(bn_momentum=bn_momentum, bn_epsilon=bn_epsilon)
    backbone = _backbone(family, width=width, input_shape=tuple(input_shape),
                         reduced_tail=bool(reduced_tail), minimalistic=minimalistic,
                         norm_options=norm_options, include_preprocessing=include_preprocessing,
                         depthwise=depthwise)
    image = backbone.inputs[0]
    # The head continues the backbone's graph: one flat model whose backbone layers keep
    # their classification names, so ImageNet weights map by name.
    outputs = ssdlite_head(backbone.output, num_classes, width=width,
                           aspect_ratios=tuple(aspect_ratios), class_prior=class_prior,
                           norm=batch_norm(bn_momentum, bn_epsilon), depthwise=depthwise)
    label = {"v2": "mobilenet_v2", "large": "mobilenet_v3_large",
             "small": "mobilenet_v3_small"}[family]
    return keras.Model(image, outputs, name=name or f"ssdlite_{label}_{width:g}")


def build_ssdlite_v2(*, width=1.0, input_shape=SSD_SHAPE, num_classes=COCO_CLASSES,
                     class_prior=None, aspect_ratios=anchors_lib.ASPECT_RATIOS,
                     bn_momentum=0.99, bn_epsilon=1e-3, include_preprocessing=False,
                     depthwise="conv", name=None):
    """SSDLite on MobileNetV2 (V2 paper, section 6.2); see build_ssdlite."""
    return build_ssdlite("v2", width=width, input_shape=input_shape, num_classes=num_classes,
                         class_prior=class_prior, aspect_ratios=aspect_ratios,
                         bn_momentum=bn_momentum, bn_epsilon=bn_epsilon,
                         include_preprocessing=include_preprocessing, depthwise=depthwise,
                         name=name)


def build_ssdlite_v4_conv_medium(*, width=1.0, input_shape=SSD_SHAPE, num_classes=COCO_CLASSES,
                                 class_prior=None, aspect_ratios=anchors_lib.ASPECT_RATIOS,
                                 padding="symmetric", bn_momentum=0.99, bn_epsilon=1e-5,
                                 include_preprocessing=False, depthwise="conv", name=None):
    """SSDLite on MobileNetV4-Conv-M: the V3 paper's head (section 6.3) on V4's C4_expand
    (the 960-channel expansion of the first stride-32 block) and C5 (the 960-channel last
    conv). The V4 paper evaluates RetinaNet instead (its Table 6), so there is no published
    SSDLite figure to match; inputs are ImageNet-normalised like the backbone's."""
    backbone = build_mobilenet_v4(
        "conv_medium", width=width, input_shape=tuple(input_shape), features_only=True,
        padding=padding, bn_momentum=bn_momentum, bn_epsilon=bn_epsilon,
        include_preprocessing=include_preprocessing, depthwise=depthwise)
    outputs = ssdlite_head(backbone.output, num_classes, width=width,
                           aspect_ratios=tuple(aspect_ratios), class_prior=class_prior,
                           norm=batch_norm(bn_momentum, bn_epsilon), depthwise=depthwise)
    return keras.Model(backbone.inputs[0], outputs,
                       name=name or f"ssdlite_mobilenet_v4_conv_medium_{width:g}")


build_ssdlite_v3_large = functools.partial(build_ssdlite, "large")
build_ssdlite_v3_small = functools.partial(build_ssdlite, "small")
