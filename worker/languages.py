"""The languages a worker grades: every one whose toolchain it finds (or those GRADEFLOW_WORKER_LANGUAGES names),
each proved by grading a known-good program in the sandbox at start; said in the log, in the metrics, and in Redis
so the API and the operator see which languages some running worker serves."""

from __future__ import annotations

import logging

from gradeflow import languages
from gradeflow.vocabulary import Verdict
from sandbox import Sandbox, SandboxError, SandboxJob

log = logging.getLogger("gradeflow.worker")
PROBE_CASE = [{"stdin": "2 3\n", "stdout": "5\n"}]


async def served_languages(sandbox: Sandbox, wanted: str | None) -> dict[str, str]:
    """Language -> toolchain version, for every language this worker will grade (Python always)."""
    names = [n.strip() for n in wanted.split(",")] if wanted else list(languages.NAMES)
    unknown = [n for n in names if n not in languages.NAMES]
    if unknown:
        raise SystemExit(
            f"GRADEFLOW_WORKER_LANGUAGES names {', '.join(unknown)}: GradeFlow grades "
            f"{', '.join(languages.NAMES)}"
        )
    found = languages.available()
    for name, why in languages.missing().items():
        if name in names:
            log.warning("this worker cannot grade %s: %s", languages.get(name).title, why)
    served = {languages.DEFAULT: found[languages.DEFAULT]}
    for name in names:
        if name == languages.DEFAULT or name not in found:
            continue
        language = languages.get(name)
        try:
            result = await sandbox.run_in_sandbox(
                SandboxJob(code=language.probe_source, io_cases=PROBE_CASE, language=name),
                timeout=120,
            )
        except SandboxError as exc:
            log.error("%s found but its probe failed in the sandbox: %s", language.title, exc)
            continue
        if result.verdict != Verdict.PASSED:
            log.error(
                "%s found but a known-good program came back %s: %s",
                language.title,
                result.verdict,
                result.message,
            )
            continue
        served[name] = found[name]
    return served
