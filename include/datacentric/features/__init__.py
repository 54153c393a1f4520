"""Online and offline features: feature tables, the generated Feast repository, materialization,
freshness checks, reads and point-in-time training sets (`datacentric.features.training`)."""

from datacentric.features.feast_repo import (
    apply,
    apply_features,
    feature_store_config,
    online_store_config,
    redis_connection_string,
    render_feature_repo,
)
from datacentric.features.freshness import check_freshness
from datacentric.features.materialize import materialization_window, materialize, materialize_interval, materialize_run
from datacentric.features.retrieval import read_online, training_set
from datacentric.features.tables import build_feature_table, export_feature_tables, feature_table_bytes

__all__ = [
    "apply", "apply_features", "build_feature_table", "check_freshness", "export_feature_tables",
    "feature_store_config", "feature_table_bytes", "materialization_window", "materialize", "materialize_interval",
    "materialize_run", "online_store_config", "read_online", "redis_connection_string", "render_feature_repo",
    "training_set",
]
