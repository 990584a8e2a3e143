"""Linux isolation for one run: per-run uid, user/mount/pid/net/ipc/uts namespaces, an empty root with the
interpreter's standard library read-only, a size-capped tmpfs work dir, no capabilities, rlimits, seccomp.

Every step raises IsolationError naming what is missing, so a machine that cannot isolate says exactly why.
"""

from __future__ import annotations

import ctypes
import errno
import os
import platform
import resource
import signal
import stat
import struct
import sysconfig
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

libc = ctypes.CDLL(None, use_errno=True)

CLONE_NEWNS, CLONE_NEWUTS, CLONE_NEWIPC = 0x00020000, 0x04000000, 0x08000000
CLONE_NEWUSER, CLONE_NEWPID, CLONE_NEWNET, CLONE_NEWCGROUP = (
    0x10000000,
    0x20000000,
    0x40000000,
    0x02000000,
)
CLONE_THREAD = 0x00010000
NAMESPACES = {
    "user": CLONE_NEWUSER,
    "mount": CLONE_NEWNS,
    "pid": CLONE_NEWPID,
    "network": CLONE_NEWNET,
    "ipc": CLONE_NEWIPC,
    "uts": CLONE_NEWUTS,
}
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 32, 4096, 16384, 1 << 18
MNT_DETACH = 2
PR_SET_PDEATHSIG, PR_SET_DUMPABLE, PR_SET_NO_NEW_PRIVS, PR_SET_SECCOMP = 1, 4, 38, 22
PR_SET_CHILD_SUBREAPER = 36
SECCOMP_MODE_FILTER = 2
SYS_PIVOT_ROOT, SYS_CAPSET = 155, 126

# Runs get uids far above any real account; uid = UID_BASE + pid of the run's judge, unique while it lives.
UID_BASE = 1_000_000
# A tmpfs mounted here, inside the run's private mount namespace, becomes its root
NEW_ROOT = "/tmp"
WORK_DIR = "/work"


class IsolationError(RuntimeError):
    """This machine (or this process) cannot provide one of the isolation steps."""


def _check(result: int, what: str) -> None:
    if result != 0:
        err = ctypes.get_errno()
        raise IsolationError(f"{what} failed: {os.strerror(err)} (errno {err})")


def prctl(option: int, arg: int, what: str) -> None:
    _check(libc.prctl(option, ctypes.c_ulong(arg), 0, 0, 0), what)


def simulated(step: str, simulate_missing: str | None) -> None:
    """Tests force a step to fail to check the refusal message (GRADEFLOW_SANDBOX_SIMULATE_MISSING)."""
    if simulate_missing and simulate_missing == step:
        raise IsolationError(
            f"{step} failed: simulated as missing (GRADEFLOW_SANDBOX_SIMULATE_MISSING)"
        )


def become_run_user(uid: int) -> None:
    try:
        os.setgroups([])
        os.setresgid(uid, uid, uid)
        os.setresuid(uid, uid, uid)
    except OSError as exc:
        raise IsolationError(
            f"switching to the per-run uid {uid} failed: {exc.strerror} (the worker must run "
            "as root to give each run its own uid)"
        ) from None
    # Changing uid clears these; the uid map below needs a dumpable process, and the run dies with its judge.
    prctl(PR_SET_DUMPABLE, 1, "prctl(PR_SET_DUMPABLE)")
    prctl(PR_SET_PDEATHSIG, signal.SIGKILL, "prctl(PR_SET_PDEATHSIG)")


def private_mount_namespace(simulate_missing: str | None = None) -> None:
    """As root: a mount namespace of our own, where the run's root is built (root can read every source)."""
    simulated("mount namespace", simulate_missing)
    _check(libc.unshare(CLONE_NEWNS), "unshare of the mount namespace")
    _mount(None, "/", None, MS_REC | MS_PRIVATE, None, "making mounts private")


@contextmanager
def children_in_new_pid_namespace() -> Iterator[str | None]:
    """As root, in the judge: the child forked inside the block is pid 1 of a new pid namespace, so the run needs
    no process of its own to wait outside it (one fork fewer per run); after the block the judge's children are
    born in its own namespace again. Yields why the namespace could not be made (None: it was), for the child to
    report as its set-up failure."""
    own = os.open("/proc/self/ns/pid", os.O_RDONLY | os.O_CLOEXEC)
    try:
        yield None if libc.unshare(CLONE_NEWPID) == 0 else os.strerror(ctypes.get_errno())
    finally:
        try:
            _check(libc.setns(own, CLONE_NEWPID), "returning to the judge's pid namespace")
        finally:
            os.close(own)


