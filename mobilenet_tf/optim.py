"""Optimizers and learning-rate schedules, from a config; keras.ops only, so any backend.

    optimizer = build_optimizer(config, steps_per_epoch=1251, total_steps=1251 * 350)

- `rmsprop` is TensorFlow's RMSProp as the MobileNet papers trained with it: the mean-square
  accumulator starts at 1 (Keras's starts at 0, which makes the first steps about
  1 / sqrt(1 - rho) = 3x too large), epsilon inside the square root, the learning rate
  inside the momentum.
- EMA: Keras's moving average of the weights with TensorFlow's warm-up of the decay,
  min(decay, (1 + step) / (10 + step)), so the average is usable early. It is never copied
  over the trained weights behind our back (Keras does that at the end of every fit());
  evaluation and export swap it in explicitly (callbacks.ema_weights).
- The learning rate is `learning_rate * batch_size / base_batch_size` when base_batch_size
  is set (the linear scaling rule), warmed up linearly from 0 over warmup_epochs.
- `lr_multipliers` ({layer name: factor}) scales the learning rate of the named layers'
  variables: a slower classifier, or a slower backbone when fine-tuning.
"""
import math

import keras
from keras import ops

from mobilenet_tf import UserError

OPTIMIZERS = ("sgd", "rmsprop", "adam", "adamw")
SCHEDULES = ("constant", "cosine", "exponential", "linear", "poly")


@keras.saving.register_keras_serializable(package="mobilenet_tf")
class LearningRate(keras.optimizers.schedules.LearningRateSchedule):
    """Linear warm-up to `peak` over warmup_steps, then one decay to `floor` by total_steps.

    kind: constant | cosine | exponential (peak * decay_rate ** (steps / decay_steps),
    floored to whole periods when staircase) | linear (to `floor` at total_steps) | poly
    (DeepLab's "poly": floor + (peak - floor) * (1 - progress) ** power; power 1 is linear).
    """

    def __init__(self, peak, total_steps, kind="cosine", warmup_steps=0, decay_steps=1,
                 decay_rate=1.0, staircase=True, floor=0.0, power=0.9):
        self.peak = float(peak)
        self.total_steps = int(total_steps)
        self.kind = kind
        self.warmup_steps = int(warmup_steps)
        self.decay_steps = max(int(decay_steps), 1)
        self.decay_rate = float(decay_rate)
        self.staircase = bool(staircase)
        self.floor = float(floor)
        self.power = float(power)

    def __call__(self, step):
        step = ops.cast(step, "float32")
        after_warmup = ops.maximum(step - self.warmup_steps, 0.0)
        decay_length = float(max(self.total_steps - self.warmup_steps, 1))
        if self.kind == "constant":
            decayed = ops.convert_to_tensor(self.peak)
        elif self.kind == "cosine":
            progress = ops.minimum(after_warmup / decay_length, 1.0)
            decayed = self.floor + (self.peak - self.floor) * 0.5 * (
                1.0 + ops.cos(math.pi * progress))
        elif self.kind == "linear":
            progress = ops.minimum(after_warmup / decay_length, 1.0)
            decayed = self.peak + (self.floor - self.peak) * progress
        elif self.kind == "poly":
            remaining = 1.0 - ops.minimum(after_warmup / decay_length, 1.0)
            decayed = self.floor + (self.peak - self.floor) * ops.power(remaining, self.power)
        else:   # exponential
            periods = after_warmup / self.decay_steps
            if self.staircase:
                periods = ops.floor(periods)
            decayed = self.peak * ops.power(self.decay_rate, periods)
        decayed = ops.maximum(decayed, self.floor)
        if self.warmup_steps == 0:
            return decayed
        warm = self.peak * ops.minimum(step / self.warmup_steps, 1.0)
        return ops.where(step < self.warmup_steps, warm, decayed)

    def get_config(self):
        return {"peak": self.peak, "total_steps": self.total_steps, "kind": self.kind,
                "warmup_steps": self.warmup_steps, "decay_steps": self.decay_steps,
                "decay_rate": self.decay_rate, "staircase": self.staircase,
                "floor": self.floor, "power": self.power}


def layer_multiplier(path, multipliers):
    """The learning-rate factor of the variable at `path` ("block_3_project/kernel"): the
    factor of the first layer name in `multipliers` that is a component of the path, else 1."""
    parts = path.split("/")[:-1]
    for name, factor in multipliers.items():
        if name in parts:
            return float(factor)
    return 1.0


def check_lr_multipliers(model, multipliers):
    """UserError unless every name in `multipliers` is a layer of `model` with trainable
    weights and every factor a number >= 0 (a misspelt name would silently do nothing)."""
    names = {part for variable in model.trainable_variables
             for part in variable.path.split("/")[:-1]}
    for name, factor in multipliers.items():
        if name not in names:
            raise UserError(f"optimizer.lr_multipliers: {model.name} has no layer {name!r} "
                            "with trainable weights; use a layer name from model.summary()")
        if isinstance(factor, bool) or not isinstance(factor, (int, float)) or factor < 0:
            raise UserError(f"optimizer.lr_multipliers.{name}={factor!r}: give a number >= 0")


