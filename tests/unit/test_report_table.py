"""The report's data table: wrapping never exceeds a column, cells are plain text."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from reportlab.pdfbase import pdfmetrics

from app.core.errors import UserError
from app.reports.data import SECTIONS, ReportOptions, parse_sections
from app.reports.pdf import register_fonts
from app.reports.table import ELLIPSIS, DataTable, TableStyle, clean_text, wrap_text

FONTS = register_fonts()
FONT = FONTS.condensed


def widths(lines: list[str], size: float = 7.5) -> list[float]:
    return [pdfmetrics.stringWidth(line, FONT, size) for line in lines]


def test_short_text_is_one_line() -> None:
    assert wrap_text("web01", FONT, 7.5, 100, 5) == ["web01"]


def test_words_wrap_at_spaces() -> None:
    lines = wrap_text("the quick brown fox jumps over the lazy dog " * 3, FONT, 7.5, 60, 50)
    assert len(lines) > 3
    assert all(w <= 60 for w in widths(lines))
    assert " ".join(lines).split() == ("the quick brown fox jumps over the lazy dog " * 3).split()


def test_a_500_character_token_is_cut_between_characters() -> None:
    token = "ABCDEFGHIJ" * 50
    lines = wrap_text(token, FONT, 7.5, 80, 100)
    assert "".join(lines) == token
    assert all(w <= 80 for w in widths(lines))


def test_too_many_lines_end_in_an_ellipsis() -> None:
    lines = wrap_text("word " * 500, FONT, 7.5, 50, 4)
    assert len(lines) == 4
    assert lines[-1].endswith(ELLIPSIS)
    assert all(w <= 50 for w in widths(lines))


def test_newlines_start_new_lines() -> None:
    assert wrap_text("one\ntwo", FONT, 7.5, 200, 5) == ["one", "two"]


def test_control_characters_and_surrogates_are_replaced() -> None:
    assert clean_text("a\x00b\x1bc\td\ud800") == "a b c d?"
    assert clean_text(None) == ""
    assert clean_text("Zürich 東京", latin1=True) == "Zürich ??"


@settings(max_examples=150, deadline=None)
@given(text=st.text(max_size=300), width=st.floats(min_value=12, max_value=400))
def test_no_line_is_wider_than_its_column(text: str, width: float) -> None:
    lines = wrap_text(clean_text(text), FONT, 7.5, width, 1000)
    # A line is never wider than the column, unless it is one glyph wider than the column.
    assert all(w <= width + 0.01 or len(line) == 1
               for line, w in zip(lines, widths(lines), strict=True))


def test_table_splits_with_every_row_kept() -> None:
    style = TableStyle(FONTS.condensed, FONTS.condensed_bold)
    rows = [[f"host{i}", "x " * (i % 40)] for i in range(300)]
    table = DataTable(["Host", "Notes"], rows, [1, 3], style)
    _, height = table.wrap(400, 500)
    assert height > 500
    parts = []
    rest: DataTable | None = table
    while rest is not None:
        rest.wrap(400, 500)
        split = rest.split(400, 500)
        if not split:
            parts.append(rest)
            rest = None
        else:
            parts.append(split[0])
            rest = split[1]
    assert sum(len(p.rows) for p in parts) == 300
    assert all(p.wrap(400, 500)[1] <= 500 for p in parts)


def test_weights_must_match_the_header() -> None:
    with pytest.raises(ValueError, match="one weight per column"):
        DataTable(["a", "b"], [], [1], TableStyle(FONT, FONT))


def test_sections_parse_in_report_order() -> None:
    assert parse_sections("hosts, exec") == ("exec", "hosts")
    assert parse_sections(None) == tuple(SECTIONS)
    assert parse_sections("all") == tuple(SECTIONS)
    with pytest.raises(UserError, match="Unknown report section"):
        parse_sections("exec,bogus")


def test_period_must_not_end_before_it_starts() -> None:
    from datetime import date

    with pytest.raises(UserError, match="starts"):
        ReportOptions(period_from=date(2026, 3, 1), period_to=date(2026, 2, 1))
    assert ReportOptions(period_from=date(2026, 1, 1)).period_text == "since 2026-01-01"


def test_stored_figures_are_read_across_the_compliance_change() -> None:
    from app.reports.data import stored_figure

    old = {"compliance_pct": 33.3, "missing_total": 6}  # before the patch policy
    new = {"compliance_pct": 50.0, "compliance_basis": "sla", "assets_compliant_pct": 66.7}
    assert stored_figure(old, "compliance_pct") is None
    assert stored_figure(old, "assets_compliant_pct") == 33.3
    assert stored_figure(old, "missing_total") == 6
    assert stored_figure(new, "compliance_pct") == 50.0
    assert stored_figure(new, "assets_compliant_pct") == 66.7


def test_exception_status_and_period() -> None:
    from datetime import UTC, date, datetime, timedelta
    from typing import cast

    from app.core.risk import Decision, Review, RiskItem
    from app.reports.data import exception_status, review_in_period

    now = datetime(2026, 3, 10, 12, tzinfo=UTC)
    exc = Review(Decision.EXCEPTION, "WAF rule", "J. Smith", now - timedelta(days=20),
                 package="openssl", until=date(2026, 3, 5), id=4)
    assert exception_status(exc, [], now - timedelta(days=10)) == \
        "in force until 2026-03-05 (5 day(s) left)"

    class Overdue:  # what the status looks at of a RiskItem
        overdue = True

    overdue = cast("list[RiskItem]", [Overdue()])
    assert exception_status(exc, overdue, now) == \
        "expired — item overdue again (last day 2026-03-05)"
    assert exception_status(exc, [], now) == \
        "expired (last day 2026-03-05); no missing update depends on it now"
    ended = Review(Decision.EXCEPTION, "x", "J. Smith", now - timedelta(days=2),
                   package="vim", until=date(2026, 4, 1), ended_at=now - timedelta(days=1),
                   ended_by="A. Jones")
    assert exception_status(ended, overdue, now) == \
        "expired — item overdue again (ended early on 2026-03-09 by A. Jones)"
    # In force during part of the period counts; recorded before and over before does not.
    assert review_in_period(exc, ReportOptions(period_from=date(2026, 3, 1)))
    assert not review_in_period(exc, ReportOptions(period_from=date(2026, 3, 7)))
    assert not review_in_period(exc, ReportOptions(period_to=date(2026, 2, 1)))
    plan = Review(Decision.SCHEDULE, "window", "J. Smith", now, package="vim")
    assert not review_in_period(plan, ReportOptions(period_from=date(2026, 3, 11)))
    assert review_in_period(plan, ReportOptions())
