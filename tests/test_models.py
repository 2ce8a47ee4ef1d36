"""The builders as specifications: parameter counts against keras.applications and
torchvision, endpoint shapes per stride, dilation, options and their errors."""

import keras
import numpy as np
import pytest
from conftest import (KERAS_APPLICATIONS_PARAMS, check_model_contract, images,
                      keras_application, our_model)

from mobilenet_tf import UserError
from mobilenet_tf.models import ALIASES, build, entry, names, without_initial_weights

MODEL_NAMES = names("classification")
from mobilenet_tf.models.layers import StrideTracker, drop_path, make_divisible

KA = keras.applications


@pytest.mark.parametrize("name,width,minimalistic", sorted(KERAS_APPLICATIONS_PARAMS))
def test_params_match_keras_applications(name, width, minimalistic):
    with without_initial_weights():
        ours = our_model(name, width, minimalistic).count_params()
        theirs = keras_application(name, width, minimalistic).count_params()
    assert ours == KERAS_APPLICATIONS_PARAMS[name, width, minimalistic]
    assert ours == theirs


@pytest.mark.parametrize("name,params",
                         [("squeezenet1_0", 1_248_424), ("squeezenet1_1", 1_235_496)])
def test_squeezenet_params_match_torchvision(name, params):
    with without_initial_weights():
        assert build(name).count_params() == params


def test_aliases_build_the_same_networks():
    # build() finds its builder through entry(), so an alias on its model's row builds that
    # model (building all nine pairs cost 11 CPU s); one pair is built to show it.
    for alias, name in ALIASES.items():
        assert entry(alias) is entry(name), alias
    with without_initial_weights():
        a = build("v3_small", width=0.35, input_shape=(64, 64, 3))
        b = build("mobilenet_v3_small", width=0.35, input_shape=(64, 64, 3))
    assert [w.shape for w in a.weights] == [w.shape for w in b.weights]


# Endpoint channels at width 1.0: C2, C3, C4, C5 and the expansion SSDLite taps.
ENDPOINT_CHANNELS = {
    "mobilenet_v1": {"C2": 128, "C3": 256, "C4": 512, "C5": 1024},
    "mobilenet_v2": {"C2": 24, "C3": 32, "C4": 96, "C5": 1280, "C4_expand": 576},
    "mobilenet_v3_large": {"C2": 24, "C3": 40, "C4": 112, "C5": 960, "C4_expand": 672},
    "mobilenet_v3_small": {"C2": 16, "C3": 24, "C4": 48, "C5": 576, "C4_expand": 288},
    "xception": {"C2": 128, "C3": 256, "C4": 728, "C5": 2048},
    "squeezenet1_0": {"C2": 256, "C3": 512, "C4": 512},
    "squeezenet1_1": {"C2": 128, "C3": 256, "C4": 512},
    "mobilenet_v4_conv_small": {"C2": 32, "C3": 64, "C4": 96, "C5": 960, "C4_expand": 576},
    "mobilenet_v4_conv_medium": {"C2": 48, "C3": 80, "C4": 160, "C5": 960, "C4_expand": 960},
    "mobilenet_v4_conv_large": {"C2": 48, "C3": 96, "C4": 192, "C5": 960, "C4_expand": 768},
    "mobilenet_v4_hybrid_medium": {"C2": 48, "C3": 80, "C4": 160, "C5": 960,
                                   "C4_expand": 960},
    "mobilenet_v4_hybrid_large": {"C2": 48, "C3": 96, "C4": 192, "C5": 960, "C4_expand": 768},
}
LEVEL_STRIDE = {"C2": 4, "C3": 8, "C4": 16, "C5": 32, "C4_expand": 16}


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_endpoints_have_stride_two_to_the_level(name):
    size = 128
    backbone = build(name, features_only=True, input_shape=(size, size, 3))
    features = backbone(images(1, size))
    assert set(features) == set(ENDPOINT_CHANNELS[name])
    for key, channels in ENDPOINT_CHANNELS[name].items():
        height, width = features[key].shape[1:3]
        expected = size // LEVEL_STRIDE[key]
        if name == "xception":   # block 1 is two unpadded 3x3 convs: 128 -> 63 -> 61
            expected = {"C2": 31, "C3": 16, "C4": 8, "C5": 4, "C4_expand": 8}[key]
        if name.startswith("squeezenet"):   # unpadded stem, ceil-mode pools (torchvision's)
            expected = {"C2": 30 if name == "squeezenet1_0" else 31, "C3": 15, "C4": 7}[key]
        assert (height, width, features[key].shape[-1]) == (expected, expected, channels), key


