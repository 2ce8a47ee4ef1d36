"""ImageNet top-1 accuracies and multiply-adds as their sources report them, one row per
published model, for the profiler's table and its accuracy-vs-MAdds plot.

These are other people's numbers, cited row by row; `python -m mobilenet_tf.profile --table`
puts our own computed MAdds next to them. Top-1 in percent, MAdds in millions.
"""

import typing


class Reported(typing.NamedTuple):
    """One published figure: a model setting, its top-1 and MAdds, and where they come from."""
    family: str                 # a canonical name of mobilenet_tf.models.build
    width: float
    resolution: int
    top1: float                 # ImageNet top-1 accuracy, percent
    madds_m: float              # multiply-adds, millions, as the source reports them
    source: str
    minimalistic: bool = False  # MobileNetV3's variant without SE, hard-swish and 5x5


class Variant(typing.NamedTuple):
    """One model setting: a canonical model name, width multiplier, input resolution."""
    model: str
    width: float
    resolution: int
    minimalistic: bool = False


V1_PAPER = ("MobileNets paper (arXiv:1704.04861), Table 6 (width) and Table 7 "
            "(resolution)")
V2_SLIM = ("TF-slim mobilenet_v2 checkpoints table (tensorflow/models "
           "research/slim/nets/mobilenet/README.md), the weights keras.applications loads")
V3_KERAS = ("keras.applications MobileNetV3 docstring table (the TF-slim mobilenet_v3 "
            "checkpoints keras.applications loads)")
V3_PAPER = "MobileNetV3 paper (arXiv:1905.02244), Table 3"
V4_PAPER = ("MobileNetV4 paper (arXiv:2404.10518), Table 5 (ImageNet-1k: top-1, MACs in "
            "billions to one decimal, at each model's resolution)")
XCEPTION = ("keras.applications Xception docs (79.0 top-1); 8.4G MAdds is the figure "
            "usually quoted for Xception at 299, not a table of the Xception paper")
SQUEEZENET_1_0 = ("torchvision SqueezeNet1_0_Weights.IMAGENET1K_V1 (acc@1 58.092, "
                  "0.82 GFLOPS)")
SQUEEZENET_1_1 = ("torchvision SqueezeNet1_1_Weights.IMAGENET1K_V1 (acc@1 58.178, "
                  "0.35 GFLOPS)")
# How the Markdown table and the plot's legend name each source.
SHORT_SOURCES = {V1_PAPER: "V1 paper, Tables 6-7", V2_SLIM: "TF-slim V2 checkpoints",
                 V3_KERAS: "keras.applications (TF-slim V3 checkpoints)",
                 V3_PAPER: "V3 paper, Table 3", V4_PAPER: "V4 paper, Table 5",
                 XCEPTION: "keras.applications",
                 SQUEEZENET_1_0: "torchvision", SQUEEZENET_1_1: "torchvision"}

