"""Ingest: Kafka topics or the sidecar's spool -> Parquet partitioned by event date and hour."""
