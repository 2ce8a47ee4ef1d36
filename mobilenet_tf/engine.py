"""Everything a task does not decide: distribution, precision, optimizer, callbacks, resume,
and the model.fit / evaluate loop.

    result = train(config, model_dir)          # resumes from model_dir/checkpoints if present
    metrics = evaluate(config, model)

Training runs one model.fit() per epoch with that epoch's seeded data stream, so a run
resumed from a checkpoint at step s continues with exactly the batches an uninterrupted run
would have seen (data.get's skip_batches), and Keras's epoch counter stays right.
"""
import contextlib
import json
import math
import os
import sys
import warnings

import keras
import tensorflow as tf

from mobilenet_tf import UserError, callbacks, config as config_lib, labels, optim
from mobilenet_tf.data import service as data_service
from mobilenet_tf.startup import LINE_START, progress_style
from mobilenet_tf.tasks import TASKS

# Each epoch's dataset is finite and fit() is told its length; when corrupt images were
# skipped it ends a batch early, which is expected, not worth Keras's warning.
warnings.filterwarnings("ignore", message="Your input ran out of data")
DISTRIBUTIONS = ("auto", "one_device", "mirrored", "multi_worker", "tpu")
POLICIES = ("auto", "float32", "mixed_float16", "mixed_bfloat16")


class TrainingDiverged(Exception):
    """The loss became NaN or infinite; the message names the step and the kept checkpoint."""


def log(message):
    """One line on stderr, where Keras's progress bar is not. On a terminal it first clears
    the line, so a message in the middle of an epoch is not glued onto the progress bar
    (which redraws itself on its next update)."""
    print(LINE_START + message, file=sys.stderr, flush=True)


# -- Distribution and precision ---------------------------------------------------------------

def _cluster_size():
    spec = json.loads(os.environ.get("TF_CONFIG", "{}")).get("cluster", {})
    return sum(len(spec.get(kind, [])) for kind in ("chief", "worker"))


def make_strategy(kind, tpu=""):
    """The tf.distribute strategy for `kind` (auto: TPU if named, several workers in
    TF_CONFIG, several GPUs, else one device). Under JAX: sets keras.distribution's
    DataParallel over all devices and returns the default strategy."""
    if kind not in DISTRIBUTIONS:
        raise UserError(f"--distribution={kind} is not one of {', '.join(DISTRIBUTIONS)}")
    if keras.backend.backend() == "jax":
        if kind in ("tpu", "multi_worker") or tpu:
            raise UserError(f"--distribution={kind} needs the TensorFlow backend; under JAX "
                            "every local device is used through keras.distribution")
        import jax
        if len(jax.devices()) > 1 and kind != "one_device":
            keras.distribution.set_distribution(keras.distribution.DataParallel())
        return tf.distribute.get_strategy()
    if kind == "auto":
        if tpu:
            kind = "tpu"
        elif _cluster_size() > 1:
            kind = "multi_worker"
        elif len(tf.config.list_logical_devices("GPU")) > 1:
            kind = "mirrored"
        else:
            kind = "one_device"
    if kind == "tpu":
        resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu=tpu or "")
        tf.config.experimental_connect_to_cluster(resolver)
        tf.tpu.experimental.initialize_tpu_system(resolver)
        return tf.distribute.TPUStrategy(resolver)
    if kind == "multi_worker":
        if not os.environ.get("TF_CONFIG"):
            raise UserError("--distribution=multi_worker needs TF_CONFIG describing the "
                            "cluster and this worker's task")
        implementation = (tf.distribute.experimental.CommunicationImplementation.NCCL
                          if tf.config.list_physical_devices("GPU") else
                          tf.distribute.experimental.CommunicationImplementation.RING)
        return tf.distribute.MultiWorkerMirroredStrategy(
            communication_options=tf.distribute.experimental.CommunicationOptions(
                implementation=implementation))
    if kind == "mirrored":
        return tf.distribute.MirroredStrategy()
    if tf.config.list_logical_devices("GPU"):
        return tf.distribute.OneDeviceStrategy("/gpu:0")
    # On a CPU the default strategy does the same with less per-step work: in train.py,
    # OneDeviceStrategy("/cpu:0") made a small model's step 40% slower, with 10x the system
    # time.
    return tf.distribute.get_strategy()


