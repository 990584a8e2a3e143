/* The last step before a native program runs: set its limits, drop every capability, install its seccomp filter,
 * exec it. The sandbox's pid 1 (sandbox/supervise.py) starts this with posix_spawn for each case instead of forking
 * itself: a fork of a Python process, and the Python it runs before exec, cost several times a small program's
 * whole run; this costs a small process's exec. Written in C because no library does this step (libseccomp builds
 * filters; it does not start processes) and Python is what it replaces. Built by sandbox/spawner.py with the
 * machine's C compiler; without one, pid 1 forks as before.
 *
 * Freestanding: no C library, its own entry point and system calls. A static C library's start-up reads the CPU's
 * features and caches (cpuid, which a virtual machine traps): 0.54 ms of CPU per exec here, against 0.04 ms without
 * it, paid on every case of every grading. What is left needs nine system calls.
 *
 * argv: spawn [<resource> <soft> <hard>]... -- <program> [args...]  (the rlimits, as sandbox.confine.rlimits lists
 *       them: setrlimit's resource numbers; -1 is no limit)
 * fd 3: the seccomp filter (struct sock_filter[]), read from offset 0; closed before exec.
 * fd 4: where a failure to start is written (close-on-exec: it closes when exec succeeds); exit status 121.
 * The environment is the program's.
 */
#if !defined(__x86_64__) || !defined(__linux__)
#error "the spawner is written for Linux on x86_64, as is the seccomp filter it installs"
#endif

#define FILTER_FD 3
#define FAILURE_FD 4
#define SETUP_FAILED 121
#define MAX_FILTER 4096

/* x86_64 system call numbers and the constants used (from the kernel headers, without the C library) */
#define SYS_write 1
#define SYS_close 3
#define SYS_pread64 17
#define SYS_execve 59
#define SYS_fcntl 72
#define SYS_capset 126
#define SYS_prctl 157
#define SYS_exit_group 231
#define SYS_prlimit64 302
#define SYS_close_range 436
#define F_SETFD 2
#define FD_CLOEXEC 1
#define PR_SET_NO_NEW_PRIVS 38
#define PR_SET_SECCOMP 22
#define SECCOMP_MODE_FILTER 2
#define LINUX_CAPABILITY_VERSION_3 0x20080522
#define EINVAL 22
#define ERANGE 34

typedef unsigned long word;

struct sock_filter {
    unsigned short code;
    unsigned char jt, jf;
    unsigned int k;
};
struct sock_fprog {
    unsigned short len;
    struct sock_filter *filter;
};
struct rlimit {
    word soft, hard;
};
struct cap_header {
    unsigned int version;
    int pid;
};
struct cap_data {
    unsigned int effective, permitted, inheritable;
};

static long call6(long n, long a, long b, long c, long d, long e, long f) {
    register long r10 __asm__("r10") = d;
    register long r8 __asm__("r8") = e;
    register long r9 __asm__("r9") = f;
    long result;
    __asm__ volatile("syscall"
                     : "=a"(result)
                     : "a"(n), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8), "r"(r9)
                     : "rcx", "r11", "memory");
    return result; /* -errno on failure */
}

#define call(n, a, b, c) call6((n), (long)(a), (long)(b), (long)(c), 0, 0, 0)

static const char *words(long err) {
    switch (err) {
    case 1: return "Operation not permitted";
    case 2: return "No such file or directory";
    case 7: return "Argument list too long";
    case 8: return "Exec format error";
    case 9: return "Bad file descriptor";
    case 12: return "Cannot allocate memory";
    case 13: return "Permission denied";
    case 14: return "Bad address";
    case 22: return "Invalid argument";
    case 26: return "Text file busy";
    case 34: return "Numerical result out of range";
    default: return "error";
    }
}

static char *append(char *at, const char *end, const char *text) {
    while (*text && at < end) *at++ = *text++;
    return at;
}

