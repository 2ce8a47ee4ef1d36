"""Your own data, by default: the recipes for it (configs/own_detection.py,
own_segmentation.py; finetune.py for a folder) derive their settings from the dataset, a
short run of each learns a small fixture written in the real on-disk format (a COCO JSON
with category ids 3, 7, 11; images/ and masks/ PNGs; class folders), and the flags still
win."""
import json
import os
import time

import ml_collections
import numpy as np
import PIL.Image
import pytest

from conftest import photo, resolved_config, run_here
from mobilenet_tf import UserError, config as config_lib, data
from mobilenet_tf.data import coco, shapes
from mobilenet_tf.data.source import Survey

OWN_DETECTION = os.path.join(config_lib.CONFIG_DIR, "own_detection.py")
OWN_SEGMENTATION = os.path.join(config_lib.CONFIG_DIR, "own_segmentation.py")
CATEGORY_IDS = (3, 7, 11)   # non-contiguous, as exported label tools number them
SIZE = 64                   # fixture images: small, so a run takes seconds


def _shapes_examples(split, count, keep=lambda example: True, max_shapes=2):
    """`count` Shapes examples (numpy dicts) of `split` at SIZE px that `keep` accepts."""
    found = []
    for example in shapes.examples(split, 0, SIZE, count * 4, max_shapes).as_numpy_iterator():
        if keep(example):
            found.append(example)
        if len(found) == count:
            return found
    raise AssertionError("too few Shapes examples accepted")


CLASS_COLOURS = np.array([[220, 40, 40], [40, 200, 40], [50, 60, 230]])   # 3 shape classes


def _painted(example):
    """The example's image with each shape painted its class's colour (CLASS_COLOURS), so a
    short run can learn the classes."""
    image, mask = example["image"].copy(), example["mask"]
    image[mask > 0] = CLASS_COLOURS[mask[mask > 0] - 1]
    return image


def write_coco_json(root, counts=(("train", 150), ("val", 40)), max_shapes=1):
    """DIR/annotations/instances_{train,val}.json (COCO instances format, pixel [x, y, w, h]
    boxes, categories 3, 7 and 11 listed out of order) and DIR/images/*.png: Shapes images
    whose shapes are all circles, squares or triangles, painted their class's colour."""
    three = lambda example: (example["classes"] < 3).all()
    os.makedirs(f"{root}/annotations", exist_ok=True)
    os.makedirs(f"{root}/images", exist_ok=True)
    for split, count in counts:
        images, annotations = [], []
        for index, example in enumerate(_shapes_examples(split.replace("val", "validation"),
                                                         count, three, max_shapes)):
            name = f"{split}_{index:04d}.png"
            PIL.Image.fromarray(_painted(example)).save(f"{root}/images/{name}")
            image_id = 1000 * (split == "val") + index + 1
            images.append({"id": image_id, "file_name": name, "height": SIZE, "width": SIZE})
            for box, label in zip(example["boxes"] * SIZE, example["classes"]):
                ymin, xmin, ymax, xmax = (float(v) for v in box)
                annotations.append({"id": len(annotations) + 1 + 10_000 * image_id,
                                    "image_id": image_id,
                                    "category_id": CATEGORY_IDS[label], "iscrowd": 0,
                                    "bbox": [xmin, ymin, xmax - xmin, ymax - ymin],
                                    "area": (xmax - xmin) * (ymax - ymin)})
        categories = [{"id": i, "name": shapes.CLASS_NAMES[k]}
                      for k, i in reversed(list(enumerate(CATEGORY_IDS)))]
        with open(f"{root}/annotations/instances_{split}.json", "w") as file:
            json.dump({"images": images, "annotations": annotations,
                       "categories": categories}, file)
    return str(root)


def write_masks(root, counts=(("train", 150), ("val", 40))):
    """DIR/{train,val}/images/*.png with DIR/{train,val}/masks/*.png (grey class ids: 0
    background, 1..3 circle, square, triangle; one shape an image, painted its class's
    colour so a short run can learn them) and DIR/classes.txt."""
    three = lambda example: example["label"] < 3
    for split, count in counts:
        for folder in ("images", "masks"):
            os.makedirs(f"{root}/{split}/{folder}", exist_ok=True)
        for index, example in enumerate(_shapes_examples(split.replace("val", "validation"),
                                                         count, three, max_shapes=1)):
            PIL.Image.fromarray(_painted(example)).save(f"{root}/{split}/images/{index:04d}.png")
            PIL.Image.fromarray(example["mask"]).save(f"{root}/{split}/masks/{index:04d}.png")
    with open(f"{root}/classes.txt", "w") as file:
        file.write("\n".join(shapes.SEGMENTATION_CLASS_NAMES[:4]) + "\n")
    return str(root)


