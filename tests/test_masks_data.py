"""Segmentation loaders on tiny fixtures written in each dataset's real on-disk layout
(Cityscapes folders and labelIds PNGs, VOC palette PNGs and ImageSets lists, the `masks`
layout), the joint image/mask augmentation, and the errors that name a bad file."""
import os

import numpy as np
import PIL.Image
import pytest
import tensorflow as tf

import mobilenet_tf
from mobilenet_tf import UserError, data
from mobilenet_tf.data import mask_pipeline, masks


def _save(path, array, mode=None, palette=None):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    picture = PIL.Image.fromarray(array, mode)
    if palette is not None:
        picture.putpalette(palette.reshape(-1).tolist())
    picture.save(path)


def _photo(height, width, seed):
    return np.random.default_rng(seed).integers(0, 255, (height, width, 3), np.uint8)


def _cityscapes(root, label_ids, size=(16, 32)):
    """One image per labelIds array in leftImg8bit/val/aachen and gtFine/val/aachen."""
    for index, ids in enumerate(label_ids):
        stem = f"aachen_{index:06d}_000019"
        _save(f"{root}/leftImg8bit/val/aachen/{stem}_leftImg8bit.png", _photo(*size, index))
        _save(f"{root}/gtFine/val/aachen/{stem}_gtFine_labelIds.png", ids.astype(np.uint8))
        _save(f"{root}/gtFine/val/aachen/{stem}_gtFine_color.png", _photo(*size, 9))
    return str(root)


def _voc(root, class_masks, size=(12, 10)):
    """VOCdevkit/VOC2012 with palette masks of class ids (255 boundary) and a val list."""
    base = f"{root}/VOCdevkit/VOC2012"
    names = [f"2007_{i:06d}" for i in range(len(class_masks))]
    for index, (name, ids) in enumerate(zip(names, class_masks)):
        _save(f"{base}/JPEGImages/{name}.jpg", _photo(*ids.shape, index))
        _save(f"{base}/SegmentationClass/{name}.png", ids.astype(np.uint8), "P",
              masks.voc_palette())
    os.makedirs(f"{base}/ImageSets/Segmentation", exist_ok=True)
    with open(f"{base}/ImageSets/Segmentation/val.txt", "w") as f:
        f.write("\n".join(names) + "\n")
    return str(root)


def _first(dataset):
    images, labels = next(iter(dataset))
    return images.numpy(), labels.numpy()


def test_cityscapes_label_ids_become_train_ids_and_the_rest_is_ignored(tmp_path):
    ids = np.zeros((16, 32), np.uint8)
    ids[:, 8:] = 7     # road -> 0
    ids[:, 16:] = 26   # car -> 13
    ids[:, 24:] = 33   # bicycle -> 18
    ids[:4] = 4        # static -> ignored
    root = _cityscapes(tmp_path, [ids])
    dataset, info = data.get_segmentation("cityscapes", "validation", data_dir=root,
                                          batch_size=1, eval_size=(16, 32))
    assert info.num_classes == 19 and info.num_examples == 1
    assert info.class_names[13] == "car"
    images, labels = _first(dataset)
    assert images.shape == (1, 16, 32, 3) and labels.shape == (1, 16, 32)
    expected = np.full((16, 32), 255)
    expected[4:, 8:16], expected[4:, 16:24], expected[4:, 24:] = 0, 13, 18
    np.testing.assert_array_equal(labels[0], expected)


def test_evaluation_pads_to_the_full_frame_with_ignored_pixels(tmp_path):
    root = _cityscapes(tmp_path, [np.full((16, 32), 24, np.uint8)])   # person -> 11
    dataset, _ = data.get_segmentation("cityscapes", "validation", data_dir=root,
                                       batch_size=1, eval_size=(20, 40))
    images, labels = _first(dataset)
    assert labels.shape == (1, 20, 40)
    assert (labels[0, :16, :32] == 11).all()
    assert (labels[0, 16:] == 255).all() and (labels[0, :, 32:] == 255).all()
    assert (images[0, 16:] == mask_pipeline.PAD_VALUE).all()


