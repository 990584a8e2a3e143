/* The warm supervisor: pid 1 of one set of user, pid, mount, network, ipc and uts namespaces that the sandbox
 * server makes once (sandbox/warm.py) and keeps, so a native grading whose program is already compiled pays no
 * namespaces, no root and no Python pid 1 of its own (issue #22: they cost about ten times a millisecond C program's
 * whole run; BENCHMARKS.md, "Languages").
 *
 * Its root is the one sandbox.confine.build_root makes for any run: an empty read-only tmpfs holding only the
 * toolchains' run directories (read-only) and this program. Each grading is a connection on the listening socket
 * (fd 3, made by the server in its private runs directory), served by a handler process (kept for the next grading
 * once this one ends; pid 1 starts one, up to N, when none is idle):
 *   - its own mount namespace with its own /work tmpfs (mode 0700, owned by the grading's uid) holding the
 *     program's files: no grading sees another's /work;
 *   - its own uid (inside 1..N, one per grading served at once, the handler's; a handler serves gradings one after
 *     the other, the next only once every case of the last has ended and its /work is gone): no case may signal,
 *     trace or limit a process of another grading, nor any of these (uid 0);
 *   - for each case, a fresh process on the three descriptors the judge sent, in a process group of its own, that
 *     takes the grading's uid, the judge's nice, the rlimits, no capabilities, no new
 *     privileges and the seccomp filter (fd 4: the program profile, which also denies SysV IPC and POSIX
 *     message queues, the one thing these shared namespaces would otherwise let two gradings share), and execs the
 *     program; the handler keeps its wall-clock limit, answers with how it ended, and puts /work back as it
 *     was when the case changed anything there.
 * A case can leave nothing running: the filter lets it start threads, never a process, and it dies with its
 * handler (the parent-death signal). No /proc is mounted, and the network namespace has no interface up.
 *
 * Written in C because this is the per-case path a millisecond program's grading waits on (a Python pid 1 cost
 * more than the program), and no library starts confined processes. Nothing here decides a verdict: the judge reads
 * how each case ended and compares what it printed.
 *
 * argv: warm <gradings at once>. fd 3: the listening SOCK_SEQPACKET socket; fd 4: the seccomp filter.
 * A grading's first message: 'O', struct opening, then the rlimits (n_limits * 3 u64: resource, soft, hard), then
 * argv and env (NUL-terminated strings), with the files as one descriptor (records: name NUL, u64 size, bytes);
 * answered 'R' (ready) or 'E' and why not. Then 'C' with the cases' stdin, stdout and stderr as descriptors, three
 * a case, up to MAX_BATCH cases a message, run one after the other and answered in one message: per case a struct
 * ended and, when the case could not start, why (a record of REPORT bytes). One message for every case of a
 * grading, not one each: each exchange woke the judge's thread (about 0.04 ms of its CPU a case). The judge may
 * send the cases right behind the opening, before its answer. The judge hanging up ends the grading.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
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
#include <sys/sendfile.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define LISTENER 3
#define FILTER_FD 4
#define MAX_GRADINGS 256
#define MAX_MESSAGE 65536
#define MAX_STRINGS 256
#define MAX_LIMITS 16
#define MAX_FILES 64
#define MAX_ENTRIES 256
#define SETUP_FAILED 121
#define MAX_BATCH 64 /* cases a message: three descriptors each, within the kernel's 253 a message */
#define ERROR_BYTES 400
#define WORK "/work"

struct opening { /* little-endian, as sandbox/warm.py packs it */
    uint32_t work_kb;
    int32_t nice;
    uint32_t wall_ms;
    uint32_t n_limits, n_argv, n_env;
};
struct ended {
    int32_t status;
    uint32_t timed_out;
    uint64_t cpu_us;
    uint64_t maxrss_kb;
};
struct entry { /* what /work holds, in enough detail to see any change a case made to it */
    char name[256];
    ino_t ino;
    mode_t mode;
    nlink_t nlink;
    uid_t uid;
    off_t size;
    struct timespec mtime, ctime;
};
struct snapshot {
    struct entry work;
    int n;
    struct entry entries[MAX_ENTRIES];
};

