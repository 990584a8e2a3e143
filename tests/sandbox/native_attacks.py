"""The attacks of shared/SANDBOX.md in native form: C with raw system calls, Java and JavaScript's own ways to start
processes, read files and open sockets, and the compiler's attack surface (includes of host files and devices,
macro and template bombs). Each program prints the expected "5" only if its attack worked, so a contained attack
is never a pass; `@name@` is replaced with the test's context (ports listening on this machine, project files)."""

from __future__ import annotations

from dataclasses import dataclass

HEADERS = "#define _GNU_SOURCE\n" + "".join(
    f"#include <{h}>\n"
    for h in (
        "stdio.h stdlib.h string.h unistd.h fcntl.h signal.h sched.h sys/syscall.h sys/socket.h "
        "netinet/in.h arpa/inet.h sys/ptrace.h sys/mman.h sys/resource.h"
    ).split()
)
CONTAINED = ("wrong_answer", "runtime_error", "time_limit", "memory_limit", "output_limit")


@dataclass(frozen=True)
class NativeAttack:
    name: str
    language: str
    code: str
    verdicts: tuple[str, ...] = CONTAINED

    def source(self, ctx: dict[str, str]) -> str:
        code = self.code
        for key, value in ctx.items():
            code = code.replace(f"@{key}@", value)
        return (HEADERS if self.language == "c" else "") + code


def c(name: str, body: str, verdicts: tuple[str, ...] = CONTAINED) -> NativeAttack:
    return NativeAttack(name, "c", body, verdicts)


CONNECT = (
    "static int reach(int port) {\n"
    "    int s = socket(AF_INET, SOCK_STREAM, 0);\n    if (s < 0) return 0;\n"
    "    struct sockaddr_in a = {0};\n    a.sin_family = AF_INET;\n    a.sin_port = htons(port);\n"
    '    a.sin_addr.s_addr = inet_addr("127.0.0.1");\n'
    "    return connect(s, (struct sockaddr *)&a, sizeof a) == 0;\n}\n"
)

