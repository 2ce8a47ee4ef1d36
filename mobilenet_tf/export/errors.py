"""Conversion failures as one line a user can act on: which op, in which layer, and what to
do about it. Converters report ops by their TensorFlow graph names
("model/layer_1/erfinv/Erfinv"), which lead back to the Keras layer."""
import contextlib
import re
import traceback

from mobilenet_tf import UserError

OPS_DOC = "https://ai.google.dev/edge/litert/models/ops_compatibility"
_NOT_BUILTIN = re.compile(r"'tf\.(\w+)' op is neither a custom op nor a flex op")
_NOT_QUANTIZABLE = re.compile(r"[Qq]uantization (?:is )?not (?:yet )?supported for op:? '?(\w+)")
_GRAPH_PATH = re.compile(r"\"([\w.\-]+(?:/[\w.\-]+)+)@")


def layers_in(text, model):
    """Names of `model`'s layers that appear in the graph paths of `text`, in order."""
    names = {layer.name for layer in model.layers}
    found = []
    for path in _GRAPH_PATH.findall(text) + re.findall(r"[\w.\-]+(?:/[\w.\-]+)+", text):
        for segment in path.split("/"):
            # Tracing appends _1, _2 to a layer's name scope.
            for candidate in (re.sub(r"_\d+$", "", segment), segment):
                if candidate in names and candidate not in found:
                    found.append(candidate)
                    break
    return found


def _where(text, model):
    found = layers_in(text, model)
    return f"layer '{found[0]}'" if found else "the model"


def op_paths(graph_def, op_types):
    """Graph names of the nodes of `op_types` in a GraphDef and its function library (the
    converter's exception names the op type, not the node)."""
    nodes = list(graph_def.node) + [node for function in graph_def.library.function
                                    for node in function.node_def]
    return " ".join(node.name for node in nodes if node.op in op_types)


def explain(fmt, text, model, graph_def=None):
    """The one-line message for converter output `text` when exporting `model` as `fmt`;
    `graph_def`, the converted graph, locates the failing op's layer."""
    ops = sorted(set(_NOT_BUILTIN.findall(text)))
    if ops and graph_def is not None:
        text = op_paths(graph_def, ops) + " " + text
    if ops:
        return (f"cannot export to {fmt}: {_where(text, model)} uses TensorFlow op "
                f"{', '.join(ops)}, which LiteRT has no built-in kernel for; express the layer "
                f"with supported ops ({OPS_DOC}) or export saved_model or onnx instead")
    ops = sorted(set(_NOT_QUANTIZABLE.findall(text)))
    if ops:
        return (f"cannot export to {fmt}: op {', '.join(ops)} in {_where(text, model)} has no "
                "integer kernel in LiteRT; export tflite_dynamic or tflite_float16 instead, or "
                "replace the layer")
    lines = [line.strip() for line in text.splitlines() if "error" in line.lower()]
    detail = (lines[0] if lines else text.strip().splitlines()[0] if text.strip() else "?")[:300]
    return f"cannot export to {fmt} ({_where(text, model)}): {detail}"


@contextlib.contextmanager
def explained(fmt, model, function=None):
    """Turns a converter's failure inside the block into a UserError (see explain);
    `function`, the tf.function being converted, helps name the layer."""
    try:
        yield
    except UserError:
        raise
    except Exception as error:   # noqa: BLE001 - only converter errors are rewritten
        if not _is_conversion_error(error):
            raise
        graph_def = function.get_concrete_function().graph.as_graph_def() if function else None
        raise UserError(explain(fmt, str(error), model, graph_def)) from None


def _is_conversion_error(error):
    """Raised by the converters themselves (not by a bug in the caller)."""
    if type(error).__name__ == "ConverterError":
        return True
    files = [frame.filename for frame in traceback.extract_tb(error.__traceback__)]
    return any("/tf2onnx/" in name or "/tensorflow/lite/" in name for name in files)


def check_onnx_ops(proto, model):
    """UserError naming the first node whose op ONNX does not define: tf2onnx copies a
    TensorFlow op it cannot map into the graph unchanged, and the file would not load."""
    import onnx

    for node in proto.graph.node:
        if node.domain in ("", "ai.onnx") and not onnx.defs.has(node.op_type):
            raise UserError(
                f"cannot export to onnx: {_where(node.name + ' ', model)} uses TensorFlow op "
                f"{node.op_type}, which tf2onnx cannot express in ONNX opset; express the layer "
                "with supported ops or export saved_model or tflite instead")