static struct sock_filter filter[4096];
static struct sock_fprog filters;
static pid_t handlers[MAX_GRADINGS];
/* pid 1's end of each handler's control socket; whether the handler is idle (1), serving (0) or ending (-1) */
static int controls[MAX_GRADINGS], idle[MAX_GRADINGS];
static int work_mounted;
static char message[MAX_MESSAGE];
struct report { /* one case's answer; sandbox/warm.py reads them at this stride */
    struct ended e;
    char error[ERROR_BYTES];
};
static struct report reports[MAX_BATCH];

/* --- one case ------------------------------------------------------------------------------------------------ */
__attribute__((noreturn)) static void case_failed(int failed, const char *what) {
    char text[400];
    int n = snprintf(text, sizeof text, "%s failed: %s (errno %d)", what, strerror(errno), errno);
    if (n > 0 && write(failed, text, (size_t)n) < 0) {}
    _exit(SETUP_FAILED);
}

struct grading {
    int conn, files;
    uid_t uid;
    int nice;
    uint32_t work_kb, wall_ms, n_limits;
    uint64_t *limits;
    char *argv[MAX_STRINGS + 1], *envp[MAX_STRINGS + 1];
};

/* In the case's process (run_case starts it): take the descriptors, the uid, the limits; confine; exec. Never
 * returns. */
__attribute__((noreturn)) static void start_case(const struct grading *g, int fds[3], int failure, pid_t handler) {
    int failed = fcntl(failure, F_DUPFD_CLOEXEC, 10);
    if (failed < 0) _exit(SETUP_FAILED);
    for (int i = 0; i < 3; i++)
        if (dup2(fds[i], i) < 0) case_failed(failed, "dup2");
    if (dup2(failed, 3) < 0) case_failed(failed, "dup2");
    failed = 3;
    if (fcntl(failed, F_SETFD, FD_CLOEXEC) < 0) case_failed(failed, "fcntl");
    /* stdin, stdout, stderr and the close-on-exec failure pipe: nothing else reaches the program */
    if (syscall(SYS_close_range, 4, ~0U, 0)) case_failed(failed, "close_range");
    sigset_t none;
    sigemptyset(&none);
    if (sigprocmask(SIG_SETMASK, &none, NULL)) case_failed(failed, "sigprocmask");
    if (setpgid(0, 0)) case_failed(failed, "setpgid");
    /* The judge's nice (a regrade weighs less than a live grading); a lower one than this process has is not ours
     * to give, and keeping ours is then the safe side */
    errno = 0;
    int nice = getpriority(PRIO_PROCESS, 0);
    if (errno == 0 && g->nice > nice) setpriority(PRIO_PROCESS, 0, g->nice);
    if (chdir(WORK)) case_failed(failed, "chdir to /work");
    if (setgroups(0, NULL)) case_failed(failed, "setgroups");
    if (setresgid(g->uid, g->uid, g->uid)) case_failed(failed, "setresgid");
    if (setresuid(g->uid, g->uid, g->uid)) case_failed(failed, "setresuid");
    /* After the uid change, which clears it: the case dies with its handler, whatever ends the handler */
    if (prctl(PR_SET_PDEATHSIG, SIGKILL)) case_failed(failed, "prctl(PR_SET_PDEATHSIG)");
    if (getppid() != handler) _exit(SETUP_FAILED);
    for (uint32_t i = 0; i < g->n_limits; i++) {
        struct rlimit r = {g->limits[3 * i + 1], g->limits[3 * i + 2]};
        if (setrlimit((int)g->limits[3 * i], &r)) case_failed(failed, "setrlimit");
    }
    struct __user_cap_header_struct header = {_LINUX_CAPABILITY_VERSION_3, 0};
    struct __user_cap_data_struct caps[2];
    memset(caps, 0, sizeof caps);
    if (syscall(SYS_capset, &header, caps)) case_failed(failed, "dropping capabilities (capset)");
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)) case_failed(failed, "prctl(PR_SET_NO_NEW_PRIVS)");
    if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &filters)) case_failed(failed, "installing the seccomp filter");
    execve(g->argv[0], g->argv, g->envp);
    case_failed(failed, g->argv[0]);
}

