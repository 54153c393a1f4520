"""Point-in-time recovery and diff of the data repository, and the manifest's catalog, as tasks."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator

from datacentric_airflow.context import run_info
from datacentric_airflow.failures import fail_fast_on_bad_input
from datacentric_airflow.hooks.repository import DataRepositoryHook

if TYPE_CHECKING:
    from airflow.sdk import Context

_LISTED = 20  # paths per list returned to XCom; the full lists are in the task log and the CLI's --json


class RecoverRepositoryOperator(BaseOperator):
    """Restore the data repository, or one source, as it was at a point, into a new folder.

    A point is an ISO time (a date alone is the end of that day), `run:<run id>`, `before:<run id>`,
    `now` or `empty`. Every file is verified against the sha256 in the change log; the folder also
    gets the change log up to the point and a RECOVERY.json describing it. A retry that finds the same
    recovery already in place returns it.

    :param point: the point to recover (templated)
    :param dest: the folder to create; empty means `<DATACENTRIC_VAR>/recovered/<run id>` (templated)
    :param source: only this source's files; empty means the whole repository (templated)
    """

    template_fields: Sequence[str] = ("point", "dest", "source")
    ui_color = "#f0e8ff"

    def __init__(self, *, point: str, dest: str = "", source: str = "", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.point = point
        self.dest = dest
        self.source = source

    @fail_fast_on_bad_input
    def execute(self, context: Context) -> dict[str, Any]:
        from pathlib import Path

        from datacentric.repository.recovery import recover

        hook = DataRepositoryHook()
        dest = Path(self.dest) if self.dest.strip() else \
            hook.settings.var_dir / "recovered" / re.sub(r"[^A-Za-z0-9._-]", "_", run_info(context).run_id)
        summary = recover(hook.get_repository(), self.point, dest, source=self.source.strip() or None)
        self.log.info("recovered %d file(s) as of %r (change %s, %s) into %s", summary["files"], self.point,
                      summary["point"]["position"], summary["point"]["at"], dest)
        return summary

    def get_openlineage_facets_on_complete(self, task_instance: Any) -> Any:
        """OpenLineage inputs and outputs of this task (see datacentric_airflow.lineage)."""
        from datacentric_airflow.lineage import paths_lineage, repository_root

        dest = self.dest.strip() or DataRepositoryHook().settings.var_dir / "recovered" / re.sub(
            r"[^A-Za-z0-9._-]", "_", task_instance.run_id)
        return paths_lineage([repository_root()], [dest])


class DiffRepositoryOperator(BaseOperator):
    """Files and rows added and removed per source and zone between two points of the repository.

    :param before: the earlier point (templated)
    :param after: the later point, `now` by default (templated)
    :param source: only this source; empty means every source (templated)
    """

    template_fields: Sequence[str] = ("before", "after", "source")
    ui_color = "#f0e8ff"

    def __init__(self, *, before: str, after: str = "now", source: str = "", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.before = before
        self.after = after
        self.source = source

    @fail_fast_on_bad_input
    def execute(self, context: Context) -> dict[str, Any]:
        from datacentric.repository.recovery import diff, format_diff

        report = diff(DataRepositoryHook().get_repository(), self.before, self.after or "now",
                      source=self.source.strip() or None)
        self.log.info("repository diff\n%s", format_diff(report))
        for change in report["changes"]:
            for key in ("files_added", "files_removed", "files_changed"):
                paths = change[key]
                more = [f"... and {len(paths) - _LISTED} more"] if len(paths) > _LISTED else []
                change[key] = paths[:_LISTED] + more
        return report

    def get_openlineage_facets_on_complete(self, task_instance: Any) -> Any:
        """OpenLineage inputs and outputs of this task (see datacentric_airflow.lineage)."""
        from datacentric_airflow.lineage import paths_lineage, repository_root

        return paths_lineage([repository_root()], [])


class RenderCatalogOperator(BaseOperator):
    """Render the manifest as an HTML catalog (schemas, owners, freshness, last runs, join graph).

    :param manifest: path of the manifest YAML (templated)
    :param out: the HTML file to write; empty means `<DATACENTRIC_VAR>/catalog/<manifest name>.html` (templated)
    """

    template_fields: Sequence[str] = ("manifest", "out")
    ui_color = "#f0e8ff"

    def __init__(self, *, manifest: str, out: str = "", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.manifest = manifest
        self.out = out

    @fail_fast_on_bad_input
    def execute(self, context: Context) -> str:
        from pathlib import Path

        from datacentric.atomic import write_atomic
        from datacentric.manifest import load_manifest
        from datacentric.repository.catalog import render_catalog

        hook = DataRepositoryHook()
        loaded = load_manifest(self.manifest)
        out = Path(self.out) if self.out.strip() else hook.settings.var_dir / "catalog" / f"{loaded.name}.html"
        write_atomic(out, render_catalog(loaded, hook.get_repository()).encode("utf-8"))
        self.log.info("catalog of %s: file://%s", loaded.name, out.resolve())
        return str(out)

    def get_openlineage_facets_on_complete(self, task_instance: Any) -> Any:
        """OpenLineage inputs and outputs of this task (see datacentric_airflow.lineage)."""
        from datacentric.manifest import load_manifest

        from datacentric_airflow.lineage import paths_lineage, repository_root

        out = self.out.strip() or DataRepositoryHook().settings.var_dir / "catalog" / (
            f"{load_manifest(self.manifest).name}.html")
        return paths_lineage([self.manifest, repository_root()], [out])