def is_chief(strategy):
    """Whether this process writes checkpoints, summaries and models (worker 0 or chief)."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not getattr(resolver, "task_type", None):
        return True
    if resolver.task_type == "chief":
        return True
    has_chief = "chief" in resolver.cluster_spec().as_dict()
    return resolver.task_type == "worker" and resolver.task_id == 0 and not has_chief


def choose_precision(policy, strategy):
    """The Keras dtype policy: auto is bfloat16 on TPUs and on GPUs from Ampere on, float16
    on older GPUs, float32 on CPUs (which have no fast half-precision matmuls)."""
    if policy not in POLICIES:
        raise UserError(f"--mixed_precision={policy} is not one of {', '.join(POLICIES)}")
    if policy != "auto":
        if policy == "mixed_float16" and not _has_accelerator():
            log("warning: --mixed_precision=mixed_float16 on a CPU runs slower than float32 "
                "(CPUs have no fast float16 math; measured 1.7x slower); use float32 or auto")
        return policy
    if isinstance(strategy, tf.distribute.TPUStrategy):
        return "mixed_bfloat16"
    if keras.backend.backend() == "jax":
        import jax
        platform = jax.devices()[0].platform
        return "mixed_bfloat16" if platform in ("gpu", "tpu") else "float32"
    gpus = tf.config.list_physical_devices("GPU")
    if not gpus:
        return "float32"
    capability = tf.config.experimental.get_device_details(gpus[0]).get(
        "compute_capability", (0, 0))
    return "mixed_bfloat16" if tuple(capability) >= (8, 0) else "mixed_float16"


def _has_accelerator():
    if keras.backend.backend() == "jax":
        import jax
        return jax.devices()[0].platform in ("gpu", "tpu")
    return bool(tf.config.list_physical_devices("GPU") or tf.config.list_logical_devices("TPU"))


def use_jit(setting):
    """XLA for auto where there is an accelerator, and always under JAX, whose train step
    would otherwise run op by op (50x slower than jitted, even on a CPU)."""
    if setting != "auto":
        return bool(setting)
    return keras.backend.backend() == "jax" or _has_accelerator()


def replica_count(strategy):
    """Replicas a global batch is split over: tf.distribute's, or under JAX the devices of
    keras.distribution's DataParallel (1 without one)."""
    distribution = keras.distribution.distribution() if keras.backend.backend() == "jax" else None
    if distribution is not None:
        return len(distribution.device_mesh.devices.reshape(-1))
    return strategy.num_replicas_in_sync


def describe_distribution(strategy):
    """One line for the log: what runs the replicas."""
    if keras.backend.backend() == "jax" and keras.distribution.distribution() is not None:
        return f"keras.distribution.DataParallel over {replica_count(strategy)} JAX devices"
    return f"{type(strategy).__name__} with {strategy.num_replicas_in_sync} replica(s)"


# -- Data -------------------------------------------------------------------------------------

def distributed_inputs(task, config, strategy, split, training, epoch=0, skip_batches=0,
                       job=None):
    """The split's dataset, one shard per worker under tf.distribute, and its DatasetInfo.
    With config.runtime.data_service, training batches come from the tf.data service
    (data/service.py; job: the job name several trainers share); skip_batches is then
    moot, as the service keeps no order (see its module doc)."""
    replicas = replica_count(strategy)
    if config.train.batch_size % replicas:
        raise UserError(f"batch size {config.train.batch_size} does not divide over "
                        f"{replicas} replicas; use a multiple of {replicas}")
    build = task.build_inputs
    if training and config.runtime.get("data_service"):
        build = lambda config, split, training, epoch, skip_batches, input_context=None: (
            data_service.build_inputs(task, config, split, input_context=input_context,
                                      epoch=epoch, job=job))
    if strategy.num_replicas_in_sync == 1:   # one device, or JAX: Keras places the dataset
        return build(config, split, training=training, epoch=epoch, skip_batches=skip_batches)
    found = {}

    def dataset_fn(input_context):
        dataset, info = build(config, split, training=training, input_context=input_context,
                              epoch=epoch, skip_batches=skip_batches)
        found["info"] = info
        return dataset

    dataset = strategy.distribute_datasets_from_function(dataset_fn)
    return dataset, found["info"]


