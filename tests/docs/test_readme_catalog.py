"""The README's catalog table says what the catalog serves: every endpoint, its kind, tier
and price."""

from __future__ import annotations

import re
from pathlib import Path

from vidserve.endpoints import ENDPOINTS

README = Path(__file__).resolve().parents[2] / "README.md"
PREFIX = "fal-ai/kling-video/"


def table_rows() -> dict[str, list[str]]:
    text = README.read_text()
    section = text[text.index("## Endpoints") : text.index("## The queue protocol")]
    rows = {}
    for line in section.splitlines():
        match = re.match(r"\| `([^`]+)` \|(.*)\|$", line)
        if match:
            rows[PREFIX + match.group(1)] = [cell.strip() for cell in match.group(2).split("|")]
    return rows


def test_every_catalog_endpoint_has_a_true_row() -> None:
    rows = table_rows()
    assert set(rows) == set(ENDPOINTS)
    for endpoint_id, spec in ENDPOINTS.items():
        kind, inputs, output, price, _engines = rows[endpoint_id]
        assert kind == spec.kind.value, endpoint_id
        assert output == spec.output.describe(), endpoint_id
        if spec.price.per_second is None:
            assert price == "not published", endpoint_id
        else:
            assert price.startswith(f"${spec.price.per_second:g}/s"), endpoint_id
        for name in re.findall(r"`(\w+)`", inputs):
            assert name in spec.input_model.model_fields, (endpoint_id, name)
