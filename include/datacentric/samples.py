"""Deterministic sample data for the bundled `shop` manifest.

Same seed, same bytes: the demo and the tests can rely on exact counts. A small, known share of rows
is deliberately bad (out-of-range ratings, unknown event types, malformed ids) so the validation gate
has something to quarantine. The true sentiment of every review is written to `_simulation/` for the
simulated workforce; it is never ingested as data.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

CATEGORIES = ["books", "electronics", "garden", "kitchen", "toys"]
SENTIMENTS = ["negative", "neutral", "positive"]
START = datetime(2026, 10, 1, tzinfo=UTC)

_PHRASES = {
    "negative": [
        "broke after two days", "not worth the money", "arrived damaged", "very disappointed",
        "would not buy again", "cheap and flimsy",
    ],
    "neutral": [
        "does what it says", "okay for the price", "nothing special", "average quality",
        "as described", "fine but slow delivery",
    ],
    "positive": [
        "absolutely love it", "great value", "works perfectly", "exceeded my expectations",
        "highly recommend", "best purchase this year",
    ],
}


@dataclass(frozen=True)
class SampleSizes:
    products: int = 2_000
    days: int = 30
    reviews_per_day: int = 1_000
    events_per_day: int = 2_000


@dataclass(frozen=True)
class SampleSummary:
    products: int
    reviews: int
    events: int
    bad_reviews: int
    bad_events: int


def generate(landing_root: Path | str, sizes: SampleSizes = SampleSizes(), seed: int = 0) -> SampleSummary:
    """Write the shop's three sources under `landing_root`, replacing what is there."""
    root = Path(landing_root)
    rng = np.random.default_rng(seed)
    products = _products(rng, sizes)
    _write_catalog(root / "catalog.db", products)
    reviews, truth, bad_reviews = _reviews(rng, sizes)
    _write_jsonl_days(root / "reviews", reviews)
    events, bad_events = _events(rng, sizes)
    _write_parquet_days(root / "events", events)
    truth_path = root / "_simulation" / "review_sentiment_truth.csv"
    truth_path.parent.mkdir(parents=True, exist_ok=True)
    truth.to_csv(truth_path, index=False)
    return SampleSummary(len(products), len(reviews), len(events), bad_reviews, bad_events)


def _products(rng: np.random.Generator, sizes: SampleSizes) -> pd.DataFrame:
    rows = []
    for product_id in range(1, sizes.products + 1):
        category = CATEGORIES[int(rng.integers(len(CATEGORIES)))]
        price = round(float(rng.uniform(2, 500)), 2)
        versions = int(rng.integers(1, 6))
        offsets = np.sort(rng.choice(sizes.days * 24, size=versions, replace=False))
        for version, hours in enumerate(offsets):
            if version:
                price = round(max(0.5, price * float(rng.uniform(0.8, 1.2))), 2)
            rows.append(
                {
                    "product_id": product_id,
                    "title": f"{category.title()} item {product_id}",
                    "category": category,
                    "price": price,
                    "stock": int(rng.integers(0, 500)),
                    # Catalog rows before the window start so every product has a price on day one.
                    "updated_at": (START - timedelta(days=1) + timedelta(hours=int(hours) * (version > 0)))
                    .strftime("%Y-%m-%d %H:%M:%S"),
                }
            )
    return pd.DataFrame(rows)


def _write_catalog(path: Path, products: pd.DataFrame) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".db.tmp")
    tmp.unlink(missing_ok=True)
    with sqlite3.connect(tmp) as conn:
        conn.execute(
            "CREATE TABLE products (product_id INTEGER NOT NULL, title TEXT NOT NULL, category TEXT NOT NULL,"
            " price REAL NOT NULL, stock INTEGER NOT NULL, updated_at TEXT NOT NULL,"
            " PRIMARY KEY (product_id, updated_at))"
        )
        conn.executemany(
            "INSERT INTO products VALUES (?, ?, ?, ?, ?, ?)",
            products.itertuples(index=False, name=None),
        )
    tmp.replace(path)


