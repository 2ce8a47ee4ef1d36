"""Steady-state training throughput on one accelerator: ours against keras.applications and
torchvision, in the same process and with the same synthetic, device-resident data.

    KERAS_BACKEND=jax python benchmarks/train_throughput.py \\
        [--models=v1,v2,v3_large,v3_small,ssdlite,lraspp] [--precision=mixed_bfloat16,float32]
        [--peers=ours,keras_applications,torchvision_eager,torchvision_compile]
        [--batch_size=0] [--image_size=0] [--steps=60] [--warmup=3] [--steps_per_execution=1]
        [--input=float32|uint8] [--host_input] [--json_out=FILE] [--compare_precision]
        [--depthwise=conv,shifted] [--profile_dir=DIR --profile_models=v2] [--time_budget=S]

A training step is forward, backward and the optimizer update (SGD, momentum 0.9), timed after
warm-up and compilation with the device synchronised (block_until_ready under JAX, the loss
fetched under TensorFlow, torch.cuda.synchronize), the median of --rounds windows. Defaults
per model: classification batch 256 at 224, SSDLite batch 64 at 320, LR-ASPP batch 16 at
512x1024 (--batch_size / --image_size override every model; LR-ASPP takes N x 2N).

- ours: mobilenet_tf.models with the repository's losses (classification cross-entropy, SSD
  box + hard-negative softmax loss on encoded targets, segmentation cross-entropy), through
  Keras's own train_step (model.compile; under JAX, k steps in one jitted lax.scan with the
  state donated). SSD targets are made with numpy: the repository assigns them in tf.data,
  outside the step, so our SSD step does no matching.
- keras_applications: MobileNet, MobileNetV2, MobileNetV3Large/Small (weights=None), same
  loss and optimizer. No detection or segmentation model there.
- torchvision_eager / torchvision_compile: mobilenet_v2, mobilenet_v3_large/small,
  ssdlite320_mobilenet_v3_large (train mode: its anchor matching is in the step, on random
  boxes) and lraspp_mobilenet_v3_large, weights=None and weights_backbone=None; channels_last,
  autocast to the precision's half type (GradScaler under float16). torchvision has no V1.
  Skipped with a note where torch is not importable; on a CPU only as a smoke run.

--input=uint8 feeds uint8 pixels and normalises on the device (a Rescaling layer in front of
every Keras model); --host_input moves each step's batch from host numpy (as from a loader)
instead of reusing device-resident data. --depthwise measures ours once per build option
`depthwise` listed ("shifted": k x k shifted multiply-adds, models/shifted_depthwise.py).
--profile_dir (JAX): after timing ours on a --profile_models workload, saves its optimized
HLO and a jax.profiler trace of a few steps and summarises them (benchmarks/xla_profile.py:
kernels by time, the depthwise layers' share and lowering) in DIR/<model>_<depthwise>/.
--time_budget skips a figure once less than its expected cost (compile included) is left.
--json_out appends to the file's results and prints the table of all of them;
--compare_precision trains ours a few steps in float32 and each mixed policy from the same
weights on the same batches and reports the loss differences.
Runs with KERAS_BACKEND=jax and no TensorFlow installed (the lent GPU machine has none).
Record figures with date and machine in benchmarks/RESULTS.md; the analysis is in NOTES.md.
"""
import datetime
import gc
import json
import os
import platform
import statistics
import sys
import time

# JAX would otherwise take 75% of the GPU's memory at start, leaving torch too little.
os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import keras  # noqa: E402
import numpy as np  # noqa: E402
from absl import app, flags  # noqa: E402

from mobilenet_tf import metrics  # noqa: E402
from mobilenet_tf.detection import losses as detection_losses  # noqa: E402
from mobilenet_tf.models import build, entry  # noqa: E402
from mobilenet_tf.models.shifted_depthwise import DEPTHWISE  # noqa: E402

