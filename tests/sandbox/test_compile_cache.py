"""The compile cache's own rules: entries verified by their hash, a bound kept by dropping the least recently used,
and temporary files of a judge that died swept."""

from __future__ import annotations

import os
import time

from sandbox.compile_cache import SUFFIX, CompileCache, Entry


def test_an_entry_comes_back_as_it_was_put_and_a_damaged_one_is_dropped(tmp_path):
    cache = CompileCache(str(tmp_path), 10_000_000)
    cache.put("ab12", Entry(True, {"program": b"\x7fELF..."}, ""))
    assert cache.get("ab12") == Entry(True, {"program": b"\x7fELF..."}, "")
    path = tmp_path / f"ab12{SUFFIX}"
    path.write_bytes(path.read_bytes().replace(b'"ok": true', b'"ok": false'))
    assert cache.get("ab12") is None and not path.exists()
    assert cache.get("cd34") is None


def test_past_its_bound_the_least_recently_used_go_first(tmp_path):
    cache = CompileCache(str(tmp_path), 6_000)
    for n in range(6):
        cache.put(f"k{n}", Entry(True, {"program": os.urandom(600)}, ""))
        os.utime(tmp_path / f"k{n}{SUFFIX}", (time.time() - 100 + n, time.time() - 100 + n))
    assert cache.get("k0") is not None  # used now: the most recent
    cache.put("big", Entry(True, {"program": os.urandom(3000)}, ""))
    cache.sweep()
    assert cache.size() <= 6_000
    assert cache.get("k0") is not None and cache.get("big") is not None
    assert cache.get("k1") is None, "the least recently used went first"


def test_a_dead_judges_temporary_file_is_swept(tmp_path):
    cache = CompileCache(str(tmp_path), 10_000)
    old = tmp_path / ".tmp-dead"
    old.write_bytes(b"half")
    os.utime(old, (time.time() - 7200, time.time() - 7200))
    fresh = tmp_path / ".tmp-writing"
    fresh.write_bytes(b"half")
    cache.sweep()
    assert not old.exists() and fresh.exists()


def test_a_process_that_remembers_uses_what_it_read_and_verified_within_its_bound(tmp_path):
    cache = CompileCache(str(tmp_path), 10_000_000)
    cache.remember(8_000)
    for n in range(4):
        cache.put(f"k{n}", Entry(True, {"program": bytes([n]) * 900}, ""))
    assert cache.get("k0") == Entry(True, {"program": bytes([0]) * 900}, "")
    (tmp_path / f"k0{SUFFIX}").unlink()  # swept by another worker: still known here
    assert cache.get("k0") == Entry(True, {"program": bytes([0]) * 900}, "")
    # A damaged file is not read again once its entry is remembered; one never read is verified as ever
    damaged = tmp_path / f"k1{SUFFIX}"
    damaged.write_bytes(damaged.read_bytes().replace(b'"ok": true', b'"ok": false'))
    assert cache.get("k1") is None and not damaged.exists()
    # Past the bound the least recently used go; an entry over an eighth of it is never kept
    for n in range(2, 12):
        cache.put(f"m{n}", Entry(True, {"program": bytes([n]) * 900}, ""))
        assert cache.get(f"m{n}") is not None
    (tmp_path / f"k0{SUFFIX}").write_bytes(b"")  # were k0 still remembered, this would not be read
    assert cache.get("k0") is None
    cache.put("big", Entry(True, {"program": b"x" * 1500}, ""))
    assert cache.get("big") is not None
    (tmp_path / f"big{SUFFIX}").unlink()
    assert cache.get("big") is None
