"""``memscope.cli.common.print_table``: the one table printer of ``runs list`` and ``sweeps``."""

from __future__ import annotations

from memscope.cli.common import format_cell, print_table


def test_format_cell():
    assert format_cell(None) == ""
    assert format_cell(0.123456) == "0.1235"
    assert format_cell(3) == "3"
    assert format_cell({"a": 1}) == '{"a": 1}'
    assert format_cell([1, "x"]) == '[1, "x"]'
    assert format_cell("text") == "text"


def test_print_table_title_header_and_cells(capsys):
    print_table(["name", "acc"], [["a", 0.987654], ["b", None]], title="My table")
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0].strip() == "My table"
    assert "name" in out and "acc" in out
    assert "0.9877" in out and "0.987654" not in out
    assert any(line.strip() == "b" for line in lines)


def test_print_table_without_title(capsys):
    print_table(["x"], [[1]])
    words = capsys.readouterr().out.split()
    assert words[0] == "x" and words[-1] == "1"  # no title line above the header
