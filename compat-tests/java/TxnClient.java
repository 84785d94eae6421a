// The Apache kafka-clients 3.9.1 side of the transaction compat tests.
//
//   java TxnClient produce-txns BOOTSTRAP TOPIC TXN_ID TXNS PER_TXN ABORT_EVERY
//       Transaction i writes PER_TXN records "i-j" (key "k<j>") round-robin
//       over the topic's partitions; it aborts when i % ABORT_EVERY == 1,
//       else commits. Prints "committed i" / "aborted i".
//   java TxnClient consume BOOTSTRAP TOPIC ISOLATION
//       Reads every partition from the beginning to its end offset (which
//       for read_committed is the last stable offset) and prints
//       "record <partition> <offset> <value>".
//   java TxnClient admin BOOTSTRAP TOPIC TXN_ID
//       The operators' views (KIP-664): "listed <id> <state>" per
//       transactional id, "described <id> <state> <producer id> <epoch>",
//       and "producer <partition> <producer id> <epoch> <last sequence>"
//       per active producer of each partition.
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Properties;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.DescribeProducersResult;
import org.apache.kafka.clients.admin.ProducerState;
import org.apache.kafka.clients.admin.TransactionDescription;
import org.apache.kafka.clients.admin.TransactionListing;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;

public class TxnClient {
    static Properties props(String bootstrap) {
        Properties p = new Properties();
        p.put("bootstrap.servers", bootstrap);
        p.put("client.id", "compat-java-txn");
        return p;
    }

    public static void main(String[] args) throws Exception {
        String cmd = args[0], bootstrap = args[1], topic = args[2];
        switch (cmd) {
            case "produce-txns" -> {
                String txnId = args[3];
                int txns = Integer.parseInt(args[4]), perTxn = Integer.parseInt(args[5]), abortEvery = Integer.parseInt(args[6]);
                Properties p = props(bootstrap);
                p.put("transactional.id", txnId);
                p.put("linger.ms", "5");
                try (KafkaProducer<String, String> producer = new KafkaProducer<>(p, new StringSerializer(), new StringSerializer())) {
                    int partitions = producer.partitionsFor(topic).size();
                    producer.initTransactions();
                    for (int i = 0; i < txns; i++) {
                        producer.beginTransaction();
                        for (int j = 0; j < perTxn; j++) {
                            producer.send(new ProducerRecord<>(topic, (i * perTxn + j) % partitions, "k" + j, i + "-" + j));
                        }
                        if (i % abortEvery == 1) {
                            producer.flush();
                            producer.abortTransaction();
                            System.out.println("aborted " + i);
                        } else {
                            producer.commitTransaction();
                            System.out.println("committed " + i);
                        }
                    }
                }
            }
            case "consume" -> {
                Properties p = props(bootstrap);
                p.put("isolation.level", args[3]);
                try (KafkaConsumer<String, String> consumer = new KafkaConsumer<>(p, new StringDeserializer(), new StringDeserializer())) {
                    List<TopicPartition> tps = new ArrayList<>();
                    consumer.partitionsFor(topic).forEach(i -> tps.add(new TopicPartition(topic, i.partition())));
                    consumer.assign(tps);
                    consumer.seekToBeginning(tps);
                    Map<TopicPartition, Long> ends = consumer.endOffsets(tps);
                    long deadline = System.currentTimeMillis() + 30_000;
                    while (tps.stream().anyMatch(tp -> consumer.position(tp) < ends.get(tp))) {
                        if (System.currentTimeMillis() > deadline) throw new RuntimeException("timed out");
                        for (ConsumerRecord<String, String> r : consumer.poll(Duration.ofMillis(500))) {
                            System.out.println("record " + r.partition() + " " + r.offset() + " " + r.value());
                        }
                    }
                }
            }
            case "admin" -> {
                String txnId = args[3];
                try (Admin admin = Admin.create(props(bootstrap))) {
                    for (TransactionListing l : admin.listTransactions().all().get()) {
                        System.out.println("listed " + l.transactionalId() + " " + l.state());
                    }
                    TransactionDescription d = admin.describeTransactions(List.of(txnId)).description(txnId).get();
                    System.out.println("described " + txnId + " " + d.state() + " " + d.producerId() + " " + d.producerEpoch());
                    List<TopicPartition> tps = new ArrayList<>();
                    admin.describeTopics(List.of(topic)).allTopicNames().get().get(topic).partitions()
                        .forEach(i -> tps.add(new TopicPartition(topic, i.partition())));
                    DescribeProducersResult producers = admin.describeProducers(tps);
                    for (TopicPartition tp : tps) {
                        for (ProducerState ps : producers.partitionResult(tp).get().activeProducers()) {
                            System.out.println("producer " + tp.partition() + " " + ps.producerId() + " " + ps.producerEpoch()
                                + " " + ps.lastSequence());
                        }
                    }
                }
            }
            default -> throw new IllegalArgumentException("unknown command " + cmd);
        }
    }
}
