"""mobilenet_tf.profile: the papers' MAdds and parameter counts, MobileNet V1's Table 2 and
Table 4, the counting convention on a model small enough to check by hand, the command line
and the two figures."""

import json
import os
import re
import subprocess
import sys

import conftest
import keras
from keras import layers
import pytest

import mobilenet_tf
from mobilenet_tf import plots
from mobilenet_tf import profile
from mobilenet_tf.models import build, without_initial_weights
from mobilenet_tf.reported import Variant

V1 = Variant("mobilenet_v1", 1.0, 224)

# MAdds (millions) as published; ours must be within 1%.
GOLDEN_MADDS = [
    (V1, 569),                                   # V1 paper, Tables 6 and 7
    (Variant("mobilenet_v1", 0.75, 224), 325),   # V1 paper, Table 6
    (Variant("mobilenet_v1", 0.5, 224), 149),
    (Variant("mobilenet_v1", 0.25, 224), 41),
    (Variant("mobilenet_v1", 1.0, 192), 418),    # V1 paper, Table 7
    (Variant("mobilenet_v1", 1.0, 160), 290),    # (291 by the rounding of our count)
    (Variant("mobilenet_v1", 1.0, 128), 186),
    (Variant("mobilenet_v2", 1.0, 224), 300),    # V2 paper, Table 6, and the TF-slim table
    (Variant("mobilenet_v2", 1.4, 224), 582),    # TF-slim checkpoints table
    (Variant("mobilenet_v2", 1.4, 224), 585),    # V2 paper, Table 6
    (Variant("mobilenet_v3_large", 1.0, 224), 217),   # keras.applications' table
    (Variant("mobilenet_v3_small", 1.0, 224), 56),    # V3 paper, Table 3 (keras' table: 66)
    (Variant("xception", 1.0, 299), 8400),
]

# The builders match keras.applications' counts (test_models), so the profiler's totals must
# add up to them: its 1.0-width models at their default resolutions.
KERAS_APPLICATIONS_PARAMS = {
    Variant(name, width, 299 if name == "xception" else 224): params
    for (name, width, minimalistic), params in conftest.KERAS_APPLICATIONS_PARAMS.items()
    if width == 1.0 and not minimalistic}


def _variant_id(value):
    if isinstance(value, Variant):
        return f"{value.model}-{value.width}-{value.resolution}"
    return str(value)


def _cli_lines(stderr):
    """stderr without TensorFlow's native start-up logging (cuda probes and the like), which
    appears before Python runs and which no flag of ours controls."""
    native = re.compile(r"^([IWEF]\d{4} |WARNING: All log messages before absl|To enable the)")
    return [line for line in stderr.splitlines() if line.strip() and not native.match(line)]


def _run_module(*args):
    return subprocess.run([sys.executable, "-m", "mobilenet_tf.profile", *args],
                          cwd=conftest.REPO_ROOT, capture_output=True, text=True, timeout=300,
                          check=False)


def _run_flags(*args):
    """The CLI in this process (so the cache of built models is shared), from default flags.

    profile.FLAGS is the module's own FlagValues, which absl's flagsaver does not restore, so
    every call starts from unparsed defaults and leaves them so for the next test."""
    profile.FLAGS.unparse_flags()
    try:
        profile.FLAGS(["profile", *args])
        return profile.run(profile.FLAGS)
    finally:
        profile.FLAGS.unparse_flags()


@pytest.mark.parametrize("variant, madds_m", GOLDEN_MADDS, ids=_variant_id)
def test_madds_match_the_papers(variant, madds_m):
    madds = profile.profile_variant(variant).total_madds
    assert madds == pytest.approx(madds_m * 1e6, rel=0.01)


@pytest.mark.parametrize("variant", KERAS_APPLICATIONS_PARAMS, ids=_variant_id)
def test_params_match_keras_applications(variant):
    assert profile.profile_variant(variant).total_params == KERAS_APPLICATIONS_PARAMS[variant]


def test_v1_params_without_batch_norm_match_the_paper():
    # The papers count 4.2M for V1 1.0: the weights without BN's four vectors per layer.
    result = profile.profile_variant(V1)
    assert result.total_params - result.params[profile.BN] == pytest.approx(4.2e6, rel=0.01)


