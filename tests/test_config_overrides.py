"""Recipes plus command-line overrides: typed, checked, and written where the run says."""
import pytest

from mobilenet_tf import UserError, config as config_lib


@pytest.fixture
def config():
    return config_lib.load_recipe("configs/shapes_cls.py")


def test_overrides_set_typed_values(config):
    config_lib.apply_overrides(config, ["optimizer.learning_rate=0.5", "train.epochs=3",
                                        "model.sync_batch_norm=true", "dataset.name=folder",
                                        "optimizer.learning_rate=1"])   # last one wins
    assert config.optimizer.learning_rate == 1.0 and isinstance(
        config.optimizer.learning_rate, float)
    assert config.train.epochs == 3 and config.model.sync_batch_norm is True
    assert config.dataset.name == "folder"
    assert '"learning_rate": 1.0' in config_lib.to_json(config)


def test_open_sections_take_new_keys(config):
    config_lib.apply_overrides(config, ["model.options.minimalistic=True",
                                        "dataset.options.num_examples=64"])
    assert config.model.options.minimalistic is True
    assert config.dataset.options.num_examples == 64


@pytest.mark.parametrize("override, message", [
    ("optimizer.lr=0.1", "config has no field 'optimizer.lr'; fields in optimizer: "),
    ("optimiser.learning_rate=0.1", "config has no field 'optimiser'"),
    ("train.epochs=ten", "config field train.epochs is a int; cannot set it to 'ten'"),
    ("train.epochs", "--config.train.epochs needs a value"),
])
def test_bad_overrides_are_user_errors(config, override, message):
    with pytest.raises(UserError, match=message.replace("(", r"\(").replace(".", r"\.")):
        config_lib.apply_overrides(config, [override])


def test_recipe_argument_and_missing_file(tmp_path):
    recipe = tmp_path / "mine.py"
    recipe.write_text("from configs import common\n"
                      "def get_config(size='32'):\n"
                      "    config = common.base()\n"
                      "    config.dataset.image_size = int(size)\n"
                      "    return config\n")
    assert config_lib.load_recipe(f"{recipe}:48").dataset.image_size == 48
    with pytest.raises(UserError, match="not found"):
        config_lib.load_recipe(tmp_path / "absent.py")


def test_model_and_dataset_pick_the_recipe():
    assert config_lib.recipe_for("mobilenet_v3_small", "shapes").endswith("configs/shapes_cls.py")
    assert config_lib.recipe_for("mobilenet_v2", "shapes").endswith("configs/shapes_cls_v2.py")
    assert config_lib.recipe_for("mobilenet_v2", "imagenet").endswith(
        "configs/mobilenet_v2_imagenet.py")
    assert config_lib.recipe_for("mobilenet_v2", "folder").endswith("configs/finetune.py")
