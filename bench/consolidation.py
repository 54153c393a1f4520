"""Consolidation: the project's Dawid-Skene against crowd-kit's DawidSkene on the same votes.

The votes come from the simulated workforce (named as such: known truth, configured annotators):
100,000 items x 5 votes, 4 classes, 20 annotators of mixed quality (good, mediocre, spammers who
answer at random, and biased ones with skewed confusion matrices). They are written to one Parquet
file; both implementations read it back and are timed around `fit` alone. Both run the same EM
(initialised from majority vote, at most 100 iterations) with their own default stopping rule:
crowd-kit stops when its loss gains less than 1e-5 per iteration, the project's DawidSkene when the
evidence lower bound per vote gains less than 1e-6.

crowd-kit pulls heavy dependencies (transformers, a newer pandas) the project does not need, so it
runs in its own virtual environment, created here on first use from bench/requirements-crowdkit.txt
(default var/bench-crowdkit-venv, or $BENCH_CROWDKIT_VENV), in a subprocess that times itself.

Prints accuracies against the simulation's truth and the speed-up; the last line is JSON.
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
from pathlib import Path

import numpy as np
import pandas as pd
from datacentric.labeling.aggregation.dawid_skene import DawidSkene
from datacentric.labeling.aggregation.majority_vote import MajorityVote
from datacentric.labeling.simulated import SimulatedWorkforce

PROJECT = Path(__file__).resolve().parents[1]
REQUIREMENTS = PROJECT / "bench" / "requirements-crowdkit.txt"
CLASSES = ["a", "b", "c", "d"]
ITEMS, VOTES_PER_ITEM, N_ITER, SEED = 100_000, 5, 100, 20261031
CROWDKIT_TOL = 1e-5  # crowd-kit's default

CROWDKIT_RUN = """
import json, sys, time
import pandas as pd
from crowdkit.aggregation import DawidSkene
votes = pd.read_parquet(sys.argv[1])
start = time.perf_counter()
model = DawidSkene(n_iter=int(sys.argv[3]), tol=float(sys.argv[4])).fit(votes)
seconds = time.perf_counter() - start
model.labels_.rename("label").rename_axis("task").reset_index().to_parquet(sys.argv[2], index=False)
import crowdkit
print(json.dumps({"seconds": seconds, "iterations": len(model.loss_history_), "version": crowdkit.__version__}))
"""


def workforce() -> SimulatedWorkforce:
    """20 simulated annotators: 6 good, 6 mediocre, 4 random spammers, 4 biased."""
    accuracy = [0.92, 0.9, 0.88, 0.85, 0.83, 0.8, 0.7, 0.67, 0.64, 0.6, 0.58, 0.55] + [0.25] * 4 + [0.5] * 4
    swaps_b_c = [[0.85, 0.05, 0.05, 0.05], [0.05, 0.25, 0.65, 0.05], [0.05, 0.65, 0.25, 0.05], [0.05, 0.05, 0.05, 0.85]]
    mostly_a = [[0.9, 0.04, 0.03, 0.03], [0.7, 0.2, 0.05, 0.05], [0.7, 0.05, 0.2, 0.05], [0.7, 0.05, 0.05, 0.2]]
    never_d = [[0.8, 0.1, 0.1, 0.0], [0.1, 0.8, 0.1, 0.0], [0.1, 0.1, 0.8, 0.0], [0.3, 0.3, 0.4, 0.0]]
    confusion = {16: swaps_b_c, 17: mostly_a, 18: never_d, 19: mostly_a}
    return SimulatedWorkforce(CLASSES, accuracy, confusion=confusion, seed=SEED)


def simulate() -> tuple[pd.DataFrame, pd.Series]:
    rng = np.random.default_rng(SEED)
    truth = pd.Series(rng.choice(CLASSES, size=ITEMS, p=[0.4, 0.3, 0.2, 0.1]),
                      index=[f"item-{i:06d}" for i in range(ITEMS)], name="truth")
    items = pd.DataFrame({"task": truth.index, "truth": truth.to_numpy()})
    return workforce().annotate(items, votes_per_item=VOTES_PER_ITEM), truth


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


def time_ours(votes: pd.DataFrame, repeat: int = 3) -> tuple[float, DawidSkene]:
    times, model = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        model = DawidSkene(CLASSES, n_iter=N_ITER).fit(votes)
        times.append(time.perf_counter() - start)
    assert model is not None
    return statistics.median(times), model


def main() -> None:
    python = crowdkit_python()
    votes, truth = simulate()
    print(f"simulated workforce: {ITEMS} items x {VOTES_PER_ITEM} votes = {len(votes)} votes, "
          f"{len(CLASSES)} classes, {votes['worker'].nunique()} annotators", flush=True)
    with tempfile.TemporaryDirectory(prefix="bench-consolidation-") as tmp:
        data, out = Path(tmp) / "votes.parquet", Path(tmp) / "crowdkit-labels.parquet"
        votes.to_parquet(data, index=False)
        votes = pd.read_parquet(data)  # both sides consolidate what was read back from the same file

        ours_seconds, ours = time_ours(votes)
        start = time.perf_counter()
        majority = MajorityVote(CLASSES).fit(votes)
        majority_seconds = time.perf_counter() - start

        run = subprocess.run([str(python), "-c", CROWDKIT_RUN, str(data), str(out), str(N_ITER), str(CROWDKIT_TOL)],
                             capture_output=True, text=True)
        if run.returncode != 0:
            raise SystemExit(f"crowd-kit run failed:\n{run.stderr[-3000:]}")
        crowdkit = json.loads(run.stdout.strip().splitlines()[-1])
        crowdkit_labels = pd.read_parquet(out).set_index("task")["label"]

    def accuracy(labels: pd.Series) -> float:
        return float((labels.reindex(truth.index) == truth).mean())

    acc, acc_ck, acc_mv = accuracy(ours.labels_), accuracy(crowdkit_labels), accuracy(majority.labels_)
    agreement = float((ours.labels_.reindex(truth.index) == crowdkit_labels.reindex(truth.index)).mean())
    speedup = crowdkit["seconds"] / ours_seconds
    print(f"project Dawid-Skene: accuracy {acc:.4f}, {ours_seconds:.3f}s (median of 3), "
          f"{ours.n_iter_} iterations, converged={ours.converged_}")
    print(f"crowd-kit {crowdkit['version']} DawidSkene: accuracy {acc_ck:.4f}, {crowdkit['seconds']:.3f}s, "
          f"{crowdkit['iterations']} iterations")
    print(f"majority vote: accuracy {acc_mv:.4f}, {majority_seconds:.3f}s")
    print(f"labels identical to crowd-kit's on {agreement:.4%} of items; speed-up {speedup:.1f}x")
    print(json.dumps({"benchmark": "consolidation", "accuracy": round(acc, 4), "accuracy_crowdkit": round(acc_ck, 4),
                      "accuracy_majority": round(acc_mv, 4), "speedup_vs_crowdkit": round(speedup, 1)}))


if __name__ == "__main__":
    main()
