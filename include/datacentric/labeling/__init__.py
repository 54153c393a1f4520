"""Labeling: select items, run a labeling round on a backend, consolidate the workers' votes.

Votes everywhere are a long table with the columns task (the item id), worker and label, the layout
crowd-kit uses, so consolidation algorithms are interchangeable.
"""
