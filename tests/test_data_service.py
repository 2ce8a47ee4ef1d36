"""tf.data service (`--data_service`, `python -m mobilenet_tf.data.service`): train.py through a
dispatcher and two workers ends at the accuracy of the run without it; a worker killed mid-run
leaves training to the other; trainers sharing a job get different batches; a dispatcher
restarted with its work dir resumes its job; an address that does not answer is one line and
exit code 2, within seconds."""
import json
import os
import shutil
import subprocess
import sys
import threading
import time

import pytest
import tensorflow as tf

from conftest import REPO_ROOT, run_here, run_main
from mobilenet_tf.data import service


def _free_port():
    import socket
    with socket.socket() as probe:
        probe.bind(("localhost", 0))
        return probe.getsockname()[1]


@pytest.fixture
def dispatcher():
    """A dispatcher in this process that counts a silent worker lost after 2 s; stopped after
    the test."""
    server = service.start_dispatcher(worker_timeout_s=2.0)
    yield server
    server.stop()


@pytest.fixture
def local_workers(dispatcher):
    """start(n): n workers in this process; all stopped after the test."""
    servers = []

    def start(count):
        servers.extend(service.start_worker(dispatcher.target, worker_address="localhost")
                       for _ in range(count))
        return servers[-count:]

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def worker_process(dispatcher, tmp_path):
    """A worker in its own process (`python -m mobilenet_tf.data.service worker`), started and
    registered; killed after the test if it still runs."""
    log = open(tmp_path / "worker.log", "w+")
    process = subprocess.Popen(
        [sys.executable, "-m", "mobilenet_tf.data.service", "worker",
         f"--dispatcher={dispatcher.target}", "--worker_address=localhost"],
        cwd=REPO_ROOT, stdout=log, stderr=subprocess.STDOUT,
        env={**os.environ, "CUDA_VISIBLE_DEVICES": "", "TF_CPP_MIN_LOG_LEVEL": "3"})
    try:
        deadline = time.time() + 120
        while dispatcher._num_workers() < 1:
            assert process.poll() is None and time.time() < deadline, \
                open(tmp_path / "worker.log").read()[-2000:]
            time.sleep(0.2)
        yield process
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=30)
        log.close()


@pytest.mark.slow
def test_train_py_through_a_dispatcher_and_two_workers_ends_at_the_same_accuracy(
        trained_shapes_run, dispatcher, local_workers, tmp_path):
    """The shared default Shapes run, resumed for its last epoch (93 of 372 steps) with its
    batches from two service workers, ends at the run's own accuracy."""
    reference = json.loads((trained_shapes_run.model_dir / "final_metrics.json").read_text())
    model_dir = tmp_path / "through_service"
    shutil.copytree(trained_shapes_run.model_dir, model_dir,
                    ignore=shutil.ignore_patterns("logs", "final*", "export"))
    index_path = model_dir / "checkpoints" / "checkpoint.json"
    index = json.loads(index_path.read_text())
    earlier = index["files"][0]   # the 3rd epoch's end; the newest is the run's last step
    step = int(earlier[len("ckpt-"):-len(".weights.h5")])
    steps_per_epoch = reference["step"] // 4
    assert step == 3 * steps_per_epoch, index
    index.update(step=step, file=earlier, files=[earlier], epoch=2,
                 epoch_start_step=step - steps_per_epoch, epoch_complete=True)
    index_path.write_text(json.dumps(index))
    workers = local_workers(2)

    code, stderr = run_here("train.py", f"--model_dir={model_dir}",
                            f"--data_service={dispatcher.target}")
    assert code in (0, None), stderr[-3000:]
    assert f"resumed from {earlier} at step {step}" in stderr
    final = json.loads((model_dir / "final_metrics.json").read_text())
    assert final["step"] == reference["step"]
    assert final["top1"] == pytest.approx(reference["top1"], abs=0.03), (final, reference)
    assert all(worker._num_tasks() >= 1 for worker in workers)   # both took part


def test_a_killed_worker_leaves_training_to_the_other(dispatcher, local_workers,
                                                       worker_process, tmp_path):
    local_workers(1)
    model_dir = tmp_path / "run"
    killed = {}

    def kill_after_the_first_checkpoint():
        deadline = time.time() + 300
        while not (model_dir / "checkpoints" / "checkpoint.json").exists():
            if time.time() > deadline:
                return
            time.sleep(0.1)
        killed["running"] = worker_process.poll() is None
        worker_process.kill()

    killer = threading.Thread(target=kill_after_the_first_checkpoint, daemon=True)
    killer.start()
    code, stderr = run_here(
        "train.py", f"--model_dir={model_dir}", f"--data_service={dispatcher.target}",
        "--config.model.width=0.35", "--config.dataset.image_size=32", "--batch_size=16",
        "--config.dataset.options.num_examples=256", "--config.dataset.options.eval_examples=32",
        "--epochs=2", "--config.train.checkpoint_every_steps=4")
    killer.join(timeout=10)
    assert killed.get("running"), "the worker was not running when the first checkpoint came"
    assert code in (0, None), stderr[-3000:]
    final = json.loads((model_dir / "final_metrics.json").read_text())
    # Every epoch's 16 steps, those after the kill from the other worker alone.
    assert final["step"] == 2 * 16, final