PEERS = ("ours", "keras_applications", "torchvision_eager", "torchvision_compile")
POLICIES = ("mixed_bfloat16", "float32", "mixed_float16")
FLAGS = flags.FLAGS
# workload: (our registry name, torchvision's name); the task and the keras.applications
# class come from the registry row.
_WORKLOAD_MODELS = {
    "v1": ("mobilenet_v1", None),
    "v2": ("mobilenet_v2", "mobilenet_v2"),
    "v3_large": ("mobilenet_v3_large", "mobilenet_v3_large"),
    "v3_small": ("mobilenet_v3_small", "mobilenet_v3_small"),
    "ssdlite": ("ssdlite_v3_large", "ssdlite320_mobilenet_v3_large"),
    "lraspp": ("lraspp_v3_large", "lraspp_mobilenet_v3_large"),
}

flags.DEFINE_list("models", list(_WORKLOAD_MODELS),
                  f"which of {', '.join(_WORKLOAD_MODELS)}")
flags.DEFINE_list("peers", list(PEERS), f"which of {', '.join(PEERS)}")
flags.DEFINE_list("precision", ["mixed_bfloat16", "float32"], f"of {', '.join(POLICIES)}")
flags.DEFINE_integer("batch_size", 0, "per-step batch for every model (0: each model's default)")
flags.DEFINE_integer("image_size", 0, "input size N (LR-ASPP: N x 2N; 0: each model's default)")
flags.DEFINE_integer("steps", 60, "timed steps per round")
flags.DEFINE_integer("warmup", 3, "untimed executions first (the first one compiles)")
flags.DEFINE_integer("rounds", 3, "timed windows per figure; the median is reported")
flags.DEFINE_integer("steps_per_execution", 1, "train steps per jitted call (JAX, TF)")
flags.DEFINE_enum("input", "float32", ["float32", "uint8"],
                  "float32 images in [-1, 1], or uint8 pixels normalised on the device")
flags.DEFINE_bool("host_input", False, "transfer each step's batch from host memory (JAX)")
flags.DEFINE_bool("donate", True, "donate the training state to the jitted step (JAX)")
flags.DEFINE_string("json_out", None, "append the figures to this JSON file")
flags.DEFINE_float("time_budget", 0, "seconds; skip what is left once spent (0: no limit)")
flags.DEFINE_bool("compare_precision", False, "train ours a few steps per policy, same data")
flags.DEFINE_integer("compare_steps", 10, "steps of --compare_precision")
flags.DEFINE_bool("table_only", False, "print the table of --json_out and exit")
flags.DEFINE_float("learning_rate", 0.01, "SGD learning rate (momentum 0.9)")
flags.DEFINE_list("depthwise", ["conv"], f"ours' depthwise build option(s): {', '.join(DEPTHWISE)}")
flags.DEFINE_string("profile_dir", None, "trace and summarise ours' steps here (JAX)")
flags.DEFINE_list("profile_models", ["v2"], "the workloads --profile_dir profiles")
flags.DEFINE_integer("profile_steps", 3, "steps traced per profile")


# ------------------------------------------------------------------------- workloads

WORKLOADS = {   # workload: (task, our registry name, keras.applications class, torchvision)
    workload: (entry(name).task, name,
               entry(name).keras_application if entry(name).task == "classification" else None,
               torchvision_name)
    for workload, (name, torchvision_name) in _WORKLOAD_MODELS.items()}
DEFAULT_BATCH = {"classification": 256, "detection": 64, "segmentation": 16}
DEFAULT_SIZE = {"classification": 224, "detection": 320, "segmentation": 512}
# Seconds a figure is expected to take on the lent GPU, compile and first step included
# (torch.compile: 40-90 s); --time_budget does not start one with less than this left.
EXPECTED_FIGURE_S = {"ours": 45, "keras_applications": 45, "torchvision_eager": 20,
                     "torchvision_compile": 100}
PROFILE_S = 20   # a --profile_dir trace and its summary
IMAGENET_CLASSES, CITYSCAPES_CLASSES = 1000, 19
SSD_CLASSES = 90   # 91 logits with background, as torchvision's COCO ssdlite320
SSD_POSITIVES = 30   # positive anchors per image in the synthetic targets (~1.5% of 2,034)
SSD_BOXES = 7        # ground-truth boxes per image for torchvision (COCO's mean is 7.3)


