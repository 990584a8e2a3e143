"""The seccomp filters, instruction by instruction: each profile's program is run here by a small classic-BPF
interpreter for every system call number, both architectures' checks and clone's flags, and must give exactly the
policy sandbox.confine states (the denied list, the profile's exceptions, clone and clone3). The kernel's side (the
filter loaded, the calls refused) is what the attack tests in this directory exercise through the real grader."""

from __future__ import annotations

import errno
import struct

import pytest

from sandbox import confine

ALLOW, KILL = 0x7FFF0000, 0x80000000
OTHER_ARCH = 0x40000028  # AUDIT_ARCH_AARCH64
CLONE_VM, SIGCHLD = 0x00000100, 17
CLONE_FLAGS = [
    SIGCHLD,  # fork()
    CLONE_VM
    | confine.CLONE_THREAD
    | 0x00000800,  # a thread (pthread_create: VM, THREAD, SIGHAND, ...)
    confine.CLONE_NEWNET | SIGCHLD,
    confine.CLONE_THREAD | CLONE_VM | confine.CLONE_NEWUSER,
    confine.CLONE_NEWCGROUP,
    0,
]


def refused(code: int) -> int:
    return 0x00050000 | code


def evaluate(program: bytes, nr: int, arch: int = confine.AUDIT_ARCH_X86_64, arg0: int = 0) -> int:
    """What the kernel's classic BPF would return for this call (only the instructions the filters use)."""
    instructions = [struct.unpack_from("HBBI", program, at) for at in range(0, len(program), 8)]
    # struct seccomp_data: int nr; __u32 arch; __u64 instruction_pointer; __u64 args[6]
    data = struct.pack("<iIQ6Q", nr, arch, 0, arg0, 0, 0, 0, 0, 0)
    pc, a = 0, 0
    for _ in range(len(instructions) + 1):  # classic BPF only jumps forward
        code, jt, jf, k = instructions[pc]
        if code == 0x20:  # BPF_LD | BPF_W | BPF_ABS
            a = struct.unpack_from("<I", data, k)[0]
            pc += 1
        elif code in (0x15, 0x35, 0x45):  # JEQ, JGE, JSET (BPF_K)
            taken = {0x15: a == k, 0x35: a >= k, 0x45: bool(a & k)}[code]
            pc += 1 + (jt if taken else jf)
        elif code == 0x06:  # BPF_RET | BPF_K
            return k
        else:
            raise AssertionError(f"an instruction this interpreter does not know: {code:#x}")
    raise AssertionError("the program ran past its end")


def policy(profile: str, nr: int, arg0: int = 0) -> int:
    if nr == confine.X86_64_CLONE3:
        return refused(errno.ENOSYS)
    if nr == confine.X86_64_CLONE:
        if arg0 & confine.NEW_NAMESPACE_FLAGS:
            return refused(errno.EPERM)
        if profile != confine.COMPILER and not arg0 & confine.CLONE_THREAD:
            return refused(errno.EPERM)
        return ALLOW
    return refused(errno.EPERM) if nr in confine.denied_calls(profile) else ALLOW


@pytest.mark.parametrize("profile", [confine.PYTHON, confine.PROGRAM, confine.COMPILER])
def test_every_call_gets_the_stated_answer(profile: str) -> None:
    program = confine.seccomp_program(profile)
    for nr in range(1024):
        assert evaluate(program, nr) == policy(profile, nr), (profile, nr)
    for flags in CLONE_FLAGS:
        got = evaluate(program, confine.X86_64_CLONE, arg0=flags)
        assert got == policy(profile, confine.X86_64_CLONE, flags), (profile, hex(flags))


@pytest.mark.parametrize("profile", [confine.PYTHON, confine.PROGRAM, confine.COMPILER])
def test_foreign_calls_kill(profile: str) -> None:
    program = confine.seccomp_program(profile)
    for nr in (0, 1, 59, 435):
        assert evaluate(program, nr, arch=OTHER_ARCH) == KILL
        assert evaluate(program, 0x40000000 | nr) == KILL  # the x32 ABI


def test_the_denials_are_few_instructions() -> None:
    """Loading a filter costs the kernel per instruction, once per confined process: the denied calls take two
    comparisons per run of consecutive numbers, not one per call."""
    denied = len(confine.X86_64_DENIED)
    runs = confine.number_runs(set(confine.X86_64_DENIED.values()))
    assert len(runs) < denied * 0.6
    assert len(confine.seccomp_program(confine.PYTHON)) // 8 <= 2 * len(runs) + 16


def test_number_runs() -> None:
    assert confine.number_runs({5, 1, 2, 3, 9, 10}) == [(1, 3), (5, 5), (9, 10)]
    assert confine.number_runs(set()) == []