FOLDER_CLASSES = ("red", "green", "blue")


def write_folder(root, counts=(("train", 150), ("val", 60))):
    """DIR/{train,val}/CLASS/*.png: 32x32 photos (conftest.photo) tinted by their class's
    colour, so a short run can learn them."""
    for split, count in counts:
        for index in range(count):
            label = index % len(FOLDER_CLASSES)
            pixels = photo(32, 32, seed=index + 1000 * (split == "val")).astype(np.int32) // 2
            pixels[..., label] += 110
            folder = f"{root}/{split}/{FOLDER_CLASSES[label]}"
            os.makedirs(folder, exist_ok=True)
            PIL.Image.fromarray(pixels.astype(np.uint8)).save(f"{folder}/{index:04d}.png")
    return str(root)


def _recipe(path):
    return config_lib.load_recipe(path)


def _survey(count, size):
    return Survey(num_examples=count, sizes=(tuple(size),) * count)


# -- The derived settings, from a number of examples and image sizes --------------------------

@pytest.mark.parametrize("count, size, batch, steps, warmup, every, image_size", [
    (150, (64, 64), 32, 500, 25, 13, 128),          # 4 steps an epoch: 500 steps is 125 epochs
    (40, (480, 640), 8, 500, 25, 10, 320),          # 40 // 32 < 4: the batch halves to 8
    (20_000, (300, 400), 32, 18_750, 938, 3, 320),  # 30 epochs of 625; 346 px: at most 320
])
def test_own_detection_derives_length_warmup_and_input_from_the_data(
        count, size, batch, steps, warmup, every, image_size):
    from configs import own_detection
    config = _recipe(OWN_DETECTION)
    own_detection.derive(config, _survey(count, size))
    steps_per_epoch = count // batch
    assert config.train.batch_size == batch and config.train.steps == steps
    assert round(config.schedule.warmup_epochs * steps_per_epoch) == warmup
    assert config.train.eval_every_epochs == every
    assert config.train.checkpoint_every_steps == max(steps_per_epoch, steps // 10)
    assert config.dataset.image_size == image_size
    # From scratch: shapes_det.py's settings, the rate stated for batch 32.
    assert (config.model.width, config.model.bn_momentum) == (0.5, 0.9)
    assert config.optimizer.learning_rate == 0.2 and config.optimizer.base_batch_size == 32


def test_own_detection_with_init_from_takes_the_published_width_and_a_fine_tuning_rate():
    from configs import own_detection
    config = _recipe(OWN_DETECTION)
    config.train.init_from = "keras_applications"
    own_detection.derive(config, _survey(150, (64, 64)))
    assert (config.model.width, config.model.bn_momentum) == (1.0, 0.97)
    assert config.optimizer.learning_rate == 0.025 and not config.optimizer.nesterov
    assert config.train.steps == 300 and config.train.weight_decay == 4e-5


def test_own_segmentation_derives_crop_and_evaluation_frame_from_the_images():
    from configs import own_segmentation
    config = _recipe(OWN_SEGMENTATION)
    own_segmentation.derive(config, _survey(150, (100, 140)),
                            Survey(2, ((100, 140), (130, 150))))
    assert config.dataset.image_size == 96             # the median short side, down to 32s
    assert config.dataset.eval_size == [160, 160]      # the largest image, up to 32s
    assert config.dataset.scale_range == [1.0, 1.0]
    assert config.train.batch_size == 16 and config.train.steps == 500
    big = _recipe(OWN_SEGMENTATION)
    own_segmentation.derive(big, _survey(3000, (1024, 2048)), _survey(500, (1024, 2048)))
    assert big.dataset.image_size == 512 and big.dataset.eval_size == [1024, 2048]
    assert big.dataset.scale_range == [0.5, 2.0]       # larger than the crop: DeepLab's
    assert big.train.steps == 30 * (3000 // 16)


def test_without_a_survey_the_recipes_keep_their_batch_and_epochs():
    from configs import own_detection, own_segmentation
    detection = own_detection.derive(_recipe(OWN_DETECTION), None)   # e.g. --dataset=coco
    assert (detection.train.batch_size, detection.train.epochs) == (32, 30)
    assert detection.schedule.warmup_epochs == 1.0 and detection.dataset.image_size == 320
    segmentation = own_segmentation.derive(_recipe(OWN_SEGMENTATION), None, None)
    assert (segmentation.train.batch_size, segmentation.train.epochs) == (16, 30)


@pytest.fixture(scope="module")
def coco_dir(tmp_path_factory):
    """write_coco_json's 150 + 40 images."""
    return write_coco_json(tmp_path_factory.mktemp("coco_json"))


@pytest.fixture(scope="module")
def masks_dir(tmp_path_factory):
    """write_masks' 150 + 40 images and masks."""
    return write_masks(tmp_path_factory.mktemp("masks"))


COCO_ARGS = ("--config.dataset.options.annotation_file=annotations/instances_{split}.json",
             "--config.dataset.options.image_dir=images")


def test_coco_json_takes_the_own_data_recipe_and_your_flags_win(coco_dir):
    config = resolved_config("--model=ssdlite_v3_small", "--dataset=coco_json",
                      f"--data_dir={coco_dir}", *COCO_ARGS)
    assert config.recipe == "configs/own_detection.py"
    assert (config.train.batch_size, config.train.steps, config.dataset.image_size) == (
        32, 500, 128)
    mine = resolved_config("--model=ssdlite_v3_small", "--dataset=coco_json", f"--data_dir={coco_dir}",
                    *COCO_ARGS, "--batch_size=8", "--steps=100",
                    "--config.dataset.image_size=96", "--config.model.width=0.75",
                    "--config.schedule.warmup_epochs=0.0")
    assert (mine.train.batch_size, mine.train.steps, mine.dataset.image_size) == (8, 100, 96)
    assert mine.model.width == 0.75 and mine.schedule.warmup_epochs == 0.0
    assert mine.train.checkpoint_every_steps == 18   # one epoch of 150 // 8
    epochs = resolved_config("--model=ssdlite_v3_small", "--dataset=coco_json",
                      f"--data_dir={coco_dir}", *COCO_ARGS, "--epochs=3")
    assert epochs.train.epochs == 3 and epochs.train.steps == 0
    assert round(epochs.schedule.warmup_epochs * 4) == 1   # 5% of 12 steps


def test_masks_take_the_own_data_recipe_with_the_frame_of_the_images(masks_dir):
    config = resolved_config("--model=lraspp_v3_small", "--dataset=masks", f"--data_dir={masks_dir}")
    assert config.recipe == "configs/own_segmentation.py"
    assert config.dataset.image_size == SIZE and config.dataset.eval_size == [SIZE, SIZE]
    assert config.train.batch_size == 16 and config.train.steps == 500


def test_shapes_recipes_run_on_your_data(coco_dir, masks_dir):
    from mobilenet_tf.tasks import TASKS
    detection = resolved_config("--config=configs/shapes_det.py", "--dataset=coco_json",
                         f"--data_dir={coco_dir}", *COCO_ARGS, "--batch_size=8")
    assert dict(detection.dataset.options) == {
        "annotation_file": "annotations/instances_{split}.json", "image_dir": "images"}
    _, info = TASKS["detection"].build_inputs(detection, "validation", training=False)
    assert info.num_examples == 40 and info.category_ids == CATEGORY_IDS
    segmentation = resolved_config("--config=configs/shapes_seg.py", "--dataset=masks",
                            f"--data_dir={masks_dir}", "--batch_size=8")
    assert list(segmentation.segmentation.class_weights) == []   # Shapes' 7 classes: dropped
    TASKS["segmentation"].check_config(segmentation)
    dataset, _ = TASKS["segmentation"].build_inputs(segmentation, "validation", training=False)
    images, _ = next(iter(dataset))
    assert images.shape[1:3] == (SIZE, SIZE)   # the masks' own frame, not 512x512


# -- {split} in annotation_file ---------------------------------------------------------------

def test_split_names_in_paths_accept_val_and_say_which_files_were_tried(coco_dir):
    path, images = coco.json_paths("validation", data_dir=coco_dir,
                                   annotation_file="annotations/instances_{split}.json",
                                   image_dir="images")
    assert path == f"{coco_dir}/annotations/instances_val.json"
    assert images == f"{coco_dir}/images"
    assert coco.survey_json("train", data_dir=coco_dir,
                            annotation_file="annotations/instances_{split}.json").num_examples \
        == 150
    with pytest.raises(UserError) as error:
        coco.json_paths("test", data_dir=coco_dir, annotation_file="a/{split}.json")
    assert str(error.value) == (
        f"annotation file of the test split does not exist: tried {coco_dir}/a/test.json, "
        f"{coco_dir}/a/testing.json; check annotation_file and --data_dir")


def test_an_empty_annotation_file_is_one_line(tmp_path):
    (tmp_path / "empty.json").write_text("")
    with pytest.raises(UserError, match="cannot read the COCO annotations .*empty.json"):
        data.survey("coco_json", "train", data_dir=str(tmp_path), annotation_file="empty.json")
    (tmp_path / "none.json").write_text('{"images": [], "categories": []}')
    with pytest.raises(UserError, match="lists no \"images\""):
        data.survey("coco_json", "train", data_dir=str(tmp_path), annotation_file="none.json")


# -- Short runs of each format from its own-data recipe ---------------------------------------
# Shorter than the recipes' 500 steps and narrower (width 0.35), to fit the suite's budget,
# with validation only at the end; everything else (learning rate, batch-norm momentum, input
# size, crop, evaluation frame, warm-up) is what the recipe derived. Each bar is well below
# the figures measured on 2 shared CPU cores (2026-12-05), written by it with the CPU seconds
# of the run (in this process).

DETECTION_RUN = ("--model=ssdlite_v3_small", "--dataset=coco_json", *COCO_ARGS, "--steps=50",
                 "--batch_size=16", "--config.model.width=0.35",
                 "--config.train.eval_every_epochs=100")
MIN_AP50 = 0.25         # measured AP50 0.478, 0.455 (seeds 0, 1), 30 CPU seconds
SEGMENTATION_RUN = ("--model=lraspp_v3_small", "--dataset=masks", "--steps=80",
                    "--config.model.width=0.35", "--config.train.eval_every_epochs=100")
MIN_MIOU = 0.5          # measured mIoU 0.832, 0.728 (seeds 0, 1), 20 CPU seconds
FOLDER_RUN = ("--model=mobilenet_v3_small", "--dataset=folder", "--steps=40",
              "--batch_size=32", "--config.model.width=0.35",
              "--config.train.eval_every_epochs=100")
MIN_TOP1 = 0.8          # measured top-1 1.0, 1.0 (seeds 0, 1), 15 CPU seconds


def train_here(model_dir, arguments):
    """`python train.py ARGUMENTS --model_dir=MODEL_DIR` run in this process (run_here),
    checked to succeed: (its stderr, final_metrics.json, config.json, CPU seconds)."""
    started = time.process_time()
    code, stderr = run_here("train.py", *arguments, f"--model_dir={model_dir}")
    read = lambda name: json.loads((model_dir / name).read_text())
    assert code in (0, None), stderr[-3000:]
    return stderr, read("final_metrics.json"), read("config.json"), time.process_time() - started


def _trained(tmp_path_factory, name, data_dir, arguments):
    log, final, written, cpu_seconds = train_here(tmp_path_factory.mktemp(name),
                                                  (f"--data_dir={data_dir}", *arguments))
    print(f"{name}: {final} in {cpu_seconds:.0f} CPU seconds")
    return log, final, written


@pytest.mark.slow
def test_a_coco_json_with_ids_3_7_11_learns_from_its_derived_recipe(tmp_path_factory, coco_dir):
    log, final, written = _trained(tmp_path_factory, "own_coco_json", coco_dir, DETECTION_RUN)
    assert "derived from your data (150 training images, typical size 64x64): batch 16, " \
           "50 steps (9 per epoch), warm-up 2 steps" in log
    assert written["recipe"] == "configs/own_detection.py"
    assert written["dataset"]["image_size"] == 128 and written["model"]["bn_momentum"] == 0.9
    assert written["optimizer"]["learning_rate"] == 0.2
    assert final["step"] == 50 and final["AP50"] >= MIN_AP50, final


@pytest.mark.slow
def test_masks_learn_from_their_derived_recipe_and_export_at_their_frame(tmp_path_factory,
                                                                        masks_dir):
    from mobilenet_tf.export import source
    from mobilenet_tf.models import build
    log, final, written = _trained(tmp_path_factory, "own_masks", masks_dir, SEGMENTATION_RUN)
    assert "crop 64x64, random scale 1-1, evaluation and export frame 64x64" in log
    assert written["recipe"] == "configs/own_segmentation.py"
    assert written["dataset"]["eval_size"] == [SIZE, SIZE]
    assert final["step"] == 80 and final["mIoU"] >= MIN_MIOU, final
    model = build("lraspp_v3_small", width=0.35, num_classes=4, input_shape=(None, None, 3))
    assert source.input_size(ml_collections.ConfigDict(written), model) == (SIZE, SIZE)


@pytest.fixture(scope="module")
def folder_dir(tmp_path_factory):
    """write_folder's 150 + 60 images of three classes."""
    return write_folder(tmp_path_factory.mktemp("folder"))


@pytest.mark.slow
def test_a_folder_learns_from_scratch_with_finetune_recipe(tmp_path_factory, folder_dir):
    survey = data.survey("folder", "train", data_dir=folder_dir)
    assert survey.num_examples == 150 and survey.typical_size() == (32, 32)
    log, final, written = _trained(tmp_path_factory, "own_folder", folder_dir, FOLDER_RUN)
    assert "training from scratch (no --init_from)" in log
    assert "derived from your data (150 training images, typical size 32x32)" in log
    assert written["recipe"] == "configs/finetune.py" and written["model"]["bn_momentum"] == 0.9
    assert written["dataset"]["crop_area_range"] == [1.0, 1.0]   # 32 px: the whole image
    assert final["step"] == 40 and final["top1"] >= MIN_TOP1, final
