"""Validation of the options `build()` accepts, so a bad value fails with one clear line
naming what is valid, before Keras fails somewhere deep with a shape error."""

import inspect
import numbers

from mobilenet_tf import UserError
from mobilenet_tf.models.layers import ACTIVATIONS, DROP_PATH_SCHEDULES
from mobilenet_tf.models.shifted_depthwise import DEPTHWISE

MIN_RESOLUTION = {"xception": 71}   # two unpadded 3x3 convs and four stride-2 stages
DEFAULT_MIN_RESOLUTION = 32


def _check(condition, message):
    if not condition:
        raise UserError(message)


def accepted_options(builder):
    """The keyword options a builder takes, from its signature."""
    return [name for name, p in inspect.signature(builder).parameters.items()
            if p.kind is inspect.Parameter.KEYWORD_ONLY]


def validate(model_name, builder, options):
    """Raises UserError for an option the model does not take or a value out of range."""
    valid = accepted_options(builder)
    unknown = sorted(set(options) - set(valid))
    _check(not unknown, f"model '{model_name}' has no option {', '.join(map(repr, unknown))}; "
                        f"its options are: {', '.join(valid)}")
    if "width" in options:
        width = options["width"]
        _check(isinstance(width, numbers.Real) and not isinstance(width, bool) and width > 0,
               f"width must be a positive number (e.g. 0.35, 0.75, 1.0, 1.4), got {width!r}")
    if "depth_multiplier" in options:
        dm = options["depth_multiplier"]
        _check(isinstance(dm, numbers.Integral) and dm >= 1,
               f"depth_multiplier must be a positive integer, got {dm!r}")
    if "num_classes" in options:
        n = options["num_classes"]
        _check(isinstance(n, numbers.Integral) and n >= 1,
               f"num_classes must be a positive integer, got {n!r}")
    _check(options.get("pooling") in (None, "avg", "max"),
           f"pooling must be None, 'avg' or 'max', got {options.get('pooling')!r}")
    dropout = options.get("dropout", 0.0)
    _check(isinstance(dropout, numbers.Real) and 0.0 <= dropout < 1.0,
           f"dropout must be in [0, 1), got {dropout!r}")
    rate = options.get("drop_path_rate", 0.0)
    _check(isinstance(rate, numbers.Real) and not isinstance(rate, bool) and 0.0 <= rate < 1.0,
           f"drop_path_rate must be in [0, 1) (stochastic depth: 0.05-0.35), got {rate!r}")
    _check(options.get("drop_path_schedule", "linear") in DROP_PATH_SCHEDULES,
           f"drop_path_schedule must be one of {', '.join(DROP_PATH_SCHEDULES)}, "
           f"got {options.get('drop_path_schedule')!r}")
    _check(options.get("activation", "relu6") in ACTIVATIONS,
           f"activation must be one of {', '.join(ACTIVATIONS)}, got {options.get('activation')!r}")
    native = 16 if model_name.startswith("squeezenet") else 32
    strides = (8, 16) if native == 16 else (8, 16, 32)
    _check(options.get("output_stride") in (None, *strides),
           f"output_stride for {model_name} must be one of {', '.join(map(str, strides))}, "
           f"got {options.get('output_stride')!r}")
    momentum = options.get("bn_momentum", 0.99)
    _check(isinstance(momentum, numbers.Real) and 0.0 <= momentum < 1.0,
           f"bn_momentum must be in [0, 1), got {momentum!r}")
    epsilon = options.get("bn_epsilon", 1e-3)
    _check(isinstance(epsilon, numbers.Real) and epsilon > 0,
           f"bn_epsilon must be > 0, got {epsilon!r}")
    _check(options.get("padding", "symmetric") in ("symmetric", "same"),
           f"padding must be 'symmetric' (PyTorch's, timm's weights) or 'same' (Keras's), "
           f"got {options.get('padding')!r}")
    _check(options.get("depthwise", "conv") in DEPTHWISE,
           f"depthwise must be one of {', '.join(DEPTHWISE)} (k x k shifted multiply-adds, "
           f"the same weights), got {options.get('depthwise')!r}")
    if "input_shape" in options:
        _validate_input_shape(model_name, options["input_shape"])


def _validate_input_shape(model_name, shape):
    _check(isinstance(shape, (tuple, list)) and len(shape) == 3,
           f"input_shape must be (height, width, channels), got {shape!r}")
    minimum = MIN_RESOLUTION.get(model_name, DEFAULT_MIN_RESOLUTION)
    for size in shape[:2]:
        _check(size is None or (isinstance(size, numbers.Integral) and size >= minimum),
               f"{model_name} needs an input of at least {minimum}x{minimum} "
               f"(or None for any size), got input_shape={tuple(shape)}")
    _check(isinstance(shape[2], numbers.Integral) and shape[2] >= 1,
           f"input_shape must end with a positive channel count, got {tuple(shape)}")
