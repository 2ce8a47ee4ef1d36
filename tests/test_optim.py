"""Optimizers and schedules: TF's RMSprop, warm-up and decay, linear scaling, EMA warm-up."""
import math

import keras
import numpy as np
import pytest

from mobilenet_tf import config as config_lib, optim


def _recipe(**fields):
    config = config_lib.load_recipe("configs/shapes_cls.py")
    for key, value in fields.items():
        config_lib.set_field(config, key.replace("__", "."), value)
    return config


def test_rmsprop_has_tensorflow_semantics():
    # TF1 RMSProp: ms starts at 1; ms = rho ms + (1 - rho) g^2;
    # mom = momentum mom + lr g / sqrt(ms + eps); w -= mom.
    lr, rho, momentum, eps = 0.1, 0.9, 0.9, 1e-3
    optimizer = optim.RMSpropTF(learning_rate=lr, rho=rho, momentum=momentum, epsilon=eps)
    weight = keras.Variable(np.array([1.0, -2.0], np.float32))
    ms, mom, w = np.ones(2), np.zeros(2), np.array([1.0, -2.0])
    for gradient in ([0.5, -1.0], [0.2, 0.3]):
        optimizer.apply_gradients([(np.array(gradient, np.float32), weight)])
        ms = rho * ms + (1 - rho) * np.square(gradient)
        mom = momentum * mom + lr * np.array(gradient) / np.sqrt(ms + eps)
        w = w - mom
    np.testing.assert_allclose(weight.numpy(), w, rtol=1e-5)
    # Keras's own RMSprop starts ms at 0: its first step is ~3x larger.
    keras_weight = keras.Variable(np.array([1.0], np.float32))
    keras.optimizers.RMSprop(lr, rho=rho, momentum=momentum, epsilon=eps).apply_gradients(
        [(np.array([0.5], np.float32), keras_weight)])
    assert abs(1.0 - keras_weight.numpy()[0]) > 2.5 * lr * 0.5 / math.sqrt(0.9 + 0.025 + eps)


@pytest.mark.parametrize("kind, step, expected", [
    ("constant", 50, 1.0),
    ("cosine", 10, 1.0),             # end of warm-up
    ("cosine", 55, 0.5),             # half way through the decay
    ("cosine", 100, 0.0),
    ("linear", 55, 0.5),
    ("poly", 55, 0.5 ** 0.9),        # DeepLab's poly: (1 - progress) ** 0.9
    ("poly", 100, 0.0),
    ("exponential", 29, 1.0),        # staircase: not yet a whole period after warm-up
    ("exponential", 30, 0.5),        # one whole period of 20 steps after warm-up
    ("exponential", 50, 0.25),
    ("exponential", 5, 0.5),         # warm-up: half the peak at half the warm-up
])
def test_schedule_values(kind, step, expected):
    schedule = optim.LearningRate(1.0, total_steps=100, kind=kind, warmup_steps=10,
                                  decay_steps=20, decay_rate=0.5, staircase=True)
    assert float(schedule(step)) == pytest.approx(expected, abs=1e-6)


def test_schedule_floor_and_round_trip():
    schedule = optim.LearningRate(1.0, total_steps=10, kind="exponential", decay_steps=1,
                                  decay_rate=0.1, floor=0.01)
    assert float(schedule(9)) == pytest.approx(0.01)
    again = optim.LearningRate.from_config(schedule.get_config())
    assert float(again(3)) == float(schedule(3))


def test_learning_rate_scales_with_the_global_batch():
    config = _recipe(optimizer__learning_rate=0.1, optimizer__base_batch_size=256,
                     train__batch_size=1024)
    assert optim.scaled_learning_rate(config) == pytest.approx(0.4)
    config.optimizer.base_batch_size = 0
    assert optim.scaled_learning_rate(config) == pytest.approx(0.1)


@pytest.mark.parametrize("name, cls", [("sgd", optim.SGD), ("rmsprop", optim.RMSpropTF),
                                       ("adam", optim.Adam), ("adamw", optim.AdamW)])
