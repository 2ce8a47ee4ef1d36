"""The recipes in configs/: each loads, has exactly base()'s fields, and says what to expect.

The golden table below is the specification of the published recipes: change a value there
only together with the source the recipe's docstring cites.
"""
import glob
import os
import re

import ml_collections
import pytest

from configs import common
from mobilenet_tf import config as config_lib

CONFIG_DIR = config_lib.CONFIG_DIR
RECIPES = sorted(
    os.path.basename(path) for path in glob.glob(os.path.join(CONFIG_DIR, "*.py"))
    if os.path.basename(path) not in ("common.py", "__init__.py"))
OPEN_SECTIONS = config_lib.OPEN_SECTIONS   # free-form: one leaf each
OPTIMIZERS = ("sgd", "rmsprop", "adam", "adamw")            # mobilenet_tf.optim.OPTIMIZERS
SCHEDULES = ("constant", "cosine", "exponential", "linear", "poly")  # mobilenet_tf.optim.SCHEDULES


@pytest.fixture(autouse=True)
def _fresh_keras_state():
    """No Keras here: replaces conftest's per-test Keras reset (half a second a test)."""
    yield


def load(name):
    return config_lib.load_recipe(os.path.join(CONFIG_DIR, name))


def leaves(config, prefix=""):
    """{dotted key: value} of a ConfigDict, open sections as single leaves."""
    found = {}
    for key, value in config.items():
        path = f"{prefix}{key}"
        if isinstance(value, ml_collections.ConfigDict) and path not in OPEN_SECTIONS:
            found.update(leaves(value, path + "."))
        else:
            found[path] = value
    return found


def test_there_are_recipes():
    assert {"mobilenet_v2_imagenet.py", "finetune.py", "squeezenet_imagenet.py"} <= set(RECIPES)


@pytest.mark.parametrize("name", RECIPES)
def test_recipe_has_exactly_the_base_fields(name):
    config = load(name)
    assert config.recipe == os.path.join("configs", name)
    expected = leaves(common.base())
    if config.task == "segmentation":   # plus the fields segmentation() adds
        expected = leaves(common.segmentation(common.base(), config.dataset.name, 64))
    if config.task == "detection":   # plus the fields detection() adds
        expected = leaves(common.detection(common.base(), config.dataset.name))
    got = leaves(config)
    del got["recipe"]
    assert sorted(got) == sorted(expected)
    for key, value in got.items():
        assert type(value) is type(expected[key]), key   # e.g. a float field stays a float


@pytest.mark.parametrize("name", RECIPES)
def test_recipe_names_are_valid(name):
    config = load(name)
    assert config.optimizer.name in OPTIMIZERS
    assert config.schedule.name in SCHEDULES
    assert 0.0 <= config.model.dropout < 1.0
    assert 0.0 <= config.train.ema_decay < 1.0
    if config.optimizer.base_batch_size and config.train.batch_size:
        # The learning rate is stated for the recipe's own batch; --batch_size scales it
        # (a batch of 0 is derived from the data: finetune.py, own_*.py).
        assert config.train.batch_size == config.optimizer.base_batch_size


@pytest.mark.parametrize("name", RECIPES)
def test_docstring_names_the_source_and_the_expected_top1(name):
    with open(os.path.join(CONFIG_DIR, name)) as f:
        text = f.read()
    docstring = re.match(r'\s*"""(.*?)"""', text, re.S).group(1)
    assert "python train.py" in docstring
    assert "Source:" in docstring
    metric = {"segmentation": "mIoU", "detection": "AP"}.get(load(name).task, "top-1")
    assert re.search(rf"Expected.*{metric}", docstring, re.S)


