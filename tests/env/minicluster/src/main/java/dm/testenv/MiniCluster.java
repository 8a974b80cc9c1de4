package dm.testenv;

import java.io.File;
import java.io.FileOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.List;
import java.util.Map;

import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.permission.FsPermission;
import org.apache.hadoop.hdfs.DFSConfigKeys;
import org.apache.hadoop.hdfs.MiniDFSCluster;
import org.apache.hadoop.yarn.conf.YarnConfiguration;
import org.apache.hadoop.yarn.server.MiniYARNCluster;

/**
 * One NameNode + DataNode and one ResourceManager + NodeManager in this JVM, on 127.0.0.1 only.
 *
 * <p>Usage: {@code MiniCluster <state dir> <HADOOP_CONF_DIR to write> <yarn.application.classpath>}.
 * Ports come from system properties (defaults are Hadoop's usual ones). When everything is up it
 * writes the client configuration and then {@code <state dir>/ready}; it stops both clusters on
 * SIGTERM.
 */
public final class MiniCluster {
    private static int port(String name, int dflt) {
        return Integer.getInteger("dm.port." + name, dflt);
    }

    public static void main(String[] args) {
        try {
            run(args);
        } catch (Throwable t) {
            // Non-daemon Hadoop threads would keep a half-started JVM alive: exit for real.
            t.printStackTrace();
            System.exit(1);
        }
    }

