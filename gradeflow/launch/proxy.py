"""Several dashboard processes behind one address, for `gradeflow up --dashboards N` (and the benchmark).

Streamlit keeps a page's session (its widgets, its uploads, its media) in the process its websocket reached, so
the processes sit behind a proxy with sticky sessions. The proxy is HAProxy (Debian's `haproxy` package): it
passes websockets and event streams through without configuration, keeps a browser on its process by a cookie
of its own (not by client address: a whole computer lab behind one NAT address would otherwise land on one
process), sends new pages to the process with the fewest open connections, and stops sending pages to a
process whose health check fails (restarted by supervisord, it comes back by itself). nginx's open-source
edition can only stick by client address or a hash, and a Python proxy would spend the CPU the dashboards need.
The compose file runs the same configuration with Docker's DNS finding the replicas (deploy/haproxy.cfg).
"""

from __future__ import annotations

import resource
import shutil
from pathlib import Path

# The cookie that keeps a browser on its dashboard process
STICKY_COOKIE = "gradeflow_dashboard"
MISSING = (
    "several dashboard processes need HAProxy in front of them: install Debian's haproxy package "
    "(apt-get install haproxy), or run one dashboard (--dashboards 1)"
)


def haproxy() -> str | None:
    return shutil.which("haproxy") or next(
        (p for p in ("/usr/sbin/haproxy", "/usr/local/sbin/haproxy") if Path(p).exists()), None
    )


def max_connections() -> int:
    """As many connections as this process's file limit lets HAProxy hold (two descriptors each: the browser's
    and the dashboard's); HAProxy refuses to start when asked for more. An open page holds one or two."""
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    limit = hard if hard != resource.RLIM_INFINITY else 1 << 20
    return max(100, min(50_000, (limit - 200) // 2))


def config(host: str, port: int, backends: list[int]) -> str:
    """HAProxy's configuration: the dashboard's address in front of processes on these local ports."""
    servers = [
        f"    server dashboard-{i} 127.0.0.1:{p} check cookie d{i}"
        for i, p in enumerate(backends, 1)
    ]
    return "\n".join(
        [
            "# Written by `gradeflow up` (gradeflow/launch/proxy.py) at every start.",
            "global",
            f"    maxconn {max_connections()}",
            "defaults",
            "    mode http",
            f"    maxconn {max_connections()}",
            "    timeout connect 5s",
            "    timeout client 60s",
            "    timeout server 60s",
            # An open page's websocket and a followed grading's event stream are quiet for long stretches
            "    timeout tunnel 1h",
            "    timeout http-request 10s",
            "frontend dashboard",
            f"    bind {host}:{port}",
            "    default_backend dashboards",
            "backend dashboards",
            "    balance leastconn",
            f"    cookie {STICKY_COOKIE} insert indirect nocache httponly",
            "    option httpchk GET /_stcore/health",
            # A process busy drawing pages may answer its health check slowly: it is taken out (and its people sent
            # to another, losing their page's state) only after three checks in a row went unanswered for 5 s each
            "    timeout check 5s",
            "    default-server inter 2s fall 3 rise 1",
            *servers,
            "",
        ]
    )


def argv(config_path: Path) -> list[str]:
    """HAProxy in the foreground (supervised), its configuration checked when it starts."""
    binary = haproxy()
    if binary is None:
        raise RuntimeError(MISSING)
    return [binary, "-db", "-f", str(config_path)]
