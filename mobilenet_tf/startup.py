"""What the entry points do first: import TensorFlow without its start-up chatter; and how
their output looks on a terminal and in a log file.

TensorFlow 2.20 and later log a few lines at import and at the first device query before
absl's logging is initialised, so TF_CPP_MIN_LOG_LEVEL does not silence them, and each of
its two shared libraries logs them, so they print twice:

    WARNING: All log messages before absl::InitializeLog() is called are written to STDERR
    I0000 ... port.cc:153] oneDNN custom operations are on. ...
    I0000 ... cudart_stub.cc:31] Could not find cuda drivers on your machine, ...
    E0000 ... cuda_platform.cc:52] failed call to cuInit: ...

import_tensorflow_quietly() captures the process's stderr (file descriptor 2, where the
C++ code writes) during the import and the device query, and writes back every line except
those. TF_CPP_MIN_LOG_LEVEL=0 keeps everything.
"""
import os
import re
import sys
import tempfile

CHATTER = re.compile("|".join((
    r"All log messages before absl::InitializeLog",
    r"oneDNN custom operations are on",
    r"Could not find cuda drivers",
    r"failed call to cuInit",
    r"Unable to register cu(DNN|FFT|BLAS) factory",
    r"TF-TRT Warning",
    r"computation placer already registered",
    r"This TensorFlow binary is optimized to use available CPU instructions",
    r"rebuild TensorFlow with the appropriate compiler flags",
)))


def import_tensorflow_quietly():
    """Imports TensorFlow and probes its devices with the start-up chatter filtered out of
    stderr (see the module docstring). Sets TF_CPP_MIN_LOG_LEVEL=2 unless it is set."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if os.environ["TF_CPP_MIN_LOG_LEVEL"] == "0" or "tensorflow" in sys.modules:
        return
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            import tensorflow as tf
            tf.config.list_physical_devices("GPU")   # where the CUDA probe logs
        except ImportError:
            pass   # the caller's own import says what is missing
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            captured.seek(0)
            kept = [line for line in captured.read().decode(errors="replace").splitlines()
                    if line.strip() and not CHATTER.search(line)]
            if kept:
                print("\n".join(kept), file=sys.stderr, flush=True)


def _on_terminal():
    return sys.stdout.isatty() and sys.stderr.isatty()


# Carriage return and "erase to the end of the line" on a terminal (a log line then replaces
# a half-drawn progress bar instead of being glued onto it); nothing in a log file.
LINE_START = "\r\033[K" if _on_terminal() else ""


def progress_style():
    """Keras's `verbose` for fit: the live progress bar on a terminal, else (output to a file
    or a pipe) one plain line per epoch, without carriage returns and colour codes."""
    return 1 if _on_terminal() else 2
