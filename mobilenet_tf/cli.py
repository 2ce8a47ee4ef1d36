"""What train.py, evaluate.py and export.py share: flags, the config they resolve to, and
turning user errors into one line and exit code 2.

Precedence, lowest first: the recipe (--config, else the one --model and --dataset pick),
then the plain flags (--batch_size, ...), then --config.key=value overrides in order; a
recipe whose settings depend on those (finetune.py) adjusts them in its finalize(config),
after which the flags and overrides apply again (finalize_recipe).
"""
import logging
import os
import sys
import time

from absl import app, flags, logging as absl_logging

from mobilenet_tf import UserError, config as config_lib, data_error_message, models
from mobilenet_tf.startup import LINE_START

FLAGS = flags.FLAGS
# flag name -> config field it sets (when given).
FLAG_FIELDS = {
    "model": "model.name",
    "dataset": "dataset.name",
    "data_dir": "dataset.data_dir",
    "batch_size": "train.batch_size",
    "epochs": "train.epochs",
    "steps": "train.steps",
    "seed": "train.seed",
    "init_from": "train.init_from",
    "freeze_backbone": "train.freeze_backbone",
    "profile_steps": "train.profile_steps",
    "mixed_precision": "runtime.mixed_precision",
    "distribution": "runtime.distribution",
    "tpu": "runtime.tpu",
    "data_service": "runtime.data_service",
}
_OVERRIDES = []   # the --config.key=value arguments of this run, set by parse_flags
DEFAULT_MODEL = "mobilenet_v3_small"
DEFAULT_DATASET = "shapes"


def define_flags():
    """The flags every entry point takes (each default None: the recipe decides)."""
    flags.DEFINE_string("config", None, "Recipe file, configs/FILE.py[:ARG]. Default: the one "
                        "--model and --dataset pick. Override fields with --config.KEY=VALUE.")
    flags.DEFINE_string("model", None, "Model name; " + "; ".join(
        f"{task}: {', '.join(models.names(task))}"
        for task in ("classification", "detection", "segmentation")) +
        f" (aliases {', '.join(models.ALIASES)}). Default: {DEFAULT_MODEL}.")
    flags.DEFINE_string("dataset", None, "imagenet, folder, shapes or tfds:NAME; segmentation: "
                        "cityscapes, voc2012, masks or shapes; detection: coco, coco_json or "
                        f"shapes. Default: {DEFAULT_DATASET}.")
    flags.DEFINE_string("model_dir", None, "Run directory: config, checkpoints, logs, models.")
    flags.DEFINE_string("data_dir", None, "Where the dataset is.")
    flags.DEFINE_integer("batch_size", None, "Global batch size, over all replicas.")
    flags.DEFINE_integer("epochs", None, "Epochs to train.")
    flags.DEFINE_integer("steps", None, "Steps to train (instead of --epochs).")
    flags.DEFINE_integer("seed", None, "Seed of the data order, augmentation and init.")
    flags.DEFINE_string("init_from", None, "keras_applications (published ImageNet weights), "
                        "a .keras model, a run's model dir or a .weights.h5 file.")
    flags.DEFINE_boolean("freeze_backbone", None, "Train only the classifier (with --init_from).")
    flags.DEFINE_string("profile_steps", None, "START,END: TensorBoard profiler trace.")
    flags.DEFINE_enum("mixed_precision", None, ["auto", "float32", "mixed_float16",
                                                "mixed_bfloat16"],
                      "Precision policy; auto: bfloat16 on TPU and Ampere+ GPUs, float16 on "
                      "older GPUs, float32 on CPU.")
    flags.DEFINE_enum("distribution", None, ["auto", "one_device", "mirrored", "multi_worker",
                                             "tpu"], "tf.distribute strategy (auto: from the "
                      "devices, TF_CONFIG and --tpu).")
    flags.DEFINE_string("tpu", None, "TPU name or grpc:// address.")
    flags.DEFINE_string("data_service", None, "grpc://HOST:PORT of a tf.data service "
                        "dispatcher: the training pipeline runs on its workers (python -m "
                        "mobilenet_tf.data.service).")
    flags.DEFINE_boolean("smoke_test", False, "Shrink the recipe to a seconds-long run on the "
                         "built-in Shapes data (2 steps of 8 images), to check its wiring end "
                         "to end before a long run.")


def define_saved_model_flags():
    """The flags evaluate.py and export.py share: which saved model, and the metrics file."""
    flags.DEFINE_string("checkpoint", None, "A .keras model, or a run's "
                        "checkpoints/ckpt-*.weights.h5 file (with --model_dir or the same "
                        "flags as its training).")
    flags.DEFINE_enum("weights", "final", ["final", "best"], "With --model_dir: which model.")
    flags.DEFINE_string("metrics_out", None, "Also write the results to this JSON file.")


def define_output_dir(help_text):
    """--output_dir, which export.py and predict.py both take: defined by the first of them
    imported (a test process imports both; a command line runs one, so its help is its own)."""
    if "output_dir" not in flags.FLAGS:
        flags.DEFINE_string("output_dir", None, help_text)


