"""Spark Structured Streaming example for dm's tests: counts a rate source's rows per 10-second
window and prints the counts, until the application is stopped or killed.

Usage: rate_stream.py [--name NAME] [--rate ROWS_PER_SECOND]
"""
import argparse

from pyspark.sql import SparkSession
from pyspark.sql import functions as F


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--name", default="dm-example-spark-stream")
    ap.add_argument("--rate", type=int, default=5)
    args = ap.parse_args()

    spark = SparkSession.builder.appName(args.name).getOrCreate()
    counts = (
        spark.readStream.format("rate").option("rowsPerSecond", args.rate).load()
        .groupBy(F.window("timestamp", "10 seconds"))
        .count()
    )
    query = (
        counts.writeStream.outputMode("complete").format("console")
        .option("truncate", False).trigger(processingTime="5 seconds").start()
    )
    query.awaitTermination()


if __name__ == "__main__":
    main()
