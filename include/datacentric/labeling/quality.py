"""Label quality: low-confidence labels and likely label errors (cleanlab on out-of-fold predictions),
and a self-contained HTML report. Design note: docs/explanation/labeling.md (Label quality)."""

from __future__ import annotations

import base64
import html
import io
import json
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd

from datacentric.errors import LabelingError
from datacentric.labeling.selection import current_labels
from datacentric.manifest.model import LabelQuality, LabelTask, LoadedManifest
from datacentric.repository.store import DataRepository

NO_ANSWER = "item received no usable vote"
FLAG_COLUMNS = ["task", "label", "confidence", "label_job", "low_confidence", "label_issue", "self_confidence",
                "suggested", "text", "checked_at"]


@dataclass(frozen=True)
class QualityResult:
    task: str
    job_name: str
    items_checked: int
    low_confidence: int
    label_issues: int
    flagged: int
    ml_check: str
    flags_path: str
    report_path: str
    report_uri: str
    messages: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class LabelIssues:
    """The ML check's verdict per item (aligned with its input), or why it did not run."""

    label_issue: np.ndarray
    self_confidence: np.ndarray
    suggested: np.ndarray
    ran: bool
    note: str


def find_label_issues_in_text(
    texts: pd.Series | list[str], labels: pd.Series | list[str], classes: list[str], options: LabelQuality
) -> LabelIssues:
    """cleanlab's find_label_issues on out-of-fold probabilities of TF-IDF + logistic regression.

    `self_confidence` is the out-of-fold probability of the given label (low: the text disagrees);
    `suggested` is the model's most probable class. Items of a class with fewer than two labels
    cannot be scored out of fold and are never flagged; with fewer than `options.min_items` labels
    or a single class the check does not run, and `note` says why.
    """
    texts = pd.Series(list(texts), dtype=object).fillna("").astype(str)
    labels = pd.Series(list(labels), dtype=object).astype(str)
    n = len(labels)

    def verdict(ran: bool, note: str) -> LabelIssues:
        return LabelIssues(np.zeros(n, bool), np.full(n, np.nan), np.full(n, None, dtype=object), ran, note)

    if not options.find_label_issues:
        return verdict(False, "switched off in the manifest (quality.find_label_issues)")
    counts = labels.value_counts()
    usable = labels.isin(counts[counts >= 2].index).to_numpy()
    present = [c for c in classes if c in set(labels[usable])]
    if usable.sum() < options.min_items:
        return verdict(False, f"skipped: {int(usable.sum())} labels, fewer than min_items={options.min_items}")
    if len(present) < 2:
        return verdict(False, "skipped: every label is the same class")

    from cleanlab.filter import find_label_issues
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_predict
    from sklearn.pipeline import make_pipeline

    y = np.asarray([present.index(c) for c in labels[usable]])
    folds = int(min(options.folds, np.bincount(y).min()))
    model = make_pipeline(
        TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=1),
        LogisticRegression(max_iter=1000),
    )
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=options.seed)
    probas = cross_val_predict(model, texts[usable].tolist(), y, cv=splitter, method="predict_proba")
    issues = find_label_issues(labels=y, pred_probs=probas, n_jobs=1)

    result = verdict(True, f"TF-IDF + logistic regression, {folds}-fold out-of-fold probabilities, "
                           f"cleanlab find_label_issues over {int(usable.sum())} labels")
    result.label_issue[usable] = issues
    result.self_confidence[usable] = probas[np.arange(len(y)), y]
    result.suggested[usable] = np.asarray(present, dtype=object)[probas.argmax(axis=1)]
    return result


def _texts(repo: DataRepository, task: str) -> pd.Series:
    """Each item's text as it was sent out (the newest round's copy), indexed by item id."""
    frames = [pd.read_parquet(p, columns=None) for p in repo.files("labels", task, "items")]
    frames = [f[["task", "text"]] for f in frames if {"task", "text"} <= set(f.columns) and len(f)]
    if not frames:
        return pd.Series(dtype=object)
    both = pd.concat(frames, ignore_index=True).astype({"task": str})
    return both.drop_duplicates("task", keep="last").set_index("task")["text"]


