"""Train a model: `python train.py` (MobileNetV3-Small on the built-in Shapes dataset, a few
minutes on a laptop CPU) or `python train.py --model=v2 --dataset=imagenet --data_dir=DIR`.

    flags -> config (recipe + overrides) -> engine.train: data -> model -> compile -> fit
Rerun with the same --model_dir to resume after preemption. See README "Training".
"""
import os

from mobilenet_tf import startup

startup.import_tensorflow_quietly()

from mobilenet_tf import cli, engine   # noqa: E402


def main(argv):
    if len(argv) > 1:
        raise cli.UserError(f"unexpected arguments {argv[1:]}; flags look like --name=value")
    config = cli.resolve_config()
    model_dir = cli.FLAGS.model_dir or cli.default_model_dir(config)
    engine.log(f"model dir: {model_dir}")
    try:
        metrics = engine.train(config, model_dir)
    except engine.TrainingDiverged as error:
        cli.fail(str(error), code=1)
    summary = ", ".join(f"{name} {value:.4f}" for name, value in metrics.items()
                        if name != "step" and isinstance(value, float))
    print(f"validation after {metrics['step']} steps: {summary}")
    print(f"models: {os.path.join(model_dir, 'final.keras')}, "
          f"{os.path.join(model_dir, 'best.keras')}")


if __name__ == "__main__":
    cli.define_flags()
    cli.run(main)
