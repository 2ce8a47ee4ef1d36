"""Quick classification recipe on the built-in Shapes dataset for MobileNetV4-Conv-S: what
`python train.py --model=mobilenet_v4_conv_small` (or v4_conv_small) runs.

    python train.py --model=v4_conv_small             # MobileNetV4-Conv-S 0.5, 2-3 CPU minutes

Source: this repository's Shapes recipe (configs/shapes_cls.py: SGD with Nesterov momentum
0.2, label smoothing, batch-norm momentum 0.9, 4 epochs of 93 batches of 64 at 72 px), with
width 0.5, which keeps a step near V3-Small's cost (Conv-S is 3x V3-Small's MAdds at width
1.0), and V4's batch-norm epsilon (1e-5, PyTorch's, as its builder and timm's weights).
Expected: see the tuning runs in benchmarks/RESULTS.md ("MobileNetV4 on Shapes").
"""
from configs import shapes_cls


def get_config():
    config = shapes_cls.get_config()
    config.model.update(name="mobilenet_v4_conv_small", width=0.5, bn_epsilon=1e-5)
    config.model.options = {"zero_init_residual": True}
    config.train.update(epochs=5, gradient_clip_norm=3.0)
    config.optimizer.lr_multipliers = {"logits": 0.1}
    config.schedule.warmup_epochs = 1.0
    return config