# (recipe, field, value): what each source says, or what we chose where it is silent.
GOLDEN = [
    # TF Model Garden, official/vision/configs/experiments/image_classification/*.yaml
    ("mobilenet_v1_imagenet.py", "model.name", "mobilenet_v1"),
    ("mobilenet_v1_imagenet.py", "optimizer.name", "rmsprop"),
    ("mobilenet_v1_imagenet.py", "optimizer.learning_rate", 0.256),
    ("mobilenet_v1_imagenet.py", "optimizer.base_batch_size", 4096),
    ("mobilenet_v1_imagenet.py", "optimizer.rho", 0.9),
    ("mobilenet_v1_imagenet.py", "optimizer.momentum", 0.9),
    ("mobilenet_v1_imagenet.py", "optimizer.epsilon", 0.002),
    ("mobilenet_v1_imagenet.py", "schedule.name", "exponential"),
    ("mobilenet_v1_imagenet.py", "schedule.decay_rate", 0.94),
    ("mobilenet_v1_imagenet.py", "schedule.decay_epochs", 2.5),
    ("mobilenet_v1_imagenet.py", "schedule.warmup_epochs", 5.0),
    ("mobilenet_v1_imagenet.py", "train.epochs", 500),
    ("mobilenet_v1_imagenet.py", "train.weight_decay", 1e-5),
    ("mobilenet_v1_imagenet.py", "train.regularize_depthwise", False),
    ("mobilenet_v1_imagenet.py", "train.label_smoothing", 0.1),
    ("mobilenet_v1_imagenet.py", "train.ema_decay", 0.0),
    ("mobilenet_v1_imagenet.py", "model.dropout", 0.2),
    ("mobilenet_v1_imagenet.py", "model.bn_momentum", 0.997),
    ("mobilenet_v1_imagenet.py", "model.bn_epsilon", 1e-3),
    ("mobilenet_v1_imagenet.py", "dataset.image_size", 224),
    ("mobilenet_v2_imagenet.py", "model.name", "mobilenet_v2"),
    ("mobilenet_v2_imagenet.py", "optimizer.learning_rate", 0.256),
    ("mobilenet_v2_imagenet.py", "optimizer.base_batch_size", 4096),
    ("mobilenet_v2_imagenet.py", "schedule.decay_rate", 0.96),
    ("mobilenet_v2_imagenet.py", "schedule.decay_epochs", 2.5),
    ("mobilenet_v2_imagenet.py", "train.epochs", 500),
    ("mobilenet_v2_imagenet.py", "train.weight_decay", 1e-5),
    ("mobilenet_v2_imagenet.py", "train.label_smoothing", 0.1),
    ("mobilenet_v2_imagenet.py", "model.bn_momentum", 0.997),
    ("mobilenet_v3_small_imagenet.py", "model.name", "mobilenet_v3_small"),
    ("mobilenet_v3_small_imagenet.py", "optimizer.name", "rmsprop"),
    ("mobilenet_v3_small_imagenet.py", "optimizer.learning_rate", 0.01),
    ("mobilenet_v3_small_imagenet.py", "optimizer.base_batch_size", 4096),
    ("mobilenet_v3_small_imagenet.py", "optimizer.epsilon", 0.002),
    ("mobilenet_v3_small_imagenet.py", "schedule.decay_rate", 0.99),
    ("mobilenet_v3_small_imagenet.py", "schedule.decay_epochs", 3.0),
    ("mobilenet_v3_small_imagenet.py", "schedule.warmup_epochs", 5.0),
    ("mobilenet_v3_small_imagenet.py", "train.epochs", 1000),
    ("mobilenet_v3_small_imagenet.py", "train.ema_decay", 0.9999),
    ("mobilenet_v3_small_imagenet.py", "train.weight_decay", 1e-5),
    ("mobilenet_v3_large_imagenet.py", "model.name", "mobilenet_v3_large"),
    ("mobilenet_v3_large_imagenet.py", "optimizer.name", "adamw"),
    ("mobilenet_v3_large_imagenet.py", "optimizer.learning_rate", 0.004),
    ("mobilenet_v3_large_imagenet.py", "optimizer.base_batch_size", 4096),
    ("mobilenet_v3_large_imagenet.py", "optimizer.weight_decay", 0.1),
    ("mobilenet_v3_large_imagenet.py", "optimizer.epsilon", 1e-7),
    ("mobilenet_v3_large_imagenet.py", "schedule.name", "cosine"),
    ("mobilenet_v3_large_imagenet.py", "schedule.warmup_epochs", 5.0),
    ("mobilenet_v3_large_imagenet.py", "train.epochs", 700),
    ("mobilenet_v3_large_imagenet.py", "train.weight_decay", 0.0),
    ("mobilenet_v3_large_imagenet.py", "train.label_smoothing", 0.1),
    ("mobilenet_v3_large_imagenet.py", "model.bn_momentum", 0.997),
    # The papers, gaps filled from TF-slim and the same teams' code.
    ("mobilenet_v1_imagenet_paper.py", "model.name", "mobilenet_v1"),
    ("mobilenet_v1_imagenet_paper.py", "optimizer.learning_rate", 0.045),
    ("mobilenet_v1_imagenet_paper.py", "optimizer.base_batch_size", 96),
    ("mobilenet_v1_imagenet_paper.py", "optimizer.epsilon", 1.0),
    ("mobilenet_v1_imagenet_paper.py", "schedule.decay_rate", 0.98),
    ("mobilenet_v1_imagenet_paper.py", "schedule.decay_epochs", 1.0),
    ("mobilenet_v1_imagenet_paper.py", "train.weight_decay", 4e-5),
    ("mobilenet_v1_imagenet_paper.py", "train.regularize_depthwise", False),
    ("mobilenet_v1_imagenet_paper.py", "train.label_smoothing", 0.0),
    ("mobilenet_v1_imagenet_paper.py", "model.bn_momentum", 0.9997),
    ("mobilenet_v1_imagenet_paper.py", "model.dropout", 0.001),
    ("mobilenet_v2_imagenet_paper.py", "model.name", "mobilenet_v2"),
    ("mobilenet_v2_imagenet_paper.py", "optimizer.name", "rmsprop"),
    ("mobilenet_v2_imagenet_paper.py", "optimizer.rho", 0.9),
    ("mobilenet_v2_imagenet_paper.py", "optimizer.momentum", 0.9),
    ("mobilenet_v2_imagenet_paper.py", "optimizer.learning_rate", 0.045),
    ("mobilenet_v2_imagenet_paper.py", "optimizer.base_batch_size", 96),
    ("mobilenet_v2_imagenet_paper.py", "schedule.decay_rate", 0.98),
    ("mobilenet_v2_imagenet_paper.py", "schedule.decay_epochs", 1.0),
    ("mobilenet_v2_imagenet_paper.py", "train.weight_decay", 4e-5),
    ("mobilenet_v2_imagenet_paper.py", "model.bn_momentum", 0.997),
    ("mobilenet_v2_imagenet_paper.py", "model.dropout", 0.2),
    ("mobilenet_v3_large_imagenet_paper.py", "model.name", "mobilenet_v3_large"),
    ("mobilenet_v3_large_imagenet_paper.py", "optimizer.learning_rate", 0.1),
    ("mobilenet_v3_large_imagenet_paper.py", "optimizer.base_batch_size", 4096),
    ("mobilenet_v3_large_imagenet_paper.py", "optimizer.momentum", 0.9),
    ("mobilenet_v3_large_imagenet_paper.py", "schedule.decay_rate", 0.99),
    ("mobilenet_v3_large_imagenet_paper.py", "schedule.decay_epochs", 3.0),
    ("mobilenet_v3_large_imagenet_paper.py", "model.dropout", 0.2),
    ("mobilenet_v3_large_imagenet_paper.py", "model.bn_momentum", 0.99),
    ("mobilenet_v3_large_imagenet_paper.py", "train.weight_decay", 1e-5),
    ("mobilenet_v3_large_imagenet_paper.py", "train.ema_decay", 0.9999),
    ("mobilenet_v3_small_imagenet_paper.py", "model.name", "mobilenet_v3_small"),
    ("mobilenet_v3_small_imagenet_paper.py", "optimizer.learning_rate", 0.1),
    ("mobilenet_v3_small_imagenet_paper.py", "schedule.decay_rate", 0.99),
    ("mobilenet_v3_small_imagenet_paper.py", "train.ema_decay", 0.9999),
    # timm's mobilenetv3_large_100 command line (75.766% top-1).
    ("mobilenet_v3_large_imagenet_timm.py", "model.name", "mobilenet_v3_large"),
    ("mobilenet_v3_large_imagenet_timm.py", "optimizer.name", "rmsprop"),
    ("mobilenet_v3_large_imagenet_timm.py", "optimizer.learning_rate", 0.064),
    ("mobilenet_v3_large_imagenet_timm.py", "optimizer.base_batch_size", 1024),
    ("mobilenet_v3_large_imagenet_timm.py", "optimizer.epsilon", 1e-3),
    ("mobilenet_v3_large_imagenet_timm.py", "schedule.decay_rate", 0.973),
    ("mobilenet_v3_large_imagenet_timm.py", "schedule.decay_epochs", 2.4),
    ("mobilenet_v3_large_imagenet_timm.py", "schedule.warmup_epochs", 3.0),
    ("mobilenet_v3_large_imagenet_timm.py", "train.epochs", 600),
    ("mobilenet_v3_large_imagenet_timm.py", "train.weight_decay", 1e-5),
    ("mobilenet_v3_large_imagenet_timm.py", "train.ema_decay", 0.9999),
    ("mobilenet_v3_large_imagenet_timm.py", "train.label_smoothing", 0.1),
    ("mobilenet_v3_large_imagenet_timm.py", "model.dropout", 0.2),
    ("mobilenet_v3_large_imagenet_timm.py", "model.bn_momentum", 0.9),
    ("mobilenet_v3_large_imagenet_timm.py", "dataset.randaugment_ops", 2),
    ("mobilenet_v3_large_imagenet_timm.py", "dataset.randaugment_magnitude", 0.4),
    ("mobilenet_v3_large_imagenet_timm.py", "model.options",
     ml_collections.ConfigDict({"drop_path_rate": 0.2})),
    # Xception, arXiv:1610.02357 sections 4.2-4.4.
    ("xception_imagenet.py", "model.name", "xception"),
    ("xception_imagenet.py", "optimizer.name", "sgd"),
    ("xception_imagenet.py", "optimizer.momentum", 0.9),
    ("xception_imagenet.py", "optimizer.learning_rate", 0.045),
    ("xception_imagenet.py", "schedule.decay_rate", 0.94),
    ("xception_imagenet.py", "schedule.decay_epochs", 2.0),
    ("xception_imagenet.py", "train.weight_decay", 1e-5),
    ("xception_imagenet.py", "train.ema_decay", 0.9999),
    ("xception_imagenet.py", "model.dropout", 0.5),
    ("xception_imagenet.py", "dataset.image_size", 299),
    # SqueezeNet, DeepScale/SqueezeNet solver.prototxt.
    ("squeezenet_imagenet.py", "model.name", "squeezenet1_1"),
    ("squeezenet_imagenet.py", "optimizer.name", "sgd"),
    ("squeezenet_imagenet.py", "optimizer.learning_rate", 0.04),
    ("squeezenet_imagenet.py", "optimizer.base_batch_size", 512),
    ("squeezenet_imagenet.py", "optimizer.momentum", 0.9),
    ("squeezenet_imagenet.py", "schedule.name", "linear"),
    ("squeezenet_imagenet.py", "train.epochs", 68),                # 170000 x 512 images
    ("squeezenet_imagenet.py", "train.weight_decay", 2e-4),
    ("squeezenet_imagenet.py", "model.dropout", 0.5),
    ("squeezenet_imagenet.py", "dataset.image_size", 227),
    ("squeezenet_imagenet.py", "dataset.crop_fraction", 227 / 256),
    # Fine-tuning on the user's images.
    ("finetune.py", "optimizer.name", "sgd"),
    ("finetune.py", "optimizer.learning_rate", 0.01),
    ("finetune.py", "optimizer.base_batch_size", 64),
    ("finetune.py", "schedule.name", "cosine"),
    ("finetune.py", "schedule.warmup_epochs", 1.0),
    ("finetune.py", "train.epochs", 0),   # derived from the data
    ("finetune.py", "train.label_smoothing", 0.1),
    ("finetune.py", "train.init_from", ""),
    ("finetune.py", "dataset.image_size", 0),   # derived from the data
]


