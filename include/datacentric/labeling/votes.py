"""The vote table every backend writes and every consolidation reads: a long table, one row per
answer, with the item (task), the worker and the label, the layout crowd-kit uses."""

from __future__ import annotations

VOTE_COLUMNS = ("task", "worker", "label")
# A response that never became a vote keeps its reason and where it came from.
REJECTED_COLUMNS = (*VOTE_COLUMNS, "reason", "origin")
