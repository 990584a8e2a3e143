"""Process supervision for `gradeflow up`, by supervisord (the `supervisor` package): it runs every long-lived
process of the platform (the embedded PostgreSQL, Redis and Temporal dev server, then the worker, the API and the
dashboard), restarts any that exits (at once after a crash; with a growing backoff while one keeps failing at
start-up, until it gives up and marks it FATAL), rotates their logs, and stops them in order.

`gradeflow up` drives it over its XML-RPC socket: it starts the roles once migrations have run, tells the
operator about every exit and restart, and stops everything on Ctrl-C, or when a process cannot be kept up.
"""

from __future__ import annotations

import shlex
import subprocess
import sys
import time
import xmlrpc.client
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from supervisor.xmlrpc import SupervisorTransport

# supervisord's process states (supervisor.states.ProcessStates), by name as its XML-RPC answers them.
RUNNING, STARTING, FATAL = "RUNNING", "STARTING", "FATAL"
STOPPED = ("STOPPING", "STOPPED")  # stopped on purpose: not an exit to tell
LABELS = {
    "postgres": "PostgreSQL",
    "redis": "Redis",
    "temporal": "Temporal dev server",
    "api": "API",
    "dashboard-proxy": "dashboards' proxy (HAProxy)",
}


@dataclass
class Program:
    name: str
    argv: list[str]
    priority: int  # lower starts first and stops last
    autostart: bool = True
    user: str | None = None
    stopsignal: str = "TERM"
    # Running this long counts as started; an exit before is a failed start (backoff)
    startsecs: int = 3
    # Failed starts in a row before it is FATAL (waits 1, 2, 3, 4, 5 s between them)
    startretries: int = 5
    stopwaitsecs: int = 40


def _ini(value: str) -> str:
    return value.replace("%", "%%")  # supervisord expands %(name)s in values


def config(home: Path, programs: list[Program], socket: Path) -> str:
    logs = home / "logs"
    lines = [
        "[unix_http_server]",
        f"file={_ini(str(socket))}",
        "chmod=0700",
        "",
        "[supervisord]",
        "nodaemon=true",
        "silent=true",
        f"logfile={_ini(str(logs / 'supervisord.log'))}",
        "logfile_maxbytes=10MB",
        "logfile_backups=3",
        f"pidfile={_ini(str(socket.with_suffix('.pid')))}",
        f"childlogdir={_ini(str(logs))}",
        "",
        "[rpcinterface:supervisor]",
        "supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface",
        "",
    ]
    for p in programs:
        lines += [
            f"[program:{p.name}]",
            f"command={_ini(shlex.join(p.argv))}",
            f"priority={p.priority}",
            f"autostart={str(p.autostart).lower()}",
            "autorestart=true",
            f"startsecs={p.startsecs}",
            f"startretries={p.startretries}",
            f"stopsignal={p.stopsignal}",
            f"stopwaitsecs={p.stopwaitsecs}",
            "stopasgroup=true",
            "killasgroup=true",
            "redirect_stderr=true",
            f"stdout_logfile={_ini(str(logs / (p.name + '.log')))}",
            "stdout_logfile_maxbytes=20MB",
            "stdout_logfile_backups=3",
        ]
        if p.user:
            lines.append(f"user={p.user}")
        lines.append("")
    return "\n".join(lines)


class Supervisor:
    """supervisord as a child process, and the calls `gradeflow up` makes to it."""

    def __init__(self, home: Path, programs: list[Program], env: dict[str, str]) -> None:
        self.home = home
        self.programs = {p.name: p for p in programs}
        run_dir = home / "supervisor"
        run_dir.mkdir(parents=True, exist_ok=True)
        (home / "logs").mkdir(parents=True, exist_ok=True)
        self.socket = run_dir / "supervisor.sock"
        self.conf = run_dir / "supervisord.conf"
        self.conf.write_text(config(home, programs, self.socket))
        self.env = env
        self.proc: subprocess.Popen | None = None
        self._seen: dict[str, tuple[str, int]] = {}
        self._restarting: set[str] = set()

    @property
    def rpc(self):
        transport = SupervisorTransport(None, None, f"unix://{self.socket}")
        return xmlrpc.client.ServerProxy("http://127.0.0.1", transport=transport).supervisor

    def start(self, timeout: float = 30) -> subprocess.Popen:
        """Start supervisord and wait until it answers; returns its process."""
        self.socket.unlink(missing_ok=True)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "supervisor.supervisord", "-c", str(self.conf)],
            env=self.env,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while True:
            try:
                if self.rpc.getState()["statename"] == "RUNNING":
                    return self.proc
            except (OSError, xmlrpc.client.Fault):
                pass
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"supervisord exited with code {self.proc.returncode}; see "
                    f"{self.home / 'logs' / 'supervisord.log'}"
                )
            if time.monotonic() > deadline:
                raise RuntimeError("supervisord did not come up in time")
            time.sleep(0.1)

    def start_program(self, name: str) -> None:
        self.rpc.startProcess(name, False)  # don't wait: `up` waits for health itself

    def states(self) -> dict[str, dict]:
        return {info["name"]: info for info in self.rpc.getAllProcessInfo()}

    def watch(self, say: Callable[[str], None]) -> str | None:
        """Tell the operator what changed since the last call: an exit, a restart, a process given up on.
        Returns the name of a FATAL process (one supervisord could not keep up), else None."""
        fatal = None
        for name, info in self.states().items():
            state, pid = info["statename"], info["pid"]
            before = self._seen.get(name)
            self._seen[name] = (state, pid)
            if before is None:
                continue
            was, old_pid = before
            label = LABELS.get(name, name)
            if state == FATAL and was != FATAL:
                say(
                    f"the {label} could not be restarted ({info['spawnerr'] or 'it kept exiting at start-up'}); "
                    f"see {self.log(name)}"
                )
                fatal = name
            elif was in (RUNNING, STARTING) and old_pid and pid != old_pid and state not in STOPPED:
                # its process is gone (or replaced): killed while running, or while still starting up
                say(f"the {label} exited unexpectedly ({self.exit_reason(name)}); restarting it")
                self._restarting.add(name)
            if state == RUNNING and name in self._restarting:
                say(f"the {label} is running again (pid {pid})")
                self._restarting.discard(name)
        return fatal

    def exit_reason(self, name: str) -> str:
        """How a program last ended, as supervisord logged it ("terminated by SIGKILL", "exit status 1"): its
        XML-RPC answer forgets the status as soon as the program is started again."""
        try:
            lines = (
                (self.home / "logs" / "supervisord.log")
                .read_text(errors="replace")
                .splitlines()[-200:]
            )
        except OSError:
            return "reason unknown"
        for line in reversed(lines):
            if f" exited: {name} (" in line:
                return line.split(f" exited: {name} (", 1)[1].split(";")[0].rstrip(")")
        return "reason unknown"

    def log(self, name: str) -> Path:
        return self.home / "logs" / f"{name}.log"

    def stop(self, timeout: float = 120) -> None:
        """Stop every program (the roles first, the databases last) and supervisord itself."""
        if self.proc is None or self.proc.poll() is not None:
            return
        try:
            self.rpc.shutdown()
        except (OSError, xmlrpc.client.Fault):
            self.proc.terminate()
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