def test_voc_palette_masks_decode_to_class_ids_with_the_boundary_ignored(tmp_path):
    ids = np.zeros((12, 10), np.uint8)
    ids[2:6, 2:6] = 15      # person
    ids[6:, :] = 20         # tvmonitor
    ids[0, :] = 255         # the boundary colour
    root = _voc(tmp_path, [ids])
    dataset, info = data.get_segmentation("voc2012", "validation", data_dir=root,
                                          batch_size=1, eval_size=(12, 10))
    assert info.num_classes == 21 and info.class_names[15] == "person"
    _, labels = _first(dataset)
    np.testing.assert_array_equal(labels[0], ids)


def test_voc_palette_is_the_standard_one():
    palette = masks.voc_palette()
    assert palette[1].tolist() == [128, 0, 0] and palette[15].tolist() == [192, 128, 128]
    assert palette[255].tolist() == [224, 224, 192]


def _masks_layout(root, pairs, classes=("sky", "sea", "boat")):
    for name, (image, mask) in pairs.items():
        _save(f"{root}/train/images/{name}.jpg", image)
        _save(f"{root}/train/masks/{name}.png", mask)
        _save(f"{root}/val/images/{name}.png", image)
        _save(f"{root}/val/masks/{name}.png", mask)
    with open(f"{root}/classes.txt", "w") as f:
        f.write("\n".join(classes) + "\n")
    return str(root)


