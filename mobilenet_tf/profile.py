"""Parameters and multiply-adds of the model zoo, split by layer type, as the papers count them.

    python -m mobilenet_tf.profile --model=mobilenet_v1 --width=1.0 --resolution=224
    python -m mobilenet_tf.profile --model=v1 --standard_conv      # V1 paper, Table 4
    python -m mobilenet_tf.profile --model=lraspp_v3_large --resolution=1024x2048
    python -m mobilenet_tf.profile --model=ssdlite_v3_large --resolution=320   # + head's share
    python -m mobilenet_tf.profile --table                         # every paper setting
    python -m mobilenet_tf.profile --plot=tradeoff.png --relu_manifold=relu.png

MAdds follow the papers' convention: the multiply-adds of standard, depthwise and pointwise
convolutions, of dense layers and of attention's two matrix products (MobileNetV4's Mobile
MQA); batch norm, activations, pooling, adds, biases, softmax and layer scale are free.
With no flags it prints MobileNet V1's Table 2 (arXiv:1704.04861): 1x1 convolutions carry
about 95% of the MAdds and 75% of the parameters.
"""

import collections
import dataclasses
import functools
import json
import math
import os
import sys

from absl import flags
import keras

import mobilenet_tf
import mobilenet_tf.models
from mobilenet_tf import reported
from mobilenet_tf.models.attention import MultiQueryAttention

CONV_1X1, CONV_DW, CONV_KXK, FC, ATTENTION, BN, OTHER = (
    "Conv 1x1", "Conv dw", "Conv kxk", "Fully connected", "Attention", "Batch norm", "Other")
CATEGORIES = (CONV_1X1, CONV_DW, CONV_KXK, FC, ATTENTION, BN, OTHER)
OPTIONAL = (ATTENTION, OTHER)   # left out of a breakdown when the model has none

_CONV = (keras.layers.Conv1D, keras.layers.Conv2D, keras.layers.Conv3D)
_DEPTHWISE = (keras.layers.DepthwiseConv1D, keras.layers.DepthwiseConv2D)
_SEPARABLE = (keras.layers.SeparableConv1D, keras.layers.SeparableConv2D)


@dataclasses.dataclass(frozen=True)
class Profile:
    """Parameter and multiply-add counts of one model, by category (see CATEGORIES)."""
    params: dict
    madds: dict

    @property
    def total_params(self):
        return sum(self.params.values())

    @property
    def total_madds(self):
        return sum(self.madds.values())

    def breakdown(self):
        """{category: {params, params_pct, madds, madds_pct}}, every category but an empty
        "Attention" or "Other"."""
        def pct(part, total):
            return round(100.0 * part / total, 2) if total else 0.0
        return {c: {"params": self.params[c], "params_pct": pct(self.params[c], self.total_params),
                    "madds": self.madds[c], "madds_pct": pct(self.madds[c], self.total_madds)}
                for c in CATEGORIES if c not in OPTIONAL or self.params[c] or self.madds[c]}


# One counted piece of one layer call (a separable conv gives two).
_Op = collections.namedtuple("_Op", "node category params madds")


@dataclasses.dataclass(frozen=True)
class StandardConv:
    """The network with standard convolutions instead of depthwise-separable ones.

    pairs: (Dk^2, N) per replaced separable convolution, N its output channels.
    """
    profile: Profile
    pairs: tuple


# ---------------------------------------------------------------------------- counting

def _graph_nodes(model):
    """Every call of a leaf layer in `model`, inputs first; nested models are flattened."""
    graph = model if hasattr(model, "_nodes_by_depth") else getattr(model, "_functional", None)
    if graph is None:
        raise mobilenet_tf.UserError(
            f"cannot profile {type(model).__name__}: pass a functional or Sequential keras.Model")
    # Keras keeps the call graph by depth from the outputs; deepest first is input order.
    for depth in sorted(graph._nodes_by_depth, reverse=True):
        for node in graph._nodes_by_depth[depth]:
            if isinstance(node.operation, keras.Model):
                yield from _graph_nodes(node.operation)
            elif node.input_tensors:   # InputLayer nodes have none
                yield node