def enter_namespaces(
    uid: int,
    proc_self: int,
    simulate_missing: str | None = None,
    pid_namespace_failure: str | None = None,
) -> None:
    """As the run's uid, in the pid namespace its judge made for it (`children_in_new_pid_namespace`; what went
    wrong there, if anything, is reported here): new user, mount, network, ipc and uts namespaces at once; root
    inside maps to `uid` outside. The new mount namespace copies the prepared root with its mounts locked."""
    for name in NAMESPACES:
        simulated(f"{name} namespace", simulate_missing)
    if pid_namespace_failure is not None:
        raise IsolationError(f"unshare of the pid namespace failed: {pid_namespace_failure}")
    if libc.unshare(sum(NAMESPACES.values()) & ~CLONE_NEWPID) != 0:
        err = ctypes.get_errno()
        missing = [name for name, flag in NAMESPACES.items() if not _can_unshare(flag)]
        raise IsolationError(
            f"unshare of the {', '.join(missing) or 'user, mount, pid, network, ipc, uts'} "
            f"namespace(s) failed: {os.strerror(err)}. Enable unprivileged user namespaces "
            "(sysctl user.max_user_namespaces > 0, kernel.unprivileged_userns_clone=1)."
        )
    try:
        for name, content in (
            ("setgroups", "deny"),
            ("uid_map", f"0 {uid} 1"),
            ("gid_map", f"0 {uid} 1"),
        ):
            fd = os.open(name, os.O_WRONLY, dir_fd=proc_self)
            try:
                os.write(fd, content.encode())
            finally:
                os.close(fd)
    except OSError as exc:
        raise IsolationError(
            f"writing the user namespace's uid map failed: {exc.strerror}"
        ) from None


def _can_unshare(flag: int) -> bool:
    """Probe one namespace in a throwaway child, to name what is missing."""
    pid = os.fork()
    if pid == 0:
        flags = flag if flag == CLONE_NEWUSER else CLONE_NEWUSER | flag
        os._exit(0 if libc.unshare(flags) == 0 else 1)
    return os.waitpid(pid, 0)[1] == 0


def interpreter_paths() -> list[str]:
    """What the sandboxed interpreter may read: its standard library and the system libraries it loads."""
    # The base interpreter's stdlib, never a virtualenv's lib dir (its site-packages hold the project's deps).
    paths = {str(Path(os.__file__).parent), str(sysconfig.get_config_var("DESTSHARED"))}
    multiarch = sysconfig.get_config_var("MULTIARCH")
    for lib in ("/lib", "/usr/lib", "/lib64", "/usr/lib64"):
        candidate = Path(lib) / multiarch if multiarch else Path(lib)
        if candidate.is_dir() and not candidate.is_symlink():
            paths.add(str(candidate.resolve()))
    # Only real directories that exist and are not below another listed one.
    real = sorted({str(Path(p).resolve()) for p in paths if Path(p).is_dir()})
    return [p for p in real if not any(p != q and p.startswith(q + "/") for q in real)]


def _mount(
    source: str | None, target: str, fstype: str | None, flags: int, data: str | None, what: str
) -> None:
    _check(
        libc.mount(
            source.encode() if source else None,
            target.encode(),
            fstype.encode() if fstype else None,
            ctypes.c_ulong(flags),
            data.encode() if data else None,
        ),
        what,
    )


