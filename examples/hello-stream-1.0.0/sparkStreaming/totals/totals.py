"""A tiny Spark Structured Streaming job: running count of a rate source, printed to the console."""
from pyspark.sql import SparkSession

spark = SparkSession.builder.appName("hello-stream-totals").getOrCreate()
counts = spark.readStream.format("rate").option("rowsPerSecond", 5).load().groupBy().count()
counts.writeStream.outputMode("complete").format("console").start().awaitTermination()