@pytest.mark.parametrize("name, key, value", GOLDEN)
def test_recipe_values(name, key, value):
    got = leaves(load(name))[key]
    assert got == (pytest.approx(value) if isinstance(value, float) else value)


@pytest.mark.parametrize("name", [name for name in RECIPES if "imagenet" in name])
def test_imagenet_recipes_train_on_imagenet(name):
    config = load(name)
    assert config.dataset.name == "imagenet"
    # The file names the model or its family (squeezenet_imagenet.py, mobilenet_v4_imagenet.py).
    assert config.model.name.startswith(os.path.basename(name).split("_imagenet")[0])


@pytest.mark.parametrize("model, dataset, recipe", [
    ("mobilenet_v1", "imagenet", "mobilenet_v1_imagenet.py"),
    ("mobilenet_v2", "imagenet", "mobilenet_v2_imagenet.py"),
    ("mobilenet_v3_large", "imagenet", "mobilenet_v3_large_imagenet.py"),
    ("mobilenet_v3_small", "imagenet", "mobilenet_v3_small_imagenet.py"),
    ("xception", "imagenet", "xception_imagenet.py"),
    ("squeezenet1_0", "imagenet", "squeezenet_imagenet.py"),
    ("squeezenet1_1", "imagenet", "squeezenet_imagenet.py"),
    ("mobilenet_v2", "folder", "finetune.py"),
    ("xception", "tfds:oxford_flowers102", "finetune.py"),
    ("squeezenet1_1", "shapes", "shapes_cls_squeezenet.py"),
    ("xception", "shapes", "shapes_cls_xception.py"),
    ("ssdlite_v2", "coco_json", "own_detection.py"),
    ("ssdlite_v2", "coco", "ssdlite_v2_coco.py"),
    ("lraspp_v3_large", "masks", "own_segmentation.py"),
    ("deeplabv3_v2", "voc2012", "deeplabv3_v2_voc.py"),
    ("mobilenet_v2", "shapes", "shapes_cls_v2.py"),
])
def test_recipe_for_picks_the_file(model, dataset, recipe):
    path = config_lib.recipe_for(model, dataset)
    assert path == os.path.join(CONFIG_DIR, recipe)
    assert os.path.isfile(path)
