"""A tiny PyFlink streaming job: counts generated events per key and prints running totals."""
import sys

from pyflink.table import EnvironmentSettings, TableEnvironment


def main(rows_per_second: str) -> None:
    env = TableEnvironment.create(EnvironmentSettings.in_streaming_mode())
    env.execute_sql(f"""
        CREATE TABLE events (k INT) WITH (
            'connector' = 'datagen',
            'rows-per-second' = '{int(rows_per_second)}',
            'fields.k.min' = '1', 'fields.k.max' = '5')""")
    env.execute_sql("CREATE TABLE totals (k INT, n BIGINT) WITH ('connector' = 'print')")
    env.execute_sql("INSERT INTO totals SELECT k, COUNT(*) FROM events GROUP BY k").wait()


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "5")