def steps_plan(config, num_examples):
    """(steps per epoch, total steps, epochs) of the run."""
    steps_per_epoch = num_examples // config.train.batch_size
    if steps_per_epoch < 1:
        raise UserError(f"the training split has {num_examples} examples, fewer than one "
                        f"batch of {config.train.batch_size}; lower --batch_size")
    if config.train.steps > 0:
        total = config.train.steps
    else:
        total = config.train.epochs * steps_per_epoch
    return steps_per_epoch, total, math.ceil(total / steps_per_epoch)


# -- Model ------------------------------------------------------------------------------------

def compile_model(model, task, config, optimizer):
    """Compiles with the task's loss and metrics; builds the optimizer's variables now, so a
    checkpoint can be loaded into them before the first step."""
    model.compile(optimizer=optimizer, loss=task.build_loss(config),
                  metrics=task.build_metrics(config),
                  steps_per_execution=config.train.steps_per_execution,
                  jit_compile=use_jit(config.runtime.jit_compile),
                  run_eagerly=bool(config.runtime.get("run_eagerly", False)))
    model.optimizer.build(model.trainable_variables)
    return model


def prepare_model(task, config, num_classes, steps_per_epoch, total_steps):
    """The task's model with init_from, freezing and the compiled optimizer."""
    model = task.build_model(config, num_classes)
    if config.train.init_from:
        task.init_from(model, config.train.init_from, config)
    if config.train.freeze_backbone:
        task.freeze_backbone(model, config)
    optim.check_lr_multipliers(model, config.optimizer.get("lr_multipliers", {}))
    optimizer = optim.build_optimizer(config, steps_per_epoch, total_steps)
    return compile_model(model, task, config, optimizer)


def check_config(config):
    """UserError for settings that contradict each other, before anything is built."""
    if config.train.steps <= 0 and config.train.epochs <= 0:
        raise UserError("train for something: set --epochs or --steps to a positive number")
    if config.train.batch_size < 1:
        raise UserError(f"--batch_size must be positive, got {config.train.batch_size}")
    if config.optimizer.name not in optim.OPTIMIZERS:
        raise UserError(f"optimizer.name={config.optimizer.name!r} is not one of "
                        f"{', '.join(optim.OPTIMIZERS)}")
    if config.schedule.name not in optim.SCHEDULES:
        raise UserError(f"schedule.name={config.schedule.name!r} is not one of "
                        f"{', '.join(optim.SCHEDULES)}")
    if config.task not in TASKS:
        raise UserError(f"task {config.task!r} is not one of {', '.join(TASKS)}")
    TASKS[config.task].check_config(config)   # the model's and the dataset's task, ...
    if config.train.freeze_backbone and not config.train.init_from:
        raise UserError("--freeze_backbone trains only a new head on a pretrained backbone: "
                        "give --init_from too")
    if not 0.0 <= config.train.ema_decay < 1.0:
        raise UserError(f"train.ema_decay must be in [0, 1), got {config.train.ema_decay}")
    if config.train.profile_steps:
        _profile_range(config.train.profile_steps)
    if config.runtime.get("data_service"):
        data_service.parse_address(config.runtime.data_service)


def _profile_range(text):
    try:
        start, end = (int(part) for part in str(text).split(","))
    except ValueError:
        raise UserError(f"--profile_steps={text}: expected START,END (e.g. 10,20)") from None
    if not 0 <= start < end:
        raise UserError(f"--profile_steps={text}: need 0 <= START < END")
    return start, end


# -- Training ---------------------------------------------------------------------------------