/* What the case's first moments need (run_case starts it with clone) */
struct start {
    const struct grading *g;
    int *fds;
    int failure;
    pid_t handler;
};

static int case_main(void *arg) {
    struct start *s = arg;
    start_case(s->g, s->fds, s->failure, s->handler);
}

static int64_t now_ms(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

/* --- /work ----------------------------------------------------------------------------------------------------- */
static int describe(int dir, const char *name, struct entry *e) {
    struct stat st;
    if (fstatat(dir, name, &st, AT_SYMLINK_NOFOLLOW)) return -1;
    memset(e, 0, sizeof *e);
    snprintf(e->name, sizeof e->name, "%s", name);
    e->ino = st.st_ino;
    e->mode = st.st_mode;
    e->nlink = st.st_nlink;
    e->uid = st.st_uid;
    e->size = st.st_size;
    e->mtime = st.st_mtim;
    e->ctime = st.st_ctim;
    return 0;
}

/* 0 on success; -1 when /work could not be read (the caller then restores it) */
static int take_snapshot(struct snapshot *s) {
    memset(s, 0, sizeof *s);
    int dir = open(WORK, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir < 0) return -1;
    if (describe(dir, ".", &s->work)) { close(dir); return -1; }
    DIR *d = fdopendir(dir);
    if (!d) { close(dir); return -1; }
    struct dirent *de;
    while ((de = readdir(d))) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..")) continue;
        if (s->n == MAX_ENTRIES || describe(dirfd(d), de->d_name, &s->entries[s->n])) { closedir(d); return -1; }
        s->n++;
    }
    closedir(d);
    return 0;
}

static int same_snapshot(const struct snapshot *a, const struct snapshot *b) {
    if (a->n != b->n || memcmp(&a->work, &b->work, sizeof a->work)) return 0;
    return !memcmp(a->entries, b->entries, (size_t)a->n * sizeof a->entries[0]);
}

/* A fresh /work tmpfs over whatever was there, holding the grading's files; NULL on success, else what failed */
static const char *make_work(const struct grading *g, int replace) {
    if (replace && umount2(WORK, MNT_DETACH)) return "unmounting the old /work";
    work_mounted = 0;
    char options[160];
    snprintf(options, sizeof options, "size=%uk,nr_inodes=%d,mode=0700,uid=%u,gid=%u", g->work_kb, MAX_ENTRIES,
             g->uid, g->uid);
    if (mount("tmpfs", WORK, "tmpfs", MS_NOSUID | MS_NODEV, options)) return "mounting /work";
    work_mounted = 1;
    off_t off = 0;
    for (int i = 0; i < MAX_FILES; i++) {
        char name[256];
        ssize_t got = pread(g->files, name, sizeof name, off);
        if (got == 0) return NULL;
        if (got < 0) return "reading the files";
        size_t len = strnlen(name, (size_t)got);
        if (len == (size_t)got || len == 0 || strchr(name, '/') || !strcmp(name, ".") || !strcmp(name, ".."))
            return "reading the files (a bad name)";
        off += (off_t)len + 1;
        uint64_t size;
        if (pread(g->files, &size, 8, off) != 8) return "reading the files";
        off += 8;
        char path[300];
        snprintf(path, sizeof path, WORK "/%s", name);
        int out = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                       strcmp(name, "program") ? 0644 : 0755);
        if (out < 0) return "writing the files";
        off_t in = off;
        for (uint64_t left = size; left;) {
            ssize_t n = sendfile(out, g->files, &in, left);
            if (n <= 0) { close(out); return "writing the files"; }
            left -= (uint64_t)n;
        }
        if (fchown(out, g->uid, g->uid) || fchmod(out, strcmp(name, "program") ? 0644 : 0755)) {
            close(out);
            return "writing the files";
        }
        close(out);
        off += (off_t)size;
    }
    return "reading the files (too many)";
}