def build_root(
    readable: list[str] | tuple[str, ...],
    files: dict[str, bytes],
    work_mb: int,
    owner: int,
    executable: bool = False,
) -> None:
    """As root, in a private mount namespace: an empty tmpfs root holding only `readable` (directories or files,
    bind-mounted read-only) and a size-capped tmpfs /work with `files`, owned by the run's uid; pivot into it and
    detach the host's tree. /work allows exec only when `executable` (a compiled program runs from there)."""
    # Held open from before the new root covers NEW_ROOT (/tmp): a path under /tmp is mounted all the same
    sources = {path: os.open(path, os.O_PATH | os.O_CLOEXEC) for path in readable}
    _mount(
        "tmpfs",
        NEW_ROOT,
        "tmpfs",
        MS_NOSUID | MS_NODEV,
        "size=1m,nr_inodes=4096,mode=0755",
        "mounting the root tmpfs",
    )
    root = Path(NEW_ROOT)
    for path in readable:
        target = root / path.lstrip("/")
        if stat.S_ISDIR(os.fstat(sources[path]).st_mode):
            target.mkdir(parents=True, exist_ok=True)
        else:  # a single file (a runtime's binary): mounted on an empty file of its name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.touch()
        _mount(
            f"/proc/self/fd/{sources[path]}",
            str(target),
            None,
            MS_BIND | MS_REC,
            None,
            f"bind-mounting {path}",
        )
        os.close(sources[path])
        _mount(
            None,
            str(target),
            None,
            MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV,
            None,
            f"making {path} read-only",
        )
    for alias in ("lib", "lib64"):  # merged-/usr layouts reach libraries through /lib -> usr/lib
        if Path(f"/{alias}").is_symlink() and not (root / alias).exists():
            (root / alias).symlink_to(os.readlink(f"/{alias}"))
    work = root / WORK_DIR.lstrip("/")
    work.mkdir()
    _mount(
        "tmpfs",
        str(work),
        "tmpfs",
        MS_NOSUID | MS_NODEV | (0 if executable else MS_NOEXEC),
        f"size={work_mb}m,nr_inodes=256,mode=0755",
        "mounting the work tmpfs",
    )
    for name, content in files.items():
        (work / name).write_bytes(content)
        os.chown(work / name, owner, owner)
        if name == "program":  # a compiled binary
            os.chmod(work / name, 0o755)
    os.chown(work, owner, owner)
    os.chdir(NEW_ROOT)
    _check(libc.syscall(SYS_PIVOT_ROOT, b".", b"."), "pivot_root")
    _check(libc.umount2(b".", MNT_DETACH), "detaching the host's root")
    os.chdir("/")
    _mount(
        None,
        "/",
        None,
        MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV,
        None,
        "making the root read-only",
    )
    os.chdir(WORK_DIR)


def drop_capabilities() -> None:
    header = struct.pack("Ii", 0x20080522, 0)  # _LINUX_CAPABILITY_VERSION_3, this thread
    # Two zeroed __user_cap_data_struct: no capabilities at all
    data = ctypes.create_string_buffer(24)
    _check(
        libc.syscall(SYS_CAPSET, ctypes.c_char_p(header), data), "dropping capabilities (capset)"
    )
    prctl(PR_SET_NO_NEW_PRIVS, 1, "prctl(PR_SET_NO_NEW_PRIVS)")


def rlimits(
    limits: dict, memory_kind: str = "address_space", memory_mb: int = 0
) -> list[tuple[int, tuple[int, int]]]:
    """The run's rlimits as (resource, (soft, hard)). Memory is an address-space limit, or for runtimes that
    reserve large ranges up front (the JVM, V8) a data limit (`memory_kind` "data") with the runtime's heap set by
    a flag; `memory_mb`, when given, is the rlimit itself (the memory limit plus the runtime's overhead). Set here
    (set_limits) or by the native spawner (sandbox/spawn.c), from this one list."""
    cpu = max(1, int(limits["cpu_seconds"] + 0.999))
    memory = int(memory_mb or limits["memory_mb"]) * 1024 * 1024
    output = int(limits["output_kb"]) * 1024
    return [
        (resource.RLIMIT_CPU, (cpu, cpu + 1)),
        (resource.RLIMIT_DATA if memory_kind == "data" else resource.RLIMIT_AS, (memory, memory)),
        (resource.RLIMIT_FSIZE, (output, output)),
        (resource.RLIMIT_NOFILE, (32, 32)),
        (resource.RLIMIT_CORE, (0, 0)),
        (resource.RLIMIT_NPROC, (64, 64)),
    ]


def set_limits(limits: dict, memory_kind: str = "address_space", memory_mb: int = 0) -> None:
    for name, value in rlimits(limits, memory_kind, memory_mb):
        try:
            resource.setrlimit(name, value)
        except (ValueError, OSError) as exc:
            raise IsolationError(f"setting rlimit {name} to {value} failed: {exc}") from None


