"""The journal's JSON Schema, generated from the record models.

The checked-in copy (``kalshibot/data/journal.schema.json``) is for external users and tools; the project itself
validates through the pydantic models (``jsonschema`` is not a runtime dependency). A test fails when the checked-in
file differs from what the models generate. Regenerate with::

    python -m kalshibot.journal.schema          # writes src/kalshibot/data/journal.schema.json
    python -m kalshibot.journal.schema --check  # exit 1 if the checked-in file is stale
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import Any

from pydantic.json_schema import models_json_schema

from kalshibot.journal.models import MODELS, SCHEMA_VERSION

SCHEMA_ID = "https://github.com/kalshibot/kalshibot/blob/main/src/kalshibot/data/journal.schema.json"
SCHEMA_PATH = Path(__file__).resolve().parent.parent / "data" / "journal.schema.json"


def build_schema() -> dict[str, Any]:
    """A draft 2020-12 schema: ``oneOf`` the record models; each model pins its ``type`` (and ``book`` records
    their ``kind``) with ``const``, so exactly one branch matches a valid line."""
    refs, defs = models_json_schema([(m, "validation") for m in MODELS], ref_template="#/$defs/{model}")
    branches = [refs[(m, "validation")] for m in MODELS]
    by_type: dict[str, list[str]] = {}
    for m, branch in zip(MODELS, branches):
        t = m.model_fields["type"].default
        by_type.setdefault(t, []).append(branch["$ref"])
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": "kalshibot journal record",
        "description": (
            f"One line of journal-YYYY-MM-DD.jsonl or market-YYYY-MM-DD.jsonl (schema version {SCHEMA_VERSION}). "
            "Prices and money are decimal strings, counts are strings with two decimals. See docs/journal.md."
        ),
        "x-record-types": {t: refs_ for t, refs_ in sorted(by_type.items())},
        "oneOf": branches,
        "$defs": defs["$defs"],
    }


def schema_text() -> str:
    """The schema as the checked-in file holds it (stable key order, trailing newline)."""
    return json.dumps(build_schema(), indent=2, sort_keys=True) + "\n"


def load_schema() -> dict[str, Any]:
    """The checked-in schema shipped with the package."""
    text = resources.files("kalshibot").joinpath("data/journal.schema.json").read_text(encoding="utf-8")
    data: dict[str, Any] = json.loads(text)
    return data


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    text = schema_text()
    if "--check" in args:
        current = SCHEMA_PATH.read_text(encoding="utf-8") if SCHEMA_PATH.exists() else ""
        if current != text:
            print(f"{SCHEMA_PATH} is stale: run python -m kalshibot.journal.schema", file=sys.stderr)
            return 1
        print(f"{SCHEMA_PATH} is up to date")
        return 0
    SCHEMA_PATH.parent.mkdir(parents=True, exist_ok=True)
    SCHEMA_PATH.write_text(text, encoding="utf-8")
    print(f"wrote {SCHEMA_PATH}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
