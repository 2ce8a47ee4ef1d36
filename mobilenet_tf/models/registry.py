"""The model registry: one row per model, and nothing else in the code lists models.

    entry = registry.entry("v2")          # aliases too; UserError listing the valid names
    model = entry.build(width=0.35, input_shape=(80, 80, 3), num_classes=6)

A row says everything the rest of the code needs to know about a model: its task (which
`mobilenet_tf.tasks.TASKS` entry trains, evaluates and exports it), its builder, the
classifier whose ImageNet weights its backbone takes (`backbone`), the layers that are new
when weights are loaded (`new_layers`, name prefixes: what `--init_from` leaves as
initialised and `--freeze_backbone` leaves trainable), and its recipes in configs/ per
dataset. config.py, the tasks, export, profile, the benchmarks and the tests read the rows;
adding a model is adding a row.
"""
import dataclasses
from typing import Callable, Optional

from mobilenet_tf import UserError
from mobilenet_tf.heads.deeplab import build_deeplabv3_v2
from mobilenet_tf.heads.lraspp import (build_lraspp_v3_large, build_lraspp_v3_small,
                                       build_lraspp_v4_conv_medium)
from mobilenet_tf.heads.ssdlite import (build_ssdlite_v2, build_ssdlite_v3_large,
                                        build_ssdlite_v3_small, build_ssdlite_v4_conv_medium)
from mobilenet_tf.models.mobilenet_v1 import build_mobilenet_v1
from mobilenet_tf.models.mobilenet_v2 import build_mobilenet_v2
from mobilenet_tf.models.mobilenet_v3 import build_mobilenet_v3_large, build_mobilenet_v3_small
from mobilenet_tf.models import mobilenet_v4
from mobilenet_tf.models.squeezenet import build_squeezenet1_0, build_squeezenet1_1
from mobilenet_tf.models.xception import build_xception


@dataclasses.dataclass(frozen=True)
class ModelEntry:
    """One model: what builds it, which task runs it, and which recipes train it."""
    name: str
    task: str                       # "classification" | "detection" | "segmentation"
    build: Callable                 # keyword options -> keras.Model
    paper: str                      # where the architecture comes from
    aliases: tuple = ()
    # The classifier whose ImageNet weights this model's backbone takes (itself for a
    # classifier), and that classifier's keras.applications constructor, if it has one.
    backbone: Optional[str] = None
    keras_application: Optional[str] = None
    new_layers: tuple = ()          # name prefixes of the layers not in `backbone`'s weights
    recipes: dict = dataclasses.field(default_factory=dict)   # dataset -> configs/ file
    other_data_recipe: str = ""     # the recipe for a dataset not in `recipes` (your own)
    variants: tuple = ()            # further recipes of this model (papers, other references)

    @property
    def shapes_recipe(self):
        """The recipe `python train.py --model=NAME` (the built-in Shapes data) runs."""
        return self.recipes["shapes"]

    def recipe_for(self, dataset):
        """The configs/ file --dataset=`dataset` picks for this model without --config."""
        return self.recipes.get(dataset, self.other_data_recipe)

    def all_recipes(self):
        """Every recipe file of this model, default ones first."""
        return tuple(dict.fromkeys((*self.recipes.values(), self.other_data_recipe,
                                    *self.variants)))


# The classifier layers that keras.applications' include_top=False models lack.
_V1_HEAD, _V2_HEAD, _V3_HEAD = ("conv_preds",), ("predictions",), ("conv_2", "logits")
_SQUEEZENET_HEAD = ("conv10",)
_V4_HEAD = ("head_conv", "logits")
_SSDLITE_HEAD = ("extra_", "box_predictor_", "class_predictor_")
_LRASPP_HEAD = ("lraspp_", "logits")
_DEEPLAB_HEAD = ("aspp", "image_pooling", "concat_projection", "logits")
# Recipes for your own data, which derive their settings from it (their finalize()).
_FINETUNE = "finetune.py"
_OWN_DETECTION = "own_detection.py"
_OWN_SEGMENTATION = "own_segmentation.py"


