"""The dbt project's layers point one way: sources -> staging -> intermediate -> marts."""

from __future__ import annotations

import re
from pathlib import Path

MODELS = Path(__file__).resolve().parents[2] / "dbt_k8s_costs" / "models"
LAYERS = ("staging", "intermediate", "marts")
REF = re.compile(r"""\bref\(\s*['"](\w+)['"]\s*\)""")


def _models() -> dict[str, tuple[str, str]]:
    """model name -> (layer, SQL)."""
    return {
        path.stem: (layer, path.read_text())
        for layer in LAYERS
        for path in (MODELS / layer).rglob("*.sql")
    }


def test_given_the_models_then_each_reads_only_its_own_layer_or_the_ones_before():
    models = _models()
    backwards = [
        (name, layer, ref, models[ref][0])
        for name, (layer, sql) in models.items()
        for ref in REF.findall(sql)
        if LAYERS.index(models[ref][0]) > LAYERS.index(layer)
    ]
    assert not backwards  # (model, its layer, what it reads, that model's layer)
    outside_staging = [
        n for n, (layer, sql) in models.items() if layer != "staging" and "source(" in sql
    ]
    assert not outside_staging  # only staging reads the landing tables
