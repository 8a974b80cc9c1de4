package dm.examples.flink;

import java.util.Arrays;

import org.apache.flink.api.common.RuntimeExecutionMode;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.api.java.tuple.Tuple2;
import org.apache.flink.streaming.api.datastream.DataStream;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.streaming.api.functions.sink.PrintSink;

/**
 * A bounded job for dm's tests: counts the words of a few built-in lines in BATCH mode, prints
 * the counts and finishes. Arguments: {@code --name NAME} (default "dm-example-batch").
 */
public final class BatchJob {
    private static final String[] LINES = {
        "a deployment manager puts jobs on yarn",
        "jobs stage files on hdfs and yarn runs the jobs",
        "history servers remember the jobs that ran",
    };

    public static void main(String[] args) throws Exception {
        Args params = new Args(args);
        StreamExecutionEnvironment env = StreamExecutionEnvironment.getExecutionEnvironment();
        env.setRuntimeMode(RuntimeExecutionMode.BATCH);
        DataStream<Tuple2<String, Long>> counts = env.fromData(Arrays.asList(LINES))
                .flatMap((String line, org.apache.flink.util.Collector<Tuple2<String, Long>> out) -> {
                    for (String w : line.split("\\s+")) {
                        out.collect(Tuple2.of(w, 1L));
                    }
                })
                .returns(Types.TUPLE(Types.STRING, Types.LONG))
                .keyBy(t -> t.f0)
                .sum(1);
        counts.sinkTo(new PrintSink<>());
        env.execute(params.get("name", "dm-example-batch"));
    }
}