def setting(model):
    """(kind, batch, (height, width)) of `model` under the flags."""
    kind = WORKLOADS[model][0]
    batch = FLAGS.batch_size or DEFAULT_BATCH[kind]
    size = FLAGS.image_size or DEFAULT_SIZE[kind]
    return kind, batch, (size, 2 * size) if kind == "segmentation" else (size, size)


def synthetic_batch(kind, batch, shape, model=None, seed=0):
    """(images, targets) in numpy: random images (float32 in [-1, 1] or uint8 per --input)
    and targets of `kind`. Detection targets need `model` for the anchor count."""
    rng = np.random.default_rng(seed)
    pixels = rng.integers(0, 256, (batch, *shape, 3), dtype=np.uint8)
    images = pixels if FLAGS.input == "uint8" else (pixels / 127.5 - 1).astype("float32")
    if kind == "classification":
        return images, rng.integers(0, IMAGENET_CLASSES, batch).astype("int32")
    if kind == "segmentation":
        return images, rng.integers(0, CITYSCAPES_CLASSES, (batch, *shape)).astype("int32")
    anchors = model.output["boxes"].shape[1]
    classes = np.zeros((batch, anchors), "int32")
    for row in classes:   # as tasks/detection.py packs them: deltas, then the class target
        row[rng.choice(anchors, SSD_POSITIVES, replace=False)] = rng.integers(
            1, SSD_CLASSES + 1, SSD_POSITIVES)
    deltas = rng.normal(0, 1, (batch, anchors, 4)).astype("float32")
    boxes = np.concatenate([deltas, classes[..., None].astype("float32")], -1)
    return images, {"boxes": boxes, "classes": classes}


# ----------------------------------------------------------------------- Keras models

def keras_model(model, peer, shape, options=None):
    """Our model (with build `options`) or keras.applications' equivalent, logits out, a
    uint8 front per --input."""
    kind, ours, applications, _ = WORKLOADS[model]
    if peer == "ours":
        classes = {"classification": IMAGENET_CLASSES, "detection": SSD_CLASSES,
                   "segmentation": CITYSCAPES_CLASSES}[kind]
        net = build(ours, input_shape=(*shape, 3), num_classes=classes, **(options or {}))
    else:
        extra = {"include_preprocessing": False} if "V3" in applications else {}
        net = getattr(keras.applications, applications)(
            weights=None, input_shape=(*shape, 3), classifier_activation=None, **extra)
    if FLAGS.input == "float32":
        return net
    # The same normalisation in front of every model, so only the transfer differs.
    pixels = keras.Input((*shape, 3), dtype="uint8")
    return keras.Model(pixels, net(keras.layers.Rescaling(1 / 127.5, offset=-1.0)(pixels)))


def keras_loss(kind):
    """The repository's loss for `kind` (what train.py's tasks compile)."""
    if kind == "classification":
        return metrics.ClassificationLoss()
    if kind == "segmentation":
        return metrics.SegmentationLoss()
    return detection_losses.ssd_losses("softmax")   # torchvision's: 3:1 hard negatives


def compiled_keras(model, peer, shape, policy, options=None):
    """(keras model compiled with SGD momentum 0.9, its numpy batch) under `policy`."""
    keras.mixed_precision.set_dtype_policy(policy)
    keras.utils.set_random_seed(0)
    net = keras_model(model, peer, shape, options)
    kind, batch, _ = setting(model)
    net.compile(optimizer=keras.optimizers.SGD(FLAGS.learning_rate, momentum=0.9),
                loss=keras_loss(kind), jit_compile=_use_jit())
    data = synthetic_batch(kind, batch, shape, net)
    net._symbolic_build(data_batch=data)   # loss, metrics and optimizer variables, once
    return net, data


def _use_jit():
    if keras.backend.backend() == "jax":
        return True
    import tensorflow as tf
    return bool(tf.config.list_physical_devices("GPU"))   # XLA on CPU is slower (engine.py)