def train(config, model_dir, verbose=None):
    """Trains config's task into model_dir, resuming from its newest checkpoint.

    Writes config.json, labels.json (mobilenet_tf.labels), checkpoints/, TensorBoard logs,
    best.keras, final.keras and final_metrics.json (validation metrics of the final weights,
    EMA when used).
    Returns the final validation metrics as a dict.
    """
    check_config(config)
    task = TASKS[config.task]
    strategy = make_strategy(config.runtime.distribution, config.runtime.tpu)
    policy = choose_precision(config.runtime.mixed_precision, strategy)
    keras.mixed_precision.set_dtype_policy(policy)
    chief = is_chief(strategy)
    # Everything that can fail on a user's mistake happens before the model dir is touched:
    # the data is found, an existing run is checked against the flags, the step plan is made
    # and the model built with its --init_from weights. A mistake leaves nothing behind.
    # The shuffle's seed is the run's seed with the global one (tf.data's rule): set first.
    keras.utils.set_random_seed(config.train.seed)
    first_epoch, train_info = distributed_inputs(
        task, config, strategy, config.dataset.train_split, training=True,
        job=data_service.job_name(model_dir, config.dataset.train_split, 0, 0))
    check_same_run(config, model_dir)
    log(f"config {config.get('recipe', '')}: {config_lib.to_json(config)}")
    log(f"distribution: {describe_distribution(strategy)}; precision: {policy}")
    note = from_scratch_note(config)
    if note:
        log(note)
    steps_per_epoch, total_steps, epochs = steps_plan(config, train_info.num_examples)
    keras.utils.set_random_seed(config.train.seed)   # the same initial weights every run
    with strategy.scope():
        model = prepare_model(task, config, train_info.num_classes, steps_per_epoch,
                              total_steps)
    if chief:
        tf.io.gfile.makedirs(model_dir)
        callbacks.write_text_atomically(os.path.join(model_dir, "config.json"),
                                        config_lib.to_json(config))
        # What each output index is, for evaluate.py, export and whoever deploys the model.
        labels.write(model_dir, labels.from_info(train_info))

    nan_guard = callbacks.NanGuard()
    best = callbacks.BestModel(os.path.join(model_dir, "best.keras"),
                               monitor="val_" + task.BEST_METRIC, is_chief=chief)
    # Where the run is: saved with every checkpoint, so a restart resumes the same epoch at
    # the same batch (an epoch can end early when corrupt images were skipped).
    position = {"epoch": 0, "epoch_start_step": 0, "epoch_complete": False}
    checkpointer = callbacks.Checkpointer(
        os.path.join(model_dir, "checkpoints"), config.train.checkpoint_every_steps,
        keep=config.train.keep_checkpoints, is_chief=chief, nan_guard=nan_guard,
        extra_state=lambda: {**position, "batch_size": config.train.batch_size,
                             "best": best.best})
    index = checkpointer.restore(model)
    step = epoch = done_in_epoch = 0
    if index is not None:
        if index.get("batch_size") != config.train.batch_size:
            raise UserError(f"the run in {model_dir} was trained with batch size "
                            f"{index.get('batch_size')}; resume it with the same --batch_size "
                            "or start a new --model_dir")
        step, best.best, epoch = index["step"], index.get("best"), index["epoch"]
        done_in_epoch = step - index["epoch_start_step"]
        if index["epoch_complete"]:
            epoch, done_in_epoch = epoch + 1, 0
        log(f"resumed from {index['file']} at step {step}, epoch {epoch + 1} "
            f"batch {done_in_epoch + 1}")
    profile = _profile_range(config.train.profile_steps) if config.train.profile_steps else None
    board = callbacks.TensorBoard(os.path.join(model_dir, "logs"), config.train.log_every_steps,
                                  config.train.batch_size, profile, enabled=chief)
    if step == 0:
        _write_first_images(task, config, board)
    else:
        first_epoch = None   # a resumed run starts inside its stream; see the loop
    validation, _ = distributed_inputs(task, config, strategy, config.dataset.eval_split,
                                       training=False)
    mark_complete = keras.callbacks.LambdaCallback(
        on_epoch_end=lambda *_: position.update(epoch_complete=True))
    last_validation = _LastValidation(task)
    fit_callbacks = [callbacks.OutputLosses(), last_validation, nan_guard, mark_complete, best,
                     checkpointer, board]
    pictures = _validation_pictures(task, config, board, train_info, chief)
    fit_callbacks += [pictures] if pictures else []
    with strategy.scope():
        _build_before_fit(model, task, config, validation, strategy)
    while epoch < epochs and step < total_steps:
        planned = min(steps_per_epoch, total_steps - epoch * steps_per_epoch)
        if done_in_epoch >= planned:   # stopped after the epoch's last step, before its end
            epoch, done_in_epoch = epoch + 1, 0
            continue
        steps = planned - done_in_epoch
        position.update(epoch=epoch, epoch_start_step=step - done_in_epoch,
                        epoch_complete=False)
        # A fresh run's first epoch trains on the dataset built above (its first iteration,
        # so the same batches), not on a second build of the same pipeline.
        if first_epoch is not None:
            dataset, first_epoch = first_epoch, None
        else:
            dataset, _ = distributed_inputs(task, config, strategy, config.dataset.train_split,
                                            training=True, epoch=epoch,
                                            skip_batches=done_in_epoch,
                                            job=data_service.job_name(
                                                model_dir, config.dataset.train_split, epoch,
                                                step))
        last = epoch + 1 == epochs
        evaluate_now = last or (epoch + 1) % max(config.train.eval_every_epochs, 1) == 0
        # epochs=the run's, stopped after this one: Keras then prints "Epoch 3/10".
        model.fit(dataset, initial_epoch=epoch, epochs=epochs, steps_per_epoch=steps,
                  validation_data=validation if evaluate_now else None, shuffle=False,
                  callbacks=fit_callbacks + [_StopAfterOneEpoch()] + (
                      [_ValidationWeights()] if evaluate_now else []),
                  verbose=progress_style() if verbose is None else verbose)
        if nan_guard.diverged_at is not None:
            kept = checkpointer.read_index()
            where = (f"the last good checkpoint, step {kept['step']}, is kept in "
                     f"{checkpointer.directory}" if kept else "no checkpoint was written")
            raise TrainingDiverged(
                f"the loss became NaN or infinite at step {nan_guard.diverged_at}; {where}. "
                "Lower the learning rate, add warm-up or gradient clipping, or use float32")
        step, epoch, done_in_epoch = callbacks.global_step(model), epoch + 1, 0
    # One replica: the last epoch's validation, at the final step, is the final evaluation.
    reusable = (last_validation.at_step == callbacks.global_step(model)
                and strategy.num_replicas_in_sync == 1)
    # When that validation was also the best, best.keras holds the final weights already.
    same_as_best = reusable and best.saved_at_step == callbacks.global_step(model)
    metrics = _finish(task, config, model, validation, model_dir if chief else
                      _worker_dir(model_dir, strategy), chief, board,
                      last_validation.metrics if reusable else None,
                      best.path if same_as_best else None)
    if pictures:
        pictures.write_final(metrics["step"])
    return metrics