def _spatial_and_channels(layer, shape):
    shape = tuple(shape)[1:]
    if None in shape:
        raise mobilenet_tf.UserError(
            f"layer {layer.name} has input or output shape {shape}: MAdds need a fixed input "
            "resolution (build the model with input_shape=(R, R, 3))")
    if getattr(layer, "data_format", "channels_last") == "channels_first":
        return shape[1:], shape[0]
    return shape[:-1], shape[-1]


def _is_fc(layer, node):
    """A conv on a 1x1 map is a dense layer by another name (V1's classifier, V3's SE and
    its last convs), so the papers count it as "fully connected"."""
    spatial, _ = _spatial_and_channels(layer, node.input_tensors[0].shape)
    return all(s == 1 for s in spatial)


def _is_pointwise(layer, node):
    return (isinstance(layer, _CONV) and math.prod(layer.kernel_size) == 1
            and layer.groups == 1 and not _is_fc(layer, node))


def _layer_ops(node, count_params):
    """The _Ops of one call. `count_params` is False for a shared layer's later calls."""
    layer = node.operation
    if not isinstance(layer, keras.Layer):
        return []   # a raw keras.ops call in the graph (keras.applications' `x + 3.0`)
    params = layer.count_params() if count_params else 0
    if isinstance(layer, MultiQueryAttention):
        # The two matrix products of attention (the projections are convs): each of the N
        # query positions and heads against the M key positions, over key_dim and value_dim.
        queries, keys, values = (tensor.shape for tensor in node.input_tensors)
        positions, others = math.prod(queries[1:3]), math.prod(keys[1:3])
        madds = positions * layer.num_heads * others * (keys[-1] + values[-1])
        return [_Op(node, ATTENTION, params, madds)]
    if not isinstance(layer, (*_CONV, *_DEPTHWISE, *_SEPARABLE, keras.layers.Dense)):
        kind = BN if isinstance(layer, keras.layers.BatchNormalization) else OTHER
        return [_Op(node, kind, params, 0)] if params else []
    spatial_in, cin = _spatial_and_channels(layer, node.input_tensors[0].shape)
    spatial_out, _ = _spatial_and_channels(layer, node.output_tensors[0].shape)
    positions = math.prod(spatial_out)
    if isinstance(layer, keras.layers.Dense):
        return [_Op(node, FC, params, math.prod(spatial_in) * cin * layer.units)]
    if isinstance(layer, _SEPARABLE):
        mid = cin * layer.depth_multiplier
        dw_params = math.prod(layer.depthwise_kernel.shape) if count_params else 0
        return [_Op(node, CONV_DW, dw_params, positions * math.prod(layer.kernel_size) * mid),
                _Op(node, CONV_1X1, params - dw_params, positions * mid * layer.filters)]
    if isinstance(layer, _DEPTHWISE):
        madds = positions * math.prod(layer.kernel_size) * cin * layer.depth_multiplier
        return [_Op(node, CONV_DW, params, madds)]
    madds = positions * math.prod(layer.kernel_size) * (cin // layer.groups) * layer.filters
    kind = (FC if _is_fc(layer, node)
            else CONV_1X1 if math.prod(layer.kernel_size) == 1 else CONV_KXK)
    return [_Op(node, kind, params, madds)]


def _ops(model):
    seen, ops = set(), []
    for node in _graph_nodes(model):
        ops += _layer_ops(node, count_params=id(node.operation) not in seen)
        seen.add(id(node.operation))
    return ops


def _profile(ops):
    params, madds = dict.fromkeys(CATEGORIES, 0), dict.fromkeys(CATEGORIES, 0)
    for op in ops:
        params[op.category] += op.params
        madds[op.category] += op.madds
    return Profile(params, madds)




def head_profile(model, prefixes):
    """Profile of the layers whose names start with one of `prefixes` (a task head)."""
    return _profile([op for op in _ops(model) if op.node.operation.name.startswith(prefixes)])


def _label(name, minimalistic=False):
    """The papers' name of a model, or its registry name where they have none (SSDLite)."""
    if name in reported.DISPLAY_NAMES:
        return reported.label(name, minimalistic)
    return name + (" minimalistic" if minimalistic else "")


def profile_model(model):
    """keras.Model -> Profile: parameters and MAdds per CATEGORIES for one image.

    Params add up to model.count_params() (BN's moving statistics included, as Keras counts).
    """
    return _profile(_ops(model))


# ------------------------------------------------------------ standard-convolution baseline

def _pointwise_after(dw_node, consumers):
    """The first pointwise conv fed by a depthwise conv's output, through BN, activations and
    squeeze-excite; None if another weighted layer comes first on every path."""
    queue, seen = collections.deque(dw_node.output_tensors), set()
    while queue:
        tensor = queue.popleft()
        for node in consumers[id(tensor)]:
            layer = node.operation
            if _is_pointwise(layer, node):
                return node
            if id(node) in seen or (getattr(layer, "weights", None) and not isinstance(
                    layer, keras.layers.BatchNormalization)):
                continue   # e.g. SE's own 1x1 convs: the main path reaches the projection
            seen.add(id(node))
            queue.extend(node.output_tensors)
    return None


def _standard_op(dw_node, pw_layer, spatial_node):
    """One kxk conv from the depthwise's input channels to the pointwise's output channels,
    at the depthwise's output resolution."""
    dw = dw_node.operation
    _, cin = _spatial_and_channels(dw, dw_node.input_tensors[0].shape)
    spatial, _ = _spatial_and_channels(dw, spatial_node.output_tensors[0].shape)
    k2, cout = math.prod(dw.kernel_size), pw_layer.filters
    params = k2 * cin * cout + (cout if pw_layer.use_bias else 0)
    return _Op(dw_node, CONV_KXK, params, math.prod(spatial) * k2 * cin * cout), (k2, cout)


def standard_conv_profile(model):
    """keras.Model -> StandardConv: the same network with every depthwise-separable conv
    (a DepthwiseConv2D and the pointwise conv that consumes it, or a SeparableConv2D)
    replaced by one standard kxk conv, counted analytically (V1 paper, Table 4).

    The depthwise's BN disappears with it; the pointwise's BN stays.
    """
    ops, consumers = _ops(model), collections.defaultdict(list)
    for node in _graph_nodes(model):
        for tensor in node.input_tensors:
            consumers[id(tensor)].append(node)
    dropped, added, pairs = set(), [], []
    for op in ops:
        layer = op.node.operation
        if isinstance(layer, _SEPARABLE) and id(op.node) not in dropped:
            dropped.add(id(op.node))
            new, pair = _standard_op(op.node, layer, op.node)
        elif isinstance(layer, _DEPTHWISE):
            pw = _pointwise_after(op.node, consumers)
            if pw is None or id(pw) in dropped:
                continue
            bn = [n for n in consumers[id(op.node.output_tensors[0])]
                  if isinstance(n.operation, keras.layers.BatchNormalization)]
            dropped.update(id(n) for n in (op.node, pw, *bn[:1]))
            new, pair = _standard_op(op.node, pw.operation, pw)
        else:
            continue
        added.append(new)
        pairs.append(pair)
    kept = [op for op in ops if id(op.node) not in dropped]
    return StandardConv(_profile(kept + added), tuple(pairs))


# ------------------------------------------------------------------ model zoo at paper settings

def build_variant(name, width=1.0, resolution=None, minimalistic=False):
    """mobilenet_tf.models.build for one setting; resolution None is the model's default.

    Width and minimalistic are passed only when they differ from every builder's default,
    so Xception and SqueezeNet (no width multiplier) build at 1.0.
    """
    options = {} if width == 1.0 else {"width": width}
    if resolution is not None:
        height, width_ = resolution if isinstance(resolution, tuple) else (resolution,) * 2
        options["input_shape"] = (height, width_, 3)
    if minimalistic:
        options["minimalistic"] = True
    return mobilenet_tf.models.build(name, **options)


@functools.lru_cache(maxsize=None)
def profile_variant(variant, standard_conv=False):
    """reported.Variant -> Profile (or StandardConv), building the model once and freeing it
    after; cached, since the table, the plot and the tests ask for the same models."""
    # Counting reads only shapes; leaving Keras's state behind also keeps memory and
    # graph-name counters flat over ~30 builds.
    with mobilenet_tf.models.without_initial_weights():
        model = build_variant(variant.model, variant.width, variant.resolution,
                              variant.minimalistic)
        return standard_conv_profile(model) if standard_conv else profile_model(model)


def table_rows(variants=reported.PAPER_VARIANTS):
    """One dict per Variant: our params and MAdds with the reported rows for that setting."""
    rows = []
    for v in variants:
        profile = profile_variant(v)
        rows.append({**v._asdict(), "params": profile.total_params, "madds": profile.total_madds,
                     "reported": [r._asdict() for r in reported.lookup(v)]})
    return rows


def markdown_table(rows):
    """table_rows() -> Markdown: our params and MAdds next to the reported MAdds and top-1
    (several sources joined by " / "; the full citations are in mobilenet_tf.reported)."""
    lines = ["| Model | Width | Resolution | Params (M) | MAdds (M) | Reported MAdds (M) "
             "| Reported top-1 (%) | Source |", "|---|---:|---:|---:|---:|---:|---:|---|"]
    for row in rows:
        cited = row["reported"]
        madds = " / ".join(f"{r['madds_m']:g}" for r in cited) or "-"
        top1 = " / ".join(str(r["top1"]) for r in cited) or "-"
        sources = " / ".join(reported.SHORT_SOURCES[r["source"]] for r in cited) or "-"
        lines.append(
            f"| {reported.label(row['model'], row['minimalistic'])} "
            f"| {float(row['width'])} | {row['resolution']} "
            f"| {row['params'] / 1e6:.2f} | {row['madds'] / 1e6:.0f} "
            f"| {madds} | {top1} | {sources} |")
    return "\n".join(lines)


def tradeoff_points():
    """(series, reported.Variant, our MAdds, reported top-1) for every REPORTED row; a series
    is one family from one source, e.g. "MobileNetV3-Large (V3 paper, Table 3)"."""
    points = []
    for row in reported.REPORTED:
        series = reported.label(row.family, row.minimalistic)
        series += f" ({reported.SHORT_SOURCES[row.source]})"
        variant = reported.variant_of(row)
        points.append((series, variant, profile_variant(variant).total_madds, row.top1))
    return points


# ------------------------------------------------------------------------------- reports

def format_profile(profile, title):
    """The Table 2 style text report: count and % of total, params and MAdds per category."""
    lines = [title, f"{'':<16}{'Params':>12}{'%':>8}{'MAdds':>16}{'%':>8}"]
    for category, row in profile.breakdown().items():
        lines.append(f"{category:<16}{row['params']:>12,}{row['params_pct']:>7.2f}%"
                     f"{row['madds']:>16,}{row['madds_pct']:>7.2f}%")
    lines.append(f"{'Total':<16}{profile.total_params:>12,}{'':>8}{profile.total_madds:>16,}")
    # The papers' parameter counts leave out batch norm (V1's Table 2 sums to 100% without it).
    no_bn = profile.total_params - profile.params[BN]
    lines.append(f"= {profile.total_params / 1e6:.2f}M parameters ({no_bn / 1e6:.2f}M without "
                 f"batch norm, {100 * profile.params[CONV_1X1] / max(no_bn, 1):.2f}% of them "
                 f"1x1), {profile.total_madds / 1e6:.0f}M multiply-adds")
    return "\n".join(lines)


def standard_conv_summary(separable, standard):
    """Profile, StandardConv -> dict: totals, the measured ratios and the theory's
    1/N + 1/Dk^2 per replaced layer (section 3.1 of arXiv:1704.04861)."""
    theory = [1.0 / n + 1.0 / k2 for k2, n in standard.pairs] or [math.nan]
    return {"params": standard.profile.total_params, "madds": standard.profile.total_madds,
            "replaced": len(standard.pairs),
            "params_ratio": separable.total_params / standard.profile.total_params,
            "madds_ratio": separable.total_madds / standard.profile.total_madds,
            "theory_min": min(theory), "theory_max": max(theory)}


def format_standard_conv(summary, pairs):
    """Text for --standard_conv."""
    if not pairs:
        return "No depthwise-separable convolutions to replace."
    ks = sorted({round(math.sqrt(k2)) for k2, _ in pairs})
    ns = [n for _, n in pairs]
    return "\n".join([
        f"With standard convolutions instead of its {summary['replaced']} depthwise-separable "
        f"ones (Dk = {', '.join(map(str, ks))}; N = {min(ns)} .. {max(ns)}):",
        f"  {summary['params'] / 1e6:.2f}M parameters, {summary['madds'] / 1e6:.0f}M multiply-adds",
        f"  separable / standard: params {summary['params_ratio']:.3f}, "
        f"MAdds {summary['madds_ratio']:.3f} ({1 / summary['madds_ratio']:.1f}x fewer)",
        f"  theory per layer, 1/N + 1/Dk^2: {summary['theory_min']:.3f} .. "
        f"{summary['theory_max']:.3f}"])


def profile_report(name, width=1.0, resolution=None, minimalistic=False, standard_conv=False):
    """Builds one model and returns (result dict for --json, text report)."""
    name = mobilenet_tf.models.canonical_name(name)
    model = build_variant(name, width, parse_resolution(resolution), minimalistic)
    height, width_ = model.input_shape[1:3]
    # Segmentation models default to their paper's frame (Cityscapes 1024x2048).
    resolution = height if height == width_ else f"{height}x{width_}"
    profile = profile_model(model)
    standard = standard_conv_profile(model) if standard_conv else None
    result = {"model": name, "width": width, "resolution": resolution,
              "minimalistic": minimalistic, "params": profile.total_params,
              "madds": profile.total_madds, "breakdown": profile.breakdown()}
    title = f"{_label(name, minimalistic)} {float(width)}-{resolution}"
    text = format_profile(profile, title)
    # A detection head's share (the registry's new layers), as the V2 paper's Table 6
    # separates SSDLite from its backbone.
    row = mobilenet_tf.models.entry(name)
    prefixes = row.new_layers if row.task == "detection" else None
    if prefixes:
        head = head_profile(model, prefixes)
        result["head"] = {"params": head.total_params, "madds": head.total_madds}
        text += (f"\nhead (extra layers and predictors): {head.total_params / 1e6:.2f}M "
                 f"parameters, {head.total_madds / 1e6:.0f}M multiply-adds")
    if standard:
        result["standard_conv"] = standard_conv_summary(profile, standard)
        text += "\n\n" + format_standard_conv(result["standard_conv"], standard.pairs)
    return result, text


def parse_resolution(value):
    """None, R or "R" (square), or "HxW" -> None, R or (H, W); UserError otherwise."""
    if value is None or isinstance(value, (int, tuple)):
        return value
    parts = str(value).lower().split("x")
    if len(parts) not in (1, 2) or not all(part.strip().isdigit() for part in parts):
        raise mobilenet_tf.UserError(f"--resolution={value}: expected R or HxW, e.g. 224 or "
                                     "1024x2048")
    sizes = tuple(int(part) for part in parts)
    return sizes[0] if len(sizes) == 1 else sizes


# ------------------------------------------------------------------------------------ CLI

# Its own FlagValues, not absl's global one: importing this module (to count a model's MAdds
# from train.py, say) must not claim flag names like --model for the whole process.
FLAGS = flags.FlagValues()
_DEFINE = {"flag_values": FLAGS}
flags.DEFINE_string("model", None, "Model to profile (mobilenet_v1, v2, v3_large, xception, "
                    "...). Default when no other action is asked: mobilenet_v1.", **_DEFINE)
flags.DEFINE_float("width", 1.0, "Width multiplier.", **_DEFINE)
flags.DEFINE_string("resolution", None, "Input resolution, R or HxW (default: the model's "
                    "own; 1024x2048 for lraspp_*, 513 for deeplabv3_v2).", **_DEFINE)
flags.DEFINE_bool("minimalistic", False, "MobileNetV3 minimalistic variant.", **_DEFINE)
flags.DEFINE_bool("json", False, "Print one JSON object instead of text.", **_DEFINE)
flags.DEFINE_bool("standard_conv", False,
                  "Also count the network with standard instead of separable convolutions.",
                  **_DEFINE)
flags.DEFINE_bool("table", False, "Print a Markdown table of every model at paper settings.",
                  **_DEFINE)
flags.DEFINE_string("plot", None, "Write the top-1 vs MAdds trade-off figure to this PNG.",
                    **_DEFINE)
flags.DEFINE_string("relu_manifold", None,
                    "Write the ReLU manifold figure (Figure 1 of arXiv:1801.04381) to this PNG.",
                    **_DEFINE)


def _check_output(path, flag):
    # Checked before the slow part, so a typo costs seconds, not the ~30 model builds.
    parent = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(parent):
        raise mobilenet_tf.UserError(f"--{flag}={path}: directory {parent} does not exist")


def run(flag_values):
    """Does what the parsed flags ask; returns what to print (text, or one JSON object)."""
    from mobilenet_tf import plots   # matplotlib only when drawing
    for flag in ("plot", "relu_manifold"):
        if flag_values[flag].value:
            _check_output(flag_values[flag].value, flag)
    result, texts = {}, []
    if flag_values.model or not (flag_values.table or flag_values.plot
                                 or flag_values.relu_manifold):
        result, text = profile_report(flag_values.model or "mobilenet_v1", flag_values.width,
                                      flag_values.resolution, flag_values.minimalistic,
                                      flag_values.standard_conv)
        texts.append(text)
    if flag_values.table:
        result["table"] = table_rows()
        texts.append(markdown_table(result["table"]))
    for path, draw in ((flag_values.plot, lambda p: plots.tradeoff_figure(tradeoff_points(), p)),
                       (flag_values.relu_manifold, plots.relu_manifold_figure)):
        if path:
            draw(path)
            result.setdefault("wrote", []).append(path)
            texts.append(f"wrote {path}")
    return json.dumps(result) if flag_values.json else "\n\n".join(texts)


def main(argv):
    """absl entry point: prints the report; a UserError is one line on stderr, exit 2."""
    try:
        if len(argv) > 1:
            raise mobilenet_tf.UserError(f"unexpected arguments {argv[1:]}; flags are --name=value")
        print(run(FLAGS))
    except mobilenet_tf.UserError as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)


def _parse_flags(argv):
    """Parses our flags; --help prints them, and a bad flag is a user error: one line, exit 2."""
    if any(arg in ("-h", "--help", "--helpfull") for arg in argv[1:]):
        print(__doc__ + "\n" + FLAGS.module_help(sys.modules[__name__]))
        sys.exit(0)
    try:
        return FLAGS(argv)
    except flags.Error as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main(_parse_flags(sys.argv))
