"""The floor of a training step: how fast each model could train on one GPU if it only had
to move its activations through memory once per pass, or only do its multiply-adds.

    python benchmarks/roofline.py [--bandwidth=3.0e12] [--matrix_rate=989e12]
        [--vector_rate=67e12] [--passes=5] [--json]

Model of a training step (per image; bf16 activations, 2 bytes an element):

- MAdds: mobilenet_tf.profile's count of the forward pass. Training does it three times
  (forward, the input gradient, the weight gradient), 2 FLOPs per MAdd. Standard and 1x1
  convolutions and dense layers run on the tensor cores (--matrix_rate: H100 SXM dense bf16,
  989e12 on the datasheet; an 8192^3 matmul measured 798e12 on the lent H100); depthwise
  convolutions do not (--vector_rate: the CUDA cores' FP32 FMA rate, 67e12).
- Bytes: every activation that must exist in memory is, per step, written and read back once
  in the forward pass, then in the backward pass read again (it is saved for the gradient),
  and its gradient written once and read once: --passes=5 passes over it. "fused" counts only
  the outputs of the convolutions and dense layers (batch norm, activations, adds and
  squeeze-excite scales folded into the kernels around them, as a perfect compiler would),
  plus upsampled outputs and the input; "unfused" counts the output of every layer (each BN,
  activation, add, multiply materialised). Weights add 4-byte reads and writes of the
  parameters, momentum and gradients (8 passes), once per step, spread over the batch.
- The floor: per image, bytes / --bandwidth (3.0e12 B/s, the device-to-device copy measured
  on the lent H100) and FLOPs / rate; images/s is the batch over the larger of the two,
  and the larger names what bounds the model.

Prints a Markdown table (benchmarks/NOTES.md holds it with the analysis). CPU only.
"""
import json
import math
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import keras  # noqa: E402
from absl import app, flags  # noqa: E402

from mobilenet_tf import profile  # noqa: E402
from mobilenet_tf.models import build  # noqa: E402

BANDWIDTH = flags.DEFINE_float("bandwidth", 3.0e12, "device memory bytes/s (read + write)")
MATRIX_RATE = flags.DEFINE_float("matrix_rate", 989e12, "tensor-core bf16 FLOP/s")
VECTOR_RATE = flags.DEFINE_float("vector_rate", 67e12, "CUDA-core FLOP/s (depthwise convs)")
PASSES = flags.DEFINE_integer("passes", 5, "memory passes over each activation per step")
BYTES = flags.DEFINE_integer("bytes_per_element", 2, "activation bytes (bf16: 2)")
JSON = flags.DEFINE_bool("json", False, "print JSON instead of the table")

# name: (registry name, input shape, batch per GPU, build options)
WORKLOADS = {
    "v1": ("mobilenet_v1", (224, 224, 3), 256, {}),
    "v2": ("mobilenet_v2", (224, 224, 3), 256, {}),
    "v3_large": ("mobilenet_v3_large", (224, 224, 3), 256, {}),
    "v3_small": ("mobilenet_v3_small", (224, 224, 3), 256, {}),
    "ssdlite": ("ssdlite_v3_large", (320, 320, 3), 64, {"num_classes": 90}),
    "lraspp": ("lraspp_v3_large", (512, 1024, 3), 16, {"num_classes": 19}),
}
# Measured on an H100, 2026-11-22, bf16 (issue 8): images/s per peer.
REFERENCE = {
    "v2": {"torchvision eager": 6282, "torch.compile": 8233, "keras.applications JAX": 7277},
    "v3_large": {"torchvision eager": 7718, "torch.compile": 6101,
                 "keras.applications JAX": 8508},
    "ssdlite": {"torchvision eager": 357},
    "lraspp": {"torchvision eager": 293},
}
_WEIGHTED = (keras.layers.Conv2D, keras.layers.DepthwiseConv2D, keras.layers.SeparableConv2D,
             keras.layers.Dense)
_VIEWS = (keras.layers.Reshape, keras.layers.Flatten)   # no new memory


def _elements(node):
    return sum(math.prod(t.shape[1:]) for t in node.output_tensors)


def _upsamples(node):
    """A layer whose output has more positions than its input (bilinear resizes)."""
    inputs, outputs = node.input_tensors[0].shape, node.output_tensors[0].shape
    return len(inputs) == 4 and math.prod(outputs[1:3]) > math.prod(inputs[1:3])