def check_label_quality(
    loaded: LoadedManifest, repo: DataRepository, *, job_name: str, run_id: str, created_at: datetime
) -> QualityResult:
    """Judge the labels a round consolidated, record the flagged items and publish the report.

    Idempotent: the same repository state and `created_at` (the run's data interval end) give the
    same bytes, so a re-run changes nothing.
    """
    task = loaded.spec.label_task
    if task is None:
        raise LabelingError(f"{loaded.path}: the manifest has no label_task")
    consolidated_path = repo.path("labels", task.name, "consolidated", f"{job_name}.parquet")
    if not consolidated_path.exists():
        raise LabelingError(f"job {job_name!r} has no consolidated labels at {consolidated_path}: consolidate first")
    stamp = created_at.astimezone(UTC).replace(microsecond=0).isoformat()
    messages: list[str] = []

    # The round's own labels are judged; the newest labels of other rounds up to this one (never
    # later ones, so a re-run gives the same verdict) give the model more to learn from.
    mine = pd.read_parquet(consolidated_path).astype({"task": str})
    as_of = str(mine["consolidated_at"].iloc[0]) if len(mine) and "consolidated_at" in mine.columns else stamp
    current = current_labels(repo, task.name, as_of=as_of)
    others = current[(current["job_name"].astype(str) != job_name) & ~current["task"].isin(mine["task"])]
    others = others.sort_values(["consolidated_at", "job_name", "task"], ascending=False, kind="stable")
    checked = pd.concat([mine, others.head(max(task.quality.max_items - len(mine), 0))], ignore_index=True) \
        if len(mine) else mine
    texts = _texts(repo, task.name)
    checked_texts = texts.reindex(checked["task"].astype(str)).fillna("")
    verdict = find_label_issues_in_text(checked_texts, checked["label"], list(task.classes), task.quality)
    if not verdict.ran:
        messages.append(f"label-error check {verdict.note}")

    n_mine = len(mine)
    flags = pd.DataFrame(
        {
            "task": mine["task"].astype(str).to_numpy(),
            "label": mine["label"].astype(str).to_numpy(),
            "confidence": mine["confidence"].astype(float).to_numpy(),
            "label_job": job_name,
            "low_confidence": (mine["confidence"].astype(float) < task.confidence_threshold).to_numpy(),
            "label_issue": verdict.label_issue[:n_mine],
            "self_confidence": verdict.self_confidence[:n_mine],
            "suggested": verdict.suggested[:n_mine],
            "text": checked_texts.to_numpy()[:n_mine],
            "checked_at": stamp,
        },
        columns=FLAG_COLUMNS,
    )
    flagged = flags[flags["low_confidence"] | flags["label_issue"]].sort_values(
        ["label_issue", "self_confidence", "confidence", "task"], ascending=[False, True, True, True], kind="stable"
    ).reset_index(drop=True)
    provenance = {"task": task.name, "job_name": job_name, "stage": "label_quality",
                  "labels": f"{task.name}/consolidated/{job_name}.parquet", "check": verdict.note}
    flags_published = repo.publish_frame("labels", f"{task.name}/quality/{job_name}.parquet", flagged,
                                         run_id=run_id, provenance=provenance)

    report = render_report(
        task=task,
        job_name=job_name,
        created_at=stamp,
        consolidated=mine,
        workers=_read_optional(repo, task.name, "workers", job_name),
        votes_in=len(_read_optional(repo, task.name, "votes", job_name)),
        rejected=_read_optional(repo, task.name, "rejected", job_name),
        unreadable=_read_optional(repo, task.name, "responses_rejected", job_name),
        flags=flags,
        ml_note=verdict.note,
        messages=messages,
    )
    report_published = repo.publish_bytes("reports", f"labeling/{task.name}/{job_name}.html", report.encode("utf-8"),
                                          run_id=run_id, provenance=provenance)
    report_file = repo.path("reports", "labeling", task.name, f"{job_name}.html")
    return QualityResult(
        task=task.name,
        job_name=job_name,
        items_checked=n_mine,
        low_confidence=int(flags["low_confidence"].sum()),
        label_issues=int(flags["label_issue"].sum()),
        flagged=len(flagged),
        ml_check=verdict.note,
        flags_path=flags_published.path,
        report_path=report_published.path,
        report_uri=report_file.resolve().as_uri(),
        messages=messages,
    )


def _read_optional(repo: DataRepository, task: str, folder: str, job_name: str) -> pd.DataFrame:
    path = repo.path("labels", task, folder, f"{job_name}.parquet")
    return pd.read_parquet(path) if path.exists() else pd.DataFrame()


# -- the report ----------------------------------------------------------------------------------

