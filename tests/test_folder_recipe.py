"""configs/finetune.py on a folder of your own: the training crop and flip fields reach the
pipeline, the recipe trains from scratch without --init_from (and says so), and fine-tunes
with it."""
import numpy as np
import pytest

from conftest import png_bytes, prepare_tiny_tfds, resolved_config
from mobilenet_tf import UserError, config as config_lib, data, engine
from mobilenet_tf.tasks import TASKS

FINETUNE = config_lib.recipe_for("mobilenet_v3_small", "folder")


@pytest.fixture(scope="module")
def folder_dir(tmp_path_factory):
    """Two classes of six 40x40 PNG photos each."""
    root = tmp_path_factory.mktemp("folder")
    for class_index, name in enumerate(("cat", "dog")):
        (root / name).mkdir()
        for i in range(6):
            (root / name / f"{i}.png").write_bytes(png_bytes(40, 40, seed=10 * class_index + i))
    return str(root)


def _images(config, training):
    """The training split's images, prepared for training or for evaluation, sorted by
    content (training shuffles)."""
    dataset, _ = TASKS["classification"].build_inputs(config, "train", training=training)
    images = [image for batch, _ in dataset for image in batch.numpy()]
    return sorted(images, key=lambda image: image.tobytes())


def _config(folder_dir, **dataset):
    config = config_lib.load_recipe(FINETUNE)
    config.dataset.update(data_dir=folder_dir, image_size=32, crop_fraction=1.0,
                          options={"validation_fraction": 0.0}, **dataset)
    config.train.batch_size = 4
    return config


def test_whole_image_crop_without_flip_prepares_training_images_like_evaluation(folder_dir):
    config = _config(folder_dir, crop_area_range=[1.0, 1.0], flip=False)
    training, evaluation = _images(config, True), _images(config, False)
    assert len(training) == len(evaluation) == 12
    for a, b in zip(training, evaluation):
        np.testing.assert_array_equal(a, b)


def test_flip_mirrors_some_images_and_the_default_crop_changes_them(folder_dir):
    evaluation = _images(_config(folder_dir, crop_area_range=[1.0, 1.0], flip=False), False)
    as_given = {image.tobytes() for image in evaluation}
    mirrored = {image[:, ::-1].tobytes() for image in evaluation}
    flipped = _images(_config(folder_dir, crop_area_range=[1.0, 1.0], flip=True), True)
    assert all(image.tobytes() in as_given | mirrored for image in flipped)
    assert 0 < sum(image.tobytes() in mirrored for image in flipped) < 12
    cropped = _images(_config(folder_dir, crop_area_range=[0.08, 0.3], flip=False), True)
    assert not any(image.tobytes() in as_given for image in cropped)


def test_a_bad_crop_area_range_is_a_user_error():
    with pytest.raises(UserError, match=r"crop_area_range must be \[low, high\]"):
        data.get("shapes", "train", augmentation=data.Augmentation(crop_area_range=(0.5, 0.2)))


def test_existing_recipes_keep_imagenets_crop_and_the_flip():
    for name in ("finetune.py", "mobilenet_v2_imagenet.py", "shapes_cls.py"):
        config = config_lib.load_recipe(f"{config_lib.CONFIG_DIR}/{name}")
        assert config.dataset.crop_area_range == [0.08, 1.0] and config.dataset.flip is True


def test_without_init_from_the_folder_recipe_trains_from_scratch(folder_dir):
    config = resolved_config("--dataset=folder", f"--data_dir={folder_dir}")
    assert config.model.bn_momentum == 0.9 and config.optimizer.nesterov
    assert config.optimizer.learning_rate == 0.1
    # Derived from the training split's 40x40 images (the hash split keeps 10-11 of the 12):
    # 32 px, batches of 2 (an epoch of at least 4 steps), 30 epochs of 5 steps but at least
    # 500 steps, a 5% warm-up (25 steps).
    assert config.dataset.image_size == 32 and config.train.batch_size == 2
    assert config.train.steps == 500 and config.schedule.warmup_epochs == 25 / 5
    assert config.dataset.crop_area_range == [1.0, 1.0]   # 32 px: the whole image
    assert engine.from_scratch_note(config).startswith(
        "training from scratch (no --init_from): random initial weights, learning rate 0.1 "
        "at batch 64, 500 steps, batch-norm momentum 0.9, crop area 1-1; to fine-tune "
        "ImageNet weights pass --init_from=keras_applications or --init_from=PATH")


def test_with_init_from_it_keeps_the_fine_tuning_settings(folder_dir):
    config = resolved_config("--dataset=folder", f"--data_dir={folder_dir}",
                       "--init_from=keras_applications")
    assert config.model.bn_momentum == 0.99 and config.train.steps == 300
    assert config.optimizer.learning_rate == 0.01 and not config.optimizer.nesterov
    assert config.dataset.image_size == 96   # the smallest size with ImageNet weights
    assert config.dataset.crop_area_range == [0.436, 1.0]
    assert engine.from_scratch_note(config) is None
    assert resolved_config("--dataset=folder", f"--data_dir={folder_dir}",
                     "--config.train.init_from=model.keras",
                     "--config.dataset.image_size=112").dataset.crop_area_range == [0.32, 1.0]


def test_what_the_user_sets_explicitly_wins_over_the_from_scratch_settings(folder_dir):
    config = resolved_config("--dataset=folder", f"--data_dir={folder_dir}", "--epochs=3",
                       "--batch_size=4", "--config.model.bn_momentum=0.95",
                       "--config.dataset.crop_area_range=[0.5,1]")
    assert config.train.epochs == 3 and config.train.steps == 0
    assert config.train.batch_size == 4 and config.model.bn_momentum == 0.95
    assert config.dataset.crop_area_range == [0.5, 1.0]
    assert config.optimizer.learning_rate == 0.1   # not set: the from-scratch one


def test_tfds_is_surveyed_from_its_dataset_info_and_image_headers(tmp_path):
    prepare_tiny_tfds(tmp_path)   # 9 training JPEGs of 30x40
    config = resolved_config("--dataset=tfds:tiny_flowers", f"--data_dir={tmp_path}")
    assert config.dataset.image_size == 32 and config.train.batch_size == 2
    assert config.train.steps == 500
    imagenet = resolved_config("--config=configs/finetune.py", "--dataset=imagenet")
    assert imagenet.dataset.image_size == 224 and imagenet.train.batch_size == 64
    assert imagenet.train.epochs == 30   # no survey: the recipe's epochs from scratch


def test_shapes_and_imagenet_recipes_are_not_adjusted_and_say_nothing():
    shapes = resolved_config()
    assert shapes.model.bn_momentum == 0.9 and shapes.optimizer.learning_rate == 0.2
    assert engine.from_scratch_note(shapes) is None
    imagenet = resolved_config("--model=v2", "--dataset=imagenet")
    assert imagenet.dataset.crop_area_range == [0.08, 1.0]
    assert engine.from_scratch_note(imagenet) is None
