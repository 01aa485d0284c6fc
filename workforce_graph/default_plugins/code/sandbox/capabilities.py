"""Which protections the local sandbox got on this machine."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

__all__ = ["SandboxCapabilities"]


@dataclass(frozen=True)
class SandboxCapabilities:
    """Which protections the local sandbox actually got on this machine.

    Attributes:
        no_network: The code runs in a network namespace with no usable interface.
        read_only_outside_workdir: Every mount except the working directory is read-only.
        pid_namespace: Processes the code starts die when the code's main process ends.
        private_proc: ``/proc`` shows only the sandbox's own processes.
        unprivileged_uid: The code runs as a non-root uid (``RLIMIT_NPROC`` applies).
        process_limit: The process-count limit is enforced by the kernel.
        rlimits: The rlimits set (``cpu``, ``memory``, ``file_size``, ...).
        uid: The uid the code ran as.
        hidden_dirs: Home directories covered by an empty tmpfs (only the interpreter's
            trees are bound back in), so the code cannot read keys or tokens there.
        notes: What the kernel refused, for the logs.
    """

    no_network: bool
    read_only_outside_workdir: bool
    pid_namespace: bool
    private_proc: bool
    unprivileged_uid: bool
    process_limit: bool
    rlimits: tuple[str, ...]
    uid: int
    hidden_dirs: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()

    @classmethod
    def from_report(cls, report: dict[str, Any]) -> SandboxCapabilities:
        uid = int(report.get("uid", os.getuid()))
        rlimits = tuple(report.get("rlimits", ()))
        return cls(
            no_network=bool(report.get("net_ns")),
            read_only_outside_workdir=bool(report.get("read_only_fs")),
            pid_namespace=bool(report.get("pid_ns")),
            private_proc=bool(report.get("private_proc")),
            unprivileged_uid=uid != 0,
            # The kernel exempts root (uid 0 outside any user namespace) from RLIMIT_NPROC.
            process_limit=uid != 0 and "processes" in rlimits,
            rlimits=rlimits,
            uid=uid,
            hidden_dirs=tuple(report.get("hidden", ())),
            notes=tuple(report.get("errors", ())),
        )