@pytest.mark.parametrize("name", ["mobilenet_v1", "mobilenet_v2", "mobilenet_v3_large",
                                  "mobilenet_v3_small", "xception"])
@pytest.mark.parametrize("output_stride", [8, 16])
def test_dilation_gives_the_intended_output_stride(name, output_stride):
    # 131 for Xception: its unpadded stem takes 131 to 63, then 32, 16 (C3), 8, 4.
    size = 131 if name == "xception" else 128
    options = {} if name == "xception" else {"width": 0.5}
    dilated = build(name, features_only=True, output_stride=output_stride,
                    input_shape=(size, size, 3), **options)
    with without_initial_weights():   # only its weights' shapes are compared
        plain = build(name, features_only=True, input_shape=(size, size, 3), **options)
    assert [w.shape for w in dilated.weights] == [w.shape for w in plain.weights]
    features = dilated(images(1, size))
    # Levels up to the output stride keep their size; deeper ones stay at the output stride.
    assert features["C3"].shape[1] == 16
    assert features["C4"].shape[1] == 128 // min(16, output_stride)
    assert features["C5"].shape[1] == 128 // output_stride
    rates = [layer.dilation_rate[0] for layer in dilated.layers
             if hasattr(layer, "dilation_rate")]
    assert max(rates) == 32 // output_stride


def test_squeezenet_dilates_to_output_stride_8():
    features = build("squeezenet1_1", features_only=True, output_stride=8,
                     input_shape=(128, 128, 3))(images(1, 128))
    assert features["C4"].shape[1] == features["C3"].shape[1] == 15


@pytest.mark.parametrize("size", [96, 150, 224, 257, 320])
def test_any_resolution(size):
    model = build("mobilenet_v3_small", width=0.5, input_shape=(size, size, 3), num_classes=7)
    assert model(images(1, size)).shape == (1, 7)


def test_unknown_spatial_size_runs_at_several_resolutions():
    model = build("mobilenet_v2", width=0.35, input_shape=(None, None, 3), num_classes=5)
    for size in (64, 97, 160):
        assert model(images(1, size)).shape == (1, 5)


@pytest.mark.parametrize("pooling,shape", [(None, (1, 2, 2, 1280)), ("avg", (1, 1280)),
                                           ("max", (1, 1280))])
def test_headless_pooling(pooling, shape):
    model = build("v2", width=0.35, include_top=False, pooling=pooling, input_shape=(64, 64, 3))
    assert model(images(1, 64)).shape == shape


def test_v2_keeps_1280_last_channels_below_width_one_and_scales_above():
    with without_initial_weights():
        assert build("v2", width=0.35, include_top=False).output.shape[-1] == 1280
        assert build("v2", width=1.4, include_top=False).output.shape[-1] == 1792


def test_v1_width_is_any_positive_float_and_depth_multiplier_widens_depthwise():
    with without_initial_weights():
        model = build("v1", width=0.6, input_shape=(64, 64, 3))
        deep = build("v1", width=0.25, depth_multiplier=2, input_shape=(64, 64, 3))
    assert model.get_layer("conv_pw_13").filters == int(1024 * 0.6)
    assert deep.get_layer("conv_dw_1").output.shape[-1] == 2 * int(32 * 0.25)


def test_minimalistic_has_no_se_no_hard_swish_and_only_3x3_kernels():
    with without_initial_weights():
        model = build("v3_large", minimalistic=True, input_shape=(64, 64, 3))
        full = build("v3_large", input_shape=(64, 64, 3))
    names = [layer.name for layer in model.layers]
    assert not [n for n in names if "squeeze_excite" in n or "hard_swish" in n]
    kernels = {layer.kernel_size for layer in model.layers
               if isinstance(layer, keras.layers.DepthwiseConv2D)}
    assert kernels == {(3, 3)}
    assert any("squeeze_excite" in layer.name for layer in full.layers)
    assert (5, 5) in {layer.kernel_size for layer in full.layers
                      if isinstance(layer, keras.layers.DepthwiseConv2D)}


def test_reduced_tail_halves_the_last_stage():
    with without_initial_weights():
        features = build("v3_large", reduced_tail=True, features_only=True,
                         input_shape=(64, 64, 3)).output
        head = build("v3_large", reduced_tail=True, input_shape=(64, 64, 3))
    assert features["C5"].shape[-1] == 480 and features["C4"].shape[-1] == 112
    assert features["C4_expand"].shape[-1] == 672   # the first block's input side is kept
    assert head.get_layer("conv_2").filters == 640


