"""Line endings and indentation, the helpers every prompting module shares."""

from __future__ import annotations

import pytest

from bytebuddy_ls.prompting.lines import (
    detect_indent_unit,
    eol_near,
    indent_step,
    spaces_to_tabs,
    tabs_to_spaces,
)


@pytest.mark.parametrize(
    ("before", "after", "eol"),
    [
        ("a\r\nb", "c\nd", "\r\n"),  # the last ending before the point wins
        ("a\nb", "c\r\nd", "\n"),
        ("ab", "c\r\nd", "\r\n"),  # none before: the first after
        ("ab", "cd", "\n"),
        ("a\rb", "", "\r"),
        ("a\r", "\nb", "\r\n"),  # a point between \r and \n
    ],
)
def test_eol_near(before: str, after: str, eol: str) -> None:
    assert eol_near(before, after) == eol


def test_indent_unit_can_say_it_does_not_know() -> None:
    assert detect_indent_unit("flat\ntext\n", default=None) is None
    assert detect_indent_unit("flat\ntext\n") == "    "
    assert detect_indent_unit("if x:\n  y\n", default=None) == "  "


def test_indentation_conversions() -> None:
    assert indent_step(["a", "    b", "        c", ""]) == 4
    assert indent_step(["", "x"]) == 4
    assert spaces_to_tabs("        x = 1", 4) == "\t\tx = 1"
    assert spaces_to_tabs("      x", 4) == "\t  x"
    assert tabs_to_spaces("\t\tx", "  ") == "    x"
    assert tabs_to_spaces("  x", "\t") == "  x"
