"""A bounded PyFlink job for dm's tests: counts the words of built-in lines (or of --text) with
the Table API in batch mode, prints the counts and finishes. Written for dm.

Run as Flink runs a Python job on YARN in application mode:
  flink run -t yarn-application -Dyarn.ship-files=word_count.py -pyfs word_count.py \
    -pym word_count -pyexec PYTHON -pyclientexec PYTHON [--text "some words"]
"""
import argparse

from pyflink.table import EnvironmentSettings, TableEnvironment
from pyflink.table.expressions import col


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--text", default="to be or not to be that is the question")
    args, _ = parser.parse_known_args()
    env = TableEnvironment.create(EnvironmentSettings.in_batch_mode())
    words = env.from_elements([(w,) for w in args.text.lower().split()], ["word"])
    counts = words.group_by(col("word")).select(col("word"), col("word").count.alias("n"))
    counts.execute().print()


if __name__ == "__main__":
    main()
