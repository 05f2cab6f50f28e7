"""README.md's Configuration tables are the settings' own declarations (`service.settings`):
every variable, its default and its line of doc, exactly, so neither can drift from the
other. After changing a setting, paste `python -m service.settings` between the markers."""

from __future__ import annotations

import re
from pathlib import Path

from service.settings import SETTINGS, markdown

README = Path(__file__).resolve().parents[2] / "README.md"
BEGIN = re.compile(r"<!-- settings: generated from service/settings\.py[^>]*-->\n\n")
END = "\n<!-- end of settings -->"


def readme_tables() -> str:
    text = README.read_text()
    begin = BEGIN.search(text)
    assert begin is not None, "README.md has lost its settings markers"
    assert text.count(END) == 1
    return text[begin.end() : text.index(END, begin.end())]


def test_the_readme_tables_are_generated_from_the_declarations() -> None:
    assert readme_tables() == markdown(), (
        "README.md's settings differ from service/settings.py: "
        "paste `python -m service.settings` between the markers"
    )


def test_the_tables_are_in_the_configuration_section() -> None:
    section = README.read_text().split("## Configuration\n", 1)[1].split("\n## ", 1)[0]
    assert readme_tables() in section


def test_no_other_readme_table_lists_a_setting() -> None:
    """A second table elsewhere would be a copy that can drift: settings appear in one place."""
    text = README.read_text().replace(readme_tables(), "")
    for declared in SETTINGS.values():
        assert f"| `{declared.env}` |" not in text, declared.env