/* --- one grading: its handler ---------------------------------------------------------------------------------- */
static void answer(int conn, char kind, const char *text) {
    char reply[512];
    reply[0] = kind;
    size_t n = strlen(text); /* every text here ends within its buffer */
    if (n > sizeof reply - 1) n = sizeof reply - 1;
    memcpy(reply + 1, text, n);
    send(conn, reply, n + 1, MSG_NOSIGNAL);
}

static ssize_t receive(int conn, int *fds, int max_fds, int *n_fds) {
    char control[CMSG_SPACE(3 * MAX_BATCH * sizeof(int))];
    struct iovec iov = {message, sizeof message};
    struct msghdr msg;
    memset(&msg, 0, sizeof msg);
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
    ssize_t n = recvmsg(conn, &msg, MSG_CMSG_CLOEXEC);
    *n_fds = 0;
    if (n <= 0) return n;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c))
        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
            int got = (int)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
            for (int i = 0; i < got; i++) {
                int fd;
                memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof fd);
                if (*n_fds < max_fds) fds[(*n_fds)++] = fd;
                else close(fd);
            }
        }
    if (msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) return -1;
    return n;
}

/* The opening message into g (its strings point into `message`, kept for the grading); NULL or what is wrong */
static const char *read_opening(struct grading *g, ssize_t n) {
    static char kept[MAX_MESSAGE];
    static uint64_t limits[3 * MAX_LIMITS];
    struct opening o;
    if (n < 1 + (ssize_t)sizeof o || message[0] != 'O') return "not an opening";
    memcpy(&o, message + 1, sizeof o);
    memcpy(kept, message, (size_t)n);
    char *at = kept + 1 + sizeof o, *end = kept + n;
    if (o.n_limits > MAX_LIMITS || o.n_argv < 1 || o.n_argv > MAX_STRINGS || o.n_env > MAX_STRINGS)
        return "too many limits or strings";
    if ((size_t)(end - at) < (size_t)o.n_limits * 24) return "the limits are cut short";
    memcpy(limits, at, (size_t)o.n_limits * 24);
    at += o.n_limits * 24;
    for (uint32_t i = 0; i < o.n_argv + o.n_env; i++) {
        size_t len = strnlen(at, (size_t)(end - at));
        if (at + len >= end) return "a string is cut short";
        if (i < o.n_argv) g->argv[i] = at;
        else g->envp[i - o.n_argv] = at;
        at += len + 1;
    }
    g->argv[o.n_argv] = NULL;
    g->envp[o.n_env] = NULL;
    g->limits = limits;
    g->n_limits = o.n_limits;
    g->work_kb = o.work_kb < 64 ? 64 : o.work_kb;
    g->wall_ms = o.wall_ms;
    g->nice = o.nice;
    return NULL;
}

