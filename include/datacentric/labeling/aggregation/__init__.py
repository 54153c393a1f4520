"""Vote aggregation: majority vote and Dawid-Skene, one algorithm per module."""

from datacentric.labeling.aggregation.dawid_skene import DawidSkene
from datacentric.labeling.aggregation.majority_vote import MajorityVote

__all__ = ["DawidSkene", "MajorityVote"]