def test_masks_layout_trains_on_joint_crops_of_image_and_mask(tmp_path):
    # The mask's class is a function of the pixel's column, and so is the image's red
    # channel: after any scale, crop and flip they must still agree pixel for pixel.
    columns = np.tile(np.arange(48) // 16, (40, 1)).astype(np.uint8)   # 0, 1, 2 by thirds
    image = np.zeros((40, 48, 3), np.uint8)
    image[..., 0] = columns * 100
    root = _masks_layout(tmp_path, {"a": (image, columns), "b": (image, columns)})
    dataset, info = data.get_segmentation("masks", "train", data_dir=root, batch_size=2,
                                          crop_size=(24, 24), seed=3)
    assert info.class_names == ("sky", "sea", "boat")
    for images, labels in dataset.repeat(3).take(3):
        images, labels = images.numpy(), labels.numpy()
        assert images.shape == (2, 24, 24, 3) and labels.shape == (2, 24, 24)
        valid = labels != 255
        # Bilinear edges blur the red channel; away from them it is exactly class * 100.
        near = np.abs(images[..., 0].astype(int) - labels.astype(int) * 100) <= 50
        assert near[valid].mean() > 0.9
        assert (images[~valid] == mask_pipeline.PAD_VALUE).all()


@pytest.mark.parametrize("seed", [0, 1])
def test_augmentations_keep_image_and_mask_aligned_inside_tf_data(seed):
    mask = np.tile(np.arange(30)[None, :, None] // 10, (20, 1, 1)).astype(np.uint8)
    image = np.repeat(mask * 80, 3, axis=-1).astype(np.uint8)
    example = {"image": tf.constant(image), "mask": tf.constant(mask)}
    eager = mask_pipeline.train_example(example, tf.constant([seed, 7]), (32, 32))
    traced = next(iter(tf.data.Dataset.from_tensors(example).map(
        lambda ex: mask_pipeline.train_example(ex, tf.constant([seed, 7]), (32, 32)))))
    for key in ("image", "mask"):
        np.testing.assert_array_equal(eager[key].numpy(), traced[key].numpy())
    labels, red = eager["mask"].numpy()[..., 0], eager["image"].numpy()[..., 0].astype(int)
    valid = labels != 255
    assert (np.abs(red - labels * 80) <= 40)[valid].mean() > 0.9
    # Nearest-neighbour masks keep only class ids that were there (and the padding).
    assert set(np.unique(labels)) <= {0, 1, 2, 255}


def _data_error(dataset):
    with pytest.raises(tf.errors.InvalidArgumentError) as error:
        list(dataset)
    return mobilenet_tf.data_error_message(error.value)


def test_a_mask_of_another_size_than_its_image_is_an_error_naming_it(tmp_path):
    image, mask = np.zeros((20, 20, 3), np.uint8), np.zeros((20, 18), np.uint8)
    root = _masks_layout(tmp_path, {"odd": (image, mask)})
    dataset, _ = data.get_segmentation("masks", "validation", data_dir=root, batch_size=1,
                                       eval_size=(32, 32))
    message = _data_error(dataset)
    assert message.startswith(f"mask {root}/val/masks/odd.png is 20x18 but its image "
                              f"{root}/val/images/odd.png is 20x20"), message


def test_a_class_id_beyond_the_classes_is_an_error_naming_the_file(tmp_path):
    mask = np.zeros((20, 20), np.uint8)
    mask[3, 3], mask[4, 4] = 7, 255   # 255 is fine, 7 is not (3 classes)
    root = _masks_layout(tmp_path, {"bad": (np.zeros((20, 20, 3), np.uint8), mask)})
    dataset, _ = data.get_segmentation("masks", "train", data_dir=root, batch_size=1,
                                       crop_size=(16, 16), seed=0)
    message = _data_error(dataset)
    assert message == (f"mask {root}/train/masks/bad.png has class id 7 but the dataset has "
                       "3 classes (ids 0..2, and 255 for ignore)"), message


def test_an_image_or_mask_that_does_not_decode_is_skipped_and_counted(tmp_path, capfd):
    image, mask = np.zeros((20, 20, 3), np.uint8), np.ones((20, 20), np.uint8)
    root = _masks_layout(tmp_path, {name: (image, mask) for name in "abcd"})
    with open(f"{root}/val/images/b.png", "wb") as f:
        f.write(b"half a PNG")                          # a truncated download, say
    with open(f"{root}/val/masks/c.png", "wb") as f:
        f.write(b"")
    dataset, _ = data.get_segmentation("masks", "validation", data_dir=root, batch_size=1,
                                       eval_size=(24, 24))
    batches = list(dataset)
    assert len(batches) == 2                            # a and d, in order
    assert all((labels.numpy()[0, :20, :20] == 1).all() for _, labels in batches)
    # b and c are read one after the other: the message names c and counts b.
    err = capfd.readouterr().err
    assert err.count("warning: skipped") == 1, err
    assert (f"skipped {root}/val/images/c.png and the 1 file(s) read just before it: corrupt"
            in err), err


def test_cityscapes_label_id_beyond_33_and_voc_unknown_colour_are_errors(tmp_path):
    ids = np.full((16, 32), 7, np.uint8)
    ids[0, 0] = 40
    root = _cityscapes(tmp_path / "cs", [ids])
    dataset, _ = data.get_segmentation("cityscapes", "validation", data_dir=root,
                                       batch_size=1, eval_size=(16, 32))
    assert "aachen_000000_000019_gtFine_labelIds.png has labelId 40" in _data_error(dataset)
    voc = _voc(tmp_path / "voc", [np.full((12, 10), 30, np.uint8)])   # colour of id 30
    dataset, _ = data.get_segmentation("voc2012", "validation", data_dir=voc, batch_size=1)
    assert "SegmentationClass/2007_000000.png has colours" in _data_error(dataset)


def test_missing_files_and_layouts_are_user_errors(tmp_path):
    with pytest.raises(UserError, match="is not a directory"):
        data.get_segmentation("cityscapes", "train", data_dir=str(tmp_path / "none"))
    with pytest.raises(UserError, match="no images match"):
        data.get_segmentation("cityscapes", "train", data_dir=str(tmp_path))
    _save(f"{tmp_path}/images/x.jpg", np.zeros((8, 8, 3), np.uint8))
    with pytest.raises(UserError, match="x.jpg has no mask .*masks/x.png"):
        data.get_segmentation("masks", "train", data_dir=str(tmp_path), num_classes=2)
    with pytest.raises(UserError, match="unknown segmentation dataset 'ade20k'"):
        data.get_segmentation("ade20k", "train")