def test_v1_table_2_resource_split():
    # Table 2 of arXiv:1704.04861. Its "Conv 3x3 1.19%" of MAdds reads as a transposition
    # of 1.91%: with 1.91 the column sums to 100.01%, with 1.19 to 99.29%.
    breakdown = profile.profile_variant(V1).breakdown()
    table_2 = {"Conv 1x1": (94.86, 74.59), "Conv dw": (3.06, 1.06),
               "Conv kxk": (1.91, 0.02), "Fully connected": (0.18, 24.33)}
    for category, (madds_pct, params_pct) in table_2.items():
        assert breakdown[category]["madds_pct"] == pytest.approx(madds_pct, abs=1.0), category
        assert breakdown[category]["params_pct"] == pytest.approx(params_pct, abs=1.0), category


@pytest.mark.parametrize("name, options", [
    ("mobilenet_v1", {"width": 0.5}),
    ("mobilenet_v2", {"width": 0.35}),
    ("mobilenet_v3_large", {}),
    ("mobilenet_v3_large", {"minimalistic": True}),
    ("mobilenet_v3_small", {"include_top": False}),
    ("xception", {}),
    ("squeezenet1_0", {}),
    ("squeezenet1_1", {"num_classes": 10}),
])
def test_params_add_up_to_count_params(name, options):
    with without_initial_weights():
        model = build(name, input_shape=(96, 96, 3), **options)
        result = profile.profile_model(model)
    assert result.total_params == model.count_params()
    assert result.params[profile.OTHER] == 0   # every weight has a category


def _hand_checked_model():
    inputs = keras.Input((8, 8, 4))
    x = layers.Conv2D(6, 3, padding="same", use_bias=False)(inputs)
    x = layers.BatchNormalization()(x)
    x = layers.DepthwiseConv2D(3, strides=2, padding="same", use_bias=False)(x)
    x = layers.BatchNormalization()(x)
    x = layers.ReLU()(x)
    x = layers.Conv2D(10, 1)(x)
    x = layers.SeparableConv2D(12, 3, padding="same")(x)
    x = layers.GlobalAveragePooling2D(keepdims=True)(x)
    x = layers.Conv2D(5, 1)(x)                      # on a 1x1 map: fully connected
    x = layers.Dense(3)(layers.Flatten()(x))
    return keras.Model(inputs, x)


def test_counting_convention_by_hand():
    result = profile.profile_model(_hand_checked_model())
    assert result.madds == {
        "Conv 1x1": 4 * 4 * 6 * 10 + 4 * 4 * 10 * 12,    # the 1x1 conv, separable's pointwise
        "Conv dw": 4 * 4 * 9 * 6 + 4 * 4 * 9 * 10,       # the depthwise, separable's depthwise
        "Conv kxk": 8 * 8 * 9 * 4 * 6,
        "Fully connected": 12 * 5 + 5 * 3, "Attention": 0,
        "Batch norm": 0, "Other": 0}
    assert result.params == {
        "Conv 1x1": (6 * 10 + 10) + (10 * 12 + 12), "Conv dw": 9 * 6 + 9 * 10,
        "Conv kxk": 9 * 4 * 6, "Fully connected": (12 * 5 + 5) + (5 * 3 + 3), "Attention": 0,
        "Batch norm": 4 * 6 + 4 * 6, "Other": 0}


def test_standard_conv_by_hand():
    # depthwise(6) + BN + 1x1(10, bias) -> 3x3 conv 6 -> 10 with bias, at 4x4, BN gone;
    # SeparableConv2D(10 -> 12, bias) -> 3x3 conv 10 -> 12 with bias.
    result = profile.standard_conv_profile(_hand_checked_model())
    assert result.pairs == ((9, 10), (9, 12))
    assert result.profile.madds["Conv kxk"] == 8 * 8 * 9 * 4 * 6 + 4 * 4 * 9 * (6 * 10 + 10 * 12)
    assert result.profile.madds["Conv 1x1"] == result.profile.madds["Conv dw"] == 0
    assert result.profile.params["Conv kxk"] == 9 * 4 * 6 + (9 * 6 * 10 + 10) + (9 * 10 * 12 + 12)
    assert result.profile.params["Batch norm"] == 4 * 6


