"""Run a trained or exported model on your own images and look at the result.

    python predict.py --model_dir=runs/RUN photos/ 'more/*.jpg' --output_dir=out
    python predict.py --model=runs/RUN/export/model_int8.tflite photo.jpg --output_dir=out
    python predict.py --model_dir=runs/SSDLITE_RUN --score_threshold=0.5 street.jpg \\
        --output_dir=out --coco_annotations=val.json    # image ids for COCO's evaluation

--model_dir: the run's final.keras (--weights=best: best.keras) with its config and labels;
--model=FILE: a .keras file (train.py's or export.py's), a SavedModel directory, a .tflite
or .onnx file from export.py, so the artifact that goes on the phone can be checked.
Classification writes the top --top_k classes per image (predictions.csv, predictions.json),
detection the boxes as COCO results (detections.json) and drawn on each image, segmentation
a class-id PNG and a colour overlay at each image's own size (see
mobilenet_tf/predict/writers.py). Files that cannot be read as images are skipped and
named in one line.

flags -> model (predict.model.load) -> images (predict.images.find) -> batches -> writer.
"""
import json
import os
import sys

from mobilenet_tf import startup

startup.import_tensorflow_quietly()

import keras   # noqa: E402
from absl import flags   # noqa: E402

from mobilenet_tf import cli, models, predict   # noqa: E402
from mobilenet_tf.predict import images, model, writers   # noqa: E402

cli.define_output_dir("Where the predictions go (default MODEL_DIR/predictions).")
flags.DEFINE_integer("top_k", 5, "Classification: the classes listed per image.")
flags.DEFINE_float("score_threshold", 0.3, "Detection: the lowest score drawn and listed in "
                   "predictions.json (detections.json keeps every detection, as COCO's "
                   "evaluation wants).")
flags.DEFINE_boolean("draw", None, "Write the images with the predictions drawn (default: "
                     "on for detection and segmentation, off for classification).")
flags.DEFINE_float("crop_fraction", None, "Classification: the central fraction of the short "
                   "side kept before resizing (default: as the run evaluates; 1, the whole "
                   "image, for an artifact without its run).")
flags.DEFINE_string("coco_annotations", None, "Detection: a COCO annotation file whose images "
                    "(by file_name) give the image ids of detections.json.")


def check_flags(FLAGS):
    """UserError for flags that cannot work, before anything is loaded."""
    if FLAGS.top_k < 1:
        raise cli.UserError(f"--top_k must be at least 1, got {FLAGS.top_k}")
    if not 0.0 <= FLAGS.score_threshold <= 1.0:
        raise cli.UserError(f"--score_threshold must be in [0, 1], got {FLAGS.score_threshold}")
    if FLAGS.crop_fraction is not None and not 0.0 < FLAGS.crop_fraction <= 1.0:
        raise cli.UserError(f"--crop_fraction must be in (0, 1], got {FLAGS.crop_fraction}")
    if not (FLAGS.output_dir or FLAGS.model_dir):
        raise cli.UserError("give --output_dir (or --model_dir, which writes into "
                            "MODEL_DIR/predictions)")
    if FLAGS.coco_annotations and not os.path.isfile(FLAGS.coco_annotations):
        raise cli.UserError(f"--coco_annotations={FLAGS.coco_annotations} is not a file")


def model_file(FLAGS):
    """The model file: --model (or --checkpoint); a UserError when --model is the name of an
    architecture in the registry rather than a file."""
    given = FLAGS.checkpoint or FLAGS.model
    if given and not os.path.exists(given) and given in (*models.names(), *models.ALIASES):
        raise cli.UserError(f"--model={given}: predict.py needs a trained model, not an "
                            f"architecture name; give {model.EXPECTED}")
    return given


def crop_fraction(FLAGS, predictor):
    """The classification crop: the flag, else the run's evaluation crop (the whole image
    for Shapes, whose pipeline keeps synthetic images whole), else the whole image."""
    if FLAGS.crop_fraction is not None:
        return FLAGS.crop_fraction
    config = predictor.config
    if config is None or config.dataset.name == "shapes":
        return 1.0
    return float(config.dataset.crop_fraction)


def image_ids(path):
    """{file name: image id} of a COCO annotation file's images."""
    if not path:
        return {}
    with open(path) as f:
        try:
            entries = json.load(f).get("images", [])
        except (json.JSONDecodeError, AttributeError):
            raise cli.UserError(f"--coco_annotations={path} is not a COCO annotation file "
                                "(JSON with an images list)") from None
    ids = {}
    for entry in entries:
        ids[entry["file_name"]] = entry["id"]
        ids.setdefault(os.path.basename(entry["file_name"]), entry["id"])
    return ids


def main(argv):
    FLAGS = cli.FLAGS
    check_flags(FLAGS)
    paths = images.find(argv[1:])   # every name checked before the model loads
    predictor = model.load(FLAGS.model_dir, model_file(FLAGS), FLAGS.weights)
    output_dir = FLAGS.output_dir or os.path.join(FLAGS.model_dir, "predictions")
    draw_images = FLAGS.draw if FLAGS.draw is not None else predictor.task != "classification"
    options = {"classification": {"top_k": FLAGS.top_k},
               "detection": {"score_threshold": FLAGS.score_threshold,
                             "image_ids": image_ids(FLAGS.coco_annotations)}}
    writer = writers.WRITERS[predictor.task](predictor, output_dir, draw_images,
                                             **options.get(predictor.task, {}))
    batch_size = FLAGS.batch_size or 32
    progress = (keras.utils.Progbar(len(paths), verbose=startup.progress_style(),
                                    unit_name="image") if len(paths) > batch_size else None)
    print(f"{predictor.task} model {predictor.source}: {len(paths)} image(s)", file=sys.stderr)
    count, skipped = predict.run(predictor, paths, writer, batch_size=batch_size,
                                 crop_fraction=crop_fraction(FLAGS, predictor),
                                 progress=progress)
    if skipped:
        print(f"{startup.LINE_START}skipped {len(skipped)} file(s) that could not be read as "
              "images: " + "; ".join(f"{path} ({why})" for path, why in skipped),
              file=sys.stderr, flush=True)
    if not count:
        raise cli.UserError(f"none of the {len(paths)} file(s) could be read as an image")
    written = writer.close()
    print(f"predicted {count} image(s) with {predictor.source}: " + ", ".join(written))


if __name__ == "__main__":
    cli.define_flags()
    cli.define_saved_model_flags()
    cli.run(main)
