"""The model zoo: one registry from names to builders.

    from mobilenet_tf.models import build
    model = build("mobilenet_v3_small", width=0.75, input_shape=(160, 160, 3), num_classes=10)
    backbone = build("v2", features_only=True)   # {"C2": ..., "C5": ..., "C4_expand": ...}
"""

from mobilenet_tf import UserError
from mobilenet_tf.models import options as _options
from mobilenet_tf.models.keras_import import import_keras_applications
from mobilenet_tf.models.mobilenet_v1 import build_mobilenet_v1
from mobilenet_tf.models.mobilenet_v2 import build_mobilenet_v2
from mobilenet_tf.models.mobilenet_v3 import build_mobilenet_v3_large, build_mobilenet_v3_small
from mobilenet_tf.models.squeezenet import build_squeezenet1_0, build_squeezenet1_1
from mobilenet_tf.models.xception import build_xception

BACKBONES = {
    "mobilenet_v1": build_mobilenet_v1,
    "mobilenet_v2": build_mobilenet_v2,
    "mobilenet_v3_large": build_mobilenet_v3_large,
    "mobilenet_v3_small": build_mobilenet_v3_small,
    "xception": build_xception,
    "squeezenet1_0": build_squeezenet1_0,
    "squeezenet1_1": build_squeezenet1_1,
}
ALIASES = {"v1": "mobilenet_v1", "v2": "mobilenet_v2",
           "v3_large": "mobilenet_v3_large", "v3_small": "mobilenet_v3_small"}
MODEL_NAMES = tuple(BACKBONES)

__all__ = ["ALIASES", "BACKBONES", "MODEL_NAMES", "build", "canonical_name",
           "import_keras_applications"]


def canonical_name(name):
    """The registry name for `name` or its alias; UserError listing the valid ones."""
    name = ALIASES.get(name, name)
    if name not in BACKBONES:
        valid = ", ".join([*BACKBONES, *ALIASES])
        raise UserError(f"unknown model {name!r}; valid names: {valid}")
    return name


def build(name, **options):
    """Builds model `name` (see MODEL_NAMES and ALIASES) as a keras.Model.

    Common options: width, input_shape, num_classes, include_top, pooling, dropout,
    classifier_activation (None: float32 logits), features_only (dict of C2..C5 endpoints),
    output_stride (8 or 16: dilated last stages), bn_momentum, bn_epsilon,
    include_preprocessing ([0, 255] inputs), and per family depth_multiplier (V1),
    activation (V1, V2), minimalistic and reduced_tail (V3). Bad values raise UserError.
    """
    name = canonical_name(name)
    builder = BACKBONES[name]
    _options.validate(name, builder, options)
    return builder(**options)
