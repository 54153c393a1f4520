"""Feast: apply the generated feature repository, materialize the online store, export training sets."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from airflow.sdk import BaseOperator

from datacentric_airflow.context import run_info
from datacentric_airflow.hooks.repository import DataRepositoryHook


class FeastApplyOperator(BaseOperator):
    """Export the feature tables from the validated zone, render the Feast repository from the
    manifest and register it (what `feast apply` does).

    :param manifest: path of the manifest YAML (templated)
    """

    template_fields: Sequence[str] = ("manifest",)
    ui_color = "#e0f7f4"

    def __init__(self, *, manifest: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.manifest = manifest

    def execute(self, context: Any) -> dict[str, Any]:
        from datacentric import features
        from datacentric.manifest import load_manifest

        hook = DataRepositoryHook()
        loaded = load_manifest(self.manifest)
        settings = hook.settings
        tables = features.export_feature_tables(loaded.spec, hook.get_repository(), run_id=run_info(context).run_id)
        features.render_feature_repo(loaded.spec, settings.feature_repo, settings.repository, settings.online_store)
        names = features.apply(settings.feature_repo)
        self.log.info("feature repository %s applied: %s", settings.feature_repo, ", ".join(names))
        return {"feature_repo": str(settings.feature_repo), "objects": names,
                "tables": {view: published.path for view, published in tables.items()}}


class FeastMaterializeOperator(BaseOperator):
    """Materialize the online store up to the end of the run's data interval.

    The window reaches back over the longest feature TTL, so the online store holds the latest value
    of every live entity whatever the earlier runs did; `start` and `end` override it.

    :param manifest: path of the manifest YAML (templated)
    :param start: window start, ISO timestamp (templated); default: end minus the longest TTL
    :param end: window end, ISO timestamp (templated); default: the run's data interval end
    """

    template_fields: Sequence[str] = ("manifest", "start", "end")
    ui_color = "#e0f7f4"

    def __init__(self, *, manifest: str, start: str | None = None, end: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.manifest = manifest
        self.start = start
        self.end = end

    def execute(self, context: Any) -> dict[str, Any]:
        from datetime import datetime, timedelta

        from datacentric import features
        from datacentric.manifest import load_manifest

        info = run_info(context)
        spec = load_manifest(self.manifest).spec.features
        if spec is None:
            raise ValueError(f"{self.manifest}: the manifest has no features")
        end = datetime.fromisoformat(self.end) if self.end else info.interval_end
        longest_ttl = max(view.ttl_days for view in spec.feature_views.values())
        start = datetime.fromisoformat(self.start) if self.start else end - timedelta(days=longest_ttl)
        repo = DataRepositoryHook().settings.feature_repo
        result = features.materialize(repo, start, end)
        self.log.info("materialized %s over [%s, %s): %s", repo, start, end, result)
        return {"start": start.isoformat(), "end": end.isoformat(), "views": result}


class TrainingSetOperator(BaseOperator):
    """Build the point-in-time training set of the label task: every consolidated label joined with
    the features of its entities as of the item's event time, written to the training-sets zone.

    :param manifest: path of the manifest YAML (templated)
    """

    template_fields: Sequence[str] = ("manifest",)
    ui_color = "#e0f7f4"

    def __init__(self, *, manifest: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.manifest = manifest

    def execute(self, context: Any) -> dict[str, Any]:
        from datacentric.manifest import load_manifest
        from datacentric.training import export_training_set

        info = run_info(context)
        hook = DataRepositoryHook()
        result = export_training_set(load_manifest(self.manifest), hook.get_repository(), hook.settings.feature_repo,
                                     name=info.interval_key, run_id=info.run_id)
        self.log.info("training set %s: %d rows, features %s", result["path"], result["rows"], result["features"])
        return result