# The config fields that decide the weights' shapes: a run in a model dir resumes only with
# the same values (the rest, e.g. --epochs or the learning rate, may change on a resume).
SAME_RUN_FIELDS = ("task", "model.name", "model.width", "model.options", "dataset.name")


def check_same_run(config, model_dir):
    """UserError, before anything is written, when model_dir holds a run whose config.json
    differs from `config` in SAME_RUN_FIELDS (it would not resume, and overwriting its
    config.json would leave the old run unable to evaluate)."""
    path = os.path.join(model_dir, "config.json")
    if not tf.io.gfile.exists(path):
        return
    existing = config_lib.from_json_file(path)
    for field in SAME_RUN_FIELDS:
        old, new = _field(existing, field), _field(config, field)
        if old != new:
            flag = {"model.name": "--model", "dataset.name": "--dataset"}.get(
                field, f"--config.{field}")
            raise UserError(
                f"--model_dir {model_dir} holds a run with {field}={old!r}, not {new!r}; "
                f"to resume it pass {flag}={old}, or give a new --model_dir")


def _field(config, dotted):
    value = config
    for part in dotted.split("."):
        value = value.get(part) if hasattr(value, "get") else None
    value = value.to_dict() if hasattr(value, "to_dict") else value
    return json.loads(json.dumps(value, default=str))   # tuples and lists alike, as in JSON


