"""docs/kiosk-config.md stays true to kiosk.config: every key, its default, its limits."""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterator
from pathlib import Path

import tomli_w
from pydantic.fields import FieldInfo

from kiosk.config import KioskConfig, parse, table_model

DOC = Path(__file__).resolve().parents[2] / "docs" / "kiosk-config.md"

# The documentation stays true: every key is in its table with its default and limits,
# and its example file loads and shows every key.


def every_key() -> Iterator[tuple[str, FieldInfo]]:
    for name, table in KioskConfig.model_fields.items():
        for key, field in table_model(table).model_fields.items():
            yield f"{table.alias or name}.{key}", field


def doc_row(key: str, field: FieldInfo) -> str:
    value = str(field.default) if isinstance(field.default, Path) else field.default
    default = "required" if field.is_required() else f"`{tomli_w.dumps({'v': value})[4:-1]}`"
    words = field.description.removeprefix("must be ")
    return f"| `{key}` | {default} | {words} |"


def test_every_key_explains_what_it_must_be():
    for key, field in every_key():
        assert field.description and field.description.startswith("must be "), key


def test_the_documentation_lists_every_key_with_its_default_and_limits():
    doc = DOC.read_text(encoding="utf-8")
    missing = [doc_row(key, field) for key, field in every_key() if doc_row(key, field) not in doc]
    assert missing == []


def test_the_documented_example_loads_and_shows_every_key():
    doc = DOC.read_text(encoding="utf-8")
    example_text = re.search(r"```toml\n(.*?)```", doc, re.DOTALL).group(1)
    config = parse(example_text)
    assert config.kiosk_id == "kiosk-entre-a"
    tables = tomllib.loads(example_text)
    shown = {f"{table}.{key}" for table, keys in tables.items() for key in keys}
    assert shown == {key for key, _ in every_key()}
