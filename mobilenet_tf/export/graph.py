"""What a LiteRT flatbuffer contains, read with its schema (shipped in ai-edge-litert): op
counts, and whether MobileNetV3's hard activations became the fused kernels.

TFLite has a HARD_SWISH kernel; it has no hard-sigmoid one, and the best a converter can
do with relu6(x + 3) / 6 is fold the + 3 into the bias of the op before it, fuse the relu6
as that op's activation, and leave one MUL by 1/6 (on V3's squeeze-excite gates: a 1x1
conv with fused RELU6, then MUL). A chain of ADD, RELU6 / MINIMUM / MAXIMUM, MUL, DIV ops
instead means the pattern was missed and costs several kernel launches per activation.
tflite_int8 writes h-swish as an ADD with a fused RELU6 and two MULs on purpose (XNNPACK has
no int8 HARD_SWISH; converters.INT8_HARD_SWISH_FORMS): the "elementwise" form.
"""
import collections

_LOOSE = ("RELU6", "MINIMUM", "MAXIMUM", "DIV", "RELU_N1_TO_1", "LOGISTIC")


def ops(content):
    """Counter of (op name, fused activation or None) over every subgraph of a flatbuffer."""
    from ai_edge_litert import schema_py_generated as schema

    names = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}
    activations = {v: k for k, v in vars(schema.ActivationFunctionType).items()
                   if not k.startswith("_")}
    model = schema.ModelT.InitFromPackedBuf(bytearray(content), 0)
    codes = [max(code.builtinCode, code.deprecatedBuiltinCode) for code in model.operatorCodes]
    counts = collections.Counter()
    for subgraph in model.subgraphs:
        for op in subgraph.operators:
            fused = getattr(op.builtinOptions, "fusedActivationFunction", None)
            counts[(names[codes[op.opcodeIndex]], activations.get(fused))] += 1
    return counts


# Keras names its hard_swish function hard_silu.
HARD_SWISH_NAMES = ("hard_swish", "hard_silu")


def activation_name(layer):
    """The name of a layer's activation function (None without one)."""
    return getattr(getattr(layer, "activation", None), "__name__", None)


def _activation_counts(model):
    return collections.Counter(activation_name(layer) for layer in model.layers)


def hard_activation_layers(model):
    """(hard_swish layers, hard_sigmoid layers) of a Keras model."""
    kinds = _activation_counts(model)
    return sum(kinds[name] for name in HARD_SWISH_NAMES), kinds["hard_sigmoid"]


def hard_activations(model, content, ignore=None):
    """How the hard activations of `model` appear in flatbuffer `content`: a dict with the
    Keras layer counts, the HARD_SWISH kernels, the RELU6s fused into another op, the loose
    elementwise ops that should not be there, and `fused` (all as expected). ignore: an
    ops() Counter of ops that belong to something else (detection's post-processing)."""
    counts = ops(content) - collections.Counter(ignore or {})
    hard_swish, hard_sigmoid = hard_activation_layers(model)
    kernels = sum(n for (name, _), n in counts.items() if name == "HARD_SWISH")
    fused_relu6 = sum(n for (name, fused), n in counts.items() if fused == "RELU6")
    loose = collections.Counter({name: n for (name, _), n in counts.items() if name in _LOOSE})
    # A true sigmoid (LR-ASPP's pooling gate, section 6.4) is one LOGISTIC kernel, not a miss.
    loose -= collections.Counter({"LOGISTIC": _activation_counts(model)["sigmoid"]})
    loose = dict(loose)
    # h-swish as the HARD_SWISH kernel, or (tflite_int8's default, converters.
    # INT8_HARD_SWISH_FORMS) as an ADD with a fused RELU6 and MULs: one fused RELU6 each.
    if not hard_swish:
        form = None
    elif kernels == hard_swish:
        form = "kernel"
    elif kernels == 0 and fused_relu6 >= hard_sigmoid + hard_swish:
        form = "elementwise"
    else:
        form = "missed"
    return {"hard_swish_layers": hard_swish, "hard_swish_kernels": kernels,
            "hard_swish_form": form, "hard_sigmoid_layers": hard_sigmoid,
            "fused_relu6": fused_relu6, "loose_elementwise": loose,
            # Loose ops only count against a model that has hard activations to lose.
            "fused": (form != "missed" and fused_relu6 >= hard_sigmoid
                      and not (loose and (hard_swish or hard_sigmoid)))}
