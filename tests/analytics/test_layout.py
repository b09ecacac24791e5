"""Which input files the pipeline reads as compacted (pipeline/layout.py)."""

from __future__ import annotations

from splitline.analytics.pipeline.layout import split_compacted


def test_only_a_lone_compacted_file_is_trusted() -> None:
    files = [
        "/d/outcomes/date=2026-01-01/hour=00/compacted-000001.parquet",  # alone: trusted
        "/d/outcomes/date=2026-01-01/hour=01/compacted-000002.parquet",  # beside a later batch
        "/d/outcomes/date=2026-01-01/hour=01/part-b9.parquet",
        "/d/outcomes/date=2026-01-01/hour=02/compacted-000001.parquet",  # an interrupted compaction
        "/d/outcomes/date=2026-01-01/hour=02/compacted-000002.parquet",
        "/d/outcomes/date=2026-01-01/hour=03/part-b1.parquet",
        "s3a://bucket/outcomes/date=2026-01-01/hour=04/compacted-000001.parquet",
        "/d/outcomes/date=2026-01-01/hour=05/compacted-000001.parquet.tmp",  # not Parquet: ignored
        "/d/outcomes/date=2026-01-01/hour=00/.part-b2.parquet",  # hidden (as for Spark): ignored
        "/d/outcomes/date=2026-01-01/hour=00/_metadata.parquet",
    ]
    compacted, fresh = split_compacted(files)
    assert compacted == ["/d/outcomes/date=2026-01-01/hour=00/compacted-000001.parquet",
                         "s3a://bucket/outcomes/date=2026-01-01/hour=04/compacted-000001.parquet"]
    assert fresh == sorted(files[1:6])


def test_no_files() -> None:
    assert split_compacted([]) == ([], [])