# --- seccomp ---------------------------------------------------------------------------------------------------
AUDIT_ARCH_X86_64 = 0xC000003E
X86_64_DENIED = {
    # network
    "socket": 41,
    "connect": 42,
    "accept": 43,
    "bind": 49,
    "listen": 50,
    "socketpair": 53,
    "accept4": 288,
    # new processes and programs
    "fork": 57,
    "vfork": 58,
    "execve": 59,
    "execveat": 322,
    # the run's session: a new one would weigh as much as the whole API on the scheduler (runs.py)
    "setsid": 112,
    # other processes' memory
    "ptrace": 101,
    "process_vm_readv": 310,
    "process_vm_writev": 311,
    "kcmp": 312,
    "pidfd_getfd": 438,
    # SysV IPC and POSIX message queues: objects that outlive the process, in an ipc namespace the warm
    # supervisor's gradings share (sandbox/warm.c); no program graded here needs them
    "shmget": 29,
    "shmat": 30,
    "shmctl": 31,
    "semget": 64,
    "semop": 65,
    "semctl": 66,
    "shmdt": 67,
    "msgget": 68,
    "msgsnd": 69,
    "msgrcv": 70,
    "msgctl": 71,
    "semtimedop": 220,
    "mq_open": 240,
    "mq_unlink": 241,
    "mq_timedsend": 242,
    "mq_timedreceive": 243,
    "mq_notify": 244,
    "mq_getsetattr": 245,
    # filesystem and namespace changes
    "mount": 165,
    "umount2": 166,
    "pivot_root": 155,
    "chroot": 161,
    "unshare": 272,
    "setns": 308,
    "open_tree": 428,
    "move_mount": 429,
    "fsopen": 430,
    "fsconfig": 431,
    "fsmount": 432,
    "fspick": 433,
    "mount_setattr": 442,
    "mknod": 133,
    "mknodat": 259,
    "name_to_handle_at": 303,
    "open_by_handle_at": 304,
    # the kernel itself
    "kexec_load": 246,
    "kexec_file_load": 320,
    "init_module": 175,
    "finit_module": 313,
    "delete_module": 176,
    "bpf": 321,
    "perf_event_open": 298,
    "userfaultfd": 323,
    "io_uring_setup": 425,
    "io_uring_enter": 426,
    "io_uring_register": 427,
    "keyctl": 250,
    "add_key": 248,
    "request_key": 249,
    "personality": 135,
    "reboot": 169,
    "swapon": 167,
    "swapoff": 168,
    "sethostname": 170,
    "setdomainname": 171,
    "acct": 163,
    "quotactl": 179,
    "lookup_dcookie": 212,
}
X86_64_CLONE, X86_64_CLONE3 = 56, 435
NEW_NAMESPACE_FLAGS = sum(NAMESPACES.values()) | CLONE_NEWCGROUP


def _bpf(code: int, jt: int, jf: int, k: int) -> bytes:
    return struct.pack("HBBI", code, jt, jf, k)


# What a confined process may start: Python runs in the judge's own interpreter and starts nothing; a compiled
# program is started by one execve and then may start nothing; a compiler starts its own programs (cc1, as, ld).
PYTHON, PROGRAM, COMPILER = "python", "program", "compiler"
# socketpair makes a connected pair inside the process (the JVM makes one at start to close files safely): no
# network, and the run's network namespace has none anyway.
EXEC_CALLS = {"execve", "execveat", "socketpair"}
FORK_CALLS = {"fork", "vfork"}


