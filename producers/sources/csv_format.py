"""How a CSV file is written: date order, decimal mark, separator; from settings or the query.

Nothing is guessed: a file is read as these options say, and the reader refuses a file that
does not match them, naming the option to set (see csv_values.py).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, get_args
from urllib.parse import parse_qsl

from pydantic import TypeAdapter, ValidationError

from core.config import DataSettings
from producers.errors import SourceError

logger = logging.getLogger(__name__)

#: Query option -> the DataSettings field it overrides (and whose type validates it).
QUERY_OPTIONS: dict[str, str] = {
    "dayfirst": "csv_dayfirst",
    "decimal": "csv_decimal",
    "sep": "csv_sep",
}

#: Separator names as users write them -> the character in the file.
SEPARATORS: dict[str, str] = {",": ",", ";": ";", "tab": "\t"}


@dataclass(frozen=True)
class CsvFormat:
    """How the files of one csv source are written."""

    dayfirst: bool | None = None
    decimal: str = "."
    sep: str = ","

    @property
    def delimiter(self) -> str:
        return SEPARATORS[self.sep]


def _choices(field: str) -> str:
    """The values an option takes, read off the settings type: `true or false`, `'.' or ','`."""
    values = get_args(DataSettings.model_fields[field].annotation)
    if bool in values:
        return "true or false"
    quoted = [repr(v) for v in values]
    return f"{', '.join(quoted[:-1])} or {quoted[-1]}"


def accepted_options() -> str:
    """`dayfirst (true or false), decimal ('.' or ','), ...`, for error messages."""
    return ", ".join(f"{name} ({_choices(field)})" for name, field in QUERY_OPTIONS.items())


def parse_options(query: str, spec: str) -> dict[str, Any]:
    """`dayfirst=true&sep=;` -> {'dayfirst': True, 'sep': ';'}, each value checked by its type."""
    try:
        pairs = parse_qsl(query, keep_blank_values=True, strict_parsing=True) if query else []
    except ValueError as exc:
        raise SourceError(
            f"source {spec!r}: options are name=value pairs joined by &; accepted: "
            f"{accepted_options()}"
        ) from exc
    options: dict[str, Any] = {}
    for name, value in pairs:
        key = name.strip().lower()
        if key not in QUERY_OPTIONS:
            raise SourceError(
                f"source {spec!r}: unknown option {name!r}; accepted: {accepted_options()}"
            )
        if key in options:
            raise SourceError(f"source {spec!r}: option {key} is given twice")
        field = QUERY_OPTIONS[key]
        try:
            adapter: TypeAdapter[Any] = TypeAdapter(DataSettings.model_fields[field].annotation)
            options[key] = adapter.validate_python(value)
        except ValidationError as exc:
            raise SourceError(
                f"source {spec!r}: {key}={value!r} must be {_choices(field)}"
            ) from exc
    return options


def csv_format(settings: DataSettings, options: Mapping[str, Any]) -> CsvFormat:
    """The settings' CSV format, with the source's query options taking precedence."""
    values = {name: getattr(settings, field) for name, field in QUERY_OPTIONS.items()}
    return CsvFormat(**{**values, **options})


def check_separator(header: str, fmt: CsvFormat, path: Path) -> None:
    """Refuse a header split by another separator rather than read one column 'Date;Close'."""
    if fmt.delimiter in header:
        return
    found = [name for name, char in SEPARATORS.items() if char in header]
    if found:
        name = max(found, key=lambda n: header.count(SEPARATORS[n]))
        raise SourceError(
            f"{path}: the header {header.strip()!r} is separated by {SEPARATORS[name]!r}, "
            f"not {fmt.delimiter!r}; add ?sep={name} to the source"
        )
