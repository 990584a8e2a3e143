/* benchmarks/native_floor.py's supervisor (a measurement, not part of the grader): pid 1 of one set of user, pid,
 * mount, network, ipc and uts namespaces kept warm from case to case. For each case asked for on fd 3 it forks a
 * child that takes its own uid and, unless the request says otherwise, a private mount namespace with a fresh
 * /work tmpfs holding the program and a seccomp filter (fd 4), then execs the program on the three descriptors sent;
 * it answers with the exit status, CPU and peak memory. What it leaves out, the request's `skip` bits say:
 * 1 the private /work (argv[0] names the program where it is; it runs in /), 2 the seccomp filter. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <linux/capability.h>

#define CHANNEL 3
#define FILTER_FD 4
#define MAX_CASES 256
#define MAX_MESSAGE 65536

struct request { /* little-endian, as benchmarks/native_floor.py packs it */
    uint32_t id, uid, work_kb, n_limits, n_argv, n_env, n_files, skip;
};
struct reply {
    uint32_t id;
    int32_t status;
    uint64_t cpu_us;
    uint64_t maxrss_kb;
    char error[400];
};
struct running { pid_t pid; uint32_t id; int failed; };

static struct running cases[MAX_CASES];
static struct sock_filter filter[4096];
static struct sock_fprog filters;
static char message[MAX_MESSAGE];

__attribute__((noreturn)) static void die(int failed, const char *what) {
    char text[300];
    int n = snprintf(text, sizeof text, "%s failed: %s (errno %d)", what, strerror(errno), errno);
    if (write(failed, text, n) < 0) {}
    _exit(121);
}

static void start(struct request *req, char *rest, size_t rest_len, int fds[4]) {
    /* rest: n_limits * 3 u64, then NUL-terminated strings: argv, env; files come in fds[3] as name\0 size u64 bytes */
    uint64_t *limits = (uint64_t *)rest;
    char *strings = rest + req->n_limits * 24;
    char *end = rest + rest_len;
    char *argv[256], *envp[256];
    int slot = -1;
    for (int i = 0; i < MAX_CASES; i++) if (!cases[i].pid) { slot = i; break; }
    if (slot < 0 || req->n_argv >= 255 || req->n_env >= 255) return;
    if (req->n_limits > 16 || (size_t)req->n_limits * 24 > rest_len) return;
    char *at = strings;
    for (uint32_t i = 0; i < req->n_argv; i++) { argv[i] = at; at += strnlen(at, end - at) + 1; }
    argv[req->n_argv] = NULL;
    for (uint32_t i = 0; i < req->n_env; i++) { envp[i] = at; at += strnlen(at, end - at) + 1; }
    envp[req->n_env] = NULL;
    if (at > end) return;
    int pipefd[2];
    if (pipe2(pipefd, O_CLOEXEC)) return;
    pid_t pid = fork();
    if (pid == 0) {
        int failed = pipefd[1];
        close(pipefd[0]);
        sigset_t none; sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (setsid() < 0) die(failed, "setsid");
        uint32_t skip = req->skip;
        if (!(skip & 1) && unshare(CLONE_NEWNS)) die(failed, "unshare of the case's mount namespace");
        char options[128];
        snprintf(options, sizeof options, "size=%uk,nr_inodes=256,mode=0700,uid=%u,gid=%u", req->work_kb, req->uid, req->uid);
        if (!(skip & 1) && mount("tmpfs", "/work", "tmpfs", MS_NOSUID | MS_NODEV, options)) die(failed, "mounting /work");
        if (skip & 1) req->n_files = 0;
        /* the files */
        int archive = fds[3];
        off_t off = 0;
        char name[256];
        for (uint32_t i = 0; i < req->n_files; i++) {
            ssize_t got = pread(archive, name, sizeof name, off);
            if (got <= 0) die(failed, "reading the files");
            size_t len = strnlen(name, got);
            if (len == (size_t)got || len == 0 || strchr(name, '/')) { errno = EINVAL; die(failed, "reading the files"); }
            off += len + 1;
            uint64_t size;
            if (pread(archive, &size, 8, off) != 8) die(failed, "reading the files");
            off += 8;
            char path[300];
            snprintf(path, sizeof path, "/work/%s", name);
            int out = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, strcmp(name, "program") ? 0644 : 0755);
            if (out < 0) die(failed, "writing the files");
            loff_t in_off = off;
            size_t left = size;
            while (left) {
                ssize_t n = sendfile(out, archive, &in_off, left);
                if (n <= 0) die(failed, "writing the files");
                left -= n;
            }
            if (fchown(out, req->uid, req->uid)) die(failed, "writing the files");
            close(out);
            off += size;
        }
        for (int i = 0; i < 3; i++) if (dup2(fds[i], i) < 0) die(failed, "dup2");
        if (dup2(failed, 4) < 0) die(failed, "dup2");
        failed = 4;
        fcntl(failed, F_SETFD, FD_CLOEXEC);
        if (syscall(SYS_close_range, 5, ~0U, 0)) die(failed, "close_range");
        if (chdir((skip & 1) ? "/" : "/work")) die(failed, "chdir");
        if (setgroups(0, NULL)) die(failed, "setgroups");
        if (setresgid(req->uid, req->uid, req->uid)) die(failed, "setresgid");
        if (setresuid(req->uid, req->uid, req->uid)) die(failed, "setresuid");
        for (uint32_t i = 0; i < req->n_limits; i++) {
            struct rlimit r = {limits[3 * i + 1], limits[3 * i + 2]};
            if (setrlimit((int)limits[3 * i], &r)) die(failed, "setrlimit");
        }
        struct __user_cap_header_struct h = {_LINUX_CAPABILITY_VERSION_3, 0};
        struct __user_cap_data_struct d[2] = {{0}};
        if (syscall(SYS_capset, &h, d)) die(failed, "capset");
        if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)) die(failed, "no_new_privs");
        if (!(skip & 2) && prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &filters)) die(failed, "seccomp");
        execve(argv[0], argv, envp);
        die(failed, argv[0]);
    }
    close(pipefd[1]);
    if (pid < 0) { close(pipefd[0]); return; }
    cases[slot].pid = pid;
    cases[slot].id = req->id;
    cases[slot].failed = pipefd[0];
}