def _v4(variant, shapes_recipe):
    """The row of MobileNetV4 `variant` (a mobilenet_v4.SPECS key): alias v4_<variant>,
    Model Garden's ImageNet recipe, no keras.applications weights (timm's import)."""
    return ModelEntry(f"mobilenet_v4_{variant}", "classification",
                      getattr(mobilenet_v4, f"build_mobilenet_v4_{variant}"),
                      "arXiv:2404.10518", aliases=(f"v4_{variant}",),
                      backbone=f"mobilenet_v4_{variant}", new_layers=_V4_HEAD,
                      recipes={"imagenet": "mobilenet_v4_imagenet.py",
                               "shapes": shapes_recipe},
                      other_data_recipe=_FINETUNE)


MODELS = (
    # -- Classification -----------------------------------------------------------------------
    ModelEntry("mobilenet_v1", "classification", build_mobilenet_v1, "arXiv:1704.04861",
               aliases=("v1",), backbone="mobilenet_v1", keras_application="MobileNet",
               new_layers=_V1_HEAD,
               recipes={"imagenet": "mobilenet_v1_imagenet.py", "shapes": "shapes_cls_v1.py"},
               other_data_recipe=_FINETUNE, variants=("mobilenet_v1_imagenet_paper.py",)),
    ModelEntry("mobilenet_v2", "classification", build_mobilenet_v2, "arXiv:1801.04381",
               aliases=("v2",), backbone="mobilenet_v2", keras_application="MobileNetV2",
               new_layers=_V2_HEAD,
               recipes={"imagenet": "mobilenet_v2_imagenet.py", "shapes": "shapes_cls_v2.py"},
               other_data_recipe=_FINETUNE, variants=("mobilenet_v2_imagenet_paper.py",)),
    ModelEntry("mobilenet_v3_large", "classification", build_mobilenet_v3_large,
               "arXiv:1905.02244", aliases=("v3_large",), backbone="mobilenet_v3_large",
               keras_application="MobileNetV3Large", new_layers=_V3_HEAD,
               recipes={"imagenet": "mobilenet_v3_large_imagenet.py",
                        "shapes": "shapes_cls.py"},
               other_data_recipe=_FINETUNE,
               variants=("mobilenet_v3_large_imagenet_paper.py",
                         "mobilenet_v3_large_imagenet_timm.py")),
    ModelEntry("mobilenet_v3_small", "classification", build_mobilenet_v3_small,
               "arXiv:1905.02244", aliases=("v3_small",), backbone="mobilenet_v3_small",
               keras_application="MobileNetV3Small", new_layers=_V3_HEAD,
               recipes={"imagenet": "mobilenet_v3_small_imagenet.py",
                        "shapes": "shapes_cls.py"},
               other_data_recipe=_FINETUNE, variants=("mobilenet_v3_small_imagenet_paper.py",)),
    ModelEntry("xception", "classification", build_xception, "arXiv:1610.02357",
               backbone="xception", keras_application="Xception", new_layers=_V2_HEAD,
               recipes={"imagenet": "xception_imagenet.py",
                        "shapes": "shapes_cls_xception.py"},
               other_data_recipe=_FINETUNE),
    ModelEntry("squeezenet1_0", "classification", build_squeezenet1_0, "arXiv:1602.07360",
               backbone="squeezenet1_0", new_layers=_SQUEEZENET_HEAD,
               recipes={"imagenet": "squeezenet_imagenet.py",
                        "shapes": "shapes_cls_squeezenet.py"},
               other_data_recipe=_FINETUNE),
    ModelEntry("squeezenet1_1", "classification", build_squeezenet1_1, "arXiv:1602.07360",
               backbone="squeezenet1_1", new_layers=_SQUEEZENET_HEAD,
               recipes={"imagenet": "squeezenet_imagenet.py",
                        "shapes": "shapes_cls_squeezenet.py"},
               other_data_recipe=_FINETUNE),
    # -- MobileNetV4 (arXiv:2404.10518): the paper's five; ImageNet weights from timm ----------
    _v4("conv_small", "shapes_cls_v4.py"),
    _v4("conv_medium", "shapes_cls_v4_large.py"),
    _v4("conv_large", "shapes_cls_v4_large.py"),
    _v4("hybrid_medium", "shapes_cls_v4_large.py"),
    _v4("hybrid_large", "shapes_cls_v4_large.py"),
    # -- Detection: SSDLite (V2 paper 6.2, V3 paper 6.3) --------------------------------------
    ModelEntry("ssdlite_v2", "detection", build_ssdlite_v2, "arXiv:1801.04381 (6.2)",
               backbone="mobilenet_v2", keras_application="MobileNetV2",
               new_layers=_SSDLITE_HEAD,
               recipes={"coco": "ssdlite_v2_coco.py", "shapes": "shapes_det.py"},
               other_data_recipe=_OWN_DETECTION),
    ModelEntry("ssdlite_v3_large", "detection", build_ssdlite_v3_large,
               "arXiv:1905.02244 (6.3)", backbone="mobilenet_v3_large",
               keras_application="MobileNetV3Large", new_layers=_SSDLITE_HEAD,
               recipes={"coco": "ssdlite_v3_large_coco.py", "shapes": "shapes_det.py"},
               other_data_recipe=_OWN_DETECTION,
               variants=("ssdlite_v3_large_coco_torchvision.py",)),
    ModelEntry("ssdlite_v3_small", "detection", build_ssdlite_v3_small,
               "arXiv:1905.02244 (6.3)", backbone="mobilenet_v3_small",
               keras_application="MobileNetV3Small", new_layers=_SSDLITE_HEAD,
               recipes={"coco": "ssdlite_v3_small_coco.py", "shapes": "shapes_det.py"},
               other_data_recipe=_OWN_DETECTION),
    ModelEntry("ssdlite_v4_conv_medium", "detection", build_ssdlite_v4_conv_medium,
               "arXiv:2404.10518 + arXiv:1905.02244 (6.3)", backbone="mobilenet_v4_conv_medium",
               new_layers=_SSDLITE_HEAD, recipes={"shapes": "shapes_det.py"},
               other_data_recipe=_OWN_DETECTION),
    # -- Segmentation: LR-ASPP (V3 paper 6.4), Mobile DeepLabv3 (V2 paper 6.3) ----------------
    ModelEntry("lraspp_v3_large", "segmentation", build_lraspp_v3_large,
               "arXiv:1905.02244 (6.4)", backbone="mobilenet_v3_large",
               keras_application="MobileNetV3Large", new_layers=_LRASPP_HEAD,
               recipes={"cityscapes": "lraspp_v3_large_cityscapes.py",
                        "shapes": "shapes_seg.py"},
               other_data_recipe=_OWN_SEGMENTATION),
    ModelEntry("lraspp_v3_small", "segmentation", build_lraspp_v3_small,
               "arXiv:1905.02244 (6.4)", backbone="mobilenet_v3_small",
               keras_application="MobileNetV3Small", new_layers=_LRASPP_HEAD,
               recipes={"cityscapes": "lraspp_v3_small_cityscapes.py",
                        "shapes": "shapes_seg.py"},
               other_data_recipe=_OWN_SEGMENTATION),
    ModelEntry("lraspp_v4_conv_medium", "segmentation", build_lraspp_v4_conv_medium,
               "arXiv:2404.10518 + arXiv:1905.02244 (6.4)", backbone="mobilenet_v4_conv_medium",
               new_layers=_LRASPP_HEAD, recipes={"shapes": "shapes_seg.py"},
               other_data_recipe=_OWN_SEGMENTATION),
    ModelEntry("deeplabv3_v2", "segmentation", build_deeplabv3_v2, "arXiv:1801.04381 (6.3)",
               backbone="mobilenet_v2", keras_application="MobileNetV2",
               new_layers=_DEEPLAB_HEAD,
               recipes={"voc2012": "deeplabv3_v2_voc.py", "shapes": "shapes_seg_deeplab.py"},
               other_data_recipe=_OWN_SEGMENTATION),
)
REGISTRY = {row.name: row for row in MODELS}
ALIASES = {alias: row.name for row in MODELS for alias in row.aliases}


def canonical_name(name):
    """The registry name for `name` or its alias; UserError listing the valid ones."""
    name = ALIASES.get(name, name)
    if name not in REGISTRY:
        valid = ", ".join(n for row in MODELS for n in (row.name, *row.aliases))
        raise UserError(f"unknown model {name!r}; valid names: {valid}")
    return name


def entry(name):
    """The registry row of model `name` (or its alias)."""
    return REGISTRY[canonical_name(name)]


def names(task=None):
    """The registry names, in registry order; only `task`'s models when given."""
    return tuple(row.name for row in MODELS if task is None or row.task == task)