def seccomp_program(profile: str = PYTHON) -> bytes:
    """Deny networking, new processes (threads are fine), exec, tracing and every mount/namespace/kernel
    interface; kill the process on a foreign architecture or the x32 ABI. The `profile` PROGRAM allows exec (the
    program is started by it; it can only start what the empty root holds, under the same filter), COMPILER
    allows exec and new processes too (never a new namespace)."""
    if platform.machine() != "x86_64":
        raise IsolationError(
            f"seccomp: GradeFlow has no syscall filter for {platform.machine()} yet"
        )
    LD, JEQ, JGE, JSET, RET = 0x20, 0x15, 0x35, 0x45, 0x06
    ALLOW, KILL = 0x7FFF0000, 0x80000000

    def errno_(e: int) -> int:
        return 0x00050000 | e

    prog = [
        _bpf(LD, 0, 0, 4),
        _bpf(JEQ, 1, 0, AUDIT_ARCH_X86_64),
        _bpf(RET, 0, 0, KILL),
        _bpf(LD, 0, 0, 0),
        _bpf(JGE, 0, 1, 0x40000000),
        _bpf(RET, 0, 0, KILL),
    ]
    # clone3 cannot be filtered on its flags (they are behind a pointer): ENOSYS makes libc fall back to clone.
    prog += [_bpf(JEQ, 0, 1, X86_64_CLONE3), _bpf(RET, 0, 0, errno_(errno.ENOSYS))]
    # clone: threads only, never a new process or namespace; any other call goes on past these to the denials.
    if profile == COMPILER:  # clone: any process or thread, never a new namespace
        prog += [
            _bpf(JEQ, 0, 4, X86_64_CLONE),
            _bpf(LD, 0, 0, 16),
            _bpf(JSET, 0, 1, NEW_NAMESPACE_FLAGS),
            _bpf(RET, 0, 0, errno_(errno.EPERM)),
            _bpf(RET, 0, 0, ALLOW),
        ]
    else:
        prog += [
            _bpf(JEQ, 0, 5, X86_64_CLONE),
            _bpf(LD, 0, 0, 16),
            _bpf(JSET, 1, 0, NEW_NAMESPACE_FLAGS),
            _bpf(JSET, 1, 0, CLONE_THREAD),
            _bpf(RET, 0, 0, errno_(errno.EPERM)),
            _bpf(RET, 0, 0, ALLOW),
        ]
    # The denied calls as ascending runs of numbers, two comparisons a run, not one a call: the kernel checks and
    # compiles a filter each time a process loads it (every confined process does, each case of a native grading
    # too): 0.16-0.18 ms a load on these machines with one comparison a call (123 instructions), 0.12-0.14 ms this
    # way (72; `python -m benchmarks.seccomp`). A call below the next run is allowed at once.
    runs = number_runs(denied_calls(profile))
    allow_at = len(prog) + 2 * len(runs)  # then the denial, one further
    for low, high in runs:
        here = len(prog)
        prog += [
            _bpf(JGE, 0, allow_at - (here + 1), low),
            _bpf(JGE, 0, allow_at + 1 - (here + 2), high + 1),
        ]
    prog += [_bpf(RET, 0, 0, ALLOW), _bpf(RET, 0, 0, errno_(errno.EPERM))]
    return b"".join(prog)


def denied_calls(profile: str) -> set[int]:
    """The call numbers `profile` refuses with EPERM (clone and clone3 have rules of their own)."""
    allowed = set()
    if profile in (PROGRAM, COMPILER):
        allowed |= EXEC_CALLS
    if profile == COMPILER:
        allowed |= FORK_CALLS
    return {nr for name, nr in X86_64_DENIED.items() if name not in allowed}


def number_runs(numbers: set[int]) -> list[tuple[int, int]]:
    """`numbers` as ascending runs of consecutive ones, (first, last)."""
    runs: list[tuple[int, int]] = []
    for n in sorted(numbers):
        if runs and n == runs[-1][1] + 1:
            runs[-1] = (runs[-1][0], n)
        else:
            runs.append((n, n))
    return runs


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


class SeccompFilter:
    """A profile's filter, built once (a native run's pid 1 prepares it, then each case's process loads it:
    building it costs about as much as the rest of a process's confinement)."""

    def __init__(self, profile: str = PYTHON) -> None:
        program = seccomp_program(profile)
        self._buffer = ctypes.create_string_buffer(program, len(program))
        self._fprog = _SockFprog(len(program) // 8, ctypes.addressof(self._buffer))

    def install(self, simulate_missing: str | None = None) -> None:
        simulated("seccomp", simulate_missing)
        _check(
            libc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.byref(self._fprog), 0, 0),
            "installing the seccomp filter",
        )


def install_seccomp(simulate_missing: str | None = None, profile: str = PYTHON) -> None:
    SeccompFilter(profile).install(simulate_missing)


def become_subreaper() -> None:
    prctl(PR_SET_CHILD_SUBREAPER, 1, "prctl(PR_SET_CHILD_SUBREAPER)")


def close_fds_except(keep: set[int]) -> None:
    top = os.sysconf("SC_OPEN_MAX") if hasattr(os, "sysconf") else 1024
    low = 0
    for fd in sorted(keep) + [top]:
        if fd > low:
            os.closerange(low, fd)
        low = fd + 1


__all__ = [
    "IsolationError",
    "UID_BASE",
    "become_run_user",
    "private_mount_namespace",
    "children_in_new_pid_namespace",
    "enter_namespaces",
    "build_root",
    "drop_capabilities",
    "set_limits",
    "install_seccomp",
    "interpreter_paths",
    "become_subreaper",
    "close_fds_except",
]
