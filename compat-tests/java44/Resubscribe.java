// A KIP-848 consumer of Apache Kafka's 4.4 client that subscribes by a
// broker-side regex, unsubscribes, and subscribes to one topic by name:
//   Resubscribe BOOTSTRAP GROUP REGEX TOPIC INSTANCE_ID|~
// Prints "regex <n>" and "literal <topic-partition,...>": what it owned
// once each subscription settled.
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.SubscriptionPattern;
import org.apache.kafka.common.TopicPartition;

import java.time.Duration;
import java.util.List;
import java.util.Properties;
import java.util.TreeSet;

public class Resubscribe {
    public static void main(String[] args) {
        Properties p = new Properties();
        p.put("bootstrap.servers", args[0]);
        p.put("group.id", args[1]);
        p.put("group.protocol", "consumer");
        if (!args[4].equals("~")) {
            p.put("group.instance.id", args[4]);
        }
        p.put("key.deserializer", "org.apache.kafka.common.serialization.ByteArrayDeserializer");
        p.put("value.deserializer", "org.apache.kafka.common.serialization.ByteArrayDeserializer");
        try (KafkaConsumer<byte[], byte[]> consumer = new KafkaConsumer<>(p)) {
            consumer.subscribe(new SubscriptionPattern(args[2]));
            System.out.println("regex " + settle(consumer, 8).size());
            consumer.unsubscribe();
            consumer.subscribe(List.of(args[3]));
            TreeSet<String> owned = new TreeSet<>();
            for (TopicPartition tp : settle(consumer, 2)) {
                owned.add(tp.toString());
            }
            System.out.println("literal " + String.join(",", owned));
        }
    }

    /** Polls until `want` partitions are owned (30 s at most), then 3 s more. */
    static java.util.Set<TopicPartition> settle(KafkaConsumer<byte[], byte[]> consumer, int want) {
        long end = System.currentTimeMillis() + 30_000;
        while (System.currentTimeMillis() < end && consumer.assignment().size() != want) {
            consumer.poll(Duration.ofMillis(200));
        }
        long steady = System.currentTimeMillis() + 3_000;
        while (System.currentTimeMillis() < steady) {
            consumer.poll(Duration.ofMillis(200));
        }
        return consumer.assignment();
    }
}
