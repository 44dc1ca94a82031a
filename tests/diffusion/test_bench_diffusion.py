"""``bench/diffusion.py`` runs as its README says (CPU, tiny models) and measures what the
weight forms store: 8-bit weights take less than the full-precision ones in the same run."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench" / "diffusion.py"


@pytest.mark.slow
def test_the_diffusion_bench_runs_and_int8_weights_are_smaller() -> None:
    command = [sys.executable, str(BENCH), "--families", "ltx", "--settings", "diffusers,int8"]
    out = subprocess.run(command, capture_output=True, text=True, timeout=600, check=True).stdout
    rows = re.findall(r"^\| tiny ltx .*\| (diffusers|int8) \|.*\| ([\d.]+) MiB \| - \|$", out, re.M)
    weights: dict[str, list[float]] = {}
    for setting, mib in rows:
        weights.setdefault(setting, []).append(float(mib))
    assert len(weights.get("diffusers", [])) == len(weights.get("int8", [])) == 2, out
    for full, int8 in zip(weights["diffusers"], weights["int8"], strict=True):
        assert int8 < 0.5 * full, (int8, full)