def _reviews(rng: np.random.Generator, sizes: SampleSizes) -> tuple[pd.DataFrame, pd.DataFrame, int]:
    n = sizes.days * sizes.reviews_per_day
    rating = rng.choice([1, 2, 3, 4, 5], size=n, p=[0.1, 0.1, 0.2, 0.3, 0.3])
    # Sentiment follows the rating, with some disagreement: people rate 4 and complain.
    base = np.where(rating <= 2, 0, np.where(rating == 3, 1, 2))
    flip = rng.random(n) < 0.1
    sentiment = np.where(flip, rng.integers(0, 3, size=n), base)
    seconds = np.sort(rng.integers(0, sizes.days * 86_400, size=n))
    texts = []
    for s in sentiment:
        phrases = _PHRASES[SENTIMENTS[int(s)]]
        picks = rng.choice(len(phrases), size=2, replace=False)
        texts.append(f"{phrases[picks[0]].capitalize()}, {phrases[picks[1]]}.")
    frame = pd.DataFrame(
        {
            "review_id": [f"R{i:07d}" for i in range(1, n + 1)],
            "product_id": rng.integers(1, sizes.products + 1, size=n),
            "user_id": rng.integers(1, 20_001, size=n),
            "rating": rating,
            "text": texts,
            "created_at": [START + timedelta(seconds=int(s)) for s in seconds],
        }
    )
    truth = pd.DataFrame({"review_id": frame["review_id"], "label": [SENTIMENTS[int(s)] for s in sentiment]})
    # A known handful of bad rows: a rating out of range and a malformed id.
    bad = rng.choice(n, size=max(1, n // 500), replace=False)
    frame["rating"] = frame["rating"].astype(object)
    for i, row in enumerate(sorted(bad)):
        if i % 3 == 0:
            frame.at[row, "rating"] = 7  # out of range: quarantined by validation
        elif i % 3 == 1:
            frame.at[row, "review_id"] = f"X{row:07d}"  # breaks the id pattern: quarantined by validation
        else:
            frame.at[row, "rating"] = "five"  # wrong type: quarantined at ingestion
    return frame, truth, len(bad)


def _events(rng: np.random.Generator, sizes: SampleSizes) -> tuple[pd.DataFrame, int]:
    n = sizes.days * sizes.events_per_day
    event_type = rng.choice(["view", "add_to_cart", "purchase"], size=n, p=[0.8, 0.15, 0.05]).astype(object)
    bad = rng.choice(n, size=max(1, n // 1000), replace=False)
    event_type[bad] = "refund"
    seconds = np.sort(rng.integers(0, sizes.days * 86_400, size=n))
    frame = pd.DataFrame(
        {
            "event_id": [f"E{i:08d}" for i in range(1, n + 1)],
            "user_id": rng.integers(1, 20_001, size=n),
            "product_id": rng.integers(1, sizes.products + 1, size=n),
            "event_type": event_type,
            "quantity": rng.integers(1, 4, size=n),
            "event_time": pd.to_datetime([START + timedelta(seconds=int(s)) for s in seconds], utc=True),
        }
    )
    return frame, len(bad)


def _day_of(ts: pd.Series) -> pd.Series:
    return pd.to_datetime(ts, utc=True).dt.strftime("%Y-%m-%d")


def _write_jsonl_days(folder: Path, frame: pd.DataFrame) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("reviews-*.jsonl"):
        old.unlink()
    for day, part in frame.groupby(_day_of(frame["created_at"]), sort=True):
        lines = []
        for record in part.to_dict(orient="records"):
            record["created_at"] = record["created_at"].strftime("%Y-%m-%dT%H:%M:%SZ")
            lines.append(json.dumps(record, default=int))
        if day.endswith("-15"):
            # One export was cut off mid-line: a malformed JSON line quarantined at ingestion.
            lines[-1] = lines[-1][: len(lines[-1]) // 2]
        (folder / f"reviews-{day}.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")


def _write_parquet_days(folder: Path, frame: pd.DataFrame) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("events-*.parquet"):
        old.unlink()
    for day, part in frame.groupby(_day_of(frame["event_time"]), sort=True):
        part.reset_index(drop=True).to_parquet(folder / f"events-{day}.parquet", index=False)
