"""The compile cache: what a compile produced (the program's files, or the compiler's refusal), keyed by language,
toolchain version, flags, the student's source and the driver, so identical code compiles once and a regrade of
unchanged code after a test change compiles nothing.

One file per entry under the worker's cache directory, written to a temporary name and renamed into place (several
judges and workers on one machine share it safely: a reader sees a whole entry or none). Each entry carries the
SHA-256 of its content and is verified before use; a damaged one is removed and compiled again. The directory is
bounded: past `max_bytes`, the least recently used entries go (a hit refreshes its entry's time).

A process that lives on (the warm judge) may keep the entries it read in memory too (`remember`), within a bound of
its own: an entry read and verified once is then used without reading, decoding and hashing it again.

Written here rather than taken from a library: the entries are a few small files each, must be verified and shared
between forked judges without a server, and the standard library does it in a page.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import random
import tempfile
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

SUFFIX = ".entry"
# How often a write looks at the directory's size (a scan costs a few ms per thousand entries)
SWEEP_CHANCE = 0.1
# A temporary file this old was left by a judge that died while writing it
STALE_TEMP_SECONDS = 3600


@dataclass
class Entry:
    ok: bool
    files: dict[str, bytes]
    diagnostics: str


def _digest(ok: bool, files: dict[str, str], diagnostics: str) -> str:
    canonical = json.dumps(
        {"ok": ok, "files": files, "diagnostics": diagnostics},
        sort_keys=True,
        separators=(",", ":"),
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


class CompileCache:
    def __init__(self, directory: str, max_bytes: int) -> None:
        self.dir = Path(directory)
        self.max_bytes = max_bytes
        self.dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        # Entries kept in memory, least recently used first (none unless `remember` is called)
        self._memory: OrderedDict[str, tuple[Entry, int]] = OrderedDict()
        self._memory_bytes = 0
        self._memory_max = 0
        self._lock = threading.Lock()

    def remember(self, max_bytes: int) -> None:
        """Keep up to `max_bytes` of the entries read (their files' sizes) in this process's memory."""
        self._memory_max = max_bytes

    def _recalled(self, key: str) -> Entry | None:
        with self._lock:
            kept = self._memory.get(key)
            if kept is not None:
                self._memory.move_to_end(key)
            return kept[0] if kept else None

    def _keep(self, key: str, entry: Entry) -> None:
        size = sum(len(data) for data in entry.files.values()) + len(entry.diagnostics)
        if size > self._memory_max // 8:  # a few large entries would push out every other
            return
        with self._lock:
            if key in self._memory:
                return
            self._memory[key] = (entry, size)
            self._memory_bytes += size
            while self._memory_bytes > self._memory_max:
                _, (_, dropped) = self._memory.popitem(last=False)
                self._memory_bytes -= dropped

    def _path(self, key: str) -> Path:
        if not key.isalnum():
            raise ValueError("a cache key is a hex digest")
        return self.dir / f"{key}{SUFFIX}"

    def get(self, key: str) -> Entry | None:
        path = self._path(key)
        if self._memory_max:
            recalled = self._recalled(key)
            if recalled is not None:
                return recalled
        try:
            raw = json.loads(path.read_bytes())
            files = raw["files"]
            if raw["sha256"] != _digest(raw["ok"], files, raw["diagnostics"]):
                raise ValueError("damaged")
            entry = Entry(
                bool(raw["ok"]),
                {name: base64.b64decode(data) for name, data in files.items()},
                str(raw["diagnostics"]),
            )
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError):  # damaged or foreign: compiled again
            path.unlink(missing_ok=True)
            return None
        try:
            os.utime(path)  # recently used
        except OSError:
            pass
        if self._memory_max:
            self._keep(key, entry)
        return entry

    def put(self, key: str, entry: Entry) -> None:
        files = {name: base64.b64encode(data).decode() for name, data in entry.files.items()}
        body = json.dumps(
            {
                "ok": entry.ok,
                "files": files,
                "diagnostics": entry.diagnostics,
                "sha256": _digest(entry.ok, files, entry.diagnostics),
            }
        ).encode()
        fd, tmp = tempfile.mkstemp(dir=self.dir, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(body)
            os.replace(tmp, self._path(key))
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        if random.random() < SWEEP_CHANCE:
            self.sweep()

    def sweep(self) -> None:
        """Remove the least recently used entries until the directory is under 90% of its bound."""
        entries = []
        total = 0
        stale = time.time() - STALE_TEMP_SECONDS
        with os.scandir(self.dir) as it:
            for item in it:
                try:
                    st = item.stat()
                except FileNotFoundError:  # another judge removed it
                    continue
                if item.name.startswith(".tmp-"):  # a judge killed while writing
                    if st.st_mtime < stale:
                        Path(item.path).unlink(missing_ok=True)
                    continue
                total += st.st_size
                entries.append((st.st_mtime, st.st_size, item.path))
        if total <= self.max_bytes:
            return
        for _, size, path in sorted(entries):
            Path(path).unlink(missing_ok=True)
            total -= size
            if total <= self.max_bytes * 0.9:
                return

    def size(self) -> int:
        return sum(p.stat().st_size for p in self.dir.glob(f"*{SUFFIX}"))