def activation_elements(model):
    """(fused, unfused) activation elements per image: see the module docstring."""
    fused = sum(math.prod(t.shape[1:]) for t in model.inputs)
    unfused = fused
    for node in profile._graph_nodes(model):
        layer = node.operation
        if isinstance(layer, _VIEWS):
            continue
        unfused += _elements(node)
        if isinstance(layer, _WEIGHTED) or _upsamples(node):
            fused += _elements(node)
    return fused, unfused


def floor(name):
    """The roofline figures of one workload (a dict; times per image in microseconds)."""
    registry, shape, batch, options = WORKLOADS[name]
    keras.mixed_precision.set_dtype_policy("float32")
    model = build(registry, input_shape=shape, **options)
    counts = profile.profile_model(model)
    fused, unfused = activation_elements(model)
    params = model.count_params()
    keras.backend.clear_session()
    depthwise = counts.madds[profile.CONV_DW]
    matrix = counts.total_madds - depthwise
    weight_bytes = 8 * 4 * params / batch   # w, grad, momentum: 4 B, 8 passes, per image
    per_image = {
        "matrix_us": 1e6 * 6 * matrix / MATRIX_RATE.value,
        "vector_us": 1e6 * 6 * depthwise / VECTOR_RATE.value,
        "memory_us": 1e6 * (PASSES.value * BYTES.value * fused + weight_bytes) / BANDWIDTH.value,
        "unfused_memory_us": 1e6 * (PASSES.value * BYTES.value * unfused + weight_bytes)
        / BANDWIDTH.value,
    }
    compute_us = per_image["matrix_us"] + per_image["vector_us"]
    bound_us = max(per_image["memory_us"], compute_us)
    return {"model": name, "input": "x".join(map(str, shape[:2])), "batch": batch,
            "params_m": params / 1e6, "madds_m": counts.total_madds / 1e6,
            "depthwise_madds_pct": 100 * depthwise / counts.total_madds,
            "fused_elements_m": fused / 1e6, "unfused_elements_m": unfused / 1e6,
            "step_gb": batch * PASSES.value * BYTES.value * fused / 1e9,
            **per_image, "compute_us": compute_us,
            "bound": "memory" if per_image["memory_us"] > compute_us else "compute",
            "floor_img_s": 1e6 / bound_us,
            "unfused_floor_img_s": 1e6 / max(per_image["unfused_memory_us"], compute_us),
            "reference": REFERENCE.get(name, {})}


def markdown(rows):
    """The table NOTES.md shows."""
    lines = [f"Bandwidth {BANDWIDTH.value:.3g} B/s, matrix {MATRIX_RATE.value:.3g} FLOP/s, "
             f"depthwise {VECTOR_RATE.value:.3g} FLOP/s, {PASSES.value} passes of "
             f"{BYTES.value}-byte activations; times per image.", "",
             "| model | input | batch | MAdds (M) | dw % | act. fused / unfused (M el.) | "
             "GB/step fused | memory us | matrix us | dw us | bound | floor img/s | "
             "unfused floor img/s | measured (issue 8) | best / floor |",
             "|---|---|---:|---:|---:|---|---:|---:|---:|---:|---|---:|---:|---|---:|"]
    for r in rows:
        measured = ", ".join(f"{k} {v:,}" for k, v in r["reference"].items()) or "-"
        best = (f"{max(r['reference'].values()) / r['floor_img_s']:.2f}"
                if r["reference"] else "-")
        lines.append(
            f"| {r['model']} | {r['input']} | {r['batch']} | {r['madds_m']:,.0f} | "
            f"{r['depthwise_madds_pct']:.1f} | {r['fused_elements_m']:.2f} / "
            f"{r['unfused_elements_m']:.2f} | {r['step_gb']:.1f} | {r['memory_us']:.1f} | "
            f"{r['matrix_us']:.1f} | {r['vector_us']:.1f} | {r['bound']} | "
            f"{r['floor_img_s']:,.0f} | {r['unfused_floor_img_s']:,.0f} | {measured} | {best} |")
    return "\n".join(lines)


def main(argv):
    """The table (or JSON) for the workloads named as arguments, all by default."""
    names = argv[1:] or list(WORKLOADS)
    unknown = sorted(set(names) - set(WORKLOADS))
    if unknown:
        raise app.UsageError(f"unknown {unknown}; choose from {', '.join(WORKLOADS)}")
    rows = [floor(name) for name in names]
    print(json.dumps(rows, indent=1) if JSON.value else markdown(rows))


if __name__ == "__main__":
    app.run(main)