def test_build_optimizer_from_config(name, cls):
    config = _recipe(optimizer__name=name, train__ema_decay=0.999,
                     train__gradient_clip_norm=1.0)
    optimizer = optim.build_optimizer(config, steps_per_epoch=10, total_steps=100)
    assert isinstance(optimizer, cls)
    assert optimizer.use_ema and optimizer.ema_momentum == 0.999
    assert optimizer.global_clipnorm == 1.0


def test_ema_warms_up_and_is_not_copied_over_the_weights():
    optimizer = optim.SGD(learning_rate=1.0, use_ema=True, ema_momentum=0.9999)
    weight = keras.Variable(np.array([0.0], np.float32))
    optimizer.apply_gradients([(np.array([-1.0], np.float32), weight)])   # w: 0 -> 1
    average = optimizer._model_variables_moving_average[0].numpy()[0]
    # Step counter 0 when the average is taken: decay min(0.9999, 1/10) = 0.1.
    assert average == pytest.approx(0.9, abs=1e-6)
    optimizer.finalize_variable_values([weight])   # Keras would copy the average here
    assert weight.numpy()[0] == pytest.approx(1.0)


@pytest.mark.parametrize("name", ["sgd", "rmsprop", "adam"])
def test_lr_multipliers_scale_the_named_layers_steps_only(name):
    """optimizer.lr_multipliers: the named layer moves `factor` times as far in one step (from
    fresh state every optimizer's first step is proportional to its rate); the rest as before."""
    inputs = keras.Input((3,))
    model = keras.Model(inputs, keras.layers.Dense(2, name="predictions")(
        keras.layers.Dense(4, name="hidden")(inputs)))
    start = [w.numpy().copy() for w in model.trainable_weights]
    x, y = np.ones((8, 3), np.float32), np.zeros((8, 2), np.float32)

    def one_step(multipliers):
        for weight, value in zip(model.trainable_weights, start):
            weight.assign(value)
        config = _recipe(optimizer__name=name, optimizer__learning_rate=0.01,
                         optimizer__lr_multipliers=multipliers, schedule__name="constant",
                         schedule__warmup_epochs=0.0, train__gradient_clip_norm=0.0)
        optimizer = optim.build_optimizer(config, steps_per_epoch=10, total_steps=100)
        model.compile(optimizer=optimizer, loss="mse")
        model.train_on_batch(x, y)
        moves = {}
        for weight, value in zip(model.trainable_weights, start):
            moves[weight.path] = np.abs(weight.numpy() - value).max()
        return moves

    plain, scaled = one_step({}), one_step({"predictions": 0.1})
    assert scaled["predictions/kernel"] == pytest.approx(0.1 * plain["predictions/kernel"],
                                                         rel=1e-3)
    assert scaled["predictions/bias"] == pytest.approx(0.1 * plain["predictions/bias"], rel=1e-3)
    assert scaled["hidden/kernel"] == pytest.approx(plain["hidden/kernel"], rel=1e-5)
    assert plain["hidden/kernel"] > 1e-4 and plain["predictions/kernel"] > 1e-4


def test_lr_multipliers_name_layers_of_the_model_and_are_set_from_the_command_line():
    inputs = keras.Input((3,))
    model = keras.Model(inputs, keras.layers.Dense(2, name="predictions")(inputs), name="tiny")
    optim.check_lr_multipliers(model, {"predictions": 0.1})
    with pytest.raises(optim.UserError, match="tiny has no layer 'predictons' with trainable"):
        optim.check_lr_multipliers(model, {"predictons": 0.1})
    with pytest.raises(optim.UserError, match="lr_multipliers.predictions=-1: give a number"):
        optim.check_lr_multipliers(model, {"predictions": -1})
    config = _recipe()
    config_lib.set_field(config, "optimizer.lr_multipliers.predictions", 0.5)
    assert dict(config.optimizer.lr_multipliers) == {"predictions": 0.5}