def parse_flags(argv):
    """absl flags_parser: plain flags into FLAGS, --config.* overrides kept for later.
    A bad flag is one line and exit code 2."""
    rest, overrides = config_lib.split_override_args(argv)
    try:
        remaining = FLAGS(rest)
    except flags.Error as error:
        fail(f"{error}; see --help")
    _OVERRIDES[:] = overrides
    return remaining


def resolve_config():
    """The run's ConfigDict from the recipe, flags and --config.* overrides."""
    model = models.canonical_name(FLAGS.model) if FLAGS.model else None
    if FLAGS.config:
        config = config_lib.load_recipe(FLAGS.config)
    else:
        config = config_lib.load_recipe(config_lib.recipe_for(
            model or DEFAULT_MODEL, FLAGS.dataset or DEFAULT_DATASET))
    return finalize_recipe(apply_flags(config))


def run_or_recipe_config():
    """For evaluate.py and export.py: the run's own config.json when --model_dir has one, or
    the run directory that --checkpoint lies in does (and no --config is given), else the
    recipe; then the flags and overrides."""
    run_dir = FLAGS.model_dir or run_dir_of(FLAGS.checkpoint)
    run_config = run_dir and os.path.join(run_dir, "config.json")
    if run_config and os.path.exists(run_config) and not FLAGS.config:
        return apply_flags(config_lib.from_json_file(run_config))
    if FLAGS.checkpoint and FLAGS.checkpoint.endswith(".weights.h5") and not FLAGS.config:
        raise UserError(f"--checkpoint={FLAGS.checkpoint}: a weights file needs its run's "
                        "config, and no config.json was found next to its checkpoints/ "
                        "folder; give --model_dir=RUN of the training run")
    return resolve_config()


def run_dir_of(checkpoint):
    """The training run a --checkpoint file belongs to (RUN for RUN/checkpoints/ckpt-N
    .weights.h5 and RUN/best.keras), or None when it lies outside a run directory."""
    if not checkpoint:
        return None
    folder = os.path.dirname(os.path.abspath(checkpoint))
    if os.path.basename(folder) == "checkpoints":
        folder = os.path.dirname(folder)
    return folder if os.path.exists(os.path.join(folder, "config.json")) else None


def apply_flags(config):
    """Sets the fields the given plain flags name, then the --config.* overrides, in order."""
    for flag, field in FLAG_FIELDS.items():
        value = getattr(FLAGS, flag)
        if value is not None:
            config_lib.set_field(config, field, value)
    if FLAGS.steps is not None and FLAGS.epochs is not None:
        raise UserError("give --epochs or --steps, not both")
    if FLAGS.epochs is not None:
        config.train.steps = 0
    config_lib.apply_overrides(config, _OVERRIDES)
    config.model.name = models.canonical_name(config.model.name)
    if FLAGS.smoke_test:
        config_lib.smoke_test(config)
    return config


# -- Recipe settings that depend on the flags -------------------------------------------------

def finalize_recipe(config):
    """The recipe's finalize(config) (config.finalize), then the flags again.

    The flags are applied after get_config(), so settings that depend on them (e.g.
    configs/finetune.py: from scratch without --init_from, a crop for the image size) are
    set in finalize(); the flags and --config.* overrides then apply once more, so whatever
    the user set explicitly wins. A recipe without finalize() is left as it is. A recipe's
    describe(config) then logs one line of what it derived (configs/own_detection.py: from
    your data), with the user's settings in it."""
    finalized = config_lib.finalize(config)
    if finalized is None:
        return config
    config = apply_flags(finalized)
    line = config_lib.describe(config)
    if line:
        print(line, file=sys.stderr, flush=True)
    return config


def default_model_dir(config):
    """runs/<recipe>-<model>-<time>: a new directory per run unless --model_dir is given
    (give the same --model_dir to resume)."""
    recipe = os.path.splitext(os.path.basename(config.get("recipe", "run").split(":")[0]))[0]
    return os.path.join("runs", f"{recipe}-{config.model.name}-{time.strftime('%Y%m%d-%H%M%S')}")


def fail(message, code=2):
    """One line on stderr and the exit code: 2 for a user error, 1 for anything else."""
    print(f"{LINE_START}error: {message}", file=sys.stderr, flush=True)
    sys.exit(code)


def quiet_python_logs():
    """TensorFlow's and absl's INFO lines off (a SavedModel export wrote ~16 "INFO:tensorflow:
    Assets written to ..." lines), unless --verbosity asks for them."""
    if not FLAGS["verbosity"].present:
        absl_logging.set_verbosity(absl_logging.WARNING)
    logging.getLogger("tensorflow").setLevel(logging.WARNING)


def run(main):
    """app.run(main) with our flags parser, and UserError as one line with exit code 2."""
    def guarded(argv):
        quiet_python_logs()
        try:
            return main(argv)
        except UserError as error:
            fail(str(error))
        except Exception as error:   # a user error found inside the input pipeline
            message = data_error_message(error)
            if message is None:
                raise
            fail(message)
        except KeyboardInterrupt:
            fail("interrupted; rerun with the same --model_dir to resume", code=130)
    app.run(guarded, flags_parser=parse_flags)