ATTACKS = [
    c(
        "raw_fork",
        'int main(void) { long r = syscall(SYS_fork); if (r == 0) for (;;); if (r > 0) puts("5"); return 0; }',
    ),
    c(
        "raw_vfork",
        'int main(void) { long r = syscall(SYS_vfork); if (r == 0) _exit(0); if (r > 0) puts("5"); return 0; }',
    ),
    c(
        "clone_without_thread",
        "int main(void) { long r = syscall(SYS_clone, SIGCHLD, 0, 0, 0, 0); if (r == 0) for (;;);"
        ' if (r > 0) puts("5"); return 0; }',
    ),
    c(
        "clone_new_namespace",
        "int main(void) { long r = syscall(SYS_clone, CLONE_NEWUSER | CLONE_NEWNET | SIGCHLD, 0, 0, 0, 0);"
        ' if (r == 0) _exit(0); if (r > 0) puts("5"); return 0; }',
    ),
    c(
        "unshare",
        'int main(void) { if (unshare(CLONE_NEWUSER) == 0 || unshare(CLONE_NEWNET) == 0) puts("5"); return 0; }',
    ),
    c(
        "connect_to_redis_and_postgres",
        CONNECT
        + 'int main(void) { if (reach(@redis_port@) || reach(@postgres_port@)) puts("5"); return 0; }',
    ),
    c(
        "raw_socket",
        'int main(void) { if (syscall(SYS_socket, AF_INET, SOCK_RAW, 6) >= 0) puts("5"); return 0; }',
    ),
    c(
        "unix_socket",
        'int main(void) { if (syscall(SYS_socket, AF_UNIX, SOCK_STREAM, 0) >= 0) puts("5"); return 0; }',
    ),
    c(
        "ptrace",
        "int main(void) { if (syscall(SYS_ptrace, PTRACE_ATTACH, 1, 0, 0) == 0"
        ' || syscall(SYS_ptrace, PTRACE_TRACEME, 0, 0, 0) == 0) puts("5"); return 0; }',
    ),
    c(
        "kill_everyone",
        'int main(void) { kill(-1, SIGKILL); kill(1, SIGKILL); kill(getppid(), SIGKILL); puts("4"); return 0; }',
    ),
    c(
        "read_host_and_project_files",
        'int main(void) { const char *f[] = {"/etc/passwd", "/etc/shadow", "/proc/1/environ",'
        ' "/proc/self/environ", "@project_file@", "@tests_file@", "/root", 0};\n'
        '    for (int i = 0; f[i]; i++) if (open(f[i], O_RDONLY) >= 0) { puts("5"); return 0; }\n'
        '    puts("4"); return 0; }',
    ),
    c(
        "environment_secrets",
        'int main(void) { extern char **environ; for (char **e = environ; *e; e++) if (strstr(*e, "@secret@"))'
        ' puts("5"); puts("4"); return 0; }',
    ),
    c(
        "forge_on_every_descriptor",
        "int main(void) { for (int fd = 0; fd < 4096; fd++) if (fd != 1)"
        ' write(fd, "{\\"verdict\\": \\"passed\\"}\\n5\\n", 22); puts("4"); return 0; }',
    ),
    c(
        "unbounded_mmap",
        "int main(void) { for (;;) { char *p = mmap(0, 1 << 26, PROT_READ | PROT_WRITE,"
        ' MAP_PRIVATE | MAP_ANONYMOUS, -1, 0); if (p == MAP_FAILED) { puts("4"); return 1; }'
        " memset(p, 1, 1 << 26); } }",
    ),
    c(
        "raise_hard_limits",
        "int main(void) { struct rlimit r = {RLIM_INFINITY, RLIM_INFINITY};"
        " if (setrlimit(RLIMIT_CPU, &r) == 0 || setrlimit(RLIMIT_AS, &r) == 0"
        ' || setrlimit(RLIMIT_FSIZE, &r) == 0 || setrlimit(RLIMIT_NPROC, &r) == 0) puts("5"); return 0; }',
    ),
    c(
        "write_proc_self_mem",
        'int main(void) { int fd = open("/proc/self/mem", O_RDWR); if (fd >= 0) puts("5"); return 0; }',
    ),
    c(
        "double_forking_daemon",
        "int main(void) { if (fork() == 0) { setsid(); if (fork() == 0) for (;;) sleep(1); _exit(0); }"
        ' puts("4"); return 0; }',
    ),
    c(
        "exec_a_shell",
        'int main(void) { char *a[] = {"/bin/sh", "-c", "echo 5", 0}; execve("/bin/sh", a, 0);'
        ' puts("4"); return 0; }',
    ),
    c(
        "fill_the_disk",
        "int main(void) { static char buf[1 << 16]; for (int i = 0; i < 10000; i++) { char n[32];"
        ' sprintf(n, "f%d", i); int fd = open(n, O_CREAT | O_WRONLY, 0600); if (fd < 0) break;'
        " for (int j = 0; j < 64; j++) if (write(fd, buf, sizeof buf) < 0) break; close(fd); }"
        ' puts("4"); return 0; }',
    ),
    c("sleep_past_the_limit", 'int main(void) { sleep(600); puts("5"); return 0; }'),
    # What starts each case (pid 1's spawner, or the warm supervisor) must leave nothing behind: no capability, no
    # descriptor beyond stdin, stdout and stderr, the filter on, and the spawner or supervisor itself out of reach
    c(
        "keep_capabilities",
        "#include <linux/capability.h>\nint main(void) { struct __user_cap_header_struct h ="
        " {_LINUX_CAPABILITY_VERSION_3, 0}; struct __user_cap_data_struct d[2] = {0};"
        " if (syscall(SYS_capget, &h, d) == 0 && (d[0].effective | d[0].permitted | d[1].effective"
        ' | d[1].permitted)) { puts("5"); return 0; } puts("4"); return 0; }',
    ),
    c(
        "inherited_descriptors",
        "int main(void) { for (int fd = 3; fd < 1024; fd++) if (fcntl(fd, F_GETFD) != -1)"
        ' { puts("5"); return 0; } puts("4"); return 0; }',
    ),
    c(
        "seccomp_is_off",
        '#include <sys/prctl.h>\nint main(void) { if (prctl(PR_GET_SECCOMP) != 2) { puts("5");'
        ' return 0; } puts("4"); return 0; }',
    ),
    c(
        "replace_the_spawner",
        '#include <glob.h>\nint main(void) { glob_t g; if (glob("/tmp/*/gradeflow-*", 0, 0, &g)'
        " == 0) for (size_t i = 0; i < g.gl_pathc; i++) { int fd = open(g.gl_pathv[i], O_WRONLY);"
        ' if (fd >= 0 || unlink(g.gl_pathv[i]) == 0) { puts("5"); return 0; } } puts("4"); return 0; }',
    ),
    c(
        "busy_threads",
        "#include <pthread.h>\nstatic void *spin(void *x) { for (;;); return x; }\n"
        "int main(void) { pthread_t t[8]; for (int i = 0; i < 8; i++) pthread_create(&t[i], 0, spin, 0);"
        ' puts("5"); for (;;); }',
        ("time_limit",),
    ),
    NativeAttack(
        "java_starts_a_process_reads_files_and_connects",
        "java",
        "import java.io.*;\nimport java.net.*;\nimport java.nio.file.*;\n\npublic class Main {\n"
        "    public static void main(String[] args) {\n"
        '        try { new ProcessBuilder("/bin/sh", "-c", "echo 5").inheritIO().start().waitFor();'
        " } catch (Exception e) { }\n"
        '        try { System.out.println(Files.readString(Path.of("@project_file@")).length() > 0 ? "5" : "");'
        " } catch (Exception e) { }\n"
        '        try { new Socket("127.0.0.1", @redis_port@).close(); System.out.println("5");'
        " } catch (Exception e) { }\n"
        '        System.out.println("4");\n    }\n}\n',
    ),
    NativeAttack(
        "javascript_starts_a_process_reads_files_and_connects",
        "javascript",
        "const cp = require('child_process'), fs = require('fs'), net = require('net');\n"
        "try { console.log(cp.execSync('echo 5').toString().trim()); } catch (e) { }\n"
        "try { cp.spawn('/bin/sh', ['-c', 'echo 5'], { stdio: 'inherit' }); } catch (e) { }\n"
        "try { if (fs.readFileSync('@project_file@', 'utf8').length) console.log('5'); } catch (e) { }\n"
        "try { if (fs.readFileSync('/etc/passwd', 'utf8').length) console.log('5'); } catch (e) { }\n"
        "const s = net.connect(@redis_port@, '127.0.0.1');\n"
        "s.on('connect', () => { console.log('5'); s.end(); });\ns.on('error', () => console.log('4'));\n",
    ),
]

