"""CPU scheduling for `ksmc-bot serve`'s two processes (issue #12, finding 5): on a busy CPU the
front door's acks come before the bot's work. Both settings need no privilege, which raising
the front door's priority would (CAP_SYS_NICE, which the chart does not grant). Linux keeps
both per thread, and a thread inherits them from the thread that starts it, so each process
sets them before it starts its threads (the bot's process also re-sets the threads it has).
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import sys
from pathlib import Path

log = logging.getLogger("ksmc.cpu")

#: How much lower than the front door's the bot's CPU priority is (nice(2) steps; 10 gives the
#: front door about 9 times the bot's share of a busy CPU).
NICENESS = 10

#: The front door's time slice, in nanoseconds (Linux's minimum; the default here is 1.4 ms).
#: Since Linux 6.12 (EEVDF's custom slices, sched_setattr(2)'s sched_runtime for SCHED_OTHER),
#: a waking thread whose slice is shorter than the running one's preempts it: an ack then waits
#: for no other process's slice to end. Nice values only share the CPU out; they do not make a
#: waking thread run sooner, and PostgreSQL or a cluster's API server beside the bot run at 0.
SHORT_SLICE_NS = 100_000

# sched_setattr(2) and sched_getattr(2) on x86-64 and arm64 (glibc has no wrapper)
_SYSCALLS = {"x86_64": (314, 315), "aarch64": (274, 275)}


class SchedAttr(ctypes.Structure):
    """struct sched_attr (include/uapi/linux/sched/types.h)."""

    _fields_ = [
        ("size", ctypes.c_uint32),
        ("sched_policy", ctypes.c_uint32),
        ("sched_flags", ctypes.c_uint64),
        ("sched_nice", ctypes.c_int32),
        ("sched_priority", ctypes.c_uint32),
        ("sched_runtime", ctypes.c_uint64),
        ("sched_deadline", ctypes.c_uint64),
        ("sched_period", ctypes.c_uint64),
        ("sched_util_min", ctypes.c_uint32),
        ("sched_util_max", ctypes.c_uint32),
    ]


def _syscalls() -> tuple[ctypes.CDLL, int, int] | None:
    numbers = _SYSCALLS.get(os.uname().machine)
    if not sys.platform.startswith("linux") or numbers is None:
        return None
    return ctypes.CDLL(None, use_errno=True), *numbers


def slice_of(tid: int = 0) -> int | None:
    """The thread's time slice in nanoseconds as the kernel reports it (0 from kernels without
    custom slices); None where it cannot be read."""
    calls = _syscalls()
    if calls is None:
        return None
    libc, _set, get = calls
    attr = SchedAttr()
    if libc.syscall(get, tid, ctypes.byref(attr), ctypes.sizeof(attr), 0) != 0:
        return None
    return int(attr.sched_runtime)


def ask_for_short_slices(slice_ns: int = SHORT_SLICE_NS) -> bool:
    """Ask the kernel for short time slices for this thread and the threads it starts later
    (the front door calls this first thing); whether the kernel keeps them."""
    calls = _syscalls()
    if calls is None:
        return False
    libc, set_attr, _get = calls
    attr = SchedAttr(
        size=ctypes.sizeof(SchedAttr),
        sched_policy=os.SCHED_OTHER,
        sched_nice=os.getpriority(os.PRIO_PROCESS, 0),
        sched_runtime=slice_ns,
    )
    if libc.syscall(set_attr, 0, ctypes.byref(attr), 0) != 0:
        log.info("the kernel refused a short time slice (errno %d)", ctypes.get_errno())
        return False
    if slice_of() != slice_ns:
        log.info("this kernel keeps no per-thread time slice (Linux 6.12 and later do)")
        return False
    return True


def yield_cpu_to(front_door_pid: int) -> None:
    """Lower the CPU priority of every thread of this process below the front door's, so that
    on a busy CPU its acks come before the bot's preflights, queries and Bolt dispatches."""
    if not sys.platform.startswith("linux"):
        return
    base = os.getpriority(os.PRIO_PROCESS, front_door_pid)
    for task in Path("/proc/self/task").iterdir():
        with contextlib.suppress(OSError, ValueError):
            os.setpriority(os.PRIO_PROCESS, int(task.name), min(19, base + NICENESS))
