"""Spark batch example for dm's tests: counts the words of a text file (or of a few built-in lines
when no input is given), prints the top counts and exits.

Usage: batch_wordcount.py [--name NAME] [INPUT]   (INPUT may be hdfs://… or file://…)
"""
import argparse

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

LINES = [
    "a deployment manager puts jobs on yarn",
    "jobs stage files on hdfs and yarn runs the jobs",
    "history servers remember the jobs that ran",
]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--name", default="dm-example-spark-batch")
    ap.add_argument("input", nargs="?")
    args = ap.parse_args()

    spark = SparkSession.builder.appName(args.name).getOrCreate()
    if args.input:
        lines = spark.read.text(args.input)
    else:
        lines = spark.createDataFrame([(line,) for line in LINES], ["value"])
    words = lines.select(F.explode(F.split("value", r"\s+")).alias("word")).where("word != ''")
    counts = words.groupBy("word").count().orderBy(F.desc("count"), "word")
    for row in counts.limit(20).collect():
        print(f"{row['word']}\t{row['count']}")
    spark.stop()


if __name__ == "__main__":
    main()