REPORTED = (
    # MobileNet V1, width multiplier at 224 (Table 6), then resolution at width 1.0 (Table 7).
    #        family          width  res  top1  MAdds
    Reported("mobilenet_v1", 1.0, 224, 70.6, 569, V1_PAPER),
    Reported("mobilenet_v1", 0.75, 224, 68.4, 325, V1_PAPER),
    Reported("mobilenet_v1", 0.5, 224, 63.7, 149, V1_PAPER),
    Reported("mobilenet_v1", 0.25, 224, 50.6, 41, V1_PAPER),
    Reported("mobilenet_v1", 1.0, 192, 69.1, 418, V1_PAPER),
    Reported("mobilenet_v1", 1.0, 160, 67.2, 290, V1_PAPER),
    Reported("mobilenet_v1", 1.0, 128, 64.4, 186, V1_PAPER),
    # MobileNet V2. The paper's Table 6 gives 1.0-224 72.0 / 300M and 1.4-224 74.7 / 585M;
    # the released checkpoints' table below is what the downloadable weights achieve.
    Reported("mobilenet_v2", 1.4, 224, 75.0, 582, V2_SLIM),
    Reported("mobilenet_v2", 1.3, 224, 74.4, 509, V2_SLIM),
    Reported("mobilenet_v2", 1.0, 224, 71.8, 300, V2_SLIM),
    Reported("mobilenet_v2", 0.75, 224, 69.8, 209, V2_SLIM),
    Reported("mobilenet_v2", 0.5, 224, 65.4, 97, V2_SLIM),
    Reported("mobilenet_v2", 0.35, 224, 60.3, 59, V2_SLIM),
    Reported("mobilenet_v2", 1.0, 192, 70.7, 221, V2_SLIM),
    Reported("mobilenet_v2", 1.0, 160, 68.8, 154, V2_SLIM),
    Reported("mobilenet_v2", 1.0, 128, 65.3, 99, V2_SLIM),
    Reported("mobilenet_v2", 1.0, 96, 60.3, 56, V2_SLIM),
    # MobileNet V3: the checkpoints keras.applications loads, then the paper. For Small the
    # two disagree: the TF-slim table says 66M (1.0) and 65M (minimalistic), the paper 56M.
    # The papers' convention on the architecture keras.applications builds gives 56.5M and
    # 52.3M; counting every hard-swish, SE multiply and add as well adds under 3M, so 66M
    # and 65M do not reproduce, and the paper's 56M does.
    Reported("mobilenet_v3_large", 1.0, 224, 75.6, 217, V3_KERAS),
    Reported("mobilenet_v3_large", 0.75, 224, 73.3, 155, V3_KERAS),
    Reported("mobilenet_v3_large", 1.0, 224, 72.3, 209, V3_KERAS, minimalistic=True),
    Reported("mobilenet_v3_small", 1.0, 224, 68.1, 66, V3_KERAS),
    Reported("mobilenet_v3_small", 0.75, 224, 65.4, 44, V3_KERAS),
    Reported("mobilenet_v3_small", 1.0, 224, 61.9, 65, V3_KERAS, minimalistic=True),
    Reported("mobilenet_v3_large", 1.0, 224, 75.2, 219, V3_PAPER),
    Reported("mobilenet_v3_small", 1.0, 224, 67.4, 56, V3_PAPER),
    # MobileNet V4 at the paper's resolutions. Its MACs have one decimal in billions (0.2G
    # is 150-250M): see README "MobileNetV4" for ours beside timm's and the rounding.
    Reported("mobilenet_v4_conv_small", 1.0, 224, 73.8, 200, V4_PAPER),
    Reported("mobilenet_v4_conv_medium", 1.0, 256, 79.9, 1000, V4_PAPER),
    Reported("mobilenet_v4_hybrid_medium", 1.0, 256, 80.7, 1200, V4_PAPER),
    Reported("mobilenet_v4_conv_large", 1.0, 384, 82.9, 5900, V4_PAPER),
    Reported("mobilenet_v4_hybrid_large", 1.0, 384, 83.4, 7200, V4_PAPER),
    # Xception and SqueezeNet: the baselines the MobileNet papers compare against.
    Reported("xception", 1.0, 299, 79.0, 8400, XCEPTION),
    Reported("squeezenet1_0", 1.0, 224, 58.092, 820, SQUEEZENET_1_0),
    Reported("squeezenet1_1", 1.0, 224, 58.178, 350, SQUEEZENET_1_1),
)


DISPLAY_NAMES = {"mobilenet_v1": "MobileNetV1", "mobilenet_v2": "MobileNetV2",
                 "mobilenet_v3_large": "MobileNetV3-Large",
                 "mobilenet_v3_small": "MobileNetV3-Small", "xception": "Xception",
                 "squeezenet1_0": "SqueezeNet 1.0", "squeezenet1_1": "SqueezeNet 1.1",
                 "mobilenet_v4_conv_small": "MobileNetV4-Conv-S",
                 "mobilenet_v4_conv_medium": "MobileNetV4-Conv-M",
                 "mobilenet_v4_conv_large": "MobileNetV4-Conv-L",
                 "mobilenet_v4_hybrid_medium": "MobileNetV4-Hybrid-M",
                 "mobilenet_v4_hybrid_large": "MobileNetV4-Hybrid-L",
                 "lraspp_v3_large": "MobileNetV3-Large LR-ASPP",
                 "lraspp_v3_small": "MobileNetV3-Small LR-ASPP",
                 "deeplabv3_v2": "MobileNetV2 DeepLabv3"}


def variant_of(row):
    """The Variant a Reported row is about."""
    return Variant(row.family, row.width, row.resolution, row.minimalistic)


def lookup(variant):
    """The rows of REPORTED about one Variant (possibly several sources), in order."""
    return tuple(row for row in REPORTED if variant_of(row) == variant)


def label(model, minimalistic=False):
    """The papers' name of a model family: "MobileNetV3-Large minimalistic"."""
    return DISPLAY_NAMES[model] + (" minimalistic" if minimalistic else "")


# Every setting REPORTED cites, once each, in the order above: the profiler's table.
PAPER_VARIANTS = tuple(dict.fromkeys(variant_of(row) for row in REPORTED))