def test_v1_standard_conv_matches_table_4():
    # Table 4 of arXiv:1704.04861: "Conv MobileNet" 29.3M parameters, 4866M MAdds.
    separable = profile.profile_variant(V1)
    standard = profile.profile_variant(V1, standard_conv=True)
    assert standard.profile.total_params == pytest.approx(29.3e6, rel=0.02)
    assert standard.profile.total_madds == pytest.approx(4866e6, rel=0.02)
    summary = profile.standard_conv_summary(separable, standard)
    assert summary["replaced"] == 13
    # Section 3.1: separable / standard = 1/N + 1/Dk^2 per layer, N = 64 .. 1024 here.
    assert summary["theory_min"] < summary["madds_ratio"] < summary["theory_max"]


def test_v1_standard_conv_cli_text():
    out = _run_flags("--model=v1", "--standard_conv")
    assert out.startswith("MobileNetV1 1.0-224")
    assert "29.31M parameters, 4867M multiply-adds" in out
    assert "1/N + 1/Dk^2: 0.112 .. 0.127" in out


def test_keras_applications_graph_with_raw_ops():
    # keras.applications' V3 computes hard-sigmoid as `x + 3.0`: raw keras.ops in the graph,
    # which count nothing. Its architecture is ours, so the counts must agree.
    small = keras.applications.MobileNetV3Small(weights=None, include_preprocessing=False,
                                                input_shape=(224, 224, 3))
    ours = profile.profile_variant(Variant("mobilenet_v3_small", 1.0, 224))
    assert profile.profile_model(small) == ours


def test_unknown_resolution_is_a_user_error():
    model = build("mobilenet_v2", include_top=False, input_shape=(None, None, 3))
    with pytest.raises(mobilenet_tf.UserError, match="fixed input resolution"):
        profile.profile_model(model)


def test_json_cli():
    result = _run_module("--model=v2", "--width=0.35", "--resolution=96", "--json")
    assert result.returncode == 0, result.stderr[-2000:]
    report = json.loads(result.stdout)
    assert {"model", "width", "resolution", "params", "madds", "breakdown"} <= set(report)
    assert (report["model"], report["width"], report["resolution"]) == ("mobilenet_v2", 0.35, 96)
    assert report["params"] == sum(row["params"] for row in report["breakdown"].values())
    assert report["madds"] == sum(row["madds"] for row in report["breakdown"].values())


def test_unknown_model_is_a_user_error():
    result = _run_module("--model=resnet50")
    assert result.returncode == 2
    lines = _cli_lines(result.stderr)
    assert len(lines) == 1 and lines[0].startswith("error: unknown model 'resnet50'"), lines


def test_missing_output_directory_is_a_user_error(tmp_path):
    with pytest.raises(mobilenet_tf.UserError, match="does not exist"):
        _run_flags(f"--plot={tmp_path / 'missing' / 'plot.png'}")


def _assert_png(path):
    with open(path, "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"
    assert os.path.getsize(path) > 10_000


def test_tradeoff_plot_and_table(tmp_path):
    out = _run_flags(f"--plot={tmp_path / 'tradeoff.png'}", "--table")
    _assert_png(tmp_path / "tradeoff.png")
    table = out.split("\n\n")[0].splitlines()
    assert table[0].startswith("| Model | Width | Resolution | Params (M) | MAdds (M) |")
    assert len(table) == 2 + 31   # header, rule, one row per paper setting
    assert "| MobileNetV1 | 1.0 | 224 | 4.25 | 569 | 569 | 70.6 |" in out


def test_relu_manifold_figure(tmp_path):
    _run_flags(f"--relu_manifold={tmp_path / 'relu.png'}")
    _assert_png(tmp_path / "relu.png")


def test_relu_loses_less_in_more_dimensions():
    # Figure 1 of arXiv:1801.04381: ReLU in 2 or 3 dimensions destroys the spiral; in 15
    # or 30 it survives. Averaged over draws of T, the loss falls with every step of n.
    points = plots.spiral()
    errors = [plots.mean_reconstruction_error(n, points) for n in plots.RELU_DIMS]
    assert errors == sorted(errors, reverse=True) and len(set(errors)) == len(errors)
    assert errors[-1] < 0.5 * errors[0]
    assert plots.relu_manifold(30, points, seed=1).shape == points.shape
