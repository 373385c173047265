"""Where and how a job runs: the device (one policy for training, evaluation and
attribution), CPU threads, the memory allocator, logging to the job's log, and how the
job's process ends."""

from __future__ import annotations

import logging
import os
import platform
import sys
from typing import TYPE_CHECKING, NoReturn

from grammarbench.errors import quiet_interrupts

if TYPE_CHECKING:  # torch is imported where a device is resolved: a simulate job never needs it
    import torch

__all__ = ["DEVICE_CHOICES", "resolve_device", "device_description", "use_threads",
           "wait_passively", "reuse_freed_memory", "configure_logging", "end_process"]

log = logging.getLogger("grammarbench")

DEVICE_CHOICES = ("auto", "cpu", "cuda")


def resolve_device(device: str | torch.device | None = None, gpu_allowed: bool = True) -> torch.device:
    """The device to run on.

    Parameters
    ----------
    device: str, torch.device or None
        ``None`` or ``"auto"``: CUDA when it is available and ``gpu_allowed``, else the CPU.
        ``"cpu"``, ``"cuda"`` (or ``"cuda:1"``, a ``torch.device``): that device; asking for
        CUDA where there is none raises ``ValueError``. Default is None.
    gpu_allowed: bool
        Whether ``auto`` may pick CUDA. Inside Snakemake this is the job's ``gpu`` resource
        > 0, so ``--resources gpu=0`` trains on the CPU. Default is True.

    Returns
    -------
    device: torch.device
    """
    import torch

    if isinstance(device, torch.device):
        device = str(device)
    if device is None or device == "auto":
        return torch.device("cuda" if gpu_allowed and torch.cuda.is_available() else "cpu")
    if device == "cpu":
        return torch.device("cpu")
    if device.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ValueError(f"device {device!r} was asked for, but CUDA is not available here "
                             f"(CUDA_VISIBLE_DEVICES={os.environ.get('CUDA_VISIBLE_DEVICES')!r}); "
                             "use device: auto or cpu")
        return torch.device(device)
    raise ValueError(f"device must be one of {', '.join(DEVICE_CHOICES)} (or cuda:N); got {device!r}")


def device_description(device: torch.device) -> str:
    """A human-readable name of the device, e.g. ``cuda:0 (NVIDIA H100 80GB HBM3)``."""
    import torch

    if device.type == "cuda":
        index = device.index if device.index is not None else torch.cuda.current_device()
        return f"cuda:{index} ({torch.cuda.get_device_name(index)})"
    threads = torch.get_num_threads()
    return f"cpu ({threads} thread{'s' if threads > 1 else ''})"


def use_threads(threads: int | None) -> None:
    """Let PyTorch and numba's parallel loops (the gkm-SVM's kernels) use ``threads`` CPU
    threads (None: leave their defaults). Small models train fastest on one thread per job,
    with jobs side by side; this is the one place it is set."""
    if threads is not None:
        import numba
        import torch

        torch.set_num_threads(int(threads))
        # numba cannot go above the pool it started with (NUMBA_NUM_THREADS).
        numba.set_num_threads(max(1, min(int(threads), numba.config.NUMBA_NUM_THREADS)))


def wait_passively() -> None:
    """Idle OpenMP threads sleep instead of spinning (``OMP_WAIT_POLICY=PASSIVE``, unless
    the environment sets it), for jobs whose numba loops are a few long parallel regions
    with serial work between them (simulation). By default a GNU OpenMP thread spins for
    milliseconds after each region, burning a core that the serial part, or another job,
    could use: a realistic simulate step spent about a quarter of its CPU time spinning.
    Only takes effect before the process's first numba parallel loop (or
    ``numba.set_num_threads``), when OpenMP reads its environment."""
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


#: glibc's mallopt parameters (malloc.h) and the largest allocation the heap serves
#: after :func:`reuse_freed_memory` (above it, allocations are mapped afresh as usual)
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
_HEAP_UP_TO = 1 << 30


def reuse_freed_memory() -> bool:
    """Let freed memory stay in the process for the next allocation, for jobs that
    allocate and free tensors of tens of MB per batch (attribution): glibc maps
    allocations above a threshold (at most 32 MiB) afresh and returns them on free, and
    trims the heap's free top, so each new tensor touches new pages, a page fault per
    4 KiB. Page faults were a sixth of an ISM job on Basset (warm: 1.39 -> 1.15 s for
    4 sequences with the same code) and of a DeepLIFT-SHAP job (cold: 5.2 -> 4.6 s).
    The job keeps its high-water mark of memory until it ends; allocations over 1 GiB
    are still mapped and returned. Only on glibc (Linux); elsewhere nothing changes.

    Returns
    -------
    changed: bool
        Whether glibc took both settings.
    """
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return False
    import ctypes

    mallopt = ctypes.CDLL("libc.so.6").mallopt
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return bool(mallopt(_M_MMAP_THRESHOLD, _HEAP_UP_TO) and mallopt(_M_TRIM_THRESHOLD, _HEAP_UP_TO))


def configure_logging(level=logging.INFO) -> None:
    """One line per event on stderr (rule scripts point stderr at the rule's log), and one
    line, not a traceback, when the user stops the run with Ctrl-C."""
    logging.basicConfig(level=level, stream=sys.stderr,
                        format="%(asctime)s %(name)s %(levelname)s: %(message)s")
    quiet_interrupts()


def end_process(code: int = 0) -> NoReturn:
    """End a job's process with exit status ``code``, skipping Python's finalisation.

    Once torch is imported, finalisation (clearing tens of thousands of module objects,
    the garbage collector's passes over them) takes about 0.4 s of wall time after every
    output is written: a tenth of a cold ISM job on Basset. What a normal exit does that
    matters still happens: the exit handlers run (logging's flush and close, temporary
    folders' clean-up), then the standard streams are flushed. The process exits as
    usual while another non-daemon thread runs (a normal exit waits for it) and under a
    profiler, tracer or debugger (cProfile writes its statistics after the program).
    """
    import atexit
    import threading

    if sys.getprofile() is not None or sys.gettrace() is not None or \
            any(thread is not threading.main_thread() and not thread.daemon and thread.is_alive()
                for thread in threading.enumerate()):
        sys.exit(code)
    try:
        atexit._run_exitfuncs()
    finally:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (OSError, ValueError):  # closed, or its reader is gone
                pass
        os._exit(code)
