"""One renderer for every text table the package prints: Markdown, or aligned plain text."""

from __future__ import annotations

from collections.abc import Sequence

Cell = str | int | float
TABLE_STYLES = ("markdown", "plain")


def _cell(value: Cell) -> str:
    """Integers are exact counts, printed with thousands separators; everything else as given."""
    return f"{value:,}" if isinstance(value, int) and not isinstance(value, bool) else str(value)


def render_table(
    columns: Sequence[str],
    rows: Sequence[Sequence[Cell]],
    style: str = "markdown",
    right: Sequence[bool] | None = None,
) -> str:
    """``rows`` under ``columns``, as a Markdown table or as aligned plain text.

    Numbers are right-aligned (a column is numeric when its first row holds a number, or
    as ``right`` says, for numbers already formatted as text), text is left-aligned.

    Args:
        columns: the header, one name per column.
        rows: one sequence of cells per row, as long as ``columns``.
        style: ``"markdown"`` (GitHub tables) or ``"plain"`` (padded columns under a rule).
        right: per column, whether it is right-aligned; default: the numeric columns.

    Returns:
        The table, lines joined by newlines, without a trailing newline.

    Raises:
        ValueError: an unknown ``style``, or a row whose length differs from ``columns``.

    Example:
        >>> print(render_table(("form", "weights"), [("a", 70144)], "plain"))
        form  weights
        -------------
        a      70,144
    """
    if style not in TABLE_STYLES:
        raise ValueError(f"style must be one of {list(TABLE_STYLES)}, got {style!r}")
    for row in rows:
        if len(row) != len(columns):
            raise ValueError(f"rows must have {len(columns)} cells like columns, got {len(row)} in {tuple(row)!r}")
    numeric = [isinstance(cell, (int, float)) and not isinstance(cell, bool) for cell in rows[0]] if rows else []
    numeric += [False] * (len(columns) - len(numeric))
    if right is not None:
        if len(right) != len(columns):
            raise ValueError(f"right must have {len(columns)} entries like columns, got {len(right)}")
        numeric = list(right)
    cells = [[_cell(c) for c in row] for row in rows]
    if style == "markdown":
        rule = "|" + "|".join("---:" if right else "---" for right in numeric) + "|"
        return "\n".join(["| " + " | ".join(columns) + " |", rule, *("| " + " | ".join(row) + " |" for row in cells)])
    widths = [max(len(row[i]) for row in [list(columns), *cells]) for i in range(len(columns))]

    def line(row: Sequence[str]) -> str:
        return "  ".join(c.rjust(w) if right else c.ljust(w) for c, w, right in zip(row, widths, numeric)).rstrip()

    header = line(columns)
    return "\n".join([header, "-" * len(header), *(line(row) for row in cells)])
