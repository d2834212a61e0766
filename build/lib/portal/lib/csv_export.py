"""CSV downloads whose text cannot run as a spreadsheet formula (CSV injection): every cell that starts with
`=`, `+`, `-`, `@`, a TAB or a carriage return (OWASP's list: spreadsheets skip a leading TAB/CR and read the
formula behind it) is prefixed with a quote, whichever column it is in."""

import csv

from django.http import HttpResponse

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_safe(value):
    return "'" + value if isinstance(value, str) and value[:1] in _FORMULA_START else value


class _SafeWriter:
    def __init__(self, response: HttpResponse):
        self._writer = csv.writer(response)

    def writerow(self, row) -> None:
        self._writer.writerow([csv_safe(cell) for cell in row])


def csv_download(filename: str, header: list[str]) -> tuple[HttpResponse, _SafeWriter]:
    """An attachment response and a writer for it, the header row already written."""
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    writer = _SafeWriter(response)
    writer.writerow(header)
    return response, writer
