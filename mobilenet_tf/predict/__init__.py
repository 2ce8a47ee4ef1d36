"""Prediction on your own images (predict.py): load a run's model or an export.py artifact
(predict.model), read and prepare the images (predict.images), run them in batches and hand
each image's outputs, at the image's own size, to the task's writer (predict.writers).

    predictor = model.load(model_dir="runs/RUN")
    writer = writers.WRITERS[predictor.task](predictor, "out/", draw_images=True)
    count, skipped = run(predictor, images.find(["photos/"]), writer)
"""
import numpy as np
from PIL import Image

from mobilenet_tf.export.segmentation import CLASS_MAP, PROBABILITIES, probabilities_key
from mobilenet_tf.heads.layers import resize_bilinear
from mobilenet_tf.predict import images as images_lib, model, writers

__all__ = ["model", "images_lib", "writers", "run"]

# What reading a file that is not a usable image raises (Pillow: UnidentifiedImageError is
# an OSError; truncated data OSError; a decompression bomb its own error).
UNREADABLE = (OSError, ValueError, SyntaxError, Image.DecompressionBombError)


def run(predictor, paths, writer, *, batch_size=32, crop_fraction=1.0, progress=None):
    """Predicts every image in `paths`, batch_size at a time, and gives each image's outputs
    to writer.add(path, image, outputs). Returns (images predicted, [(path, why) of the
    files that could not be read, which are skipped])."""
    done, skipped = 0, []
    for start in range(0, len(paths), batch_size):
        loaded = []
        for path in paths[start:start + batch_size]:
            try:
                loaded.append((path, images_lib.read(path)))
            except UNREADABLE as error:
                skipped.append((path, _reason(error)))
        for group in _same_input_size(loaded, predictor.input_size):
            batch = np.stack([images_lib.for_model(image, predictor.task, predictor.input_size,
                                                   crop_fraction) for _, image in group])
            outputs = predictor.run(batch)
            for i, (path, image) in enumerate(group):
                writer.add(path, image, at_image_size(
                    predictor, {name: value[i] for name, value in outputs.items()}, image))
                done += 1
        if progress is not None:
            progress.update(min(start + batch_size, len(paths)))
    return done, skipped


def _same_input_size(loaded, input_size):
    """Batches of images that reach the model at one size: all of them for a fixed input
    size; runs of images of the same size for a model of any size (segmentation)."""
    if input_size is not None or not loaded:
        return [loaded] if loaded else []
    groups = [[loaded[0]]]
    for item in loaded[1:]:
        if item[1].shape == groups[-1][-1][1].shape:
            groups[-1].append(item)
        else:
            groups.append([item])
    return groups


def at_image_size(predictor, outputs, image):
    """One image's outputs in the image's own frame: a segmentation model run at a fixed
    size has its probabilities (an export's full or coarse ones) resized to the image
    (bilinear) and its class map taken from them; boxes are normalised, so they already fit
    any size; classes have no size."""
    if predictor.task != "segmentation":
        return outputs
    height, width = image.shape[:2]
    if np.asarray(outputs[CLASS_MAP]).shape[:2] == (height, width):
        return outputs
    key = probabilities_key(outputs)
    probabilities = np.asarray(resize_bilinear(
        np.asarray(outputs[key], np.float32)[None], height, width))[0]
    # Full probabilities are returned in the image's frame; coarse ones stay as they were.
    return {CLASS_MAP: probabilities.argmax(-1).astype(np.int32),
            key: probabilities if key == PROBABILITIES else outputs[key]}


def _reason(error):
    text = str(error).strip().splitlines()[0] if str(error).strip() else ""
    return (text or type(error).__name__)[:120]