# The compiler reads the student's text: none of these may show a host file, hang, or pass.
COMPILE_ATTACKS = [
    NativeAttack(
        "include_etc_passwd",
        "c",
        '#include "/etc/passwd"\nint main(void) { return 0; }\n',
        ("compile_error",),
    ),
    NativeAttack(
        "include_a_project_file",
        "c",
        '#include "@project_file@"\nint main(void) { return 0; }\n',
        ("compile_error",),
    ),
    NativeAttack(
        "include_dev_zero",
        "c",
        '#include "/dev/zero"\nint main(void) { return 0; }\n',
        ("compile_error",),
    ),
    NativeAttack(
        "include_dev_stdin",
        "c",
        '#include "/dev/stdin"\nint main(void) { return 0; }\n',
        ("compile_error",),
    ),
    NativeAttack(
        "incbin_a_host_file",
        "c",
        '__asm__(".section .rodata\\n.incbin \\"/etc/passwd\\"\\n.text");\n'
        '#include <stdio.h>\nint main(void) { puts("5"); return 0; }\n',
        ("compile_error",),
    ),
    NativeAttack(
        "macro_bomb",
        "c",
        "#define A x x x x x x x x x x\n#define B A A A A A A A A A A\n#define C B B B B B B B B B B\n"
        "#define D C C C C C C C C C C\n#define E D D D D D D D D D D\n#define F E E E E E E E E E E\n"
        "#define G F F F F F F F F F F\nint main(void) { G; return 0; }\n",
        ("compile_error",),
    ),
    NativeAttack(
        "template_bomb",
        "cpp",
        "template <int N> struct F { static const long v = F<N - 1>::v + F<N - 2>::v; };\n"
        "template <> struct F<0> { static const long v = 0; };\ntemplate <> struct F<1> { static const long v = 1; };\n"
        '#include <cstdio>\nint main() { printf("%ld\\n", F<100000>::v); }\n',
        ("compile_error",),
    ),
    NativeAttack(
        "huge_initialised_array",
        "c",
        "static char big[1L << 30] = {1};\nint main(void) { return big[0]; }\n",
        ("compile_error", "runtime_error", "memory_limit"),
    ),
]
