package dm.examples.flink;

import java.util.HashMap;
import java.util.Map;

/**
 * {@code --key value} program arguments. Flink's ParameterTool moved packages between 1.20 and 2.0;
 * this keeps the examples buildable against both.
 */
final class Args {
    private final Map<String, String> values = new HashMap<>();

    Args(String[] args) {
        for (int i = 0; i < args.length; i++) {
            if (!args[i].startsWith("--")) {
                throw new IllegalArgumentException("expected --key value, got " + args[i]);
            }
            String key = args[i].substring(2);
            if (i + 1 >= args.length) {
                throw new IllegalArgumentException("--" + key + " needs a value");
            }
            values.put(key, args[++i]);
        }
    }

    String get(String key, String dflt) {
        return values.getOrDefault(key, dflt);
    }
}
