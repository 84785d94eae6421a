// The Apache kafka-clients 3.9.1 side of the compat tests: speaks the line
// protocol of compat-tests/harness/data.py.
//
//   java CompatClient metadata BOOTSTRAP
//   java CompatClient create   BOOTSTRAP TOPIC N
//   java CompatClient produce  BOOTSTRAP TOPIC CODEC   < record lines
//   java CompatClient consume  BOOTSTRAP TOPIC
//   java CompatClient group-consume BOOTSTRAP TOPIC GROUP
//     KIP-848 group member (group.protocol=consumer): prints "owned P,P,..."
//     on every assignment change and "record P O" once a record's offset is
//     committed; closing stdin closes the consumer (it leaves the group).
//   java CompatClient group    BOOTSTRAP TOPIC GROUP STRATEGY INSTANCE SESSION_MS
//   java CompatClient failover BOOTSTRAP TOPIC COUNT GROUP   (see Failover.java)
// Admin commands (tests/test_admin.py), each printing one line per fact or
// "error <exception class> <message>":
//   create-with-configs BOOTSTRAP TOPIC N name=value...
//   describe-configs    BOOTSTRAP topic|broker NAME [key...]
//   alter-incremental   BOOTSTRAP topic|broker NAME OP:name[=value]...  (OP: SET DELETE APPEND SUBTRACT)
//   alter-legacy        BOOTSTRAP topic|broker NAME name=value...
//   produce-one         BOOTSTRAP TOPIC VALUE_BYTES [KEYLESS]
//   delete-records      BOOTSTRAP TOPIC PARTITION OFFSET
//   earliest            BOOTSTRAP TOPIC PARTITION
//   log-dirs            BOOTSTRAP
//   delete-topic        BOOTSTRAP TOPIC
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Base64;
import java.util.Collection;
import java.util.TreeSet;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.TreeSet;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.stream.Collectors;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AlterConfigOp;
import org.apache.kafka.clients.admin.Config;
import org.apache.kafka.clients.admin.ConfigEntry;
import org.apache.kafka.clients.admin.DescribeConfigsOptions;
import org.apache.kafka.clients.admin.LogDirDescription;
import org.apache.kafka.clients.admin.OffsetSpec;
import org.apache.kafka.clients.admin.RecordsToDelete;
import org.apache.kafka.clients.admin.ReplicaInfo;
import org.apache.kafka.common.config.ConfigResource;
import java.util.Collection;
import java.util.HashMap;
import java.util.concurrent.ExecutionException;
import org.apache.kafka.clients.admin.DescribeClusterResult;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.admin.TopicDescription;
import org.apache.kafka.clients.consumer.ConsumerRebalanceListener;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.Node;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.TopicPartitionInfo;
import org.apache.kafka.common.KafkaException;
import org.apache.kafka.common.header.Header;
import org.apache.kafka.common.header.internals.RecordHeaders;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;

public class CompatClient {
    static String enc(byte[] b) {
        return b == null ? "~" : "." + Base64.getEncoder().encodeToString(b);
    }

    static byte[] dec(String s) {
        return s.equals("~") ? null : Base64.getDecoder().decode(s.substring(1));
    }

    static Properties props(String bootstrap) {
        Properties p = new Properties();
        p.put("bootstrap.servers", bootstrap);
        p.put("client.id", "compat-java");
        return p;
    }

    static synchronized void out(String line) {
        System.out.println(line);
        System.out.flush();
    }