int main(void) {
    ssize_t size = pread(FILTER_FD, filter, sizeof filter, 0);
    if (size <= 0) return 2;
    close(FILTER_FD);
    filters.len = size / sizeof filter[0];
    filters.filter = filter;
    sigset_t mask; sigemptyset(&mask); sigaddset(&mask, SIGCHLD);
    sigprocmask(SIG_BLOCK, &mask, NULL);
    int sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
    fcntl(CHANNEL, F_SETFD, FD_CLOEXEC);
    struct pollfd polls[2] = {{CHANNEL, POLLIN, 0}, {sfd, POLLIN, 0}};
    for (;;) {
        if (poll(polls, 2, -1) < 0) { if (errno == EINTR) continue; return 3; }
        if (polls[1].revents) {
            struct signalfd_siginfo si;
            while (read(sfd, &si, sizeof si) == sizeof si) {}
            for (;;) {
                int status; struct rusage ru;
                pid_t pid = wait4(-1, &status, WNOHANG, &ru);
                if (pid <= 0) break;
                for (int i = 0; i < MAX_CASES; i++) if (cases[i].pid == pid) {
                    struct reply r = {cases[i].id, status,
                        (uint64_t)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000 + ru.ru_utime.tv_usec + ru.ru_stime.tv_usec,
                        (uint64_t)ru.ru_maxrss, {0}};
                    ssize_t n = read(cases[i].failed, r.error, sizeof r.error - 1);
                    (void)n;
                    close(cases[i].failed);
                    cases[i].pid = 0;
                    send(CHANNEL, &r, sizeof r, MSG_NOSIGNAL);
                }
            }
        }
        if (polls[0].revents & POLLIN) {
            char control[CMSG_SPACE(4 * sizeof(int))];
            struct iovec iov = {message, sizeof message};
            struct msghdr msg = {0};
            msg.msg_iov = &iov; msg.msg_iovlen = 1; msg.msg_control = control; msg.msg_controllen = sizeof control;
            ssize_t n = recvmsg(CHANNEL, &msg, MSG_CMSG_CLOEXEC);
            if (n <= 0) return 0;
            int fds[4] = {-1, -1, -1, -1}, nfds = 0;
            for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c))
                if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
                    nfds = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
                    memcpy(fds, CMSG_DATA(c), nfds * sizeof(int));
                }
            if (message[0] == 'R' && nfds == 4 && n >= 1 + (ssize_t)sizeof(struct request)) {
                struct request req;
                memcpy(&req, message + 1, sizeof req);
                start(&req, message + 1 + sizeof req, n - 1 - sizeof req, fds);
            } else if (message[0] == 'K' && n >= 5) {
                uint32_t id; memcpy(&id, message + 1, 4);
                for (int i = 0; i < MAX_CASES; i++) if (cases[i].pid && cases[i].id == id) kill(cases[i].pid, SIGKILL);
            }
            for (int i = 0; i < nfds; i++) close(fds[i]);
        } else if (polls[0].revents) return 0;
    }
}