# Datasets a classifier is trained from scratch on by design; on any other, a run without
# --init_from says so, since a few thousand images of one's own usually do far better
# starting from ImageNet weights.
SCRATCH_DATASETS = ("shapes", "imagenet")


def from_scratch_note(config):
    """The log line of a classification run from random weights on the user's data, with
    the settings it trains with (None for other runs)."""
    if (config.task != "classification" or config.train.init_from
            or config.dataset.name in SCRATCH_DATASETS):
        return None
    length = (f"{config.train.steps} steps" if config.train.steps > 0
              else f"{config.train.epochs} epochs")
    rate = f"{config.optimizer.learning_rate:g}" + (
        f" at batch {config.optimizer.base_batch_size}" if config.optimizer.base_batch_size else "")
    low, high = config.dataset.get("crop_area_range", (0.08, 1.0))
    return (f"training from scratch (no --init_from): random initial weights, learning rate "
            f"{rate}, {length}, batch-norm momentum "
            f"{config.model.bn_momentum:g}, crop area {low:g}-{high:g}; to fine-tune ImageNet "
            "weights pass --init_from=keras_applications or --init_from=PATH")


def build_for_batches(model, element_spec):
    """Builds the compiled loss and metrics of `model` for batches of `element_spec` (a
    dataset's) now, before its first train or test step.

    Keras on TensorFlow otherwise builds them inside the first trace of that step when no
    tf.distribute strategy is set, and the variables they then create make TensorFlow trace
    the step a second time: 3-6 CPU s more for an SSDLite training run (its per-output loss
    trackers), about 1 s for its evaluation. JAX's trainer builds them before tracing, and
    a model run eagerly builds them in its first step, traced by nothing."""
    if keras.backend.backend() == "tensorflow" and not model.run_eagerly:
        model._symbolic_build(data_batch=_symbolic_batch(element_spec))


def _symbolic_batch(element_spec):
    return keras.tree.map_structure(
        lambda spec: keras.KerasTensor(spec.shape, spec.dtype.name), element_spec)


def _build_before_fit(model, task, config, validation, strategy):
    """build_for_batches before fit(), from the validation split's batches.

    Under a multi-replica strategy Keras's fit() otherwise builds them from a first batch
    averaged over the replicas, which fails for uint8 images across workers; built here from
    the split's undistributed dataset, fit() needs no batch for it."""
    if strategy.num_replicas_in_sync == 1:
        build_for_batches(model, validation.element_spec)
        return
    dataset, _ = task.build_inputs(config, config.dataset.eval_split, training=False)
    from keras.src.backend.tensorflow import trainer as _tf_trainer   # TF backend only
    model._symbolic_build(data_batch=_symbolic_batch(dataset.element_spec))   # eager runs too
    model._maybe_symbolic_build = lambda iterator=None, data_batch=None: None
    if isinstance(tf.distribute.get_strategy(), tf.distribute.MultiWorkerMirroredStrategy) or \
            _tf_trainer._collective_all_reduce_multi_worker(tf.distribute.get_strategy()):
        # Keras 3.15 averages each scalar log over workers with reduce(axis=0), which fails
        # on scalars; logs are then this worker's (the weights are all-reduced as always).
        _tf_trainer._collective_all_reduce_multi_worker = lambda strategy: False


class _LastValidation(keras.callbacks.Callback):
    """The task's metrics from fit()'s last validation (logs renamed by OutputLosses, which
    must come first) and the step it ran at: when that is the run's last step, they are
    the final metrics, and a large validation split is not read twice."""

    def __init__(self, task):
        super().__init__()
        self.task, self.metrics, self.at_step = task, None, None

    def on_epoch_end(self, epoch, logs=None):
        validated = {key[len("val_"):]: value for key, value in (logs or {}).items()
                     if key.startswith("val_")}
        if validated:   # the metric state is still the validation's (segmentation's per class)
            self.metrics = task_metrics(self.task, self.model, validated)
            self.at_step = callbacks.global_step(self.model)


class _StopAfterOneEpoch(keras.callbacks.Callback):
    """Ends fit() after its first epoch: each epoch gets its own seeded dataset."""

    def on_epoch_end(self, epoch, logs=None):
        self.model.stop_training = True


