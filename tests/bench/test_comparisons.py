"""The benchmarks' checks that a stock tool produced the same result as the project, at a tiny size:
they pass on equal results and fail loudly on a difference. Timings are never asserted."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType, SimpleNamespace

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"


def bench(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"bench_{name}", BENCH / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_ingest_duckdb_output_is_checked_row_for_row(tmp_path: Path) -> None:
    ingest = bench("ingest")
    landing = tmp_path / "landing"
    ingest.generate(landing, 3)
    ingest.project(landing, tmp_path / "repo", "run-1")
    ingest.duckdb_baseline(landing, tmp_path / "duckdb")
    rows = ingest.check_same_rows(tmp_path / "repo", tmp_path / "duckdb")
    assert rows == sum(pq.read_metadata(p).num_rows for p in (tmp_path / "repo" / "raw").rglob("*.parquet"))

    target = next((tmp_path / "duckdb" / "clicks_csv").glob("*.parquet"))
    table = pq.read_table(target)
    pq.write_table(table.slice(1), target)  # one row fewer
    with pytest.raises(SystemExit, match="differ"):
        ingest.check_same_rows(tmp_path / "repo", tmp_path / "duckdb")


def test_pandera_quarantine_is_checked_against_the_split() -> None:
    validation = bench("validation")
    frame = validation.events(2_000, 3)
    valid, quarantined, _ = validation.handwritten(frame)
    reference = SimpleNamespace(valid=valid, quarantined=quarantined)
    split = validation.with_pandera(validation.pandera_schema(), frame)
    validation.check_same_quarantine("pandera", reference, *split)
    assert len(split[1]) == 3 * len(validation.KINDS)

    fewer = split[1].iloc[1:].reset_index(drop=True)
    with pytest.raises(SystemExit, match="quarantined rows"):
        validation.check_same_quarantine("pandera", reference, split[0], fewer)
    wrong = split[1].copy()
    wrong.loc[0, "_columns"] = '["no_such_column"]'
    with pytest.raises(SystemExit, match="failed on"):
        validation.check_same_quarantine("pandera", reference, split[0], wrong)


def test_training_sets_are_compared_feature_for_feature() -> None:
    training = bench("training_set")
    views = training.views(3, 2, 2)
    ours = training.labeled_rows(50, views, seed=1)
    features = [f for v in views for f in v.features]
    rng = np.random.default_rng(0)
    for feature in features:
        ours[feature] = np.where(rng.random(50) < 0.2, np.nan, rng.normal(size=50))
    stale = views[2]
    ours.loc[:4, stale.features] = np.nan  # rows with nothing fresh in one view
    theirs = ours.sample(frac=1.0, random_state=2)  # another order: matched by task
    assert training.check_same("copy", ours, theirs, views) == 0
    left_out = theirs[~theirs["task"].isin(ours["task"].iloc[:5])]
    assert training.check_same("Feast", ours, left_out, views, allow_left_out=True) == 5
    with pytest.raises(SystemExit, match="missing"):
        training.check_same("Feast", ours, theirs.iloc[10:], views, allow_left_out=True)
    changed = theirs.copy()
    column = features[0]
    changed.loc[changed[column].notna().idxmax(), column] += 1.0
    with pytest.raises(SystemExit, match=f"{column} differs"):
        training.check_same("changed", ours, changed, views)
    nulled = theirs.copy()
    nulled.loc[nulled[column].notna().idxmax(), column] = np.nan
    with pytest.raises(SystemExit, match=f"{column} is null"):
        training.check_same("nulled", ours, pd.DataFrame(nulled), views)
