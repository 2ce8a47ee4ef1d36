"""`python train.py` learns the built-in Shapes dataset in minutes on a CPU, and
`python evaluate.py` reproduces the accuracy it printed: the promise behind the README's
first command, through the real entry points (V3-Small; V2: see RUNS). The defaults' run is
the session's shared `trained_shapes_run` (conftest), which the int8 export checks reuse."""
import json

import pytest

from conftest import cpu_seconds_of_children, evaluated_metrics, run_script

# name -> (train.py's arguments, the recipe's steps)
RUNS = {
    # The Shapes defaults (configs/shapes_cls.py) as `python train.py` runs them: 4 epochs
    # of 93 batches.
    "v3_small": ([], 372),
    # `python train.py --model=v2` (configs/shapes_cls_v2.py: MobileNetV2 0.35 at 96 px,
    # zero-initialised residual blocks, clipped gradients, 3 epochs) is not here: it ends
    # anywhere from 55% to 97% from run to run (see the recipe's docstring), so a 90% bar
    # would fail CI about a third of the time. Issue 4 tracks it.
}


def _train(name, tmp_path, request):
    """(model_dir, train.py's CompletedProcess, its CPU seconds) of RUNS[name]."""
    arguments, _ = RUNS[name]
    if not arguments:   # train.py's defaults: the session's shared run
        run = request.getfixturevalue("trained_shapes_run")
        return run.model_dir, run.process, run.cpu_seconds
    started = cpu_seconds_of_children()
    trained = run_script("train.py", *arguments, f"--model_dir={tmp_path}", timeout=900)
    return tmp_path, trained, cpu_seconds_of_children() - started


@pytest.mark.slow
@pytest.mark.parametrize("name", list(RUNS))
def test_train_py_defaults_learn_shapes_and_evaluate_py_reproduces_the_accuracy(tmp_path, name,
                                                                               request):
    model_dir, trained, cpu_seconds = _train(name, tmp_path, request)
    assert trained.returncode == 0, trained.stderr[-3000:]
    final = json.loads((model_dir / "final_metrics.json").read_text())
    # Reported with -rA / in the log, not asserted: speed belongs to benchmarks.
    print(f"{name}: validation top-1 {final['top1']:.4f} after {final['step']} steps, "
          f"{cpu_seconds:.0f} CPU seconds")
    _, steps = RUNS[name]
    assert final["step"] == steps
    assert final["top1"] >= 0.90, (name, final)
    assert f"validation after {steps} steps: top1 {final['top1']:.4f}" in trained.stdout

    metrics = evaluated_metrics(model_dir)
    assert metrics["top1"] == pytest.approx(final["top1"], abs=1e-6)
    assert metrics["loss"] == pytest.approx(final["loss"], rel=1e-4)
