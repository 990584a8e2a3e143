"""What runs inside the sandbox, after confinement: import the submission and answer calls with plain data, or
run it as a program on stdin. Nothing here decides a verdict; the judge outside does.

The channel is fd 3, a socket to the judge. The first frame is {"ready": true}: everything before it is the
sandbox's own set-up (a failure there is an infrastructure fault); everything after it is the student's doing.
"""

from __future__ import annotations

import builtins
import errno
import importlib.util
import os
import socket
import sys
import traceback
from typing import Any

from sandbox import wire

CHANNEL_FD = 3
SOURCE = "solution.py"
MESSAGE_LIMIT = 2000


def _line_in_solution(tb) -> int | None:
    line = None
    for frame in traceback.extract_tb(tb):
        if os.path.basename(frame.filename) == SOURCE:
            line = frame.lineno
    return line


def describe(exc: BaseException) -> dict[str, Any]:
    kind = "runtime"
    if isinstance(exc, MemoryError):
        kind = "memory"
    # RLIMIT_FSIZE (Python ignores SIGXFSZ)
    elif isinstance(exc, OSError) and exc.errno == errno.EFBIG:
        kind = "output"
    elif isinstance(exc, RecursionError):
        kind = "runtime"
    message = f"{type(exc).__name__}: {exc}"
    return {
        "type": type(exc).__name__,
        "message": message[:MESSAGE_LIMIT],
        "line": _line_in_solution(exc.__traceback__),
        "kind": kind,
    }


def serve(channel: socket.socket) -> None:
    """Import the submission as `solution`, send its manifest, then answer calls until the judge hangs up."""
    spec = importlib.util.spec_from_file_location("solution", os.path.join(os.getcwd(), SOURCE))
    assert spec is not None and spec.loader is not None  # a .py file always has a spec and a loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["solution"] = module
    try:
        spec.loader.exec_module(module)
    except SyntaxError as exc:
        wire.send(channel, {"import_error": syntax_error(exc)})
        return
    except BaseException as exc:  # noqa: BLE001 - whatever the import does is the student's result
        wire.send(channel, {"import_error": describe(exc)})
        return
    manifest: dict[str, Any] = {}
    for name, value in list(vars(module).items()):
        if name.startswith("_") or type(value).__name__ == "module":
            continue
        if callable(value):
            manifest[name] = {"callable": True}
        else:
            try:
                manifest[name] = {"value": wire.encode_value(value)}
            except wire.NotPlainData:
                continue
    wire.send(channel, {"manifest": manifest})
    while True:
        try:
            request = wire.recv(channel)
        except EOFError:
            return
        reply: dict[str, Any] = {"id": request.get("id")}
        try:
            func = getattr(module, str(request["call"]))
            args = wire.decode_value(request.get("args", []))
            kwargs = wire.decode_value(request.get("kwargs", {}))
            result = func(*args, **kwargs)
            reply["ok"] = wire.encode_value(result)
            frame = wire.pack(reply)
        except wire.NotPlainData as exc:
            frame = wire.pack(
                {
                    **reply,
                    "error": {
                        "type": "TypeError",
                        "kind": "runtime",
                        "line": None,
                        "message": f"{exc}: return only numbers, strings, booleans, "
                        "None, lists, tuples, sets and dicts",
                    },
                }
            )
        except BaseException as exc:  # noqa: BLE001 - anything the student's code raised is its answer
            frame = wire.pack({**reply, "error": describe(exc)})
        channel.sendall(frame)


def syntax_error(exc: SyntaxError) -> dict:
    """A submission that does not compile, as the judge reads it: the message and its line."""
    return {
        "type": "SyntaxError",
        "kind": "syntax",
        "line": exc.lineno,
        "message": f"SyntaxError: {exc.msg}",
    }


def run_program(channel: socket.socket) -> None:
    """I/O case: run the submission as __main__ reading stdin; its stdout is compared outside."""
    try:
        with open(SOURCE, "rb") as f:
            code = compile(f.read(), SOURCE, "exec")
    except SyntaxError as exc:
        wire.send(channel, {"import_error": syntax_error(exc)})
        return
    wire.send(channel, {"started": True})
    channel.close()  # nothing the program does can speak to the judge
    try:
        exec(code, {"__name__": "__main__", "__builtins__": builtins, "__file__": SOURCE})
    except SystemExit:
        raise
    except BaseException as exc:  # noqa: BLE001 - anything the student's code raised is reported
        info = describe(exc)
        sys.stderr.write(
            f"{info['message']}" + (f" (line {info['line']})" if info["line"] else "") + "\n"
        )
        sys.stdout.flush()
        os._exit(1)
    sys.stdout.flush()


def run(mode: str) -> None:
    channel = socket.socket(fileno=CHANNEL_FD)
    wire.send(channel, {"ready": True})
    sys.path[:] = [os.getcwd()] + [p for p in sys.path if p and "site-packages" not in p]
    if mode == "serve":
        serve(channel)
    else:
        run_program(channel)