    // A subscribing group consumer: prints the group lines of
    // compat-tests/clients/__init__.py, commits synchronously after each
    // batch it printed (at-least-once), and closes cleanly (a static member
    // without leaving the group) when stdin reaches EOF.
    static void group(String bootstrap, String topic, String group, String strategy, String instance, String sessionMs)
            throws Exception {
        Properties p = props(bootstrap);
        p.put("group.id", group);
        p.put("session.timeout.ms", sessionMs);
        p.put("heartbeat.interval.ms", "1000");
        p.put("auto.offset.reset", "earliest");
        p.put("enable.auto.commit", "false");
        p.put("partition.assignment.strategy", switch (strategy) {
            case "range" -> "org.apache.kafka.clients.consumer.RangeAssignor";
            case "roundrobin" -> "org.apache.kafka.clients.consumer.RoundRobinAssignor";
            case "cooperative-sticky" -> "org.apache.kafka.clients.consumer.CooperativeStickyAssignor";
            default -> throw new IllegalArgumentException("unknown strategy " + strategy);
        });
        if (!instance.equals("~")) p.put("group.instance.id", instance);
        AtomicBoolean stop = new AtomicBoolean();
        Thread stdin = new Thread(() -> {
            try {
                while (System.in.read() >= 0) { }
            } catch (Exception e) {
                // treat a broken stdin as EOF
            }
            stop.set(true);
        });
        stdin.setDaemon(true);
        stdin.start();
        try (KafkaConsumer<byte[], byte[]> consumer =
                new KafkaConsumer<>(p, new ByteArrayDeserializer(), new ByteArrayDeserializer())) {
            TreeSet<Integer> owned = new TreeSet<>();
            Runnable report = () -> out("assigned " + consumer.groupMetadata().generationId() + " "
                    + (owned.isEmpty() ? "-" : owned.stream().map(String::valueOf).collect(Collectors.joining(","))));
            consumer.subscribe(List.of(topic), new ConsumerRebalanceListener() {
                public void onPartitionsRevoked(Collection<TopicPartition> tps) {
                    tps.forEach(tp -> owned.remove(tp.partition()));
                    report.run();
                }

                public void onPartitionsAssigned(Collection<TopicPartition> tps) {
                    tps.forEach(tp -> owned.add(tp.partition()));
                    report.run();
                }

                public void onPartitionsLost(Collection<TopicPartition> tps) {
                    onPartitionsRevoked(tps);
                }
            });
            while (!stop.get()) {
                ConsumerRecords<byte[], byte[]> records = consumer.poll(Duration.ofMillis(200));
                for (ConsumerRecord<byte[], byte[]> r : records) {
                    out("record " + r.partition() + " " + r.offset() + " " + enc(r.key()));
                }
                if (!records.isEmpty()) {
                    try {
                        consumer.commitSync();
                    } catch (KafkaException e) {  // CommitFailed, RebalanceInProgress: the next poll rejoins
                        out("commit-failed " + e.getClass().getSimpleName());
                    }
                }
            }
        }
        out("closed");
    }

    public static void main(String[] args) throws Exception {
        String cmd = args[0], bootstrap = args[1];
        switch (cmd) {
            case "metadata" -> {
                try (Admin admin = Admin.create(props(bootstrap))) {
                    DescribeClusterResult c = admin.describeCluster();
                    String id = c.clusterId().get();
                    System.out.println("cluster " + (id == null ? "~" : id));
                    System.out.println("controller " + c.controller().get().id());
                    for (Node n : c.nodes().get()) {
                        System.out.println("broker " + n.id() + " " + n.host() + " " + n.port());
                    }
                }
            }
            case "create" -> {
                String topic = args[2];
                try (Admin admin = Admin.create(props(bootstrap))) {
                    admin.createTopics(List.of(new NewTopic(topic, Integer.parseInt(args[3]), (short) 1))).all().get();
                    TopicDescription d = admin.describeTopics(List.of(topic)).allTopicNames().get().get(topic);
                    for (TopicPartitionInfo p : d.partitions()) {
                        System.out.println("partition " + p.partition() + " " + p.leader().id());
                    }
                }
            }
            case "produce" -> {
                Properties p = props(bootstrap);
                p.put("acks", "all");
                p.put("compression.type", args[3]);
                p.put("linger.ms", "20");
                // kafka-clients 3.x's default: an idempotent producer.
                List<Future<RecordMetadata>> acks = new ArrayList<>();
                BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
                try (KafkaProducer<byte[], byte[]> producer =
                        new KafkaProducer<>(p, new ByteArraySerializer(), new ByteArraySerializer())) {
                    for (String line; (line = in.readLine()) != null; ) {
                        if (line.isBlank()) continue;
                        String[] f = line.split(" ");
                        RecordHeaders headers = new RecordHeaders();
                        for (int i = 3; i < f.length; i++) {
                            String[] kv = f[i].split(":", 2);
                            headers.add(new String(dec(kv[0]), StandardCharsets.UTF_8), dec(kv[1]));
                        }
                        acks.add(producer.send(new ProducerRecord<>(args[2], Integer.parseInt(f[0]), null,
                                dec(f[1]), dec(f[2]), headers)));
                    }
                    producer.flush();
                    for (Future<RecordMetadata> a : acks) {
                        RecordMetadata m = a.get();
                        System.out.println("ack " + m.partition() + " " + m.offset());
                    }
                }
            }
            case "consume" -> {
                String topic = args[2];
                // No group.id: manual assignment only, nothing committed.
                try (KafkaConsumer<byte[], byte[]> consumer =
                        new KafkaConsumer<>(props(bootstrap), new ByteArrayDeserializer(), new ByteArrayDeserializer())) {
                    List<TopicPartition> tps = new ArrayList<>();
                    consumer.partitionsFor(topic).forEach(i -> tps.add(new TopicPartition(topic, i.partition())));
                    consumer.assign(tps);
                    consumer.seekToBeginning(tps);
                    Map<TopicPartition, Long> ends = consumer.endOffsets(tps);
                    long deadline = System.currentTimeMillis() + 30_000;
                    while (tps.stream().anyMatch(tp -> consumer.position(tp) < ends.get(tp))) {
                        if (System.currentTimeMillis() > deadline) throw new RuntimeException("timed out");
                        for (ConsumerRecord<byte[], byte[]> r : consumer.poll(Duration.ofMillis(500))) {
                            StringBuilder sb = new StringBuilder("record " + r.partition() + " " + r.offset() + " "
                                    + enc(r.key()) + " " + enc(r.value()));
                            for (Header h : r.headers()) {
                                sb.append(' ').append(enc(h.key().getBytes(StandardCharsets.UTF_8)))
                                  .append(':').append(enc(h.value()));
                            }
                            System.out.println(sb);
                        }
                    }
                }
            }
            case "group-consume" -> groupConsume(bootstrap, args[2], args[3]);
            case "group" -> group(bootstrap, args[2], args[3], args[4], args[5], args[6]);
            case "failover" -> Failover.run(bootstrap, args[2], Integer.parseInt(args[3]), args[4]);
            default -> {
                try (Admin admin = Admin.create(props(bootstrap))) {
                    admin(admin, cmd, bootstrap, args);
                } catch (ExecutionException e) {
                    Throwable c = e.getCause();
                    System.out.println("error " + c.getClass().getSimpleName() + " " + c.getMessage());
                }
            }
        }
    }