def jax_stepper(net, data, steps_per_execution, host_batches=None):
    """(step, sync): step() runs `steps_per_execution` Keras train_steps in one jitted
    lax.scan over the donated state and returns the last loss; sync waits for it.
    host_batches: numpy batches moved to the device at every call (--host_input)."""
    import jax
    state = tuple([v.value for v in variables] for variables in (
        net.trainable_variables, net.non_trainable_variables, net.optimizer.variables,
        net.metrics_variables))
    fresh_metrics = state[3]   # reset each step: logs["loss"] is then that step's loss

    def run(state, batch):
        def one(state, item):
            logs, state = net.train_step((*state[:3], fresh_metrics),
                                         batch if item is None else item)
            return state, logs["loss"]
        stacked = host_batches is not None
        state, losses = jax.lax.scan(one, state, batch if stacked else None,
                                     length=steps_per_execution)
        return losses[-1], state

    resident = jax.device_put(data)
    example = resident if host_batches is None else jax.device_put(host_batches[0])
    # Compiled ahead, so XLA's own count of the bytes and FLOPs of the step can be read
    # and set against the roofline (NOTES.md).
    run = jax.jit(run, donate_argnums=(0,) if FLAGS.donate else ()).lower(
        state, example).compile()
    holder, calls = {"state": state}, [0]
    holder["cost"] = _cost(run, steps_per_execution)

    def step():
        if host_batches is None:
            batch = resident
        else:   # k batches stacked, from host memory, as a loader would hand them over
            batch = jax.device_put(host_batches[calls[0] % len(host_batches)])
            calls[0] += 1
        loss, holder["state"] = run(holder["state"], batch)
        return loss
    step.cost, step.compiled = holder["cost"], run   # xla_profile.profile reads its HLO
    return step, jax.block_until_ready


def _cost(compiled, steps_per_execution):
    """{xla_gbytes, xla_gflops} per step from XLA's cost analysis of the compiled step, or
    {} where this JAX has none."""
    try:
        cost = compiled.cost_analysis()
        cost = cost[0] if isinstance(cost, (list, tuple)) else cost
        return {"xla_gbytes": cost["bytes accessed"] / 1e9 / steps_per_execution,
                "xla_gflops": cost["flops"] / 1e9 / steps_per_execution}
    except Exception:   # noqa: BLE001 - optional information
        return {}


def tf_stepper(net, data, steps_per_execution):
    """(step, sync) under the TensorFlow backend: Keras's train_step in one tf.function."""
    import tensorflow as tf
    x, y = tf.nest.map_structure(tf.constant, data)   # on the GPU where there is one

    @tf.function(jit_compile=_use_jit())
    def run():
        loss = tf.constant(0.0)
        for _ in tf.range(steps_per_execution):
            loss = tf.cast(net.train_step((x, y))["loss"], tf.float32)
        return loss
    return run, lambda loss: loss.numpy()


def keras_stepper(net, data, kind):
    """The backend's (step, sync) for a compiled Keras model and its numpy batch."""
    k = FLAGS.steps_per_execution
    if keras.backend.backend() == "jax":
        host = None
        if FLAGS.host_input:   # two batches alternating, k stacked per call
            host = [_stack([synthetic_batch(kind, len(data[0]), data[0].shape[1:3], net,
                                            seed)] * k) for seed in range(2)]
        return jax_stepper(net, data, k, host)
    if keras.backend.backend() == "tensorflow":
        return tf_stepper(net, data, k)
    raise app.UsageError(f"backend {keras.backend.backend()}: use jax or tensorflow")


def _stack(batches):
    """A list of (images, targets) -> one with a leading axis of len(batches)."""
    import jax
    return jax.tree_util.tree_map(lambda *a: np.stack(a), *batches)


# ------------------------------------------------------------------------ torchvision

def torch_status():
    """None where torchvision can run here, else why not (one line)."""
    try:
        import torch
        import torchvision  # noqa: F401
    except ImportError as error:
        return f"torch not importable ({error})"
    if not torch.cuda.is_available() and FLAGS.steps > 5:
        return "no CUDA device (on a CPU, only a smoke run: --steps <= 5)"
    return None


def torch_model(model, shape):
    """torchvision's model for `model`, random weights, nothing downloaded."""
    import torchvision
    kind, _, _, name = WORKLOADS[model]
    if kind == "classification":
        return getattr(torchvision.models, name)(weights=None)
    if kind == "segmentation":
        return torchvision.models.segmentation.lraspp_mobilenet_v3_large(
            weights=None, weights_backbone=None, num_classes=CITYSCAPES_CLASSES)
    return torchvision.models.detection.ssdlite320_mobilenet_v3_large(
        weights=None, weights_backbone=None, num_classes=SSD_CLASSES + 1)