class _EmaWithWarmup:
    """Mixin: TensorFlow's EMA decay warm-up, no silent overwrite at the end of fit(), and
    per-layer learning-rate multipliers."""

    def __init__(self, *args, lr_multipliers=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.lr_multipliers = dict(lr_multipliers or {})

    def build(self, var_list):
        if self.built:
            return
        super().build(var_list)
        # By index, not by the variable's path: under tf.distribute update_step receives the
        # replica's component variable, which only _get_variable_index maps back.
        self._lr_factors = [layer_multiplier(v.path, self.lr_multipliers) for v in var_list]

    def update_step(self, gradient, variable, learning_rate):
        # Every backend's apply() reaches each variable through update_step, so scaling the
        # rate here is a per-variable learning rate for any optimizer (for SGD the same as
        # scaling that variable's gradient; the adaptive ones would normalise that away).
        factor = self._lr_factors[self._get_variable_index(variable)]
        if factor != 1.0:
            learning_rate = learning_rate * factor
        return super().update_step(gradient, variable, learning_rate)

    def get_config(self):
        return {**super().get_config(), "lr_multipliers": self.lr_multipliers}

    def _update_model_variables_moving_average(self, trainable_variables):
        if not self.use_ema:
            return
        step = ops.cast(self.iterations, "float32")
        decay = ops.minimum(self.ema_momentum, (1.0 + step) / (10.0 + step))
        for variable, average in zip(trainable_variables,
                                     self._model_variables_moving_average):
            if average is not None:
                momentum = ops.cast(decay, variable.dtype)
                average.assign(momentum * average + (1.0 - momentum) * variable)

    def finalize_variable_values(self, var_list):
        # Keras copies the EMA over the weights at the end of each fit(); we train epoch by
        # epoch and resume from checkpoints, so the trained weights must stay as they are.
        del var_list


@keras.saving.register_keras_serializable(package="mobilenet_tf")
class RMSpropTF(_EmaWithWarmup, keras.optimizers.RMSprop):
    """RMSprop with TensorFlow 1's semantics: the mean square starts at 1, not 0."""

    def build(self, var_list):
        if self.built:
            return
        super().build(var_list)
        for velocity in self._velocities:
            if velocity is not None:
                velocity.assign(ops.ones_like(velocity))


@keras.saving.register_keras_serializable(package="mobilenet_tf")
class SGD(_EmaWithWarmup, keras.optimizers.SGD):
    """Keras's SGD with momentum, with our EMA handling."""


@keras.saving.register_keras_serializable(package="mobilenet_tf")
class Adam(_EmaWithWarmup, keras.optimizers.Adam):
    """Keras's Adam, with our EMA handling."""


@keras.saving.register_keras_serializable(package="mobilenet_tf")
class AdamW(_EmaWithWarmup, keras.optimizers.AdamW):
    """Keras's AdamW (decoupled weight decay), with our EMA handling."""


def scaled_learning_rate(config):
    """The recipe's learning rate at the run's global batch size (linear scaling rule)."""
    rate = config.optimizer.learning_rate
    if config.optimizer.base_batch_size > 0:
        rate *= config.train.batch_size / config.optimizer.base_batch_size
    return rate


def build_schedule(config, steps_per_epoch, total_steps):
    """The LearningRate schedule of config.schedule, in steps."""
    schedule = config.schedule
    return LearningRate(
        peak=scaled_learning_rate(config), total_steps=total_steps, kind=schedule.name,
        warmup_steps=round(schedule.warmup_epochs * steps_per_epoch),
        decay_steps=round(schedule.decay_epochs * steps_per_epoch),
        decay_rate=schedule.decay_rate, staircase=schedule.staircase,
        floor=schedule.min_learning_rate, power=schedule.get("power", 0.9))


def build_optimizer(config, steps_per_epoch, total_steps):
    """The optimizer of config.optimizer with its schedule, EMA and gradient clipping."""
    settings = config.optimizer
    common = dict(
        learning_rate=build_schedule(config, steps_per_epoch, total_steps),
        global_clipnorm=config.train.gradient_clip_norm or None,
        use_ema=config.train.ema_decay > 0,
        ema_momentum=config.train.ema_decay or 0.99,
        lr_multipliers=dict(settings.get("lr_multipliers", {})),
    )
    if settings.name == "sgd":
        return SGD(momentum=settings.momentum, nesterov=settings.nesterov, **common)
    if settings.name == "rmsprop":
        return RMSpropTF(rho=settings.rho, momentum=settings.momentum,
                         epsilon=settings.epsilon, **common)
    if settings.name == "adam":
        return Adam(beta_1=settings.beta_1, beta_2=settings.beta_2, epsilon=settings.epsilon,
                    **common)
    optimizer = AdamW(beta_1=settings.beta_1, beta_2=settings.beta_2,
                      epsilon=settings.epsilon, weight_decay=settings.weight_decay, **common)
    # Decoupled decay on kernels only, not on batch-norm scales and offsets or biases.
    optimizer.exclude_from_weight_decay(var_names=["gamma", "beta", "bias"])
    return optimizer
