"""Files the API answers with: every CSV download leaves through here, so each has the same type, charset and
file name header."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from typing import Any

from fastapi import Response

# What OpenAPI says a CSV answer holds
CSV_CONTENT = {"text/csv": {"schema": {"type": "string"}}}


def csv_text(filename: str, text: str) -> Response:
    """A CSV file already written, downloaded as `filename`."""
    return Response(
        text,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


def csv_file(filename: str, header: Sequence[str], rows: Iterable[Iterable[Any]]) -> Response:
    """A header line and one line per row, downloaded as `filename`."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    writer.writerows(rows)
    return csv_text(filename, out.getvalue())