def test_v2_activation_override_and_bn_options():
    with without_initial_weights():
        model = build("v2", width=0.35, activation="relu", bn_momentum=0.9, bn_epsilon=1e-5,
                      input_shape=(64, 64, 3))
    relus = [layer for layer in model.layers if isinstance(layer, keras.layers.ReLU)]
    assert relus and all(layer.max_value is None for layer in relus)
    bns = [layer for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)]
    assert {(bn.momentum, bn.epsilon) for bn in bns} == {(0.9, 1e-5)}


def test_v2_zero_init_residual_starts_every_shortcut_block_as_the_identity():
    with without_initial_weights():
        plain = build("v2", width=0.35, input_shape=(32, 32, 3), num_classes=6)
    model = build("v2", width=0.35, input_shape=(32, 32, 3), num_classes=6,
                  zero_init_residual=True)
    assert model.count_params() == plain.count_params()   # an initialisation, not a layer
    adds = [layer for layer in model.layers if layer.name.endswith("_add")]
    assert len(adds) == 10                                 # Table 2: 17 blocks, 10 with shortcuts
    for add in adds:
        gamma = model.get_layer(add.name.replace("_add", "_project_BN")).gamma
        assert not np.any(keras.ops.convert_to_numpy(gamma))
        # The block's output is its input, in training and in inference mode.
        probe = keras.Model(model.inputs, [add.input[0], add.output])
        for training in (False, True):
            shortcut, output = probe(images(2, 32), training=training)
            np.testing.assert_allclose(output, shortcut, atol=1e-6)
    # Blocks without a shortcut keep their scale: the network is not zeroed.
    assert np.all(keras.ops.convert_to_numpy(model.get_layer("block_1_project_BN").gamma) == 1)


def test_include_preprocessing_maps_0_255_to_minus_1_1():
    raw = build("v3_small", width=0.5, input_shape=(64, 64, 3), include_preprocessing=True)
    plain = build("v3_small", width=0.5, input_shape=(64, 64, 3))
    plain.set_weights(raw.get_weights())
    x = images(2, 64)
    np.testing.assert_allclose(raw((x + 1.0) * 127.5), plain(x), atol=1e-4)


def test_classifier_activation_softmax_gives_probabilities():
    model = build("v3_small", width=0.5, input_shape=(64, 64, 3), num_classes=10,
                  classifier_activation="softmax")
    np.testing.assert_allclose(np.sum(model(images(3, 64)), axis=-1), 1.0, atol=1e-5)


def test_keras_applications_layer_names_are_kept():
    ours = {layer.name for layer in build("v2", width=0.5, input_shape=(96, 96, 3)).layers
            if layer.weights}
    theirs = {layer.name for layer in KA.MobileNetV2(weights=None, alpha=0.5,
                                                     input_shape=(96, 96, 3)).layers
              if layer.weights}
    assert ours == theirs


@pytest.mark.parametrize("name,options", [
    ("mobilenet_v1", {"width": 0.25}),
    ("mobilenet_v2", {"width": 0.35}),
    ("mobilenet_v3_large", {"width": 0.35}),
    ("mobilenet_v3_small", {"width": 0.35, "minimalistic": True}),
    ("xception", {}),
    ("squeezenet1_0", {}),
    ("squeezenet1_1", {}),
])
def test_model_contract(name, options, tmp_path):
    size = 71 if name == "xception" else 64
    outputs = check_model_contract(
        lambda: build(name, input_shape=(size, size, 3), num_classes=10, **options),
        size, tmp_path)
    assert [o.dtype for o in outputs] == ["float32"]


def test_backbone_contract(tmp_path):
    outputs = check_model_contract(
        lambda: build("v3_small", width=0.35, features_only=True, input_shape=(64, 64, 3)),
        64, tmp_path)
    assert len(outputs) == 5


# --- the small pieces -------------------------------------------------------------------

@pytest.mark.parametrize("name", ["mobilenet_v1", "mobilenet_v2", "mobilenet_v3_large",
                                  "mobilenet_v3_small", "xception"])
def test_fresh_models_keep_their_signal_in_inference_mode(name):
    # He initialisation over fan-out: a fresh model's features still differ between images
    # when BN uses its initial moving statistics. Keras's default (Glorot) shrinks every
    # depthwise layer's output by its channel count: features of ~1e-20 for V1, and moving
    # variances that take thousands of training steps to follow.
    model = build(name, input_shape=(96, 96, 3), include_top=False, pooling="avg")
    features = np.asarray(model(images(8, 96), training=False))
    assert features.std(axis=0).mean() > 1e-5
    assert np.all(np.isfinite(features)) and np.abs(features).mean() < 100


