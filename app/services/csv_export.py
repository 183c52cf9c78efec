"""CSV files people open in Excel: UTF-8 with a BOM, CRLF lines, no cell a spreadsheet would run."""
import csv
import io

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value):
    """A cell as text that a spreadsheet will not run as a formula (member-typed names, addresses):
    a leading ' before = + - @ tab or CR (product import takes it off again)."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_START) else text


def csv_text(header, rows):
    """The document: a BOM (so Excel reads UTF-8), the header, then the rows; numbers stay numbers,
    every other cell goes through safe_cell."""
    out = io.StringIO()
    out.write("\ufeff")
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([str(cell) for cell in header])
    for row in rows:
        writer.writerow([cell if isinstance(cell, int) and not isinstance(cell, bool) else safe_cell(cell)
                         for cell in row])
    return out.getvalue()
