"""The model zoo: one registry from names to builders.

    from mobilenet_tf.models import build
    model = build("mobilenet_v3_small", width=0.75, input_shape=(160, 160, 3), num_classes=10)
    backbone = build("v2", features_only=True)   # {"C2": ..., "C5": ..., "C4_expand": ...}
    seg = build("lraspp_v3_small", num_classes=19, input_shape=(None, None, 3))   # any size
    det = build("ssdlite_v3_small", num_classes=80)   # {"boxes", "classes"} per anchor
"""

from mobilenet_tf import UserError
from mobilenet_tf.models import options as _options
from mobilenet_tf.models.keras_import import import_keras_applications
from mobilenet_tf.models.mobilenet_v1 import build_mobilenet_v1
from mobilenet_tf.models.mobilenet_v2 import build_mobilenet_v2
from mobilenet_tf.models.mobilenet_v3 import build_mobilenet_v3_large, build_mobilenet_v3_small
from mobilenet_tf.models.squeezenet import build_squeezenet1_0, build_squeezenet1_1
from mobilenet_tf.models.xception import build_xception
# Task models: a backbone and a head (mobilenet_tf.heads), one flat keras.Model each. The
# heads import the backbone modules above, never this package's names, so no import cycle.
from mobilenet_tf.heads.deeplab import build_deeplabv3_v2
from mobilenet_tf.heads.lraspp import build_lraspp_v3_large, build_lraspp_v3_small
from mobilenet_tf.heads.ssdlite import (build_ssdlite_v2, build_ssdlite_v3_large,
                                        build_ssdlite_v3_small)

BACKBONES = {
    "mobilenet_v1": build_mobilenet_v1,
    "mobilenet_v2": build_mobilenet_v2,
    "mobilenet_v3_large": build_mobilenet_v3_large,
    "mobilenet_v3_small": build_mobilenet_v3_small,
    "xception": build_xception,
    "squeezenet1_0": build_squeezenet1_0,
    "squeezenet1_1": build_squeezenet1_1,
}
TASK_MODELS = {
    "lraspp_v3_large": build_lraspp_v3_large,
    "lraspp_v3_small": build_lraspp_v3_small,
    "deeplabv3_v2": build_deeplabv3_v2,
    "ssdlite_v2": build_ssdlite_v2,
    "ssdlite_v3_large": build_ssdlite_v3_large,
    "ssdlite_v3_small": build_ssdlite_v3_small,
}
ALIASES = {"v1": "mobilenet_v1", "v2": "mobilenet_v2",
           "v3_large": "mobilenet_v3_large", "v3_small": "mobilenet_v3_small"}
MODEL_NAMES = tuple(BACKBONES)
TASK_MODEL_NAMES = tuple(TASK_MODELS)
BUILDERS = {**BACKBONES, **TASK_MODELS}

__all__ = ["ALIASES", "BACKBONES", "BUILDERS", "MODEL_NAMES", "TASK_MODELS", "TASK_MODEL_NAMES",
           "build", "canonical_name", "import_keras_applications"]


def canonical_name(name):
    """The registry name for `name` or its alias; UserError listing the valid ones."""
    name = ALIASES.get(name, name)
    if name not in BUILDERS:
        valid = ", ".join([*BACKBONES, *ALIASES, *TASK_MODELS])
        raise UserError(f"unknown model {name!r}; valid names: {valid}")
    return name


def build(name, **options):
    """Builds model `name` (see MODEL_NAMES and ALIASES) as a keras.Model.

    Common options: width, input_shape, num_classes, include_top, pooling, dropout,
    classifier_activation (None: float32 logits), features_only (dict of C2..C5 endpoints),
    output_stride (8 or 16: dilated last stages), bn_momentum, bn_epsilon,
    include_preprocessing ([0, 255] inputs), and per family depth_multiplier (V1),
    activation (V1, V2), minimalistic and reduced_tail (V3). Task models (TASK_MODELS) take
    width, input_shape, num_classes, output_stride, bn_* and include_preprocessing, plus
    their head's options (head_channels, pool_size, pool_strides; aspp, atrous_rates;
    SSDLite: reduced_tail, class_prior, aspect_ratios).
    Bad values raise UserError.
    """
    name = canonical_name(name)
    builder = BUILDERS[name]
    _options.validate(name, builder, options)
    return builder(**options)