/* Run one case and wait for it (its wall-clock limit kept here); -1 when the judge hung up meanwhile */
static int run_case(const struct grading *g, int fds[3], struct ended *result, char *error, size_t error_size) {
    int failure[2];
    memset(result, 0, sizeof *result);
    error[0] = 0;
    if (pipe2(failure, O_CLOEXEC)) { snprintf(error, error_size, "pipe2 failed: %s", strerror(errno)); return 0; }
    /* As posix_spawn starts a program: the child shares this process's memory (on a stack of its own) until its
     * exec, and this process waits meanwhile. No copy of the page tables, and none of the copy-on-write faults
     * after: 0.13 ms less a case than fork (a case took 1.11 ms, 0.98 this way; a bare run of the same program
     * 0.74-0.79). Safe here as there: this process has one thread, and no signal handler that could run in the
     * child. */
    static char stack[256 * 1024] __attribute__((aligned(16)));
    struct start start = {g, fds, failure[1], getpid()};
    pid_t pid = clone(case_main, stack + sizeof stack, CLONE_VM | CLONE_VFORK | SIGCHLD, &start);
    close(failure[1]);
    if (pid < 0) {
        snprintf(error, error_size, "starting the case (clone) failed: %s", strerror(errno));
        close(failure[0]);
        return 0;
    }
    int pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
    int watch_error = pidfd < 0 ? errno : 0;
    int64_t deadline = now_ms() + g->wall_ms;
    int hung_up = 0;
    if (pidfd >= 0) {
        struct pollfd polls[2] = {{pidfd, POLLIN, 0}, {g->conn, POLLIN, 0}};
        for (;;) {
            int64_t left = deadline - now_ms();
            if (left <= 0) { result->timed_out = 1; break; }
            int ready = poll(polls, 2, (int)left);
            if (ready < 0 && errno == EINTR) continue;
            if (ready < 0) { result->timed_out = 1; break; }
            if (polls[0].revents) break;
            if (polls[1].revents) { hung_up = 1; break; } /* the judge says nothing during a case: it is gone */
        }
        close(pidfd);
    }
    /* Out of time, the judge gone, or no way to watch it (never let a case run unwatched: the sandbox's fault) */
    if (result->timed_out || hung_up || pidfd < 0) kill(pid, SIGKILL);
    int status = 0;
    struct rusage ru;
    memset(&ru, 0, sizeof ru);
    while (wait4(pid, &status, 0, &ru) < 0 && errno == EINTR) {}
    ssize_t said = read(failure[0], error, error_size - 1);
    error[said > 0 ? said : 0] = 0;
    close(failure[0]);
    if (pidfd < 0 && !error[0])
        snprintf(error, error_size, "watching the case (pidfd_open) failed: %s", strerror(watch_error));
    result->status = status;
    result->cpu_us = (uint64_t)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000 + (uint64_t)ru.ru_utime.tv_usec +
                     (uint64_t)ru.ru_stime.tv_usec;
    result->maxrss_kb = (uint64_t)ru.ru_maxrss;
    return hung_up ? -1 : 0;
}

/* One grading on `conn`, in this handler's mount namespace: 0 when it ended (the judge hung up, or its opening was
 * refused), so the handler may serve another; 1 when the handler must end (/work could not be made or put back).
 * The grading's files (read again whenever /work is put back) are left open on *files. */
static int serve(int conn, uid_t uid, int *files) {
    struct grading g;
    memset(&g, 0, sizeof g);
    g.conn = conn;
    g.uid = uid;
    g.files = -1;
    int fds[3], n_fds;
    ssize_t n = receive(conn, fds, 1, &n_fds);
    if (n <= 0) return 0;
    const char *wrong = n_fds == 1 ? read_opening(&g, n) : "no files";
    if (n_fds == 1) *files = g.files = fds[0];
    if (wrong) {
        answer(conn, 'E', wrong);
        return 0;
    }
    char why[300];
    const char *failed = make_work(&g, 0);
    if (failed) {
        snprintf(why, sizeof why, "%s failed: %s", failed, strerror(errno));
        answer(conn, 'E', why);
        return 1;
    }
    static struct snapshot pristine, now;
    if (take_snapshot(&pristine)) { answer(conn, 'E', "reading /work failed"); return 1; }
    answer(conn, 'R', "");
    for (;;) {
        int batch[3 * MAX_BATCH];
        n = receive(conn, batch, 3 * MAX_BATCH, &n_fds);
        if (n != 1 || message[0] != 'C' || n_fds == 0 || n_fds % 3) { /* hung up, or said something else: done */
            for (int i = 0; i < n_fds; i++) close(batch[i]);
            return 0;
        }
        int cases = n_fds / 3, answered = 0, stop = 0, gone = 0;
        memset(reports, 0, sizeof reports);
        for (int c = 0; c < cases && !stop && !gone; c++) {
            struct report *r = &reports[c];
            gone = run_case(&g, batch + 3 * c, &r->e, r->error, sizeof r->error);
            answered = c + 1;
            /* A case never sees what an earlier one left in /work */
            if (take_snapshot(&now) || !same_snapshot(&now, &pristine)) {
                failed = make_work(&g, 1);
                if (failed || take_snapshot(&pristine)) { /* answered as far as here, then the handler ends */
                    snprintf(r->error, sizeof r->error, "putting /work back failed: %s: %s",
                             failed ? failed : "reading it", strerror(errno));
                    r->e.status = SETUP_FAILED << 8;
                    stop = 1;
                }
            }
        }
        for (int i = 0; i < n_fds; i++) close(batch[i]);
        if (gone) return stop;
        if (send(conn, reports, (size_t)answered * sizeof reports[0], MSG_NOSIGNAL) < 0 || stop) return stop;
    }
}

