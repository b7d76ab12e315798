"""The health and facts scripts' section names may hold digits (``pid1-start``): before,
the splitter's pattern had none, so PID 1's start time was glued to the boot id and the
boot marker lost it."""

from __future__ import annotations

from app.drivers.linux import split_sections


def test_a_section_name_with_a_digit_is_its_own_section() -> None:
    text = "\n@@pd:boot-id@@\nabc-123\n\n@@pd:pid1-start@@\n4711\n\n@@pd:end@@\n"
    assert split_sections(text)["boot-id"] == "abc-123"
    assert split_sections(text)["pid1-start"] == "4711"
