"""Quick classification recipe on the built-in Shapes dataset for MobileNetV2: what
`python train.py --model=mobilenet_v2` (or v2) runs.

    python train.py --model=v2                        # MobileNetV2 0.35, about 2 CPU minutes

Source: tuned on this repository's Shapes generator from shapes_cls.py (SGD with Nesterov
momentum 0.2, label smoothing, fast batch-norm momentum), with what V2 needs:
- The classifier learns at a tenth of the rate (optimizer.lr_multipliers). V2's classifier
  reads 1280 ReLU6 features after batch norm, with a squared norm of about 320 per image at
  init (V3-Small's 1024 h-swish features: about 20), and an SGD step moves the logits by
  about lr x that norm per unit of gradient: at the rate the backbone wants, the loss blew up
  to 3-5 nats in the warm-up and some runs never left chance (27.8 to 97.3% over seeds and
  reruns at 96 px before the change).
- Every block with a shortcut starts as the identity (model.options.zero_init_residual: the
  projection's BN scale starts at 0, Goyal et al., arXiv:1706.02677): without it V2 was at
  38% after 279 steps at 96 px and near chance at 64 px.
- 72 px for 4 epochs rather than 80 px for 3 (what it was until 2026-12-05): about the same
  CPU time (8% more pixels seen). At 80 px for 3 epochs the first epoch stays near chance and
  the third ends still climbing; on this machine that gave 84.7, 88.8 and 97.2 (seeds 0-2),
  under the test's 90% bar. 96 px for 3 epochs also clears it (98.3, 97.8, 99.5) but costs
  about 20% more CPU. At 64 px (3 epochs, width 0.5) V2 reached 30%.
- Gradients clipped to a global norm of 3 and a one-epoch warm-up, which helped before the
  classifier's rate was lowered. Width 0.35 keeps a step near V3-Small's cost.
Expected: 98.7, 96.2 and 98.2% validation top-1 (seeds 0, 1, 2) for MobileNetV2 0.35 after
the 372 steps (4 epochs of 93 batches of 64), measured 2026-12-05 on 2 shared CPU cores of an
AMD EPYC with AVX-512 (VNNI, BF16): 95-111 user + 10-11 system CPU seconds, 2-3 minutes wall;
rerunning seed 1 gave the same 96.17% epoch by epoch. Tuning history: benchmarks/RESULTS.md.
"""
from configs import shapes_cls


def get_config():
    config = shapes_cls.get_config()
    config.model.update(name="mobilenet_v2", width=0.35)
    config.model.options = {"zero_init_residual": True}
    config.dataset.image_size = 72
    config.train.update(epochs=4, gradient_clip_norm=3.0)
    config.optimizer.lr_multipliers = {"predictions": 0.1}
    config.schedule.warmup_epochs = 1.0
    return config