/* The files the grading that ended left: its /work goes (an empty mount point stays) */
static int clear_work(void) {
    if (work_mounted && umount2(WORK, MNT_DETACH)) return -1;
    work_mounted = 0;
    return 0;
}

/* A handler: its own mount namespace, made once, and its uid; it serves gradings one after the other, each handed
 * over by pid 1 on `control` once this one says it is idle. Kept rather than forked per grading: the fork, the
 * mount namespace and its end cost about 0.4 ms of CPU a grading (BENCHMARKS.md, "Languages"). What a grading
 * leaves is gone before the next: its cases have ended (no process outlives its case), its /work is unmounted,
 * and a handler that could not put /work back ends. */
__attribute__((noreturn)) static void handle(int conn, uid_t uid, int control) {
    if (unshare(CLONE_NEWNS) || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL)) {
        char why[300];
        snprintf(why, sizeof why, "the grading's mount namespace failed: %s", strerror(errno));
        answer(conn, 'E', why);
        _exit(0);
    }
    for (;;) {
        int files = -1;
        int must_end = serve(conn, uid, &files);
        close(conn);
        if (files >= 0) close(files);
        if (must_end || clear_work()) _exit(0);
        if (send(control, "I", 1, MSG_NOSIGNAL) != 1) _exit(0);
        int n_fds;
        ssize_t n = receive(control, &conn, 1, &n_fds);
        if (n != 1 || message[0] != 'G' || n_fds != 1) _exit(0); /* pid 1 ended, or said something else */
    }
}

/* Hand a connection to an idle handler; 0 when it took it */
static int hand_over(int control, int conn) {
    char kind = 'G';
    struct iovec iov = {&kind, 1};
    char space[CMSG_SPACE(sizeof(int))];
    memset(space, 0, sizeof space);
    struct msghdr msg;
    memset(&msg, 0, sizeof msg);
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = space;
    msg.msg_controllen = sizeof space;
    struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(c), &conn, sizeof conn);
    return sendmsg(control, &msg, MSG_NOSIGNAL) == 1 ? 0 : -1;
}

/* A handler that ended, or cannot be reached: never handed a grading again, and its uid free once it is reaped */
static void retire(int slot) {
    idle[slot] = -1;
    kill(handlers[slot], SIGKILL);
}

