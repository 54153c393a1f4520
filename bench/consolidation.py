"""Consolidation: the project's majority vote and Dawid-Skene against crowd-kit's on the same votes.

The votes come from the simulated workforce (named as such: known truth, configured annotators), in
two workloads:

- base: 100,000 items x 5 votes, 4 classes, 20 annotators of mixed quality (good, mediocre,
  spammers who answer at random, and biased ones with skewed confusion matrices);
- 1m:   200,000 items x 5 votes = 1M votes, 20 classes, 50 annotators (good, mediocre, spammers,
  and biased ones who confuse neighbouring classes or favour the first).

Each is written to one Parquet file; both implementations read it back and are timed around `fit`
alone. Both run the same EM (initialised from majority vote, at most 100 iterations) with their own
default stopping rule: crowd-kit stops when its loss gains less than 1e-5 per iteration, the
project's DawidSkene when the evidence lower bound per vote gains less than 1e-6. Majority vote
labels must be identical on every item without a tie (ties are broken by class order in the project,
by the order labels first appear in crowd-kit's vote counts): the benchmark fails if they are not, or
if the two Dawid-Skene fits agree on fewer than 99% of the items.

crowd-kit pulls heavy dependencies (transformers, a newer pandas) the project does not need, so it
runs in its own virtual environment, created here on first use from bench/requirements-crowdkit.txt
(default var/bench-crowdkit-venv, or $BENCH_CROWDKIT_VENV), in a subprocess that times itself.

Prints accuracies against the simulation's truth and the speed-ups; the last line is JSON (the base
workload's keys, then the 1M-vote workload's, suffixed _1m).

    .venv/bin/python bench/consolidation.py            # about 5 minutes
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from datacentric.labeling.aggregation.dawid_skene import DawidSkene
from datacentric.labeling.aggregation.majority_vote import MajorityVote
from datacentric.labeling.simulated import SimulatedWorkforce

PROJECT = Path(__file__).resolve().parents[1]
REQUIREMENTS = PROJECT / "bench" / "requirements-crowdkit.txt"
VOTES_PER_ITEM, N_ITER, SEED = 5, 100, 20261031
CROWDKIT_TOL = 1e-5  # crowd-kit's default
MIN_DS_AGREEMENT = 0.99

CROWDKIT_RUN = """
import json, sys, time
import pandas as pd
from crowdkit.aggregation import DawidSkene, MajorityVote
votes = pd.read_parquet(sys.argv[1])
start = time.perf_counter()
majority = MajorityVote().fit(votes)
majority_seconds = time.perf_counter() - start
start = time.perf_counter()
model = DawidSkene(n_iter=int(sys.argv[3]), tol=float(sys.argv[4])).fit(votes)
seconds = time.perf_counter() - start
pd.DataFrame({"ds": model.labels_, "mv": majority.labels_}).rename_axis("task").reset_index().to_parquet(
    sys.argv[2], index=False)
import crowdkit
print(json.dumps({"seconds": seconds, "majority_seconds": majority_seconds, "iterations": len(model.loss_history_),
                  "version": crowdkit.__version__}))
