"""tf.data service: the training pipeline's per-example work on a fleet of CPU machines.

    python -m mobilenet_tf.data.service dispatcher --port=5050 --work_dir=DIR
    python -m mobilenet_tf.data.service worker --dispatcher=HOST:5050 --port=5051
    python train.py ... --data_service=grpc://HOST:5050

With --data_service the training split's whole pipeline (read, decode, crop, augment, for
detection the anchor matching, batching) is registered with the dispatcher and runs on the
workers; the trainer receives finished batches. Validation stays in the trainer.

Sharing: ShardingPolicy.DYNAMIC. The dispatcher hands each worker the next split of the
source (a TFRecord file, a COCO image, a Shapes example) as it asks, so the examples of a pass
are spread over the workers, however many there are; each worker batches what it is given.
The registered stream is the epoch's seeded stream repeated, and each epoch trains its
planned steps from it: the partial batch each worker drops at the end of a pass, and the
splits a dead worker took with it, are made up from the next pass. (A finite stream would
leave an epoch short, and TensorFlow 2.21's dispatcher never ends a pass whose worker died:
the trainer would wait forever.) Which worker serves a batch, and so the order of examples
and how they fall into batches, depends on timing: with the service a seeded run is not
reproducible batch for batch, and each worker draws its own augmentation seeds
(pipeline.for_service).

Several trainers (multi-worker): every trainer registers the same dataset and reads the same
job (job_name: the run's model dir, epoch and start step), each receiving different batches.

Resuming after preemption: the run resumes at the checkpoint's step and epoch with its
weights, optimizer and schedule, as without the service; the rest of the interrupted epoch is
drawn from a new pass over that epoch's examples (a new job), since the service keeps no
order to continue from. A dispatcher restarted with the same --work_dir recovers its
registered datasets and jobs from its journal (fault_tolerant_mode), and workers re-register
with it on their own.
"""
import argparse
import hashlib
import socket
import sys
import urllib.parse

import tensorflow as tf

from mobilenet_tf import UserError
from mobilenet_tf.data import pipeline

PROTOCOL = "grpc"
# Seconds to wait for a dispatcher to answer: the service itself retries for an hour.
CONNECT_TIMEOUT_S = 5.0
# The dispatcher counts a worker lost after this long without a heartbeat; its splits then
# stop waiting on it (the service's default is an hour).
WORKER_TIMEOUT_S = 10.0
_service = tf.data.experimental.service


def parse_address(address):
    """(host, port) of a dispatcher address, grpc://HOST:PORT or HOST:PORT; UserError for
    anything else."""
    text = address if "://" in address else f"{PROTOCOL}://{address}"
    parsed = urllib.parse.urlsplit(text)
    try:
        port = parsed.port
    except ValueError:
        port = None
    if parsed.scheme != PROTOCOL or not parsed.hostname or not port or parsed.path:
        raise UserError(f"--data_service={address} is not a tf.data service dispatcher "
                        f"address; give {PROTOCOL}://HOST:PORT")
    return parsed.hostname, port


def target(address):
    """The address as the service takes it: grpc://HOST:PORT."""
    host, port = parse_address(address)
    return f"{PROTOCOL}://{host}:{port}"


def check_reachable(address, timeout=CONNECT_TIMEOUT_S):
    """UserError unless a gRPC server answers at the dispatcher address within `timeout`
    seconds (the service would wait for it for an hour, without a word)."""
    import grpc   # installed with TensorFlow
    host, port = parse_address(address)
    channel = grpc.insecure_channel(f"{host}:{port}")
    try:
        grpc.channel_ready_future(channel).result(timeout=timeout)
    except grpc.FutureTimeoutError:
        raise UserError(
            f"the tf.data service dispatcher {target(address)} does not answer (nothing "
            f"reachable there within {timeout:g} s); start one with `python -m "
            f"mobilenet_tf.data.service dispatcher --port={port}` or fix --data_service"
        ) from None
    finally:
        channel.close()


def job_name(model_dir, split, epoch, start_step):
    """The job that every trainer of a run reads at that epoch and start step: the same on
    every trainer, new on each resume (a finished job would hand out nothing)."""
    run = hashlib.sha1(str(model_dir).encode("utf-8")).hexdigest()[:12]
    return f"mobilenet_tf-{run}-{split}-epoch{epoch}-step{start_step}"


def distribute(dataset, address, job=None):
    """`dataset` run on the service's workers (DYNAMIC sharding, see the module doc); job:
    the name trainers sharing one job give, None for a job of this iterator's own.
    Uncompressed: uint8 pixels gain little from Snappy, and compressing them on the worker
    and expanding them in the trainer costs the CPU time the service is there to save."""
    return dataset.apply(_service.distribute(
        processing_mode=_service.ShardingPolicy.DYNAMIC, service=target(address),
        job_name=job, compression=None))