    static ConfigResource resource(String type, String name) {
        return new ConfigResource(type.equals("broker") ? ConfigResource.Type.BROKER : ConfigResource.Type.TOPIC, name);
    }

    static String show(String v) {
        return v == null ? "~" : v.isEmpty() ? "''" : v;
    }

    @SuppressWarnings("deprecation")
    static void admin(Admin admin, String cmd, String bootstrap, String[] args) throws Exception {
        switch (cmd) {
            case "create-with-configs" -> {
                Map<String, String> configs = new HashMap<>();
                for (int i = 4; i < args.length; i++) {
                    String[] kv = args[i].split("=", 2);
                    configs.put(kv[0], kv[1]);
                }
                NewTopic t = new NewTopic(args[2], Integer.parseInt(args[3]), (short) 1).configs(configs);
                admin.createTopics(List.of(t)).all().get();
                System.out.println("created " + args[2]);
            }
            case "describe-configs" -> {
                ConfigResource r = resource(args[2], args[3]);
                DescribeConfigsOptions o = new DescribeConfigsOptions().includeSynonyms(true).includeDocumentation(true);
                Config config = admin.describeConfigs(List.of(r), o).all().get().get(r);
                List<String> keys = List.of(args).subList(4, args.length);
                for (ConfigEntry e : config.entries()) {
                    if (!keys.isEmpty() && !keys.contains(e.name())) continue;
                    StringBuilder sb = new StringBuilder("config " + e.name() + " " + show(e.value()) + " " + e.source()
                            + " " + e.isReadOnly() + " " + e.type() + " " + (e.documentation() != null && !e.documentation().isEmpty()));
                    for (ConfigEntry.ConfigSynonym syn : e.synonyms()) {
                        sb.append(' ').append(syn.name()).append('=').append(show(syn.value())).append('@').append(syn.source());
                    }
                    System.out.println(sb);
                }
            }
            case "alter-incremental" -> {
                ConfigResource r = resource(args[2], args[3]);
                List<AlterConfigOp> ops = new ArrayList<>();
                for (int i = 4; i < args.length; i++) {
                    String[] opAndRest = args[i].split(":", 2);
                    String[] kv = opAndRest[1].split("=", 2);
                    ops.add(new AlterConfigOp(new ConfigEntry(kv[0], kv.length > 1 ? kv[1] : null),
                            AlterConfigOp.OpType.valueOf(opAndRest[0])));
                }
                admin.incrementalAlterConfigs(Map.of(r, (Collection<AlterConfigOp>) ops)).all().get();
                System.out.println("ok");
            }
            case "alter-legacy" -> {
                ConfigResource r = resource(args[2], args[3]);
                List<ConfigEntry> entries = new ArrayList<>();
                for (int i = 4; i < args.length; i++) {
                    String[] kv = args[i].split("=", 2);
                    entries.add(new ConfigEntry(kv[0], kv[1]));
                }
                admin.alterConfigs(Map.of(r, new Config(entries))).all().get();
                System.out.println("ok");
            }
            case "produce-one" -> {
                Properties p = props(bootstrap);
                p.put("acks", "all");
                p.put("enable.idempotence", "false");
                p.put("retries", "0");
                p.put("max.request.size", "10000000");
                byte[] value = new byte[Integer.parseInt(args[3])];
                byte[] key = args.length > 4 && args[4].equals("KEYLESS") ? null : "k".getBytes(StandardCharsets.UTF_8);
                try (KafkaProducer<byte[], byte[]> producer =
                        new KafkaProducer<>(p, new ByteArraySerializer(), new ByteArraySerializer())) {
                    RecordMetadata m = producer.send(new ProducerRecord<>(args[2], 0, key, value)).get();
                    System.out.println("ack " + m.partition() + " " + m.offset());
                }
            }
            case "delete-records" -> {
                TopicPartition tp = new TopicPartition(args[2], Integer.parseInt(args[3]));
                long low = admin.deleteRecords(Map.of(tp, RecordsToDelete.beforeOffset(Long.parseLong(args[4]))))
                        .lowWatermarks().get(tp).get().lowWatermark();
                System.out.println("low " + low);
            }
            case "earliest" -> {
                TopicPartition tp = new TopicPartition(args[2], Integer.parseInt(args[3]));
                long offset = admin.listOffsets(Map.of(tp, OffsetSpec.earliest())).partitionResult(tp).get().offset();
                System.out.println("earliest " + offset);
            }
            case "log-dirs" -> {
                Map<Integer, Map<String, LogDirDescription>> dirs = admin.describeLogDirs(List.of(0)).allDescriptions().get();
                for (Map.Entry<String, LogDirDescription> d : dirs.get(0).entrySet()) {
                    for (Map.Entry<TopicPartition, ReplicaInfo> r : d.getValue().replicaInfos().entrySet()) {
                        System.out.println("replica " + d.getKey() + " " + r.getKey().topic() + " " + r.getKey().partition()
                                + " " + r.getValue().size());
                    }
                }
            }
            case "delete-topic" -> {
                admin.deleteTopics(List.of(args[2])).all().get();
                System.out.println("deleted " + args[2]);
            }
            default -> throw new IllegalArgumentException("unknown command " + cmd);
        }
    }

