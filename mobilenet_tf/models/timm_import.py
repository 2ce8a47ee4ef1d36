"""Copies timm's MobileNetV4 weights (a `.safetensors` state dict) into our models, so the
ImageNet weights timm publishes load without torch:

    model = build("mobilenet_v4_conv_small")        # padding="symmetric", the default
    import_timm("mobilenetv4_conv_small.safetensors", model)
    python train.py --model=v4_conv_medium --dataset=folder --data_dir=DIR \\
        --init_from=model.safetensors                # a new classifier for your classes

The file is read with the safetensors package's numpy API. Each of our weighted layers maps
to one timm module by the architecture's table (mobilenet_v4.SPECS): our block i is one timm
block (Conv-S's fused IBs are two: timm builds them as two conv blocks), timm numbering its
blocks by stage, a new stage at every stride-2 row and at the last 1x1 conv.
tests/data/timm_mobilenetv4_keys.txt (every key and shape of timm 1.0.31's five models)
holds the mapping to timm's names in CI. Detection and segmentation models on a V4 backbone
take the backbone's weights the same way. Anything that does not match exactly is an error,
raised before any weight is written.
"""
import math
import os

import keras
import numpy as np

from mobilenet_tf import UserError
from mobilenet_tf.models import mobilenet_v4
from mobilenet_tf.models.attention import LayerScale

TIMM_BN_EPSILON = 1e-5   # PyTorch's default, which timm's weights were trained with
TIMM_NAMES = {variant: f"mobilenetv4_{variant}" for variant in mobilenet_v4.SPECS}
# Our layer-name suffix in a block -> timm's module in that block, per block kind.
_UIB = {"start_dw": "dw_start.conv", "start_dw_bn": "dw_start.bn", "expand": "pw_exp.conv",
        "expand_bn": "pw_exp.bn", "middle_dw": "dw_mid.conv", "middle_dw_bn": "dw_mid.bn",
        "project": "pw_proj.conv", "project_bn": "pw_proj.bn", "layer_scale": "layer_scale"}
_FUSED = {"expand": "conv_exp", "expand_bn": "bn1", "project": "conv_pwl", "project_bn": "bn2"}
_MQA = {"input_bn": "norm", "query": "attn.query.proj", "key_down": "attn.key.down_conv",
        "key_down_bn": "attn.key.norm", "key": "attn.key.proj",
        "value_down": "attn.value.down_conv", "value_down_bn": "attn.value.norm",
        "value": "attn.value.proj", "output": "attn.output.proj", "layer_scale": "layer_scale"}
_CONV = {"conv": "conv", "conv_bn": "bn1"}
_HEAD = {"head_conv": "conv_head", "head_conv_bn": "norm_head", "logits": "classifier"}
HEAD_MODULES = ("conv_head", "norm_head", "classifier")   # not in a model without the head


def variant_of(model):
    """The mobilenet_v4.SPECS variant whose table has as many blocks as `model` (the block
    counts differ), or UserError for a model with no MobileNetV4 backbone."""
    blocks = {int(layer.name.split("_")[1]) for layer in model.layers
              if layer.name.startswith("block_") and layer.name.split("_")[1].isdigit()}
    for variant, spec in mobilenet_v4.SPECS.items():
        if blocks and len(spec.table) == max(blocks) + 1 == len(blocks):
            return variant
    raise UserError(f"cannot import timm weights into {model.name}: it has no MobileNetV4 "
                    "backbone (mobilenet_v4_* models and the heads on them take them)")


def module_map(variant):
    """{our layer name: timm module path} for every weighted layer of `variant`'s classifier
    (its table, then the head)."""
    spec = mobilenet_v4.SPECS[variant]
    mapping, stage, index = {}, -1, 0
    for block_id, row in enumerate(spec.table):
        ours = f"block_{block_id}_"
        if block_id == 0:   # the stem
            mapping.update({f"{ours}conv": "conv_stem", f"{ours}conv_bn": "bn1"})
            continue
        last = block_id == len(spec.table) - 1
        if getattr(row, "stride", 1) == 2 or last:
            stage, index = stage + 1, 0
        timm = f"blocks.{stage}.{index}."
        if isinstance(row, mobilenet_v4.MobileMQA):
            table = _MQA
        elif row.block == mobilenet_v4.CONV:
            table = _CONV
        elif row.block == mobilenet_v4.FUSED_IB and spec.fused_project_act:
            # Conv-S: timm's two conv blocks, kxk then 1x1.
            after = f"blocks.{stage}.{index + 1}."
            mapping.update({f"{ours}expand": f"{timm}conv", f"{ours}expand_bn": f"{timm}bn1",
                            f"{ours}project": f"{after}conv", f"{ours}project_bn": f"{after}bn1"})
            index += 2
            continue
        else:
            table = _FUSED if row.block == mobilenet_v4.FUSED_IB else _UIB
        mapping.update({ours + suffix: timm + module for suffix, module in table.items()})
        index += 1
    mapping.update(_HEAD)
    return mapping


