// `java CompatClient failover BOOTSTRAP TOPIC COUNT GROUP`: the Java side of
// tests/test_client_failover.py. An idempotent producer (acks=all) writes
// COUNT records "v-<i>" to partition i % partitions at a steady pace, while a
// group consumer reads the topic and commits after each poll; the test kills
// a leader meanwhile. Prints, one a line:
//   ack <partition> <offset> <value>      a delivered record
//   record <partition> <offset> <value>   a consumed record
//   error <what> / commit-failed <what>   what went wrong
//   produced                              once every send was answered
//   done                                  once every value was consumed
import java.time.Duration;
import java.util.HashSet;
import java.util.List;
import java.util.Properties;
import java.util.Set;

import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.KafkaException;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;

final class Failover {
    private static final long DEADLINE_MS = 150_000;

    static synchronized void out(String line) {
        System.out.println(line);
        System.out.flush();
    }

    static void run(String bootstrap, String topic, int count, String group) throws Exception {
        Thread producer = new Thread(() -> produce(bootstrap, topic, count));
        producer.start();
        consume(bootstrap, topic, count, group);
        producer.join();
    }

    static void produce(String bootstrap, String topic, int count) {
        Properties p = new Properties();
        p.put("bootstrap.servers", bootstrap);
        p.put("acks", "all");
        p.put("enable.idempotence", "true");
        p.put("linger.ms", "2");
        p.put("delivery.timeout.ms", "120000");
        try (KafkaProducer<String, String> producer =
                new KafkaProducer<>(p, new StringSerializer(), new StringSerializer())) {
            int partitions = producer.partitionsFor(topic).size();
            for (int i = 0; i < count; i++) {
                String value = "v-" + i;
                producer.send(new ProducerRecord<>(topic, i % partitions, null, value), (m, e) -> {
                    if (e != null) {
                        out("error " + e.getClass().getSimpleName() + " " + value);
                    } else {
                        out("ack " + m.partition() + " " + m.offset() + " " + value);
                    }
                });
                Thread.sleep(2);
            }
            producer.flush();
            out("produced");
        } catch (Exception e) {
            out("error " + e);
        }
    }

    static void consume(String bootstrap, String topic, int count, String group) {
        Properties p = new Properties();
        p.put("bootstrap.servers", bootstrap);
        p.put("group.id", group);
        p.put("enable.auto.commit", "false");
        p.put("auto.offset.reset", "earliest");
        Set<String> seen = new HashSet<>();
        long deadline = System.currentTimeMillis() + DEADLINE_MS;
        try (KafkaConsumer<String, String> consumer =
                new KafkaConsumer<>(p, new StringDeserializer(), new StringDeserializer())) {
            consumer.subscribe(List.of(topic));
            while (seen.size() < count && System.currentTimeMillis() < deadline) {
                var records = consumer.poll(Duration.ofMillis(200));
                for (ConsumerRecord<String, String> r : records) {
                    seen.add(r.value());
                    out("record " + r.partition() + " " + r.offset() + " " + r.value());
                }
                if (!records.isEmpty()) {
                    try {
                        consumer.commitSync(Duration.ofSeconds(30));
                    } catch (KafkaException e) {
                        out("commit-failed " + e.getClass().getSimpleName());
                    }
                }
            }
        }
        out(seen.size() == count ? "done" : "error consumed only " + seen.size());
    }

    private Failover() {
    }
}