def torch_batch(kind, batch, shape, device):
    """(images, targets) on `device`: NCHW float images, channels_last; detection targets
    are per-image dicts of random xyxy pixel boxes and labels, matched inside the step."""
    import torch
    generator = torch.Generator().manual_seed(0)
    images = torch.rand((batch, 3, *shape), generator=generator)
    images = images.to(device).contiguous(memory_format=torch.channels_last)
    if kind == "classification":
        return images, torch.randint(0, IMAGENET_CLASSES, (batch,), generator=generator).to(
            device)
    if kind == "segmentation":
        return images, torch.randint(0, CITYSCAPES_CLASSES, (batch, *shape),
                                     generator=generator).to(device)
    targets = []
    for _ in range(batch):
        corner = torch.rand((SSD_BOXES, 2), generator=generator) * 0.7
        size = 0.05 + torch.rand((SSD_BOXES, 2), generator=generator) * 0.25
        boxes = torch.cat([corner, corner + size], 1) * torch.tensor([*shape[::-1]] * 2)
        labels = torch.randint(1, SSD_CLASSES + 1, (SSD_BOXES,), generator=generator)
        targets.append({"boxes": boxes.to(device), "labels": labels.to(device)})
    return list(images), targets


def torch_stepper(model, policy, compiled):
    """(step, sync, batch) of one torchvision model: SGD momentum 0.9, autocast to the
    policy's half type, GradScaler under float16; torch.compile of the model if `compiled`."""
    import torch
    import torch.nn.functional as F
    device = "cuda" if torch.cuda.is_available() else "cpu"
    # Fixed shapes: let cuDNN time its algorithms once, as torchvision's reference training
    # scripts do (XLA autotunes the same way under JAX).
    torch.backends.cudnn.benchmark = True
    kind, batch, shape = setting(model)
    net = torch_model(model, shape).to(device, memory_format=torch.channels_last).train()
    optimizer = torch.optim.SGD(net.parameters(), lr=FLAGS.learning_rate, momentum=0.9)
    half = {"mixed_bfloat16": torch.bfloat16, "mixed_float16": torch.float16}.get(policy)
    scaler = torch.amp.GradScaler(device, enabled=half == torch.float16)
    forward = torch.compile(net) if compiled else net
    images, targets = torch_batch(kind, batch, shape, device)

    def loss_of():
        if kind == "classification":
            return F.cross_entropy(forward(images), targets)
        if kind == "segmentation":
            return F.cross_entropy(forward(images)["out"], targets, ignore_index=255)
        return sum(forward(images, targets).values())   # box regression + classification

    def step():
        optimizer.zero_grad(set_to_none=True)
        with torch.autocast(device, dtype=half or torch.float32, enabled=half is not None):
            loss = loss_of()
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
        return loss

    def sync(loss):
        if device == "cuda":
            torch.cuda.synchronize()
        return float(loss.detach())
    return step, sync, batch


# --------------------------------------------------------------------------- timing

