"""The model zoo: `build(name, **options)` over the registry (mobilenet_tf.models.registry).

    from mobilenet_tf.models import build
    model = build("mobilenet_v3_small", width=0.75, input_shape=(160, 160, 3), num_classes=10)
    backbone = build("v2", features_only=True)   # {"C2": ..., "C5": ..., "C4_expand": ...}
    seg = build("lraspp_v3_small", num_classes=19, input_shape=(None, None, 3))   # any size
    det = build("ssdlite_v3_small", num_classes=80)   # {"boxes", "classes"} per anchor
"""

import contextlib

import keras

from mobilenet_tf import keras_saving as _keras_saving
from mobilenet_tf.models import options as _options
from mobilenet_tf.models.keras_import import import_keras_applications
from mobilenet_tf.models.registry import ALIASES, MODELS, ModelEntry, canonical_name, entry, names
from mobilenet_tf.models.timm_import import import_timm

__all__ = ["ALIASES", "MODELS", "ModelEntry", "build", "canonical_name", "entry",
           "import_keras_applications", "import_timm", "names", "without_initial_weights"]

# Every path that saves or loads our models imports this package first (its layers are
# registered here): Keras's saving then caches what it otherwise rebuilds per layer.
_keras_saving.cache_attribute_skipsets()


def build(name, **options):
    """Builds model `name` (a registry name or alias: models.names()) as a keras.Model.

    Common options: width, input_shape, num_classes, include_top, pooling, dropout,
    classifier_activation (None: float32 logits), features_only (dict of C2..C5 endpoints),
    output_stride (8 or 16: dilated last stages), bn_momentum, bn_epsilon (not SqueezeNet,
    which has no batch norm), include_preprocessing ([0, 255] inputs), and per family
    depth_multiplier (V1), activation (V1, V2), minimalistic and reduced_tail (V3), padding
    ("symmetric", PyTorch's, or "same") (V4), and depthwise ("conv", Keras's layers, or
    "shifted": the depthwise convolutions as k x k shifted multiply-adds, same weights;
    every model with depthwise convolutions, i.e. all but SqueezeNet). Detection
    and segmentation models take width, input_shape, num_classes, bn_* and
    include_preprocessing (segmentation also output_stride), plus their head's options
    (head_channels, pool_size, pool_strides; aspp, atrous_rates; SSDLite: reduced_tail,
    class_prior, aspect_ratios).
    Bad values raise UserError.
    """
    row = entry(name)
    _options.validate(row.name, row.build, options)
    return row.build(**options)


@contextlib.contextmanager
def without_initial_weights():
    """Models built inside have every variable's shape and no value, for code that only
    counts or inspects them (parameters, MAdds, layers): Keras defers the variables made in a
    StatelessScope, initialize_variables=False keeps it from initialising them when the scope
    ends, and clear_session (without its full garbage collection, a few tenths of a second in
    a large process) then drops Keras's list of them and its name counters. Creating and
    initialising the variables is three quarters of a build (MobileNetV3-Large at 96 px:
    0.64 -> 0.17 CPU s). Such a model cannot be run or saved."""
    try:
        with keras.StatelessScope(initialize_variables=False):
            yield
    finally:
        keras.backend.clear_session(free_memory=False)