/* --- pid 1 ------------------------------------------------------------------------------------------------------- */
int main(int argc, char **argv) {
    int slots = argc > 1 ? atoi(argv[1]) : 0;
    if (slots < 1 || slots > MAX_GRADINGS) {
        fprintf(stderr, "warm: usage: warm <gradings at once, 1..%d>\n", MAX_GRADINGS);
        return 2;
    }
    ssize_t size = pread(FILTER_FD, filter, sizeof filter, 0);
    if (size <= 0 || size % sizeof filter[0]) {
        fprintf(stderr, "warm: no seccomp filter on fd %d\n", FILTER_FD);
        return 2;
    }
    close(FILTER_FD);
    filters.len = (unsigned short)(size / sizeof filter[0]);
    filters.filter = filter;
    /* Every signal at its default, for this process and so for every case: Python, which started this, ignores
     * SIGPIPE and SIGXFSZ, and an ignored signal stays ignored across exec (SIGXFSZ ends a program at the output
     * limit). Nothing here needs a signal: its writes are MSG_NOSIGNAL, its children are watched by descriptor. */
    struct sigaction default_action;
    memset(&default_action, 0, sizeof default_action);
    default_action.sa_handler = SIG_DFL;
    for (int sig = 1; sig < NSIG; sig++)
        if (sig != SIGKILL && sig != SIGSTOP) sigaction(sig, &default_action, NULL);
    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGCHLD);
    sigprocmask(SIG_BLOCK, &mask, NULL);
    int sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
    if (sfd < 0 || fcntl(LISTENER, F_SETFD, FD_CLOEXEC)) return 3;
    struct pollfd polls[2 + MAX_GRADINGS];
    int polled[MAX_GRADINGS];
    for (;;) {
        polls[0] = (struct pollfd){LISTENER, POLLIN, 0};
        polls[1] = (struct pollfd){sfd, POLLIN, 0};
        int n_polls = 2;
        for (int i = 0; i < slots; i++)
            if (handlers[i] && !idle[i]) {
                polled[n_polls - 2] = i;
                polls[n_polls++] = (struct pollfd){controls[i], POLLIN, 0};
            }
        if (poll(polls, (nfds_t)n_polls, -1) < 0) {
            if (errno == EINTR) continue;
            return 3;
        }
        for (int p = 2; p < n_polls; p++) /* a handler says it is idle; anything else: it is ending (reaped below) */
            if (polls[p].revents) {
                int i = polled[p - 2];
                char said = 0;
                ssize_t got = recv(controls[i], &said, 1, MSG_DONTWAIT);
                if (got == 1 && said == 'I') idle[i] = 1;
                else if (!(got < 0 && (errno == EAGAIN || errno == EINTR))) retire(i);
            }
        if (polls[1].revents) { /* handlers that ended free their uid; anything else left here is reaped too */
            struct signalfd_siginfo si;
            while (read(sfd, &si, sizeof si) == sizeof si) {}
            for (pid_t pid; (pid = waitpid(-1, NULL, WNOHANG)) > 0;)
                for (int i = 0; i < slots; i++)
                    if (handlers[i] == pid) {
                        handlers[i] = 0;
                        idle[i] = 0;
                        close(controls[i]);
                    }
        }
        if (polls[0].revents & POLLIN) {
            int conn = accept4(LISTENER, NULL, NULL, SOCK_CLOEXEC);
            if (conn < 0) continue;
            int slot = -1;
            for (int i = 0; i < slots && slot < 0; i++) /* an idle handler first */
                if (handlers[i] && idle[i] == 1) {
                    idle[i] = 0;
                    if (hand_over(controls[i], conn) == 0) slot = i;
                    else retire(i);
                }
            for (int i = 0; i < slots && slot < 0; i++) /* else a new one, while uids are free */
                if (!handlers[i]) {
                    int pair[2];
                    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair)) break;
                    pid_t pid = fork();
                    if (pid == 0) {
                        close(LISTENER);
                        close(sfd);
                        close(pair[0]);
                        for (int j = 0; j < slots; j++)
                            if (handlers[j]) close(controls[j]);
                        sigprocmask(SIG_UNBLOCK, &mask, NULL);
                        handle(conn, (uid_t)(i + 1), pair[1]);
                    }
                    close(pair[1]);
                    if (pid < 0) { close(pair[0]); break; }
                    handlers[i] = pid;
                    controls[i] = pair[0];
                    idle[i] = 0;
                    slot = i;
                }
            if (slot < 0) answer(conn, 'E', "busy"); /* as many gradings as uids: this one goes the other way */
            close(conn);
        } else if (polls[0].revents)
            return 3;
    }
}