_METHODS = {"dawid_skene": "Dawid-Skene", "majority_vote": "majority vote"}
_STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem auto;max-width:1100px;color:#222}
h1{font-size:1.5rem} h2{font-size:1.15rem;margin-top:2rem;border-bottom:1px solid #ddd}
table{border-collapse:collapse;font-size:.85rem} td,th{padding:.25rem .6rem;border-bottom:1px solid #eee;
text-align:left} th{background:#f6f6f6} .num{text-align:right} .note{background:#fff6d6;padding:.5rem 1rem}
.kpi{display:inline-block;margin:0 1.5rem .5rem 0} .kpi b{display:block;font-size:1.4rem} img{max-width:100%}
"""


def render_report(
    *,
    task: LabelTask,
    job_name: str,
    created_at: str,
    consolidated: pd.DataFrame,
    workers: pd.DataFrame,
    votes_in: int,
    rejected: pd.DataFrame,
    flags: pd.DataFrame,
    unreadable: pd.DataFrame | None = None,
    ml_note: str,
    messages: list[str],
    max_rows: int = 200,
) -> str:
    """The label-quality report of one round as a self-contained HTML page (plots embedded as PNG)."""
    esc = html.escape
    rejected_votes = rejected[rejected["reason"] != NO_ANSWER] if len(rejected) else rejected
    unanswered = len(rejected) - len(rejected_votes)
    flagged = flags[flags["low_confidence"] | flags["label_issue"]]
    unreadable = unreadable if unreadable is not None else pd.DataFrame()
    kpis = [
        ("items labeled", len(consolidated)),
        ("responses the backend could not read", len(unreadable)),
        ("votes in", votes_in),
        ("votes used", votes_in - len(rejected_votes)),
        ("votes rejected", len(rejected_votes)),
        ("items without an answer", unanswered),
        (f"confidence < {task.confidence_threshold:g}", int(flags["low_confidence"].sum())),
        ("likely label errors", int(flags["label_issue"].sum())),
        ("sent back for review", len(flagged)),
    ]
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<title>Label quality: {esc(task.name)} / {esc(job_name)}</title><style>{_STYLE}</style></head><body>",
        f"<h1>Label quality: {esc(task.name)} &middot; job {esc(job_name)}</h1>",
        f"<p>Consolidated by <b>{_METHODS.get(task.consolidation, esc(task.consolidation))}</b> on {esc(created_at)}; "
        f"classes {esc(', '.join(task.classes))}; backend <b>{esc(task.backend)}</b>.</p>",
    ]
    if task.backend == "simulated":
        parts.append("<p class='note'>The votes of this job come from a <b>simulated workforce</b> "
                     "(annotators with configured confusion matrices), not from people.</p>")
    parts.append("".join(f"<span class='kpi'><b>{v}</b>{esc(k)}</span>" for k, v in kpis))
    parts.append(f"<p>Label-error check: {esc(ml_note)}.</p>")
    if messages:
        parts.append("<ul>" + "".join(f"<li>{esc(m)}</li>" for m in messages) + "</ul>")

    if len(workers):
        parts.append("<h2>Workers</h2>")
        parts.append(_img(_plot_worker_accuracy(workers)))
        parts.append(_img(_plot_confusions(workers, list(task.classes))))
    parts.append("<h2>Confidence</h2>")
    parts.append(_img(_plot_confidence(consolidated, task.confidence_threshold)))
    parts.append("<h2>Items sent back for review</h2>")
    if len(flagged):
        parts.append(_img(_plot_flags(flagged, list(task.classes))))
        rows = flagged.sort_values(["label_issue", "self_confidence", "confidence", "task"],
                                   ascending=[False, True, True, True], kind="stable").head(max_rows)
        parts.append("<table><tr><th>item</th><th>label</th><th class='num'>confidence</th><th>why</th>"
                     "<th>model suggests</th><th class='num'>P(label) out of fold</th><th>text</th></tr>")
        for r in rows.itertuples(index=False):
            why = ", ".join(w for w, on in (("likely label error", r.label_issue),
                                            ("low confidence", r.low_confidence)) if on)
            p = "" if pd.isna(r.self_confidence) else f"{r.self_confidence:.2f}"
            parts.append(f"<tr><td>{esc(str(r.task))}</td><td>{esc(str(r.label))}</td>"
                         f"<td class='num'>{r.confidence:.2f}</td><td>{why}</td>"
                         f"<td>{esc(str(r.suggested or ''))}</td><td class='num'>{p}</td>"
                         f"<td>{esc(str(r.text))[:200]}</td></tr>")
        parts.append("</table>")
        if len(flagged) > max_rows:
            parts.append(f"<p>{len(flagged) - max_rows} more in labels/{esc(task.name)}/quality/{esc(job_name)}.parquet"
                         "</p>")
    else:
        parts.append("<p>None.</p>")
    if len(rejected) or len(unreadable):
        parts.append("<h2>Rejected votes</h2><table><tr><th>reason</th><th class='num'>count</th></tr>")
        for frame, where in ((unreadable, "response the backend could not read: "), (rejected, "")):
            if len(frame) and "reason" in frame.columns:
                for reason, count in frame["reason"].value_counts().sort_index().items():
                    parts.append(f"<tr><td>{esc(where + str(reason))}</td><td class='num'>{count}</td></tr>")
        parts.append("</table>")
    if len(workers):
        parts.append("<h2>Worker table</h2><table><tr><th>worker</th><th class='num'>votes</th>"
                     "<th class='num'>estimated accuracy</th></tr>")
        for r in workers.sort_values(["accuracy", "worker"], ascending=[False, True]).itertuples(index=False):
            parts.append(f"<tr><td>{esc(str(r.worker))}</td><td class='num'>{r.votes}</td>"
                         f"<td class='num'>{r.accuracy:.3f}</td></tr>")
        parts.append("</table>")
    parts.append("</body></html>\n")
    return "\n".join(parts)


def _img(png: bytes) -> str:
    return f"<p><img alt='' src='data:image/png;base64,{base64.b64encode(png).decode()}'></p>"


def _figure(width: float, height: float) -> Any:
    # The object-oriented API with its own Agg canvas: no pyplot, no global backend state in a worker.
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=90, layout="constrained")


def _png(fig: Any) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", metadata={"Software": None})  # no version stamp: same plot, same bytes
    return buffer.getvalue()


def _plot_worker_accuracy(workers: pd.DataFrame, most: int = 40) -> bytes:
    shown = workers.sort_values(["votes", "worker"], ascending=[False, True]).head(most)
    shown = shown.sort_values(["accuracy", "worker"], ascending=[True, False])
    fig = _figure(8, 1.2 + 0.28 * len(shown))
    ax = fig.add_subplot()
    bars = ax.barh(shown["worker"].astype(str), shown["accuracy"], color="#4c78a8")
    for bar, votes in zip(bars, shown["votes"], strict=True):
        ax.text(bar.get_width() + 0.01, bar.get_y() + bar.get_height() / 2, f"{votes} votes", va="center", fontsize=7)
    ax.set_xlim(0, 1.15)
    ax.set_xlabel("estimated accuracy (share of answers that are right)")
    title = "Per-worker accuracy" + (f" (the {most} workers with most votes)" if len(workers) > most else "")
    ax.set_title(title)
    return _png(fig)


def _plot_confusions(workers: pd.DataFrame, classes: list[str], most: int = 12) -> bytes:
    shown = workers.sort_values(["votes", "worker"], ascending=[False, True]).head(most)
    cols = min(4, len(shown))
    rows = -(-len(shown) // cols)
    fig = _figure(3.0 * cols, 2.8 * rows)
    for i, r in enumerate(shown.itertuples(index=False)):
        ax = fig.add_subplot(rows, cols, i + 1)
        matrix = np.asarray(json.loads(r.confusion))
        ax.imshow(matrix, vmin=0, vmax=1, cmap="Blues")
        ax.set_xticks(range(len(classes)), classes, rotation=45, ha="right", fontsize=7)
        ax.set_yticks(range(len(classes)), classes, fontsize=7)
        if len(classes) <= 6:
            for (a, b), value in np.ndenumerate(matrix):
                ax.text(b, a, f"{value:.2f}", ha="center", va="center", fontsize=7,
                        color="white" if value > 0.6 else "black")
        ax.set_title(f"{r.worker} ({r.votes} votes)", fontsize=8)
        ax.set_xlabel("answered", fontsize=7)
        ax.set_ylabel("true", fontsize=7)
    fig.suptitle("Confusion matrices (rows: true class, columns: answer)"
                 + (f", the {most} workers with most votes" if len(workers) > most else ""))
    return _png(fig)


def _plot_confidence(consolidated: pd.DataFrame, threshold: float) -> bytes:
    fig = _figure(8, 3.2)
    ax = fig.add_subplot()
    values = consolidated["confidence"].astype(float) if len(consolidated) else pd.Series(dtype=float)
    ax.hist(values, bins=np.linspace(0, 1, 21), color="#4c78a8", edgecolor="white")
    ax.axvline(threshold, color="#e45756", linestyle="--", label=f"threshold {threshold:g}")
    ax.set_xlabel("consolidated confidence (posterior probability of the label)")
    ax.set_ylabel("items")
    ax.set_title("Confidence histogram")
    ax.legend()
    return _png(fig)


def _plot_flags(flagged: pd.DataFrame, classes: list[str]) -> bytes:
    fig = _figure(8, 3.2)
    ax = fig.add_subplot()
    x = np.arange(len(classes))
    issue = flagged[flagged["label_issue"]]["label"].value_counts().reindex(classes, fill_value=0)
    low = flagged[flagged["low_confidence"] & ~flagged["label_issue"]]["label"].value_counts().reindex(
        classes, fill_value=0)
    ax.bar(x, issue.to_numpy(), color="#e45756", label="likely label error")
    ax.bar(x, low.to_numpy(), bottom=issue.to_numpy(), color="#f2b447", label="low confidence only")
    ax.set_xticks(x, classes)
    ax.set_xlabel("consolidated label")
    ax.set_ylabel("items")
    ax.set_title("Flagged items by label")
    ax.legend()
    return _png(fig)