def test_make_divisible():
    assert [make_divisible(v) for v in (3, 12, 16 * 0.35, 32 * 1.4, 91.2, 1280 * 1.4)] == \
        [8, 16, 8, 48, 88, 1792]
    assert make_divisible(10, 8) == 16   # rounding 10 down to 8 would lose more than 10%


def test_stride_tracker_turns_strides_into_dilation():
    tracker = StrideTracker(output_stride=8)
    steps = [tracker.step(s) for s in (2, 2, 2, 1, 2, 1, 2, 1)]
    assert steps == [(2, 1), (2, 1), (2, 1), (1, 1), (1, 1), (1, 2), (1, 2), (1, 4)]
    assert tracker.level == 5 and tracker.stride == 8


def test_drop_path_drops_whole_samples_keeps_the_mean_and_is_the_identity_at_inference():
    inputs = keras.Input((2, 2, 3))
    model = keras.Model(inputs, drop_path(inputs, 0.25, "block_"))
    assert model.layers[-1].name == "block_drop_path"
    assert drop_path(inputs, 0.0, "block_") is inputs   # rate 0: no layer at all
    x = np.random.default_rng(0).uniform(1, 2, (4000, 2, 2, 3)).astype("float32")
    out = np.asarray(model(x, training=True))
    # Each sample is either dropped whole or kept whole, scaled by 1 / keep.
    dropped = np.all(out == 0, axis=(1, 2, 3))
    kept = np.all(np.isclose(out, x / 0.75, rtol=1e-6), axis=(1, 2, 3))
    assert np.all(dropped ^ kept)
    assert abs(dropped.mean() - 0.25) < 0.03   # binomial std 0.007 at 4000 samples
    assert abs(out.mean() / x.mean() - 1) < 0.03   # the expected value is unchanged
    assert not np.array_equal(out, np.asarray(model(x, training=True)))   # a new draw each call
    np.testing.assert_array_equal(model(x, training=False), x)


def test_v3_drop_path_follows_timms_linear_schedule_on_the_residual_blocks_only():
    with without_initial_weights():   # counted and its layers read, never run
        plain = build("v3_small", width=0.35, input_shape=(32, 32, 3))
        model = build("v3_small", width=0.35, input_shape=(32, 32, 3), drop_path_rate=0.2)
    assert model.count_params() == plain.count_params()
    rates = {layer.name: layer.rate for layer in model.layers if "drop_path" in layer.name}
    residual = [layer.name[:-len("add")] for layer in model.layers if layer.name.endswith("_add")]
    assert sorted(rates) == sorted(prefix + "drop_path" for prefix in residual) and rates
    # timm: block i of its 12 (V3-Small's 11 bnecks, then the 1x1 conv to 576) at 0.2 * i / 12.
    for name, rate in rates.items():
        block = int(name.split("_")[2])
        assert rate == pytest.approx(0.2 * block / 12), name


# --- bad input --------------------------------------------------------------------------

@pytest.mark.parametrize("name,options,message", [
    ("mobilenet_v4", {}, "unknown model 'mobilenet_v4'; valid names: mobilenet_v1"),
    ("v2", {"width": 0}, "width must be a positive number"),
    ("v2", {"width": "wide"}, "width must be a positive number"),
    ("v2", {"minimalistic": True}, "model 'mobilenet_v2' has no option 'minimalistic'"),
    ("xception", {"width": 0.5}, "model 'xception' has no option 'width'"),
    ("v3_small", {"output_stride": 4},
     "output_stride for mobilenet_v3_small must be one of 8, 16, 32"),
    ("squeezenet1_1", {"output_stride": 32}, "must be one of 8, 16"),
    ("v2", {"input_shape": (16, 16, 3)}, "needs an input of at least 32x32"),
    ("xception", {"input_shape": (64, 64, 3)}, "needs an input of at least 71x71"),
    ("v2", {"pooling": "mean"}, "pooling must be None, 'avg' or 'max'"),
    ("v2", {"num_classes": 0}, "num_classes must be a positive integer"),
    ("v1", {"activation": "mish"}, "activation must be one of relu, relu6"),
    ("v1", {"dropout": 1.5}, "dropout must be in [0, 1)"),
    ("v3_small", {"drop_path_rate": 1.0}, "drop_path_rate must be in [0, 1)"),
    ("v4_conv_small", {"drop_path_schedule": "cosine"},
     "drop_path_schedule must be one of linear, constant"),
    ("v2", {"drop_path_rate": 0.1}, "model 'mobilenet_v2' has no option 'drop_path_rate'"),
])
def test_bad_options_raise_one_clear_error(name, options, message):
    with pytest.raises(UserError) as error:
        build(name, **options)
    assert message in str(error.value)
    assert "\n" not in str(error.value)