def _arrays(layer, module, state):
    """The timm tensors of `module` in the order and layout of `layer.weights`."""
    if isinstance(layer, keras.layers.BatchNormalization):
        return [state.get(f"{module}.{name}")
                for name in ("weight", "bias", "running_mean", "running_var")]
    if isinstance(layer, LayerScale):
        return [state.get(f"{module}.gamma")]
    weight = state.get(f"{module}.weight")
    if weight is None:
        return [None]
    if isinstance(layer, keras.layers.Dense):       # (out, in) -> (in, out)
        return [weight.T, state.get(f"{module}.bias")]
    if isinstance(layer, keras.layers.DepthwiseConv2D):   # (C, 1, kh, kw) -> (kh, kw, C, 1)
        return [weight.transpose(2, 3, 0, 1)]
    return [weight.transpose(2, 3, 1, 0)]           # (out, in, kh, kw) -> (kh, kw, in, out)


def _fold_epsilon(layer, arrays):
    """BN weights for a layer whose epsilon is not timm's: gamma rescaled so the layer's
    inference output is the same, gamma / sqrt(var + eps) unchanged (exact)."""
    gamma, beta, mean, variance = arrays
    scale = np.sqrt((variance + layer.epsilon) / (variance + TIMM_BN_EPSILON))
    return [gamma * scale, beta, mean, variance]


def load_state(source):
    """{key: numpy array} of a timm `.safetensors` file (or a dict of arrays, as is)."""
    if isinstance(source, dict):
        return source
    path = os.fspath(source)
    if not os.path.exists(path):
        raise UserError(f"weights file {path} does not exist")
    from safetensors.numpy import load_file   # noqa: PLC0415 (only when importing)
    try:
        return load_file(path)
    except Exception as error:   # noqa: BLE001 (safetensors raises its own error types)
        raise UserError(f"cannot read {path} as a safetensors file of float32 weights: "
                        f"{str(error).splitlines()[0][:160]}") from None


def _check_padding(model):
    strided = [layer for layer in model.layers
               if isinstance(layer, keras.layers.Conv2D) and max(layer.strides) > 1]
    if any(layer.padding == "same" and max(layer.kernel_size) > 1 for layer in strided):
        raise UserError(f"{model.name} pads strided convolutions as Keras does ('same'); timm's "
                        "weights were trained with PyTorch's symmetric padding: build it with "
                        "padding='symmetric' (the default; --config.model.options.padding)")


def import_timm(source, target, new_head=False):
    """Copies timm's MobileNetV4 weights (a `.safetensors` file, or a dict of arrays) into
    `target`, a mobilenet_v4_* model (any input size, include_top or not) or a head on one.
    new_head=True leaves a classifier of another number of classes as initialised, for
    fine-tuning. Batch norm with another epsilon than timm's 1e-5 gets gamma rescaled so its
    inference output is the same. Returns `target`; UserError on any mismatch."""
    state = load_state(source)
    variant = variant_of(target)
    _check_padding(target)
    modules = module_map(variant)
    pairs, used = [], set()
    for layer in target.layers:
        if not layer.weights or layer.name not in modules:
            continue
        module = modules[layer.name]
        arrays = _arrays(layer, module, state)
        expected = [tuple(w.shape) for w in layer.weights]
        if any(a is None for a in arrays):
            raise UserError(f"cannot import timm weights: {TIMM_NAMES[variant]}'s {module} is not "
                            f"in the file (layer {layer.name!r}); is it a {TIMM_NAMES[variant]} "
                            "state dict?")
        if [a.shape for a in arrays] != expected:
            if new_head and layer.name == "logits":
                continue
            raise UserError(f"cannot import timm weights into layer {layer.name!r}: timm's "
                            f"{module} has shapes {[a.shape for a in arrays]}, ours {expected}; "
                            "build the same width and num_classes (or include_top=False)")
        if isinstance(layer, keras.layers.BatchNormalization) and not math.isclose(
                layer.epsilon, TIMM_BN_EPSILON):
            arrays = _fold_epsilon(layer, arrays)
        pairs.append((layer, arrays))
        used.add(module)
    spare = {key.rsplit(".", 1)[0] for key in state if not key.endswith("num_batches_tracked")}
    unused = sorted(spare - used - set(HEAD_MODULES))
    if unused:
        raise UserError(f"cannot import timm weights: {unused[:3]} have no counterpart in "
                        f"{target.name}; the file is not a {TIMM_NAMES[variant]} state dict")
    for layer, arrays in pairs:
        layer.set_weights([np.asarray(a, np.float32) for a in arrays])
    return target
