"""Child-side set-up of the local sandbox: run as a script, applies the limits, execs Python.

The parent starts ``python -I -S _launcher.py CONFIG_JSON`` in a new session with a
minimal environment. This file uses only the standard library, because it runs before
(and outside) the sandboxed interpreter, and it never runs the untrusted code itself:

1. It tries ``unshare`` (mount, PID and network namespaces; plus a user namespace when
   not root). Whatever the kernel refuses is reported, never faked.
2. It forks. The child (PID 1 of the new PID namespace when that worked) makes every
   mount read-only except the working directory, mounts a fresh ``/proc``, sets the
   rlimits, drops to an unprivileged uid when started as root, forbids new privileges,
   reports what it applied on the status pipe and execs the interpreter on ``main.py``.
3. The launcher waits for it and reports its wait status and CPU time.

Status lines are JSON objects written to the file descriptor named in the config.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import json
import os
import resource
import signal
import stat
import sys
from typing import Any

__all__: list[str] = []

CLONE_NEWNS = 0x00020000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000

MS_RDONLY = 1
MS_NOSUID = 2
MS_NODEV = 4
MS_NOEXEC = 8
MS_REMOUNT = 32
MS_NOATIME = 1024
MS_NODIRATIME = 2048
MS_BIND = 4096
MS_REC = 16384
MS_PRIVATE = 1 << 18
MS_RELATIME = 1 << 21
MS_STRICTATIME = 1 << 24

PR_SET_PDEATHSIG = 1
PR_SET_NO_NEW_PRIVS = 38

_OPT_FLAGS = {
    "nosuid": MS_NOSUID,
    "nodev": MS_NODEV,
    "noexec": MS_NOEXEC,
    "noatime": MS_NOATIME,
    "nodiratime": MS_NODIRATIME,
    "relatime": MS_RELATIME,
    "strictatime": MS_STRICTATIME,
}


def _libc() -> Any:
    try:
        # find_library spawns ldconfig; the usual name is tried first to save ~50 ms.
        return ctypes.CDLL("libc.so.6", use_errno=True)
    except OSError:
        return ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)


def _check(ret: int, what: str) -> None:
    if ret != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def _enc(s: str | None) -> bytes | None:
    return s.encode() if s is not None else None


def _mount(
    libc: Any, src: str | None, target: str, fstype: str | None, flags: int, data: str | None = None
) -> None:
    _check(
        libc.mount(_enc(src), _enc(target), _enc(fstype), ctypes.c_ulong(flags), _enc(data)),
        f"mount {target}",
    )


def _write(path: str, text: str) -> None:
    with open(path, "w") as f:
        f.write(text)


def _count_processes(uid: int) -> int:
    """Processes the real uid already owns: RLIMIT_NPROC counts them too."""
    n = 0
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if os.stat(f"/proc/{entry}").st_uid == uid:
                    n += 1
            except OSError:
                pass
    return n


def _unshare(libc: Any, cfg: dict[str, Any], report: dict[str, Any]) -> None:
    """Enter new namespaces: the widest set the kernel allows, recorded in ``report``."""
    root = os.geteuid() == 0
    base = CLONE_NEWNS | CLONE_NEWIPC | (0 if cfg["network"] else CLONE_NEWNET)
    user = 0 if root else CLONE_NEWUSER
    for flags in (base | CLONE_NEWPID | user, base | user):
        if libc.unshare(flags) == 0:
            break
        report["errors"].append(f"unshare({flags:#x}): {os.strerror(ctypes.get_errno())}")
    else:
        return
    if user:
        uid, gid = os.getuid(), os.getgid()
        # A uid mapped to itself (not to 0) keeps the code unprivileged inside: execve
        # then drops the namespace capabilities used for the mounts below.
        _write("/proc/self/setgroups", "deny")
        _write("/proc/self/uid_map", f"{uid} {uid} 1")
        _write("/proc/self/gid_map", f"{gid} {gid} 1")
        report["user_ns"] = True
    report["mount_ns"] = True
    report["ipc_ns"] = True
    report["net_ns"] = not cfg["network"]
    report["pid_ns"] = bool(flags & CLONE_NEWPID)


def _mountinfo() -> list[tuple[str, int]]:
    """(mount point, per-mount flags) of every mount, outermost first."""
    out = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            fields = line.split()
            point = fields[4].encode().decode("unicode_escape")
            flags = 0
            for opt in fields[5].split(","):
                flags |= _OPT_FLAGS.get(opt, 0)
            out.append((point, flags))
    return out


def _blocking_ancestor(path: str) -> str | None:
    """Outermost directory above ``path`` that other users cannot traverse."""
    parts = path.strip("/").split("/")
    current = ""
    for part in parts[:-1]:
        current += "/" + part
        if not os.stat(current).st_mode & stat.S_IXOTH:
            return current
    return None


def _hide_private_dirs(libc: Any, hide: list[str], needed: list[str], dropping: bool) -> list[str]:
    """Cover private directories with an empty tmpfs, keeping only the ``needed`` trees.

    ``hide`` are the home directories (the parent user's, ``/root``): keys, tokens and
    ``.env`` files live there. When the uid is dropped, directories the new uid could not
    traverse anyway (``/root`` is mode 700) are covered too when the interpreter lives
    below them, so that a pyenv or venv there stays runnable. Everything happens inside
    the private mount namespace; the host is untouched.

    Returns:
        The directories now hidden.
    """
    needed = [p for p in sorted(set(needed)) if os.path.exists(p)]
    covers = {os.path.realpath(h) for h in hide if os.path.isdir(h)} - {"/"}
    if dropping:
        covers |= {b for p in needed if (b := _blocking_ancestor(p))}
    # Only the outermost of nested covers is mounted.
    covers = {c for c in covers if not any(c.startswith(o + "/") for o in covers)}
    done = []
    for cover in sorted(covers):
        inside = [p for p in needed if p == cover or p.startswith(cover + "/")]
        if cover in inside:
            continue  # the whole directory is needed; nothing to hide
        inside = [p for p in inside if not any(p.startswith(q + "/") for q in inside)]
        fds = [(p, os.open(p, os.O_PATH)) for p in inside]
        _mount(libc, "tmpfs", cover, "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755,size=1m")
        for p, fd in fds:
            if os.path.isdir(f"/proc/self/fd/{fd}"):
                os.makedirs(p, mode=0o755, exist_ok=True)
            else:
                os.makedirs(os.path.dirname(p), mode=0o755, exist_ok=True)
                open(p, "w").close()
            _mount(libc, f"/proc/self/fd/{fd}", p, None, MS_BIND | MS_REC)
            os.close(fd)
        done.append(cover)
    return done


def _read_only_except(libc: Any, workdir: str, report: dict[str, Any]) -> None:
    _mount(libc, workdir, workdir, None, MS_BIND | MS_REC)
    failures = []
    for point, flags in _mountinfo():
        if point == workdir or point.startswith(workdir + "/"):
            continue
        try:
            _mount(libc, None, point, None, MS_REMOUNT | MS_BIND | MS_RDONLY | flags)
        except OSError as e:
            # /proc and /sys are left as the kernel has them; anything else that stays
            # writable means the guarantee does not hold, and is reported as such.
            if not (point.startswith("/proc") or point.startswith("/sys")):
                failures.append(f"{point}: {e.strerror}")
    report["read_only_fs"] = not failures
    if failures:
        report["errors"].append("still writable: " + "; ".join(failures[:5]))


def _child(libc: Any, cfg: dict[str, Any], report: dict[str, Any], status_fd: int) -> None:
    workdir = cfg["workdir"]
    uid = cfg.get("uid")
    if report.get("mount_ns"):
        try:
            _mount(libc, None, "/", None, MS_REC | MS_PRIVATE)
            dropping = uid is not None and os.geteuid() == 0
            report["hidden"] = _hide_private_dirs(
                libc, cfg["hide"], [*cfg["expose"], workdir], dropping
            )
            _read_only_except(libc, workdir, report)
            if report.get("pid_ns"):
                _mount(libc, "proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
                report["private_proc"] = True
        except OSError as e:
            report["errors"].append(f"mount set-up: {e}")
    os.chdir(workdir)

    lim = cfg["limits"]
    cpu = max(1, round(lim["cpu_s"]))
    nproc = lim["max_processes"] + cfg["existing_processes"]
    for res, soft, hard in (
        (resource.RLIMIT_CORE, 0, 0),
        # SIGXCPU at the soft limit names the cause unambiguously; SIGKILL one second
        # later stops code that catches SIGXCPU.
        (resource.RLIMIT_CPU, cpu, cpu + 1),
        (resource.RLIMIT_AS, lim["memory_mb"] * 1024 * 1024, lim["memory_mb"] * 1024 * 1024),
        (
            resource.RLIMIT_FSIZE,
            lim["file_size_mb"] * 1024 * 1024,
            lim["file_size_mb"] * 1024 * 1024,
        ),
        (resource.RLIMIT_NOFILE, 256, 256),
        (resource.RLIMIT_NPROC, nproc, nproc),
    ):
        name = {
            resource.RLIMIT_CORE: "core",
            resource.RLIMIT_CPU: "cpu",
            resource.RLIMIT_AS: "memory",
            resource.RLIMIT_FSIZE: "file_size",
            resource.RLIMIT_NOFILE: "open_files",
            resource.RLIMIT_NPROC: "processes",
        }[res]
        try:
            resource.setrlimit(res, (soft, hard))
            report["rlimits"].append(name)
        except (ValueError, OSError) as e:
            report["errors"].append(f"setrlimit {name}: {e}")

    if uid is not None and os.geteuid() == 0:
        gid = cfg["gid"]
        os.setgroups([])
        os.setgid(gid)
        os.setuid(uid)
    report["uid"] = os.getuid()
    if sys.platform.startswith("linux"):
        report["no_new_privs"] = libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0
        # Set after the uid change, which clears it: the code dies with the launcher.
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)

    report["event"] = "setup"
    os.write(status_fd, (json.dumps(report) + "\n").encode())
    os.set_inheritable(status_fd, False)
    argv = [cfg["python"], "-I", "-X", "utf8", os.path.join(workdir, "main.py")]
    try:
        os.execve(cfg["python"], argv, cfg["env"])
    except OSError as e:
        os.write(status_fd, (json.dumps({"event": "exec_failed", "error": str(e)}) + "\n").encode())
        os._exit(127)


def main() -> None:
    cfg = json.loads(sys.argv[1])
    status_fd = cfg["status_fd"]
    report: dict[str, Any] = {
        "user_ns": False,
        "ipc_ns": False,
        "hidden": [],
        "mount_ns": False,
        "net_ns": False,
        "pid_ns": False,
        "read_only_fs": False,
        "private_proc": False,
        "rlimits": [],
        "errors": [],
    }
    libc = None
    if sys.platform.startswith("linux"):
        try:
            libc = _libc()
            if cfg["namespaces"]:
                _unshare(libc, cfg, report)
        except OSError as e:
            report["errors"].append(f"namespaces: {e}")
    target_uid = cfg["uid"] if cfg.get("uid") is not None and os.geteuid() == 0 else os.getuid()
    # Counted before /proc is replaced: the kernel counts the uid's processes everywhere.
    cfg["existing_processes"] = _count_processes(target_uid) if os.path.isdir("/proc") else 0

    pid = os.fork()
    if pid == 0:
        try:
            _child(libc, cfg, report, status_fd)
        except BaseException as e:  # must never return into the launcher
            os.write(
                status_fd, (json.dumps({"event": "setup_failed", "error": repr(e)}) + "\n").encode()
            )
        os._exit(126)
    # The launcher only waits; stop signals from the terminal are the parent's business.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _, wstatus, usage = os.wait4(pid, 0)
    final = {
        "event": "exit",
        "exit_code": os.waitstatus_to_exitcode(wstatus),
        "cpu_s": usage.ru_utime + usage.ru_stime,
    }
    os.write(status_fd, (json.dumps(final) + "\n").encode())


if __name__ == "__main__":
    main()