def test_trainers_sharing_a_job_get_different_batches(dispatcher, local_workers):
    local_workers(2)
    batches = tf.data.Dataset.range(60).batch(3)
    readers = [iter(service.distribute(batches, dispatcher.target, job="shared"))
               for _ in range(2)]
    seen = [[], []]
    for k in range(20):   # in turns, as trainers stepping together read
        try:
            seen[k % 2].extend(next(readers[k % 2]).numpy().tolist())
        except StopIteration:
            pass
    for reader, values in zip(readers, seen):
        values.extend(value for batch in reader for value in batch.numpy().tolist())
    assert seen[0] and seen[1]
    assert sorted(seen[0] + seen[1]) == list(range(60))   # each example once, to one trainer


def test_the_trainers_of_a_multi_worker_run_share_the_epoch(dispatcher, local_workers):
    """What each trainer's dataset_fn builds under a 2-worker strategy: the same dataset for
    both (else the dispatcher refuses to share the job), per-replica batches, and the epoch's
    examples split between them rather than read by both."""
    from conftest import resolved_config
    from mobilenet_tf.tasks import TASKS
    local_workers(2)
    # An epoch of 512 examples, of which the 3 steps read 48: the stream is repeated (see
    # service's doc), and with a short epoch a worker running ahead into the next pass could
    # serve an example again (it did with 64 on a loaded machine).
    config = resolved_config(f"--data_service={dispatcher.target}", "--batch_size=16",
                             "--config.dataset.image_size=32",
                             "--config.dataset.options.num_examples=512")
    trainers = [service.build_inputs(
        TASKS["classification"], config, "train", job="run-epoch0-step0",
        input_context=tf.distribute.InputContext(num_input_pipelines=2, input_pipeline_id=i,
                                                 num_replicas_in_sync=2))[0]
                for i in range(2)]
    iterators = [iter(dataset) for dataset in trainers]
    seen = [set(), set()]
    for _ in range(3):   # 3 steps of both trainers: 48 of the epoch's 512 examples
        for trainer, iterator in enumerate(iterators):
            images, labels = next(iterator)
            assert images.shape == (8, 32, 32, 3) and labels.shape == (8,)
            seen[trainer].update(image.tobytes() for image in images.numpy())
    assert len(seen[0]) == len(seen[1]) == 24
    assert not seen[0] & seen[1]


def test_a_dispatcher_restarted_with_its_work_dir_resumes_the_job(tmp_path):
    port, journal = _free_port(), str(tmp_path / "journal")
    dispatcher = service.start_dispatcher(port=port, work_dir=journal)
    worker = service.start_worker(dispatcher.target, worker_address="localhost")
    try:
        batches = tf.data.Dataset.range(600).batch(10)
        seen = []
        for batch in service.distribute(batches, dispatcher.target):
            seen.extend(batch.numpy().tolist())
            if len(seen) == 100:   # preempted mid-job, restarted on the same port and journal
                dispatcher.stop()
                dispatcher = service.start_dispatcher(port=port, work_dir=journal)
        assert sorted(seen) == list(range(600))   # the job went on: every example once
    finally:
        worker.stop()
        dispatcher.stop()


def test_an_address_that_does_not_answer_is_one_line_and_exit_2(train_main, monkeypatch,
                                                                capsys, tmp_path):
    port = _free_port()
    # One second of waiting rather than the 5 a real network gets: what is tested is the
    # one line and the exit, not the length of the wait (and both checks below wait).
    monkeypatch.setattr(service.check_reachable, "__defaults__", (1.0,))
    start = time.time()
    code, errors = run_main(train_main, monkeypatch, capsys, [
        f"--data_service=grpc://localhost:{port}", f"--model_dir={tmp_path / 'run'}"])
    assert code == 2 and len(errors) == 1 and "does not answer" in errors[0], errors
    assert time.time() - start < 60   # not the service's hour of retries
    assert not (tmp_path / "run").exists()

    code, errors = run_main(train_main, monkeypatch, capsys, [
        "--data_service=localhost", f"--model_dir={tmp_path / 'run'}"])
    assert code == 2 and "grpc://HOST:PORT" in errors[0], errors

    with pytest.raises(SystemExit) as exit_:
        service.main(["worker", f"--dispatcher=localhost:{port}"])
    assert exit_.value.code == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and "does not answer" in lines[0]


def test_a_dispatcher_on_a_port_in_use_is_one_line_and_exit_2(dispatcher, capsys):
    busy = dispatcher.target.rsplit(":", 1)[1]   # gRPC would silently share it
    with pytest.raises(SystemExit) as exit_:
        service.main(["dispatcher", f"--port={busy}"])
    assert exit_.value.code == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and f"port {busy} is in use" in lines[0], lines