class _Unsharded(tf.distribute.InputContext):
    """An input context with this trainer's per-replica batch but no sharding: the service
    splits the data among trainers, so every trainer must register the same dataset."""

    def __init__(self, input_context):
        super().__init__(num_input_pipelines=1, input_pipeline_id=0,
                         num_replicas_in_sync=input_context.num_replicas_in_sync)


def build_inputs(task, config, split, *, input_context=None, epoch=0, job=None):
    """The training split's batches from the service at config.runtime.data_service, and
    its DatasetInfo: the epoch's stream, repeated (see the module doc). job: the shared
    job's name, used when several trainers read (the input context's pipelines)."""
    address = config.runtime.data_service
    check_reachable(address)
    trainers = input_context.num_input_pipelines if input_context else 1
    with pipeline.for_service():
        dataset, info = task.build_inputs(
            config, split, training=True, epoch=epoch,
            input_context=_Unsharded(input_context) if input_context else None)
    return distribute(dataset.repeat(), address, job if trainers > 1 else None), info


# -- Servers ----------------------------------------------------------------------------------

def _check_port_free(port):
    """UserError when another server listens on `port` (gRPC binds with SO_REUSEPORT, so a
    second dispatcher would silently share the port with the first)."""
    if not port:
        return
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("", port))
        except OSError as error:
            raise UserError(f"port {port} is in use ({error.strerror}); choose another "
                            "--port") from None


def start_dispatcher(port=0, work_dir=None, worker_timeout_s=WORKER_TIMEOUT_S):
    """A dispatcher serving on `port` (0: any free one) in this process. work_dir: its
    journal, from which a restarted dispatcher recovers its datasets and jobs. UserError when
    the port is taken."""
    config = _service.DispatcherConfig(
        port=port, protocol=PROTOCOL, work_dir=work_dir or None,
        fault_tolerant_mode=bool(work_dir), worker_timeout_ms=int(worker_timeout_s * 1000))
    _check_port_free(port)
    try:
        return _service.DispatchServer(config)
    except tf.errors.OpError as error:
        raise UserError(f"cannot serve a dispatcher on port {port}: "
                        f"{error.message.splitlines()[0]}; choose another --port") from None


def start_worker(dispatcher, port=0, worker_address=None):
    """A worker of `dispatcher` serving on `port` (0: any free one) in this process, after
    checking the dispatcher answers. worker_address: how trainers reach it, HOST[:PORT]
    (default this machine's name and its port)."""
    check_reachable(dispatcher)
    host, dispatcher_port = parse_address(dispatcher)
    address = worker_address or socket.gethostname()
    if ":" not in address:
        address += ":%port%"
    _check_port_free(port)
    try:
        return _service.WorkerServer(_service.WorkerConfig(
            dispatcher_address=f"{host}:{dispatcher_port}", worker_address=address, port=port,
            protocol=PROTOCOL))
    except tf.errors.OpError as error:
        raise UserError(f"cannot serve a worker on port {port}: "
                        f"{error.message.splitlines()[0]}; choose another --port") from None


def main(argv=None):
    """`python -m mobilenet_tf.data.service dispatcher|worker ...`; a user error is one line
    and exit code 2."""
    parser = argparse.ArgumentParser(prog="python -m mobilenet_tf.data.service",
                                     description=__doc__.split("\n\n")[0])
    roles = parser.add_subparsers(dest="role", required=True)
    dispatcher = roles.add_parser("dispatcher", help="hands out splits of the data")
    dispatcher.add_argument("--port", type=int, default=5050)
    dispatcher.add_argument("--work_dir", default="", help="journal directory (local or "
                            "gs://): a dispatcher restarted with it resumes its jobs")
    dispatcher.add_argument("--worker_timeout_s", type=float, default=WORKER_TIMEOUT_S,
                            help="a worker silent this long is counted lost")
    worker = roles.add_parser("worker", help="runs the pipeline; start one per CPU machine")
    worker.add_argument("--dispatcher", required=True, help="HOST:PORT or grpc://HOST:PORT")
    worker.add_argument("--port", type=int, default=0, help="0: any free port")
    worker.add_argument("--worker_address", default="", help="HOST[:PORT] trainers reach "
                        "this worker at (default this machine's name)")
    args = parser.parse_args(argv)
    try:
        if args.role == "dispatcher":
            server = start_dispatcher(args.port, args.work_dir, args.worker_timeout_s)
            journal = (f"journal in {args.work_dir}" if args.work_dir
                       else "no --work_dir: its state is lost on a restart")
            print(f"tf.data service dispatcher at {PROTOCOL}://{socket.gethostname()}:"
                  f"{server.target.rsplit(':', 1)[-1]}; {journal}", flush=True)
        else:
            server = start_worker(args.dispatcher, args.port, args.worker_address or None)
            print(f"tf.data service worker of {target(args.dispatcher)}, port "
                  f"{server._address.rsplit(':', 1)[-1]}", flush=True)
        server.join()
    except UserError as error:
        print(f"error: {error}", file=sys.stderr, flush=True)
        sys.exit(2)
    except KeyboardInterrupt:
        sys.exit(0)


if __name__ == "__main__":
    main()