class _ValidationWeights(keras.callbacks.Callback):
    """Validates during fit() as evaluate() does: with the EMA weights (when the optimizer
    keeps them), and a loss without the L2 penalty (callbacks.without_weight_decay)."""

    def on_test_begin(self, logs=None):
        self._held = contextlib.ExitStack()
        self._held.enter_context(callbacks.ema_weights(self.model))
        self._held.enter_context(callbacks.without_weight_decay(self.model))

    def on_test_end(self, logs=None):
        self._held.close()


def _validation_pictures(task, config, board, info, chief):
    """The TensorBoard pictures of each validation (visualize.summaries), on the chief of a
    one-worker run when config.train.validation_pictures > 0; None otherwise."""
    count = config.train.get("validation_pictures", 0)
    if not chief or count <= 0 or _cluster_size() > 1:
        return None
    from mobilenet_tf.visualize.summaries import ValidationPictures
    return ValidationPictures(task, config, board, labels.from_info(info)["class_names"],
                              count)


def _write_first_images(task, config, board):
    # A dataset of its own: iterating epoch 0's would reshuffle that one's order.
    dataset, _ = task.build_inputs(config, config.dataset.train_split, training=True)
    images, _ = next(iter(dataset.take(1)))
    board.write_images(images.numpy(), step=0)


def _worker_dir(model_dir, strategy):
    """Where a non-chief worker writes its copy of the final model: model_dir/workers/ID
    (every worker must take part in saving; only the chief's copy is the run's)."""
    return os.path.join(model_dir, "workers", str(strategy.cluster_resolver.task_id))


def _finish(task, config, model, validation, model_dir, chief, board, validated=None,
            saved=None):
    """Final evaluation and final.keras, both with the EMA weights when there are any.
    validated: the metrics fit() already measured on `validation` with these weights (then
    the split is not evaluated again); saved: a .keras file of these weights (then copied)."""
    with callbacks.ema_weights(model), callbacks.without_weight_decay(model):
        if validated is None:
            results = callbacks.OutputLosses.rename(
                model.evaluate(validation, verbose=0, return_dict=True))
            validated = task_metrics(task, model, results)
        tf.io.gfile.makedirs(model_dir)
        callbacks.save_model_atomically(model, os.path.join(model_dir, "final.keras"),
                                        same_as=saved)
        metrics = dict(validated)
        metrics.update(task.split_metrics(config, model))
    metrics["step"] = callbacks.global_step(model)
    if chief:
        callbacks.write_text_atomically(os.path.join(model_dir, "final_metrics.json"),
                                        json.dumps(metrics, indent=2))
        board.write_scalars({f"final_{k}": v for k, v in metrics.items()
                             if isinstance(v, (int, float))}, metrics["step"])
    return metrics


def task_metrics(task, model, results):
    """The task's METRIC_NAMES from model.evaluate's results, as floats, plus what the task
    reads from the model's metric state (segmentation: per-class IoU)."""
    metrics = {name: float(results[name]) for name in task.METRIC_NAMES if name in results}
    return {**metrics, **task.extra_metrics(model)}


# -- Evaluation -------------------------------------------------------------------------------

def evaluate(config, model, split=None):
    """Evaluates `model` on config's dataset split (eval_split by default); a metrics dict."""
    task = TASKS[config.task]
    strategy = tf.distribute.get_strategy()
    dataset, _ = distributed_inputs(task, config, strategy, split or config.dataset.eval_split,
                                    training=False)
    if strategy.num_replicas_in_sync == 1:
        build_for_batches(model, dataset.element_spec)
    with callbacks.ema_weights(model), callbacks.without_weight_decay(model):
        # A task may evaluate its own way (segmentation: multi-scale, sliding window).
        metrics = task.evaluate(config, model, dataset)
        if metrics is None:
            results = callbacks.OutputLosses.rename(
                model.evaluate(dataset, verbose=0, return_dict=True))
            metrics = task_metrics(task, model, results)
        metrics.update(task.split_metrics(config, model, split))
    return metrics
