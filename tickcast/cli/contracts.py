"""`tickcast schemas`: write the bus contracts as JSON Schema, for teams without Python."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from schemas.messages import BUS_MESSAGES
from tickcast.cli.common import note

SCHEMA_DIR = Path("schemas") / "json"  # in a checkout; installed copies ship as package data


def current_version(model: type) -> int:
    """The version a message is written in: its schema_version's default."""
    return int(model.model_fields["schema_version"].default)


def schema_files() -> dict[str, str]:
    """File name -> JSON Schema text of every bus message's current version.

    Earlier versions' files stay in schemas/json, unchanged, for consumers not yet moved.
    """
    files = {}
    for stem, model in BUS_MESSAGES.items():
        version = current_version(model)
        schema = model.model_json_schema(mode="validation")
        schema["$id"] = f"urn:tickcast:schema:{stem}:v{version}"
        files[f"{stem}.v{version}.json"] = json.dumps(schema, indent=2, sort_keys=True) + "\n"
    return files


def write(
    out: Path = typer.Option(SCHEMA_DIR, help="Folder to write the .json files into."),
) -> None:
    """Generate one JSON Schema file per bus message."""
    out.mkdir(parents=True, exist_ok=True)
    for name, text in schema_files().items():
        (out / name).write_text(text)
        note(f"wrote {out / name}")