"""


@dataclass(frozen=True)
class Workload:
    name: str
    classes: list[str]
    items: int
    workforce: SimulatedWorkforce
    priors: list[float]


def base_workload() -> Workload:
    """20 simulated annotators, 4 classes: 6 good, 6 mediocre, 4 random spammers, 4 biased."""
    classes = ["a", "b", "c", "d"]
    accuracy = [0.92, 0.9, 0.88, 0.85, 0.83, 0.8, 0.7, 0.67, 0.64, 0.6, 0.58, 0.55] + [0.25] * 4 + [0.5] * 4
    swaps_b_c = [[0.85, 0.05, 0.05, 0.05], [0.05, 0.25, 0.65, 0.05], [0.05, 0.65, 0.25, 0.05], [0.05, 0.05, 0.05, 0.85]]
    mostly_a = [[0.9, 0.04, 0.03, 0.03], [0.7, 0.2, 0.05, 0.05], [0.7, 0.05, 0.2, 0.05], [0.7, 0.05, 0.05, 0.2]]
    never_d = [[0.8, 0.1, 0.1, 0.0], [0.1, 0.8, 0.1, 0.0], [0.1, 0.1, 0.8, 0.0], [0.3, 0.3, 0.4, 0.0]]
    confusion = {16: swaps_b_c, 17: mostly_a, 18: never_d, 19: mostly_a}
    workforce = SimulatedWorkforce(classes, accuracy, confusion=confusion, seed=SEED)
    return Workload("base", classes, 100_000, workforce, [0.4, 0.3, 0.2, 0.1])


def large_workload(k: int = 20) -> Workload:
    """50 simulated annotators, 20 classes, 1M votes: 20 good, 16 mediocre, 8 random spammers,
    3 who confuse each class with the next one, 3 who answer the first class half of the time."""
    classes = [f"c{i:02d}" for i in range(k)]
    accuracy = list(np.linspace(0.9, 0.75, 20)) + list(np.linspace(0.6, 0.4, 16)) + [1 / k] * 8 + [0.5] * 6
    eye = np.eye(k)
    neighbour = 0.45 * eye + 0.45 * np.roll(eye, 1, axis=1) + 0.1 / k
    first = 0.4 * eye + 0.1 / k
    first[:, 0] += 0.5
    confusion = {w: (neighbour if w < 47 else first).tolist() for w in range(44, 50)}
    workforce = SimulatedWorkforce(classes, accuracy, confusion=confusion, seed=SEED + 1)
    priors = np.linspace(2, 1, k)
    return Workload("1m", classes, 200_000, workforce, list(priors / priors.sum()))


def simulate(workload: Workload) -> tuple[pd.DataFrame, pd.Series]:
    rng = np.random.default_rng(SEED)
    truth = pd.Series(rng.choice(workload.classes, size=workload.items, p=workload.priors),
                      index=[f"item-{i:06d}" for i in range(workload.items)], name="truth")
    items = pd.DataFrame({"task": truth.index, "truth": truth.to_numpy()})
    return workload.workforce.annotate(items, votes_per_item=VOTES_PER_ITEM), truth


def crowdkit_python() -> Path:
    """The benchmark's own environment with crowd-kit, created (or refreshed) when needed."""
    venv = Path(os.environ.get("BENCH_CROWDKIT_VENV", PROJECT / "var" / "bench-crowdkit-venv"))
    python = venv / "bin" / "python"
    stamp = venv / ".requirements-sha256"
    wanted = hashlib.sha256(REQUIREMENTS.read_bytes()).hexdigest()
    if python.exists() and stamp.exists() and stamp.read_text() == wanted:
        return python
    print(f"creating {venv} with {REQUIREMENTS.name} ...", flush=True)
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
    uv = shutil.which("uv", path=str(Path(sys.executable).parent)) or shutil.which("uv")
    install = ([uv, "pip", "install", "--quiet", "--python", str(python)] if uv
               else [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"])
    subprocess.run([*install, "-r", str(REQUIREMENTS)], check=True)
    stamp.write_text(wanted)
    return python


def time_ours(classes: list[str], votes: pd.DataFrame, repeat: int = 3) -> tuple[float, DawidSkene]:
    times, model = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        model = DawidSkene(classes, n_iter=N_ITER).fit(votes)
        times.append(time.perf_counter() - start)
    assert model is not None
    return statistics.median(times), model


def compare(workload: Workload, python: Path) -> dict[str, Any]:
    """Both sides on one workload's votes; fails unless their results agree."""
    votes, truth = simulate(workload)
    print(f"{workload.name}: simulated workforce, {workload.items} items x {VOTES_PER_ITEM} votes = {len(votes)} "
          f"votes, {len(workload.classes)} classes, {votes['worker'].nunique()} annotators", flush=True)
    with tempfile.TemporaryDirectory(prefix="bench-consolidation-") as tmp:
        data, out = Path(tmp) / "votes.parquet", Path(tmp) / "crowdkit-labels.parquet"
        votes.to_parquet(data, index=False)
        votes = pd.read_parquet(data)  # both sides consolidate what was read back from the same file

        ours_seconds, ours = time_ours(workload.classes, votes)
        majority_times = []
        for _ in range(3):
            start = time.perf_counter()
            majority = MajorityVote(workload.classes).fit(votes)
            majority_times.append(time.perf_counter() - start)
        majority_seconds = statistics.median(majority_times)

        run = subprocess.run([str(python), "-c", CROWDKIT_RUN, str(data), str(out), str(N_ITER), str(CROWDKIT_TOL)],
                             capture_output=True, text=True)
        if run.returncode != 0:
            raise SystemExit(f"crowd-kit run failed:\n{run.stderr[-3000:]}")
        crowdkit = json.loads(run.stdout.strip().splitlines()[-1])
        theirs = pd.read_parquet(out).set_index("task")

    def accuracy(labels: pd.Series) -> float:
        return float((labels.reindex(truth.index) == truth).mean())

    def agreement(a: pd.Series, b: pd.Series) -> float:
        return float((a.reindex(truth.index) == b.reindex(truth.index)).mean())

    ds_agreement = agreement(ours.labels_, theirs["ds"])
    top = majority.probas_.to_numpy()
    untied = majority.probas_.index[(top == top.max(axis=1, keepdims=True)).sum(axis=1) == 1]
    differ = int((majority.labels_.reindex(untied) != theirs["mv"].reindex(untied)).sum())
    if differ:
        raise SystemExit(f"{workload.name}: majority vote labels differ from crowd-kit's on {differ} of the "
                         f"{len(untied)} items without a tie")
    if ds_agreement < MIN_DS_AGREEMENT:
        raise SystemExit(f"{workload.name}: Dawid-Skene labels agree with crowd-kit's on only {ds_agreement:.4%} "
                         f"of the items (at least {MIN_DS_AGREEMENT:.0%} expected)")
    result = {
        "accuracy": accuracy(ours.labels_), "accuracy_crowdkit": accuracy(theirs["ds"]),
        "accuracy_majority": accuracy(majority.labels_), "accuracy_majority_crowdkit": accuracy(theirs["mv"]),
        "seconds": ours_seconds, "seconds_crowdkit": crowdkit["seconds"],
        "majority_seconds": majority_seconds, "majority_seconds_crowdkit": crowdkit["majority_seconds"],
        "speedup": crowdkit["seconds"] / ours_seconds,
        "speedup_majority": crowdkit["majority_seconds"] / majority_seconds,
    }
    print(f"{workload.name}: project Dawid-Skene: accuracy {result['accuracy']:.4f}, {ours_seconds:.3f}s "
          f"(median of 3), {ours.n_iter_} iterations, converged={ours.converged_}")
    print(f"{workload.name}: crowd-kit {crowdkit['version']} DawidSkene: accuracy {result['accuracy_crowdkit']:.4f}, "
          f"{crowdkit['seconds']:.3f}s, {crowdkit['iterations']} iterations")
    print(f"{workload.name}: majority vote: accuracy {result['accuracy_majority']:.4f}, {majority_seconds:.3f}s "
          f"(median of 3); crowd-kit's {result['accuracy_majority_crowdkit']:.4f}, "
          f"{crowdkit['majority_seconds']:.3f}s; labels identical on the {len(untied) / len(top):.1%} of items "
          "without a tie")
    print(f"{workload.name}: Dawid-Skene labels identical to crowd-kit's on {ds_agreement:.4%} of items; "
          f"speed-up {result['speedup']:.1f}x (majority vote {result['speedup_majority']:.1f}x)", flush=True)
    return result


def main() -> None:
    python = crowdkit_python()
    base = compare(base_workload(), python)
    large = compare(large_workload(), python)
    print(json.dumps({
        "benchmark": "consolidation",
        "accuracy": round(base["accuracy"], 4), "accuracy_crowdkit": round(base["accuracy_crowdkit"], 4),
        "accuracy_majority": round(base["accuracy_majority"], 4), "speedup_vs_crowdkit": round(base["speedup"], 1),
        "accuracy_1m": round(large["accuracy"], 4), "accuracy_crowdkit_1m": round(large["accuracy_crowdkit"], 4),
        "accuracy_majority_1m": round(large["accuracy_majority"], 4),
        "accuracy_majority_crowdkit_1m": round(large["accuracy_majority_crowdkit"], 4),
        "speedup_vs_crowdkit_1m": round(large["speedup"], 1),
        "speedup_vs_crowdkit_majority_1m": round(large["speedup_majority"], 1),
    }))


if __name__ == "__main__":
    main()
