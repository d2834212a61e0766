"""CSV exports neutralise spreadsheet formulas in every column."""

import csv
import io

from portal.lib.csv_export import csv_download


def test_formula_cells_are_quoted_in_every_column():
    response, writer = csv_download("x.csv", ["a", "b"])
    writer.writerow(["=HYPERLINK(1)", "+1", "-2", "@SUM(A1)", "plain", 3, None])
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert response["Content-Disposition"] == 'attachment; filename="x.csv"'
    assert rows == [["a", "b"], ["'=HYPERLINK(1)", "'+1", "'-2", "'@SUM(A1)", "plain", "3", ""]]
