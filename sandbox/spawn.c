/* The last step before a native program runs: set its limits, drop every capability, install its seccomp filter,
 * exec it. The sandbox's pid 1 (sandbox/supervise.py) starts this with posix_spawn for each case instead of forking
 * itself: a fork of a Python process, and the Python it runs before exec, cost several times a small program's
 * whole run; this costs a small process's exec. Written in C because no library does this step (libseccomp builds
 * filters; it does not start processes) and Python is what it replaces. Built by sandbox/spawner.py with the
 * machine's C compiler; without one, pid 1 forks as before.
 *
 * argv: spawn [<resource> <soft> <hard>]... -- <program> [args...]  (the rlimits, as sandbox.confine.rlimits lists
 *       them: setrlimit's resource numbers)
 * fd 3: the seccomp filter (struct sock_filter[]), read from offset 0; closed before exec.
 * fd 4: where a failure to start is written (close-on-exec: it closes when exec succeeds); exit status 121.
 * The environment is the program's.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#define FILTER_FD 3
#define FAILURE_FD 4
#define SETUP_FAILED 121
#define MAX_FILTER 4096

extern char **environ;

static void fail(const char *step) {
    char message[512];
    int n = snprintf(message, sizeof message, "%s failed: %s", step, strerror(errno));
    if (n > 0) {
        ssize_t ignored = write(FAILURE_FD, message, (size_t)n < sizeof message ? (size_t)n : sizeof message - 1);
        (void)ignored;
    }
    _exit(SETUP_FAILED);
}

static rlim_t number(const char *text, const char *what) {
    char *end;
    errno = 0;
    unsigned long long value = strtoull(text, &end, 10);
    if (errno || *end) {
        errno = EINVAL;
        fail(what);
    }
    return (rlim_t)value;
}

int main(int argc, char **argv) {
    if (fcntl(FAILURE_FD, F_SETFD, FD_CLOEXEC) != 0) _exit(SETUP_FAILED);
    int program = 1;
    while (program + 3 < argc && strcmp(argv[program], "--") != 0) program += 3;
    if (program >= argc - 1 || strcmp(argv[program], "--") != 0) {
        errno = EINVAL;
        fail("reading the arguments");
    }
    program += 1;

    static struct sock_filter filter[MAX_FILTER];
    ssize_t size = pread(FILTER_FD, filter, sizeof filter, 0);
    if (size <= 0 || size % sizeof filter[0] != 0) fail("reading the seccomp filter");
    close(FILTER_FD);
    /* Whatever else pid 1 had open stays out of the program (pid 1 marks its own close-on-exec as well) */
#ifdef SYS_close_range
    if (syscall(SYS_close_range, FAILURE_FD + 1, ~0U, 0) != 0)
#endif
        for (int fd = FAILURE_FD + 1; fd < 1024; fd++) close(fd);
    struct sock_fprog filters = {(unsigned short)(size / sizeof filter[0]), filter};

    for (int i = 1; i + 3 <= program - 1; i += 3) {
        struct rlimit value = {number(argv[i + 1], "reading a soft limit"), number(argv[i + 2], "reading a hard limit")};
        if (setrlimit((int)number(argv[i], "reading a resource"), &value) != 0) fail("setting an rlimit");
    }

    struct __user_cap_header_struct header = {_LINUX_CAPABILITY_VERSION_3, 0};
    struct __user_cap_data_struct none[2];
    memset(none, 0, sizeof none);
    if (syscall(SYS_capset, &header, none) != 0) fail("dropping capabilities (capset)");
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) fail("prctl(PR_SET_NO_NEW_PRIVS)");
    if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &filters, 0, 0) != 0) fail("installing the seccomp filter");
    execve(argv[program], &argv[program], environ);
    fail(argv[program]);
    return SETUP_FAILED;
}
