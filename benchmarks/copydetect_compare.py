"""The measurement behind GradeFlow's own similarity index: copydetect (which compares every pair of files) on the
same corpus the similarity benchmark uses, at 250 and 500 submissions. copydetect is not a dependency:
`.venv/bin/pip install copydetect && .venv/bin/python -m benchmarks.copydetect_compare` (then uninstall it)."""

from __future__ import annotations

import itertools
import os
import tempfile
import time

from benchmarks.report import machine, write_section
from gradeflow.launch.synthetic import similarity_corpus


def main() -> None:
    from copydetect import CodeFingerprint, compare_files  # the package under measurement

    rows = []
    for n in (250, 500):
        codes, planted = similarity_corpus(n, max(1, n // 50), seed=100)
        folder = tempfile.mkdtemp(prefix="copydetect-")
        paths = []
        for i, code in enumerate(codes):
            path = os.path.join(folder, f"s{i}.py")
            with open(path, "w") as f:
                f.write(code)
            paths.append(path)
        start = time.perf_counter()
        # Copydetect's default k (noise threshold)
        prints = [CodeFingerprint(p, 25, 1) for p in paths]
        fingerprinted = time.perf_counter()
        scores = {}
        for i, j in itertools.combinations(range(n), 2):
            _, similarities, _ = compare_files(prints[i], prints[j])
            scores[(i, j)] = max(similarities)
        done = time.perf_counter()
        rows.append(
            (
                n,
                fingerprinted - start,
                done - fingerprinted,
                min(scores[p] for p in planted),
                max(v for k, v in scores.items() if k not in planted),
            )
        )
        print(rows[-1], flush=True)
    table = "\n".join(
        f"| {n} | {fp:.1f} s | {pairs:.1f} s | {fp + pairs:.1f} s | {low:.2f} | {high:.2f} |"
        for n, fp, pairs, low, high in rows
    )
    (n1, f1, p1, _, _), (n2, f2, p2, _, _) = rows
    at_2000 = f2 * 2000 / n2 + p2 * (2000 * 1999) / (n2 * (n2 - 1))
    write_section(
        "similarity-copydetect",
        f"""
### copydetect on the same corpus (why GradeFlow keeps its own index)

Command: `.venv/bin/pip install copydetect && .venv/bin/python -m benchmarks.copydetect_compare` (copydetect is not
a dependency). copydetect 0.5 in-process, no database or workflow around it: its fingerprints (pygments, k = 25)
for every file, then `compare_files` for every pair. Same corpus and seed as the similarity benchmark.
Machine: {machine()}.

| submissions | fingerprints | every pair | total | planted copies: lowest score | independent: highest |
| ---: | ---: | ---: | ---: | ---: | ---: |
{table}

Comparing every pair grows with the square of the cohort ({p2 / p1:.1f}x the time for {n2 / n1:.0f}x the
submissions): 2,000 submissions would take about {at_2000:.0f} s by the same growth, against the 60 s target,
where GradeFlow's report (database, workflow and all) takes the time in the table above.
""",
    )


if __name__ == "__main__":
    main()