__attribute__((noreturn)) static void fail(const char *step, long err) {
    char message[512], digits[24];
    const char *end = message + sizeof message;
    char *at = append(message, end, step);
    at = append(at, end, " failed: ");
    at = append(at, end, words(err));
    int n = sizeof digits - 1;
    digits[n] = 0;
    for (word e = (word)err; n > 0;) {
        digits[--n] = (char)('0' + e % 10);
        e /= 10;
        if (!e) break;
    }
    at = append(at, end, " (errno ");
    at = append(at, end, digits + n);
    at = append(at, end, ")");
    call(SYS_write, FAILURE_FD, message, at - message);
    call(SYS_exit_group, SETUP_FAILED, 0, 0);
    __builtin_unreachable();
}

static int same(const char *a, const char *b) {
    while (*a && *a == *b) a++, b++;
    return *a == *b;
}

static word number(const char *text, const char *what) {
    if (same(text, "-1")) return ~(word)0; /* RLIM_INFINITY, as Python's resource module writes it */
    if (!*text) fail(what, EINVAL);
    word value = 0;
    for (; *text; text++) {
        if (*text < '0' || *text > '9') fail(what, EINVAL);
        word digit = (word)(*text - '0');
        if (value > (~(word)0 - digit) / 10) fail(what, ERANGE);
        value = value * 10 + digit;
    }
    return value;
}

static struct sock_filter filter[MAX_FILTER];

__attribute__((noreturn, used)) void spawn_main(long *stack) {
    int argc = (int)stack[0];
    char **argv = (char **)(stack + 1);
    char **environ = argv + argc + 1;

    long done = call(SYS_fcntl, FAILURE_FD, F_SETFD, FD_CLOEXEC);
    if (done < 0) call(SYS_exit_group, SETUP_FAILED, 0, 0);
    int program = 1;
    while (program + 3 < argc && !same(argv[program], "--")) program += 3;
    if (program >= argc - 1 || !same(argv[program], "--")) fail("reading the arguments", EINVAL);
    program += 1;

    long size = call6(SYS_pread64, FILTER_FD, (long)filter, sizeof filter, 0, 0, 0);
    if (size < 0) fail("reading the seccomp filter", -size);
    if (size == 0 || size % sizeof filter[0] != 0) fail("reading the seccomp filter", EINVAL);
    call(SYS_close, FILTER_FD, 0, 0);
    /* Whatever else pid 1 had open stays out of the program (pid 1 marks its own close-on-exec as well) */
    if (call(SYS_close_range, FAILURE_FD + 1, ~0U, 0) != 0)
        for (int fd = FAILURE_FD + 1; fd < 1024; fd++) call(SYS_close, fd, 0, 0);
    struct sock_fprog filters = {(unsigned short)(size / sizeof filter[0]), filter};

    for (int i = 1; i + 3 <= program - 1; i += 3) {
        struct rlimit value = {number(argv[i + 1], "reading a soft limit"),
                               number(argv[i + 2], "reading a hard limit")};
        done = call6(SYS_prlimit64, 0, (long)number(argv[i], "reading a resource"), (long)&value, 0, 0, 0);
        if (done < 0) fail("setting an rlimit", -done);
    }

    struct cap_header header = {LINUX_CAPABILITY_VERSION_3, 0};
    struct cap_data none[2] = {{0, 0, 0}, {0, 0, 0}};
    if ((done = call(SYS_capset, &header, none, 0)) < 0) fail("dropping capabilities (capset)", -done);
    if ((done = call6(SYS_prctl, PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0, 0)) < 0) fail("prctl(PR_SET_NO_NEW_PRIVS)", -done);
    if ((done = call6(SYS_prctl, PR_SET_SECCOMP, SECCOMP_MODE_FILTER, (long)&filters, 0, 0, 0)) < 0)
        fail("installing the seccomp filter", -done);
    done = call(SYS_execve, argv[program], &argv[program], environ);
    fail(argv[program], -done);
}

/* The entry point: the kernel leaves argc, argv and the environment on the stack */
__attribute__((naked, noreturn)) void _start(void) {
    __asm__ volatile("xor %ebp, %ebp\n\t"
                     "mov %rsp, %rdi\n\t"
                     "and $-16, %rsp\n\t"
                     "call spawn_main\n\t"
                     "hlt");
}
