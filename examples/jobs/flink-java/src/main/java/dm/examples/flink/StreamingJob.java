package dm.examples.flink;

import org.apache.flink.api.common.eventtime.WatermarkStrategy;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.api.connector.source.util.ratelimit.RateLimiterStrategy;
import org.apache.flink.api.java.tuple.Tuple2;
import org.apache.flink.connector.datagen.source.DataGeneratorSource;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.streaming.api.functions.sink.PrintSink;

/**
 * An unbounded job for dm's tests: generates {@code --rate} events per second forever, counts them
 * per key (keyed state, so savepoints carry something), prints the running counts.
 *
 * <p>Arguments: {@code --name NAME} (job name, default "dm-example-stream"), {@code --rate N}
 * (default 10), {@code --keys N} (default 4), {@code --checkpoint-ms N} (default 10000, 0 = off),
 * {@code --fail-on-start true} (throws before building the job: a version that never comes up).
 * Uses only APIs present in both Flink 1.20 and 2.x, so one source builds for either.
 */
public final class StreamingJob {
    public static void main(String[] args) throws Exception {
        Args params = new Args(args);
        String name = params.get("name", "dm-example-stream");
        double rate = Double.parseDouble(params.get("rate", "10"));
        int keys = Integer.parseInt(params.get("keys", "4"));
        long checkpointMs = Long.parseLong(params.get("checkpoint-ms", "10000"));
        if (Boolean.parseBoolean(params.get("fail-on-start", "false"))) {
            throw new IllegalStateException("asked to fail at start (--fail-on-start true)");
        }

        StreamExecutionEnvironment env = StreamExecutionEnvironment.getExecutionEnvironment();
        if (checkpointMs > 0) {
            env.enableCheckpointing(checkpointMs);
        }
        DataGeneratorSource<Long> source = new DataGeneratorSource<>(
                i -> i, Long.MAX_VALUE, RateLimiterStrategy.perSecond(rate), Types.LONG);
        env.fromSource(source, WatermarkStrategy.noWatermarks(), "sequence")
                .uid("sequence")
                .map(i -> Tuple2.of("key-" + (i % keys), 1L))
                .returns(Types.TUPLE(Types.STRING, Types.LONG))
                .keyBy(t -> t.f0)
                .sum(1)
                .uid("count-per-key")
                .sinkTo(new PrintSink<>())
                .uid("print");
        env.execute(name);
    }
}
