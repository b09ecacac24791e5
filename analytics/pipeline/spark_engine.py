"""The scale-out engine: Spark (local mode in tests, any cluster in production).

Same stages and parameter tables as DuckDB; SQLGlot writes the Spark dialect.
Stages become cached temp views so each heavy one is computed once. The
session runs in UTC so that `CAST(ts AS DATE)` cuts days where DuckDB does.
"""

from __future__ import annotations

from typing import Any, Final

import pyarrow as pa
from splitline.analytics.pipeline.layout import split_compacted
from splitline.analytics.pipeline.schema import EXPOSURE_SCHEMA, OUTCOME_SCHEMA
from splitline.analytics.pipeline.sql import Dialect

_INPUTS: Final = {"exposures": EXPOSURE_SCHEMA, "outcomes": OUTCOME_SCHEMA}
LOCAL_CONF: Final = {
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.shuffle.partitions": "2",
    "spark.ui.enabled": "false",
    "spark.sql.execution.arrow.pyspark.enabled": "true",
    "spark.driver.memory": "2g",
    "spark.ui.showConsoleProgress": "false",
    "spark.driver.bindAddress": "127.0.0.1",
    "spark.driver.host": "127.0.0.1",
}
# For tiny inputs (tests): planning and code generation dominate, so skip what only pays off at scale.
SMALL_DATA_CONF: Final = {
    "spark.sql.shuffle.partitions": "1",
    "spark.default.parallelism": "1",
    "spark.sql.adaptive.enabled": "false",
    "spark.sql.codegen.wholeStage": "false",
    "spark.driver.extraJavaOptions": "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC",
}


def local_session(app_name: str = "splitline-metrics", master: str = "local[2]",
                  extra_conf: dict[str, str] | None = None) -> Any:
    """A local SparkSession configured as the pipeline expects (pyspark imported here: it is heavy)."""
    from pyspark.sql import SparkSession

    builder = SparkSession.builder.appName(app_name).master(master)
    for key, value in {**LOCAL_CONF, **(extra_conf or {})}.items():
        builder = builder.config(key, value)
    session = builder.getOrCreate()
    session.sparkContext.setLogLevel("ERROR")
    return session


class SparkEngine:
    """Runs the pipeline's stages on a SparkSession (UTC session time zone is enforced)."""

    dialect: Dialect = "spark"

    def __init__(self, session: Any) -> None:
        self.spark = session
        self.spark.conf.set("spark.sql.session.timeZone", "UTC")
        self._cached: list[Any] = []

    def bind_parquet(self, data_dir: str) -> None:
        """`exposures` and `outcomes` from `<data_dir>/{exposures,outcomes}` (any path Spark reads).

        Each view adds `ts_us` and `compacted` (true for rows of a compacted
        partition, which the pipeline does not deduplicate again: layout.py).
        """
        for name, schema in _INPUTS.items():
            parts = []
            for compacted, files in zip((True, False), split_compacted(self._list_files(f"{data_dir}/{name}")),
                                        strict=True):
                if files:
                    view = f"_raw_{name}_{'compacted' if compacted else 'fresh'}"
                    self.spark.read.parquet(*files).createOrReplaceTempView(view)
                    parts.append((view, compacted))
            if not parts:
                self.spark.createDataFrame(schema.empty_table()).createOrReplaceTempView(f"_raw_{name}_empty")
                parts.append((f"_raw_{name}_empty", False))
            # Columns by name, so files written with another column order still line up in the union.
            columns = ", ".join(c for c in schema.names if c != "ts")
            self.spark.sql(" UNION ALL ".join(
                f"SELECT {columns}, CAST(ts AS TIMESTAMP) AS ts, unix_micros(CAST(ts AS TIMESTAMP)) AS ts_us, "
                f"{str(compacted).upper()} AS compacted FROM {view}" for view, compacted in parts
            )).createOrReplaceTempView(name)

    def _list_files(self, folder: str) -> list[str]:
        """Every file under `folder`, recursively, through Hadoop's FileSystem (local, HDFS, S3…);
        `split_compacted` keeps the data files."""
        jvm = self.spark.sparkContext._jvm
        path = jvm.org.apache.hadoop.fs.Path(folder)
        fs = path.getFileSystem(self.spark.sparkContext._jsc.hadoopConfiguration())
        if not fs.exists(path):
            return []
        found = []
        files = fs.listFiles(path, True)
        while files.hasNext():
            found.append(str(files.next().getPath().toString()))
        return found

    def register(self, name: str, table: pa.Table) -> None:
        self.spark.createDataFrame(table).createOrReplaceTempView(name)

    def materialize(self, name: str, query: str) -> None:
        frame = self.spark.sql(query).cache()
        frame.count()
        self._cached.append(frame)
        frame.createOrReplaceTempView(name)

    def query(self, query: str) -> pa.Table:
        return self.spark.sql(query).toArrow()

    def close(self) -> None:
        for frame in self._cached:
            frame.unpersist()
        self._cached.clear()
