"""The metric pipeline: exposure–outcome join -> per-variant sufficient statistics (DuckDB or Spark)."""
