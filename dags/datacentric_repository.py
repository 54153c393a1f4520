"""
### Data repository: point-in-time recovery, diff and catalog

Trigger it by hand; the form asks for:

- **point**: when to recover the repository to: an ISO time (`2026-10-31T12:00:00Z`; a date alone is
  the end of that day), `run:<run id>` (as that run left it), `before:<run id>`, or `now`;
- **compare_with**: a second point; the diff task lists, per source and zone, the files and rows added
  and removed from `point` to it;
- **source**: recover and compare one source only (empty: the whole repository);
- **dest**: the new folder to recover into (empty: `<DATACENTRIC_VAR>/recovered/<run id>`);
- **manifest**: the manifest whose catalog (HTML, with the join graph) is rendered to
  `<DATACENTRIC_VAR>/catalog/<name>.html`.

Recovery replays the repository's change log up to the point and takes each file's content from the
repository's object store, verifying every sha256. The same is available from the command line:
`python -m datacentric history | recover POINT DEST | diff FROM TO | catalog`.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

from airflow.sdk import Param, dag
from datacentric_airflow.operators.repository import (
    DiffRepositoryOperator,
    RecoverRepositoryOperator,
    RenderCatalogOperator,
)

BUNDLED_MANIFEST = str(Path(__file__).resolve().parents[1] / "include" / "manifests" / "shop" / "manifest.yaml")
POINT_HELP = "An ISO time (a date alone is the end of that day), run:<run id>, before:<run id>, now or empty."


@dag(
    dag_id="datacentric_repository",
    schedule=None,
    start_date=datetime(2026, 10, 1),
    catchup=False,
    doc_md=__doc__,
    tags=["datacentric", "repository", "recovery"],
    default_args={"owner": "datacentric", "retries": 1, "retry_delay": timedelta(seconds=30)},
    params={
        "point": Param("now", type="string", minLength=1, title="Point to recover", description=POINT_HELP),
        "compare_with": Param("now", type="string", minLength=1, title="Compare with",
                              description="The second point of the diff. " + POINT_HELP),
        "source": Param("", type="string", title="Source",
                        description="Only this source of the manifest; empty for the whole repository."),
        "dest": Param("", type="string", title="Recover into",
                      description="A new or empty folder; empty for <DATACENTRIC_VAR>/recovered/<run id>."),
        "manifest": Param(BUNDLED_MANIFEST, type="string", title="Manifest",
                          description="Path of the manifest YAML whose catalog is rendered."),
    },
)
def datacentric_repository() -> None:
    RecoverRepositoryOperator(task_id="recover", point="{{ params.point }}", dest="{{ params.dest }}",
                              source="{{ params.source }}")
    DiffRepositoryOperator(task_id="diff", before="{{ params.point }}", after="{{ params.compare_with }}",
                           source="{{ params.source }}")
    RenderCatalogOperator(task_id="catalog", manifest="{{ params.manifest }}")


datacentric_repository()
