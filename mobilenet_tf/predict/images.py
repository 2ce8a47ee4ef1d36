"""predict.py's inputs: image files named by paths, folders and globs, read as the camera
took them (EXIF orientation applied) and prepared for the model as its evaluation prepares
them (mobilenet_tf.data.preprocess)."""
import glob
import os

import numpy as np
import tensorflow as tf
from PIL import Image, ImageOps

from mobilenet_tf import UserError
from mobilenet_tf.data import folder, preprocess

# What a folder is searched for (a file named on the command line is tried whatever it is):
# the folder dataset's kinds, and those Pillow reads beyond TensorFlow's decoders.
IMAGE_EXTENSIONS = folder.IMAGE_EXTENSIONS + (".webp", ".tif", ".tiff")


def find(arguments):
    """The image files that `arguments` (files, folders searched recursively, globs) name,
    in the order given (a folder's and a glob's sorted), each once. UserError for a name
    that matches nothing, or when there are no images at all."""
    found = []
    for argument in arguments:
        if os.path.isdir(argument):
            matches = sorted(os.path.join(directory, name)
                             for directory, _, names in os.walk(argument) for name in names
                             if name.lower().endswith(IMAGE_EXTENSIONS))
        elif os.path.exists(argument):
            matches = [argument]
        elif glob.has_magic(argument):
            matches = sorted(path for path in glob.glob(argument, recursive=True)
                             if os.path.isfile(path))
        else:
            raise UserError(f"{argument} does not exist; give image files, folders or globs "
                            "(quoted, e.g. 'photos/*.jpg')")
        if not matches:
            raise UserError(f"{argument}: no images in it (looked for "
                            f"{', '.join(IMAGE_EXTENSIONS)})")
        found += matches
    if not found:
        raise UserError("no images given: pass image files, folders or globs after the flags, "
                        "e.g. python predict.py --model_dir=RUN photos/")
    return list(dict.fromkeys(found))


def read(path):
    """uint8 (H, W, 3) RGB pixels of the image file, turned upright by its EXIF orientation
    (phone photos are stored sideways); OSError or ValueError when it is not a readable
    image."""
    with Image.open(path) as image:
        image = ImageOps.exif_transpose(image)
        return np.asarray(image.convert("RGB"))


def for_model(image, task, size, crop_fraction=1.0):
    """uint8 (H, W, 3) pixels -> uint8 pixels at the model's input `size` (height, width),
    as its evaluation prepares them: classification the central crop_fraction of the short
    side resized to the square size, detection (SSD) the whole image resized, aspect ratio
    not kept; segmentation the whole image resized (size None: kept as it is)."""
    if size is None:
        return image
    features = {"image": tf.constant(image)}
    if task == "classification" and size[0] == size[1]:
        features = preprocess.center_crop(features, size[0], crop_fraction)
    elif size[0] == size[1]:
        features = preprocess.resize(features, size[0])
    else:
        features = {"image": tf.image.resize(tf.cast(image, tf.float32), size)}
    return preprocess.to_uint8(features)["image"].numpy()
