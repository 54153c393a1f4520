"""Online and offline features: feature tables, the generated Feast repository, materialization,
freshness checks and point-in-time training sets."""
