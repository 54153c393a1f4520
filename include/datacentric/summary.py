"""A readable account of where each result of the pipeline is, printed after `make demo`."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from datacentric.manifest import load_manifest
from datacentric.repository.store import DataRepository
from datacentric.settings import Settings
from datacentric.versioning.versioner import Versioner


def run_summary(manifest_path: Path, settings: Settings) -> str:
    loaded = load_manifest(manifest_path)
    repo = DataRepository(settings.repository)
    out = [f"Data repository: {settings.repository}  (git + DVC; DVC remote {settings.dvc_remote})"]
    states = Versioner.from_settings(settings).states()
    if states:
        last = states[-1]
        out.append(
            f"Latest snapshot: data state {last['data_state_id']}, tag {last['tag']}, commit {last['commit'][:12]}"
        )
        out.append(f"  restore it with: python -m datacentric restore {last['data_state_id']} /tmp/restored")
    out.append(
        "Rows per source (raw = validated + quarantined at validation; ingest-quarantined rows never reach raw):"
    )
    for name in loaded.spec.sources:
        summary_file = repo.path("reports", f"validation/{name}/summary.json")
        if summary_file.exists():
            s = json.loads(summary_file.read_text())
            ingest_q = sum(len(pd.read_parquet(f)) for f in repo.files("quarantine", name, "ingest"))
            out.append(f"  {name:<10} raw {s['rows_in']:>7}  validated {s['rows_valid']:>7}  "
                       f"quarantined {s['rows_quarantined']:>5} (+{ingest_q} at ingestion)")
    docs = settings.gx_root
    index = next(iter(sorted(docs.rglob("index.html"))), None) if docs.exists() else None
    if index:
        out.append(f"Data Docs: file://{index}")
    task = loaded.spec.label_task
    if task:
        from datacentric.labeling.selection import current_labels

        labels = current_labels(repo, task.name)
        if len(labels):
            counts = labels["label"].value_counts().to_dict()
            out.append(f"Consolidated labels ({task.name}, {task.consolidation}): {len(labels)} items {counts}")
            out.append(f"  {repo.path('labels', task.name, 'consolidated')}")
            reports = sorted(repo.path("reports", "labeling", task.name).glob("*.html"))
            if reports:
                out.append(f"Label quality report: file://{reports[-1]}")
    training = repo.files("training_sets")
    if training:
        out.append(f"Training set: {training[-1]} ({len(pd.read_parquet(training[-1]))} rows)")
    if loaded.spec.features and settings.feature_repo.exists():
        from datacentric.features import read_online

        spec = loaded.spec.features
        view_name, view = next(iter(spec.feature_views.items()))
        key = spec.entities[view.entity].join_key
        table = repo.read_frame("features", view_name)
        entity = int(table[key].iloc[0]) if pd.api.types.is_integer_dtype(table[key]) else table[key].iloc[0]
        online = read_online(settings.feature_repo, view_name, view.features, [{key: entity}])
        values = {c: online[c].iloc[0].item() if hasattr(online[c].iloc[0], "item") else online[c].iloc[0]
                  for c in view.features if c in online.columns}
        out.append(f"Online features ({settings.online_store}) of {key}={entity} from {view_name}: {values}")
        out.append(f"  Feast repository: {settings.feature_repo}  (feast -c {settings.feature_repo} ui)")
    return "\n".join(out)