    private static void run(String[] args) throws Exception {
        if (args.length != 3) {
            System.err.println("usage: MiniCluster <state dir> <conf dir> <yarn.application.classpath>");
            System.exit(2);
        }
        File state = new File(args[0]).getAbsoluteFile();
        File confDir = new File(args[1]).getAbsoluteFile();
        String appClasspath = args[2];
        Files.deleteIfExists(new File(state, "ready").toPath());

        int nnRpc = port("nn.rpc", 8020);
        int nnHttp = port("nn.http", 9870);
        int rm = port("rm", 8032);
        int rmScheduler = port("rm.scheduler", 8030);
        int rmTracker = port("rm.tracker", 8031);
        int rmAdmin = port("rm.admin", 8033);
        int rmWeb = port("rm.web", 8088);
        int nmMemoryMb = port("nm.memory.mb", 16384);
        String host = "127.0.0.1";

        Configuration conf = new Configuration();
        // --- HDFS ---
        conf.set(MiniDFSCluster.HDFS_MINIDFS_BASEDIR, new File(state, "dfs").getPath());
        conf.set("dfs.namenode.rpc-bind-host", host);
        conf.set("dfs.namenode.http-address", host + ":" + nnHttp);
        conf.set("dfs.datanode.address", host + ":0");
        conf.set("dfs.datanode.http.address", host + ":0");
        conf.set("dfs.datanode.ipc.address", host + ":0");
        conf.setInt("dfs.replication", 1);
        // Tests and jobs all run as the local user; HDFS permissions would only get in the way.
        conf.setBoolean("dfs.permissions.enabled", false);
        conf.set("hadoop.proxyuser." + System.getProperty("user.name") + ".hosts", "*");
        conf.set("hadoop.proxyuser." + System.getProperty("user.name") + ".groups", "*");

        MiniDFSCluster dfs = new MiniDFSCluster.Builder(conf)
                .nameNodePort(nnRpc)
                .nameNodeHttpPort(nnHttp)
                .numDataNodes(1)
                .format(true)
                .build();
        dfs.waitActive();
        String defaultFs = "hdfs://" + host + ":" + dfs.getNameNodePort();
        conf.set("fs.defaultFS", defaultFs);

        // Folders the history servers and job clients expect; open to all (permissions are off anyway).
        FileSystem fs = dfs.getFileSystem();
        List<String> dirs = new java.util.ArrayList<>(List.of("/tmp", "/user",
                "/user/" + System.getProperty("user.name"), "/spark-events", "/flink", "/tmp/logs"));
        // More from tests/env/up (e.g. each Flink version's archive dir, which its HistoryServer polls).
        for (String d : System.getProperty("dm.hdfs.mkdirs", "").split(",")) {
            if (!d.isBlank()) {
                dirs.add(d.trim());
            }
        }
        for (String dir : dirs) {
            fs.mkdirs(new org.apache.hadoop.fs.Path(dir), new FsPermission((short) 01777));
        }

        // --- YARN ---
        YarnConfiguration yconf = new YarnConfiguration(conf);
        yconf.setBoolean(YarnConfiguration.YARN_MINICLUSTER_FIXED_PORTS, true);
        yconf.setBoolean(YarnConfiguration.YARN_MINICLUSTER_USE_RPC, true);
        yconf.set(YarnConfiguration.RM_HOSTNAME, host);
        yconf.set(YarnConfiguration.RM_BIND_HOST, host);
        yconf.set(YarnConfiguration.RM_ADDRESS, host + ":" + rm);
        yconf.set(YarnConfiguration.RM_SCHEDULER_ADDRESS, host + ":" + rmScheduler);
        yconf.set(YarnConfiguration.RM_RESOURCE_TRACKER_ADDRESS, host + ":" + rmTracker);
        yconf.set(YarnConfiguration.RM_ADMIN_ADDRESS, host + ":" + rmAdmin);
        yconf.set(YarnConfiguration.RM_WEBAPP_ADDRESS, host + ":" + rmWeb);
        yconf.set(YarnConfiguration.NM_BIND_HOST, host);
        yconf.set(YarnConfiguration.NM_ADDRESS, host + ":0");
        yconf.set(YarnConfiguration.NM_LOCALIZER_ADDRESS, host + ":0");
        yconf.set(YarnConfiguration.NM_WEBAPP_ADDRESS, host + ":0");
        yconf.set(YarnConfiguration.NM_COLLECTOR_SERVICE_ADDRESS, host + ":0");
        // Room for a Flink JM + TM and a Spark driver + executor at once. 2 real cores only, so
        // vcores are advertised generously and not enforced (the default resource calculator
        // schedules on memory only).
        yconf.setInt(YarnConfiguration.YARN_MINICLUSTER_NM_PMEM_MB, nmMemoryMb);
        yconf.setInt(YarnConfiguration.NM_PMEM_MB, nmMemoryMb);
        yconf.setInt(YarnConfiguration.NM_VCORES, 16);
        yconf.setInt(YarnConfiguration.RM_SCHEDULER_MINIMUM_ALLOCATION_MB, 256);
        yconf.setInt(YarnConfiguration.RM_SCHEDULER_MAXIMUM_ALLOCATION_MB, 8192);
        yconf.setInt(YarnConfiguration.RM_SCHEDULER_MAXIMUM_ALLOCATION_VCORES, 16);
        yconf.setBoolean(YarnConfiguration.NM_PMEM_CHECK_ENABLED, false);
        yconf.setBoolean(YarnConfiguration.NM_VMEM_CHECK_ENABLED, false);
        yconf.setFloat(YarnConfiguration.NM_MAX_PER_DISK_UTILIZATION_PERCENTAGE, 99.5f);
        // No capacity-scheduler.xml on the classpath: one queue, all of the cluster.
        yconf.set("yarn.scheduler.capacity.root.queues", "default");
        yconf.setFloat("yarn.scheduler.capacity.root.default.capacity", 100f);
        yconf.setFloat("yarn.scheduler.capacity.root.default.maximum-capacity", 100f);
        // Capacity scheduler's default caps AMs at 10% of the cluster; two apps' AMs must fit.
        yconf.setFloat("yarn.scheduler.capacity.maximum-am-resource-percent", 0.8f);
        // Containers find Hadoop's client classes here (Flink's JM and TMs need them; the NM is
        // local). tests/env/up puts HADOOP_CONF_DIR first so that Flink's JM reads this very list
        // from yarn-site.xml when it builds its TaskManagers' classpath.
        // Container logs: <state>/test-data/dm-testenv/yarn-*/dm-testenv-logDir-nm-0_0/<app>/<container>/
        yconf.set(YarnConfiguration.YARN_APPLICATION_CLASSPATH, appClasspath);
        // Keep finished containers' logs on the NM (no aggregation) so tests can read them.
        yconf.setBoolean(YarnConfiguration.LOG_AGGREGATION_ENABLED, false);
        yconf.setLong(YarnConfiguration.DEBUG_NM_DELETE_DELAY_SEC, 3600);
        yconf.setInt(YarnConfiguration.RM_AM_MAX_ATTEMPTS, 2);
        // A killed app's containers get SIGTERM and this long to exit cleanly before SIGKILL, so a
        // Spark driver's shutdown hook can close its event log (history server: completed).
        yconf.setLong(YarnConfiguration.NM_SLEEP_DELAY_BEFORE_SIGKILL_MS, 5000);

        // The PATH of every container (tests/env/up: target/testenv/bin, with its `hadoop`, then
        // up's own PATH). Admin env is set by the NodeManager whatever the app asks for (YARN
        // appends it to a PATH the app sets).
        String nmPath = System.getProperty("dm.nm.path");
        if (nmPath != null && !nmPath.isBlank()) {
            yconf.set(YarnConfiguration.NM_ADMIN_USER_ENV, "MALLOC_ARENA_MAX=$MALLOC_ARENA_MAX,PATH=" + nmPath);
        }

        MiniYARNCluster yarn = new MiniYARNCluster("dm-testenv", 1, 1, 1);
        yarn.init(yconf);
        yarn.start();
        if (!yarn.waitForNodeManagersToConnect(60_000)) {
            throw new IllegalStateException("NodeManager did not register with the ResourceManager in 60 s");
        }
        Configuration live = yarn.getConfig();

        // --- client configuration ---
        Files.createDirectories(confDir.toPath());
        Configuration core = new Configuration(false);
        core.set("fs.defaultFS", defaultFs);
        core.set("hadoop.security.authentication", "simple");
        writeXml(core, new File(confDir, "core-site.xml"));
        Configuration hdfs = new Configuration(false);
        hdfs.set("dfs.replication", "1");
        hdfs.set("dfs.permissions.enabled", "false");
        // Fail fast rather than retry for minutes when the NameNode is gone.
        hdfs.set("dfs.client.failover.max.attempts", "2");
        writeXml(hdfs, new File(confDir, "hdfs-site.xml"));
        Configuration ysite = new Configuration(false);
        for (Map.Entry<String, String> e : live) {
            if (e.getKey().startsWith("yarn.")) {
                ysite.set(e.getKey(), live.get(e.getKey()));
            }
        }
        ysite.set(YarnConfiguration.RM_HOSTNAME, host);
        ysite.set(YarnConfiguration.RM_ADDRESS, live.get(YarnConfiguration.RM_ADDRESS));
        ysite.set(YarnConfiguration.RM_SCHEDULER_ADDRESS, live.get(YarnConfiguration.RM_SCHEDULER_ADDRESS));
        ysite.set(YarnConfiguration.RM_WEBAPP_ADDRESS, live.get(YarnConfiguration.RM_WEBAPP_ADDRESS));
        // A client that cannot reach the RM should say so within seconds, not minutes.
        ysite.setInt("yarn.resourcemanager.connect.max-wait.ms", 30_000);
        writeXml(ysite, new File(confDir, "yarn-site.xml"));

        String props = "fs.defaultFS=" + defaultFs + "\n"
                + "namenode.http=http://" + host + ":" + nnHttp + "\n"
                + "rm.address=" + live.get(YarnConfiguration.RM_ADDRESS) + "\n"
                + "rm.webapp=http://" + live.get(YarnConfiguration.RM_WEBAPP_ADDRESS) + "\n";
        Path tmp = new File(state, "ready.tmp").toPath();
        Files.writeString(tmp, props, StandardCharsets.UTF_8);
        Files.move(tmp, new File(state, "ready").toPath(), StandardCopyOption.ATOMIC_MOVE);
        System.out.println("READY " + props.replace('\n', ' '));

        // On SIGTERM: stop YARN (which stops its containers) and HDFS, but give it 8 s at most;
        // the NodeManager alone would wait ~20 s for finished apps. State is formatted anew by the
        // next up, and tests/env/down kills any container left behind.
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            System.out.println("stopping YARN and HDFS");
            Thread stopper = new Thread(() -> {
                try {
                    yarn.stop();
                } catch (Throwable t) {
                    t.printStackTrace();
                }
                try {
                    dfs.shutdown();
                } catch (Throwable t) {
                    t.printStackTrace();
                }
            });
            stopper.setDaemon(true);
            stopper.start();
            try {
                stopper.join(8_000);
            } catch (InterruptedException ignored) {
                // fall through to halt
            }
            new File(state, "ready").delete();
            System.out.println(stopper.isAlive() ? "stop took over 8 s: halting" : "stopped");
            System.out.flush();
            Runtime.getRuntime().halt(0);
        }));
        Thread.currentThread().join();
    }

    private static void writeXml(Configuration c, File f) throws IOException {
        try (OutputStream out = new FileOutputStream(f)) {
            c.writeXml(out);
        }
    }
}