def measure(step, sync, executions_warmup, steps_per_call):
    """{step_ms, compile_s, rounds_ms}: the first call's seconds (compilation), then the
    median over --rounds windows of ceil(--steps / steps_per_call) calls, synchronised at
    both ends of each window."""
    start = time.perf_counter()
    out = step()
    sync(out)
    compile_s = time.perf_counter() - start
    for _ in range(max(executions_warmup - 1, 0)):
        out = step()
    sync(out)
    calls = max(1, -(-FLAGS.steps // steps_per_call))
    windows = []
    for _ in range(FLAGS.rounds):
        start = time.perf_counter()
        for _ in range(calls):
            out = step()
        last_loss = sync(out)
        windows.append((time.perf_counter() - start) * 1e3 / (calls * steps_per_call))
    return {"step_ms": statistics.median(windows), "compile_s": compile_s,
            "rounds_ms": windows, "loss": float(np.asarray(last_loss, "float32"))}


def benchmark(model, peer, policy, depthwise=None):
    """One figure: a result dict (img_per_s, step_ms, ...) or one with a `note` when the
    pair does not exist or cannot run here. depthwise: ours' build option."""
    kind, batch, shape = setting(model)
    row = {"model": model, "peer": peer, "precision": policy, "batch": batch,
           "image_size": "x".join(map(str, shape)), "input": FLAGS.input,
           "host_input": FLAGS.host_input, "steps_per_execution": 1,
           **({"depthwise": depthwise} if depthwise else {})}
    if peer == "keras_applications" and WORKLOADS[model][2] is None:
        return {**row, "note": "keras.applications has no such model"}
    if peer.startswith("torchvision"):
        if WORKLOADS[model][3] is None:
            return {**row, "note": "torchvision has no such model"}
        if torch_status():
            return {**row, "note": torch_status()}
        step, sync, _ = torch_stepper(model, policy, peer == "torchvision_compile")
        result = measure(step, sync, FLAGS.warmup, 1)
        _free_torch()
    else:
        options = {"depthwise": depthwise} if depthwise and depthwise != "conv" else None
        net, data = compiled_keras(model, peer, shape, policy, options)
        row.update(steps_per_execution=FLAGS.steps_per_execution, donate=FLAGS.donate,
                   backend=keras.backend.backend())
        start = time.perf_counter()
        step, sync = keras_stepper(net, data, kind)   # under JAX: compiled here
        setup_s = time.perf_counter() - start
        result = {**measure(step, sync, FLAGS.warmup, FLAGS.steps_per_execution),
                  **getattr(step, "cost", {})}
        result["compile_s"] += setup_s
        if _profiled(model, peer) and hasattr(step, "compiled"):
            result["profile"] = _profile(step, sync, model, depthwise or "conv", batch,
                                         result["step_ms"])
        del net, data, step
        keras.backend.clear_session()
        gc.collect()
    return {**row, **result, "img_per_s": batch * 1e3 / result["step_ms"]}


def _profiled(model, peer):
    return bool(FLAGS.profile_dir) and peer == "ours" and model in FLAGS.profile_models


def _profile(step, sync, model, depthwise, batch, step_ms):
    """xla_profile.profile of ours' compiled step: its directory and headline figures (the
    summary itself is in the directory), or the error (the figure is kept either way)."""
    import xla_profile
    out_dir = os.path.join(FLAGS.profile_dir, f"{model}_{depthwise}")
    try:
        summary = xla_profile.profile(step, sync, step.compiled, out_dir, batch=batch,
                                      steps=FLAGS.profile_steps, step_ms=step_ms,
                                      label=f"ours {model} depthwise={depthwise}")
    except Exception as error:   # noqa: BLE001 - a profile must not cost the figure
        import traceback
        traceback.print_exc()
        return {"dir": out_dir, "error": f"{type(error).__name__}: {error}"[:200]}
    print(xla_profile.markdown(summary, top=10, brief=True), file=sys.stderr, flush=True)
    return {"dir": out_dir, "depthwise_share": summary.get("depthwise_share"),
            "kernel_ms_per_step": summary.get("kernel_ms_per_step"),
            "trace": summary.get("trace", "ok"), "profile_s": summary.get("profile_s")}


def _free_torch():
    import torch
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


# ------------------------------------------------------------------ precision check

def compare_precision(model, policies):
    """Trains ours --compare_steps steps under float32 and each mixed policy from the same
    initial weights on the same batches (no dropout); {policy: losses} plus each mixed
    policy's largest absolute and relative loss difference from float32."""
    kind, batch, shape = setting(model)
    keras.mixed_precision.set_dtype_policy("float32")
    options = {"dropout": 0.0} if kind == "classification" else {}
    reference = keras_model(model, "ours", shape, options)
    weights = reference.get_weights()
    batches = [synthetic_batch(kind, batch, shape, reference, seed)
               for seed in range(FLAGS.compare_steps)]
    losses = {}
    for policy in ["float32", *[p for p in policies if p != "float32"]]:
        keras.backend.clear_session()
        net, _ = compiled_keras(model, "ours", shape, policy, options)
        net.set_weights(weights)
        losses[policy] = [float(net.train_on_batch(x, y, return_dict=True)["loss"])
                          for x, y in batches]
        print(f"{policy}: " + " ".join(f"{v:.5f}" for v in losses[policy]), file=sys.stderr)
    base = np.array(losses["float32"])
    differences = {}
    for policy, values in losses.items():
        if policy != "float32":
            delta = np.abs(np.array(values) - base)
            differences[policy] = {"max_abs": float(delta.max()),
                                   "max_rel": float((delta / np.abs(base)).max()),
                                   "first_step_abs": float(delta[0]),
                                   "finite": bool(np.isfinite(values).all())}
    return {"model": model, "batch": batch, "image_size": "x".join(map(str, shape)),
            "steps": FLAGS.compare_steps, "learning_rate": FLAGS.learning_rate,
            "losses": losses, "difference_from_float32": differences}


# ------------------------------------------------------------------ report and main

def _version(package):
    from importlib import metadata
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def environment():
    """Date, host, device and the versions of everything that could be in the figures."""
    info = {"date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "host": platform.node(), "python": platform.python_version(),
            "backend": keras.backend.backend(),
            "argv": " ".join(sys.argv[1:]),
            **{name: _version(name) for name in (
                "keras", "jax", "jaxlib", "tensorflow", "torch", "torchvision", "numpy")}}
    info["env"] = {k: v for k, v in os.environ.items() if k.startswith(("XLA_", "JAX_"))}
    if keras.backend.backend() == "jax":
        import jax
        device = jax.devices()[0]
        info["device"] = f"{device.platform}: {device.device_kind}"
        info["jax_default_matmul_precision"] = jax.config.jax_default_matmul_precision
    try:
        import torch
        if torch.cuda.is_available():
            info["torch_device"] = torch.cuda.get_device_name(0)
            info["torch_tf32"] = {"matmul": torch.backends.cuda.matmul.allow_tf32,
                                  "cudnn": torch.backends.cudnn.allow_tf32}
    except ImportError:
        pass
    return info


def load(path):
    """The JSON of --json_out ({"runs": [...], "results": [...]}), empty if absent."""
    if path and os.path.exists(path):
        with open(path) as f:
            return json.load(f)
    return {"runs": [], "results": [], "precision_comparisons": []}


def save(path, record):
    """Writes `record` to `path` (if any) atomically."""
    if path:
        with open(path + ".tmp", "w") as f:
            json.dump(record, f, indent=1)
        os.replace(path + ".tmp", path)   # a run cut off at its time limit leaves valid JSON


def table(results):
    """One Markdown table; the ratio is to the fastest row of the same model, precision,
    batch and size (peers, and ours' variants: input path, steps per execution, donation)."""
    def group(row):
        return tuple(row[k] for k in ("model", "precision", "batch", "image_size"))
    fastest = {}
    for row in results:
        if "img_per_s" in row:
            fastest[group(row)] = max(fastest.get(group(row), 0), row["img_per_s"])
    lines = ["| model | peer | precision | batch | size | input | img/s | ratio to fastest "
             "| step ms | compile + first step s | XLA GB/step | XLA TB/s |",
             "|---|---|---|---:|---|---|---:|---:|---:|---:|---:|---:|"]
    for row in results:
        peer = _label(row)
        source = row["input"] + (" host" if row["host_input"] else "")
        head = (f"| {row['model']} | {peer} | {row['precision']} | {row['batch']} | "
                f"{row['image_size']} | {source} |")
        if "img_per_s" in row:
            xla = (f"{row['xla_gbytes']:.1f} | {row['xla_gbytes'] / row['step_ms']:.2f}"
                   if "xla_gbytes" in row else "- | -")   # GB/ms = TB/s
            lines.append(f"{head} {row['img_per_s']:,.0f} | "
                         f"{row['img_per_s'] / fastest[group(row)]:.2f} | "
                         f"{row['step_ms']:.2f} | {row['compile_s']:.1f} | {xla} |")
        else:
            lines.append(f"{head} - | - | - | - | - | - |  {row['note']}")
    return "\n".join(lines)


def check_flags():
    """UsageError for unknown names and non-positive counts."""
    for name, values, valid in (("models", FLAGS.models, tuple(WORKLOADS)), ("peers", FLAGS.peers, PEERS),
                                ("precision", FLAGS.precision, POLICIES)):
        unknown = sorted(set(values) - set(valid))
        if unknown:
            raise app.UsageError(f"--{name}: unknown {unknown}; choose from {', '.join(valid)}")
    unknown = sorted(set(FLAGS.depthwise) - set(DEPTHWISE))
    if unknown:
        raise app.UsageError(f"--depthwise: unknown {unknown}; choose from {', '.join(DEPTHWISE)}")
    if FLAGS.steps_per_execution < 1 or FLAGS.steps < 1:
        raise app.UsageError("--steps and --steps_per_execution must be positive")


def main(argv):
    """Measures every (precision, model, peer), or compares precisions, or prints a table."""
    del argv
    check_flags()
    record = load(FLAGS.json_out)
    if FLAGS.table_only:
        print(table(record["results"]))
        return
    env = environment()
    record["runs"].append(env)
    run = len(record["runs"]) - 1
    print(f"{env['date']} {env.get('device', 'cpu')} keras {env['keras']} "
          f"({env['backend']}) jax {env['jax']} torch {env['torch']} "
          f"torchvision {env['torchvision']} tensorflow {env['tensorflow']}", file=sys.stderr)
    if FLAGS.compare_precision:
        comparison = {**compare_precision(FLAGS.models[0], FLAGS.precision), "run": run}
        record["precision_comparisons"].append(comparison)
        save(FLAGS.json_out, record)
        print(json.dumps(comparison["difference_from_float32"], indent=1))
        return
    deadline = time.monotonic() + FLAGS.time_budget if FLAGS.time_budget else None
    results = []
    for policy in FLAGS.precision:
        for model in FLAGS.models:
            for peer in FLAGS.peers:
                # ours once per depthwise option, one after the other (same process)
                for depthwise in (FLAGS.depthwise if peer == "ours" else [None]):
                    row = _guarded(model, peer, policy, deadline, depthwise)
                    results.append({**row, "run": run})
                    record["results"].append(results[-1])
                    save(FLAGS.json_out, record)
                    print(f"{model} {_label(row)} {policy}: " + (
                        f"{row['img_per_s']:,.0f} img/s, {row['step_ms']:.2f} ms/step, first "
                        f"call {row['compile_s']:.1f} s" if "img_per_s" in row
                        else row["note"]), file=sys.stderr, flush=True)
    print(table(record["results"] if FLAGS.json_out else results))


def _guarded(model, peer, policy, deadline, depthwise=None):
    """benchmark(), with a note instead of an exception, and nothing once less time is left
    than the figure is expected to take (EXPECTED_FIGURE_S)."""
    stub = {"model": model, "peer": peer, "precision": policy, "batch": setting(model)[1],
            "image_size": "", "input": FLAGS.input, "host_input": FLAGS.host_input,
            **({"depthwise": depthwise} if depthwise else {})}
    needed = EXPECTED_FIGURE_S[peer] + (PROFILE_S if _profiled(model, peer) else 0)
    if deadline and deadline - time.monotonic() < needed:
        left = max(0, deadline - time.monotonic())
        return {**stub, "note": f"skipped: --time_budget ({left:.0f} s left, needs ~{needed} s)"}
    try:
        return benchmark(model, peer, policy, depthwise)
    except Exception as error:   # one failing pair must not cost the rest of a device run
        import traceback
        traceback.print_exc()
        message = " ".join(str(error).split())[:160]
        return {**stub, "note": f"failed: {type(error).__name__}: {message}"}


def _label(row):
    """The table's peer: ours with its backend, steps per execution, donation, depthwise."""
    if "backend" not in row:
        return row["peer"] + (f" ({row['depthwise']})" if row.get("depthwise", "conv")
                              != "conv" else "")
    extras = [row["backend"], f"k={row['steps_per_execution']}"]
    if not row.get("donate", True):
        extras.append("no donation")
    if row.get("depthwise", "conv") != "conv":
        extras.append(f"depthwise={row['depthwise']}")
    return f"{row['peer']} ({', '.join(extras)})"


if __name__ == "__main__":
    app.run(main)
