"""Reference outputs of timm's MobileNetV4 models, for the weight-import parity check and the
committed key list. Runs in a throwaway environment with torch and timm (never a dependency
of this project):

    python3 -m venv /tmp/timmvenv && /tmp/timmvenv/bin/pip install torch timm==1.0.31
    /tmp/timmvenv/bin/python benchmarks/timm_reference.py keys > tests/data/timm_mobilenetv4_keys.txt
    /tmp/timmvenv/bin/python benchmarks/timm_reference.py parity --out=/tmp/v4_parity
    python benchmarks/timm_parity.py --dir=/tmp/v4_parity      # this project's environment

`keys`: every state-dict key of the five models with its shape ("model key d0xd1..."), the
list tests/test_timm_import.py checks our mapping against. `parity`: each model with random
weights and non-trivial batch-norm statistics (running means and variances drawn, not the
initial 0 and 1), saved as MODEL.safetensors, with a batch of ImageNet-normalised inputs
(MODEL_input.npy) and timm's logits for them in eval mode (MODEL_logits.npy; in float64,
MODEL_logits64.npy).
"""
import argparse
import os

import numpy as np
import timm
import torch
from safetensors.torch import save_file

MODELS = ("mobilenetv4_conv_small", "mobilenetv4_conv_medium", "mobilenetv4_conv_large",
          "mobilenetv4_hybrid_medium", "mobilenetv4_hybrid_large")
RESOLUTION = {"mobilenetv4_conv_small": 224, "mobilenetv4_conv_medium": 256,
              "mobilenetv4_hybrid_medium": 256, "mobilenetv4_conv_large": 384,
              "mobilenetv4_hybrid_large": 384}


def keys():
    for name in MODELS:
        model = timm.create_model(name, pretrained=False)
        for key, value in model.state_dict().items():
            if key.endswith("num_batches_tracked"):
                continue
            print(name, key, "x".join(map(str, value.shape)) or "scalar")


def images(batch, size, generator):
    """Random images, each with its own contrast and brightness: i.i.d. noise alone makes
    every image's pooled features nearly the same, so the head's batch norm would divide by
    a variance of ~1e-4 and float32 cancellation, not the weights, would set the error."""
    scale = torch.empty(batch, 1, 1, 1).uniform_(0.5, 2.0, generator=generator)
    shift = torch.empty(batch, 1, 1, 1).uniform_(-1.0, 1.0, generator=generator)
    return torch.randn(batch, 3, size, size, generator=generator) * scale + shift


def randomize(model, generator, size):
    """Random weights everywhere, and batch-norm statistics far from their initial 0 and 1.

    The statistics are measured on a random batch first (a cumulative average in training
    mode), then perturbed: statistics drawn out of nothing let activations grow by about 10x
    a block, and after 38 blocks the attention logits are so large that float32 rounding
    alone flips softmax weights, which would test nothing about the weights' mapping."""
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            # 1e-5 would hide a wrong residual branch; near 1 the residual stream grows
            # tenfold a stage and float32 cancellation in the next batch norm, not the
            # weights, sets the error.
            if name.endswith("layer_scale.gamma"):
                parameter.uniform_(0.1, 0.3, generator=generator)
        batch_norms = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
        for module in batch_norms:
            module.weight.uniform_(0.5, 1.5, generator=generator)
            module.bias.normal_(0.0, 0.2, generator=generator)
            module.reset_running_stats()
            module.momentum = None
        model.train()
        model(images(16, size, generator))
        model.eval()
        for module in batch_norms:
            std = module.running_var.sqrt()
            module.running_mean.add_(0.2 * std * torch.randn(std.shape, generator=generator))
            module.running_var.mul_(torch.empty_like(std).uniform_(0.7, 1.3, generator=generator))


def parity(out_dir, batch=2):
    os.makedirs(out_dir, exist_ok=True)
    generator = torch.Generator().manual_seed(0)
    for name in MODELS:
        torch.manual_seed(0)
        model = timm.create_model(name, pretrained=False)
        size = RESOLUTION[name]
        randomize(model, generator, size)
        x = images(batch, size, generator)
        with torch.no_grad():
            logits = model(x).numpy()
        state = {k: v.contiguous() for k, v in model.state_dict().items()}
        save_file(state, os.path.join(out_dir, f"{name}.safetensors"))
        with torch.no_grad():   # float64: the mapping's error without float32 rounding
            np.save(os.path.join(out_dir, f"{name}_logits64.npy"),
                    model.double()(x.double()).numpy())
        np.save(os.path.join(out_dir, f"{name}_input.npy"), x.permute(0, 2, 3, 1).numpy())
        np.save(os.path.join(out_dir, f"{name}_logits.npy"), logits)
        print(name, "timm", timm.__version__, "torch", torch.__version__, logits.shape)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("action", choices=("keys", "parity"))
    parser.add_argument("--out", default="/tmp/v4_parity")
    args = parser.parse_args()
    keys() if args.action == "keys" else parity(args.out)