    static void groupConsume(String bootstrap, String topic, String group) throws Exception {
        Properties p = props(bootstrap);
        p.put("group.id", group);
        p.put("group.protocol", "consumer");
        p.put("enable.auto.commit", "false");
        p.put("auto.offset.reset", "earliest");
        TreeSet<Integer> owned = new TreeSet<>();
        Runnable show = () -> {
            StringBuilder sb = new StringBuilder();
            for (int q : owned) sb.append(sb.length() == 0 ? "" : ",").append(q);
            System.out.println("owned " + (sb.length() == 0 ? "-" : sb));
            System.out.flush();
        };
        java.util.concurrent.atomic.AtomicBoolean stop = new java.util.concurrent.atomic.AtomicBoolean();
        Thread stdin = new Thread(() -> {
            try {
                while (System.in.read() != -1) { }
            } catch (Exception e) {
                // closed either way
            }
            stop.set(true);
        });
        stdin.setDaemon(true);
        stdin.start();
        try (KafkaConsumer<byte[], byte[]> consumer =
                new KafkaConsumer<>(p, new ByteArrayDeserializer(), new ByteArrayDeserializer())) {
            consumer.subscribe(List.of(topic), new ConsumerRebalanceListener() {
                public void onPartitionsAssigned(Collection<TopicPartition> parts) {
                    parts.forEach(tp -> owned.add(tp.partition()));
                    show.run();
                }

                public void onPartitionsRevoked(Collection<TopicPartition> parts) {
                    parts.forEach(tp -> owned.remove(tp.partition()));
                    show.run();
                }

                public void onPartitionsLost(Collection<TopicPartition> parts) {
                    onPartitionsRevoked(parts);
                }
            });
            while (!stop.get()) {
                for (ConsumerRecord<byte[], byte[]> r : consumer.poll(Duration.ofMillis(200))) {
                    try {
                        consumer.commitSync(Map.of(new TopicPartition(topic, r.partition()), new OffsetAndMetadata(r.offset() + 1)));
                    } catch (Exception e) {
                        System.out.println("error commit " + e);
                        continue;
                    }
                    System.out.println("record " + r.partition() + " " + r.offset());
                    System.out.flush();
                }
            }
        }
        System.out.println("closed");
        System.out.flush();
    }
}
