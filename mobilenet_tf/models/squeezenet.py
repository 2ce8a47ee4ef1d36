"""SqueezeNet 1.0 and 1.1 (Iandola et al., arXiv:1602.07360): AlexNet accuracy with 50x fewer
parameters, from "fire" modules that squeeze with 1x1 convs before expanding into
concatenated 1x1 and 3x3 convs, and late downsampling. No batch norm, as in the paper.
"""

import collections
import functools

from keras import initializers, layers

from mobilenet_tf.models.common import classifier_output, finish_model, model_input
from mobilenet_tf.models.layers import StrideTracker

# A fire module: a 1x1 squeeze conv, then 1x1 and 3x3 expand convs of `expand` channels each.
Fire = collections.namedtuple("Fire", "squeeze expand")
POOL = "maxpool"                                          # 3x3 stride-2 max pool, ceil mode
Stem = collections.namedtuple("Stem", "filters kernel")

# SqueezeNet 1.0, Table 1 of arXiv:1602.07360 (torchvision's squeezenet1_0).
#      squeeze expand
SQUEEZENET1_0 = (Stem(96, 7), POOL,                         # C2, stride 4
                 Fire(16, 64), Fire(16, 64), Fire(32, 128), POOL,   # C3, stride 8
                 Fire(32, 128), Fire(48, 192), Fire(48, 192), Fire(64, 256), POOL,  # C4, stride 16
                 Fire(64, 256))

# SqueezeNet 1.1 (the reference repository's v1.1: 3x3 stem of 64, pooling moved earlier,
# 2.4x less computation at the same accuracy).
SQUEEZENET1_1 = (Stem(64, 3), POOL,                         # C2, stride 4
                 Fire(16, 64), Fire(16, 64), POOL,                  # C3, stride 8
                 Fire(32, 128), Fire(32, 128), POOL,                # C4, stride 16
                 Fire(48, 192), Fire(48, 192), Fire(64, 256), Fire(64, 256))

TABLES = {"1_0": SQUEEZENET1_0, "1_1": SQUEEZENET1_1}

# Initialisation, for training from scratch (loaded weights replace it). The convolutions:
# He-uniform, torchvision's kaiming_uniform_, which keeps the ReLU activations' scale through
# 26 plain convolutions without batch norm; Keras's default Glorot-uniform shrinks each
# layer's output, and a fresh SqueezeNet's logits had a standard deviation near 1e-4.
# The class map (conv10, followed by a ReLU and the average pool that gives the logits):
# He-uniform too, with its bias at 1, where the reference starts it at N(0, 0.01) and 0.
# While the features do not yet tell the classes apart the loss is lowest at equal logits,
# which a class map near zero reaches by going negative everywhere: its ReLU dies and the loss
# stays at ln(classes) for good (the well-known SqueezeNet stall at 6.9078 on ImageNet; on
# Shapes every run stalled at 1.7918). A positive bias keeps the ReLU in its linear range, and
# full-scale weights pass the loss's gradient back to the body, which at 0.01 learned so
# slowly that runs sat at chance for 3 to 7 epochs (benchmarks/RESULTS.md).
CONV_INIT = "he_uniform"
CLASS_MAP_BIAS = initializers.Constant(1.0)


def fire(x, row, name, dilation):
    """(B, H, W, C) -> (B, H, W, 2 * expand): squeeze 1x1 + ReLU, then expand 1x1 + ReLU and
    expand 3x3 + ReLU side by side, concatenated."""
    x = layers.Conv2D(row.squeeze, 1, kernel_initializer=CONV_INIT, name=f"{name}_squeeze1x1")(x)
    x = layers.ReLU(name=f"{name}_squeeze1x1_relu")(x)
    left = layers.Conv2D(row.expand, 1, kernel_initializer=CONV_INIT, name=f"{name}_expand1x1")(x)
    left = layers.ReLU(name=f"{name}_expand1x1_relu")(left)
    right = layers.Conv2D(row.expand, 3, padding="same", dilation_rate=dilation,
                          kernel_initializer=CONV_INIT, name=f"{name}_expand3x3")(x)
    right = layers.ReLU(name=f"{name}_expand3x3_relu")(right)
    return layers.Concatenate(name=f"{name}_concat")([left, right])


def max_pool(x, strides, name):
    """3x3 max pool with the ceil-mode output size of the reference (Caffe / torchvision).

    Ceil mode needs one more row and column at the bottom/right when (size - 3) is odd;
    inputs are post-ReLU (>= 0), so zero padding never wins the max. With an unknown size
    (input_shape None) it falls back to floor mode.
    """
    if strides == 1:
        return layers.MaxPooling2D(3, strides=1, padding="same", name=name)(x)
    height, width = x.shape[1], x.shape[2]
    if height is not None and width is not None and ((height - 3) % 2 or (width - 3) % 2):
        x = layers.ZeroPadding2D(((0, (height - 3) % 2), (0, (width - 3) % 2)),
                                 name=f"{name}_pad")(x)
    return layers.MaxPooling2D(3, strides=2, name=name)(x)


def build_squeezenet(version, *, input_shape=(224, 224, 3), num_classes=1000, include_top=True,
                     pooling=None, dropout=0.5, classifier_activation=None, features_only=False,
                     output_stride=None, include_preprocessing=False, name=None):
    """SqueezeNet "1_0" or "1_1": (B, H, W, 3) -> (B, num_classes) logits, or the C2..C4
    endpoints (SqueezeNet downsamples only to stride 16, so it has no C5)."""
    inputs, x = model_input(input_shape, include_preprocessing)
    tracker = StrideTracker(output_stride)
    stem, *body = TABLES[version]
    strides, _ = tracker.step(2)
    x = layers.Conv2D(stem.filters, stem.kernel, strides=strides,
                      kernel_initializer=CONV_INIT, name="conv1")(x)
    x = layers.ReLU(name="conv1_relu")(x)
    features = {}
    fire_id, pool_id = 2, 1   # the paper numbers fire modules from 2
    for row in body:
        if row == POOL:
            strides, _ = tracker.step(2)
            x = max_pool(x, strides, f"pool{pool_id}")
            pool_id += 1
        else:
            x = fire(x, row, f"fire{fire_id}", tracker.rate)
            fire_id += 1
        features[f"C{tracker.level}"] = x

    def head(x):
        if dropout:
            x = layers.Dropout(dropout, name="dropout")(x)
        x = layers.Conv2D(num_classes, 1, kernel_initializer=CONV_INIT,
                          bias_initializer=CLASS_MAP_BIAS, name="conv10")(x)
        x = layers.ReLU(name="conv10_relu")(x)   # the reference applies ReLU to the class map
        x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
        return classifier_output(x, classifier_activation)

    return finish_model(inputs, x, features, name=name or f"squeezenet{version}",
                        include_top=include_top, pooling=pooling,
                        features_only=features_only, head=head)


build_squeezenet1_0 = functools.partial(build_squeezenet, "1_0")
build_squeezenet1_1 = functools.partial(build_squeezenet, "1_1")
