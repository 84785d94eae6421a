// The sarama side of the compat tests (Debian's golang-github-shopify-sarama-dev,
// sarama 1.22.1): speaks the line protocol of compat-tests/harness/data.py.
//
//	sarama-compat metadata BOOTSTRAP
//	sarama-compat create   BOOTSTRAP TOPIC N
//	sarama-compat produce  BOOTSTRAP TOPIC CODEC   < record lines
//	sarama-compat consume  BOOTSTRAP TOPIC
package main

import (
	"bufio"
	"encoding/base64"
	"fmt"
	"log"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/Shopify/sarama"
)

var codecs = map[string]sarama.CompressionCodec{
	"none": sarama.CompressionNone, "gzip": sarama.CompressionGZIP, "snappy": sarama.CompressionSnappy,
	"lz4": sarama.CompressionLZ4, "zstd": sarama.CompressionZSTD,
}

func config() *sarama.Config {
	c := sarama.NewConfig()
	c.Version = sarama.V2_1_0_0 // newest this sarama knows; it still sends Produce v3 / Fetch v4
	c.ClientID = "compat-sarama"
	c.Producer.RequiredAcks = sarama.WaitForAll
	c.Producer.Return.Successes = true
	c.Producer.Partitioner = sarama.NewManualPartitioner
	c.Producer.Flush.Messages = 100
	c.Producer.Flush.Frequency = 20 * time.Millisecond
	c.Consumer.Return.Errors = true
	return c
}

func enc(b []byte) string {
	if b == nil {
		return "~"
	}
	return "." + base64.StdEncoding.EncodeToString(b)
}

func dec(s string) []byte {
	if s == "~" {
		return nil
	}
	b, err := base64.StdEncoding.DecodeString(s[1:])
	check(err)
	if b == nil {
		b = []byte{}
	}
	return b
}

func check(err error) {
	if err != nil {
		log.Fatal(err)
	}
}

func recordLine(partition int32, offset int64, key, value []byte, headers []*sarama.RecordHeader) string {
	f := []string{"record", strconv.Itoa(int(partition)), strconv.FormatInt(offset, 10), enc(key), enc(value)}
	for _, h := range headers {
		f = append(f, enc(h.Key)+":"+enc(h.Value))
	}
	return strings.Join(f, " ")
}

func main() {
	cmd, bootstrap := os.Args[1], []string{os.Args[2]}
	switch cmd {
	case "metadata":
		broker := sarama.NewBroker(bootstrap[0])
		check(broker.Open(config()))
		md, err := broker.GetMetadata(&sarama.MetadataRequest{Version: 5})
		check(err)
		if md.ClusterID == nil {
			fmt.Println("cluster ~")
		} else {
			fmt.Println("cluster", *md.ClusterID)
		}
		fmt.Println("controller", md.ControllerID)
		for _, b := range md.Brokers {
			host, port := splitHostPort(b.Addr())
			fmt.Println("broker", b.ID(), host, port)
		}
	case "create":
		topic := os.Args[3]
		n, _ := strconv.Atoi(os.Args[4])
		admin, err := sarama.NewClusterAdmin(bootstrap, config())
		check(err)
		check(admin.CreateTopic(topic, &sarama.TopicDetail{NumPartitions: int32(n), ReplicationFactor: 1}, false))
		check(admin.Close())
		client, err := sarama.NewClient(bootstrap, config())
		check(err)
		partitions, err := client.Partitions(topic)
		check(err)
		for _, p := range partitions {
			leader, err := client.Leader(topic, p)
			check(err)
			fmt.Println("partition", p, leader.ID())
		}
	case "produce":
		conf := config()
		conf.Producer.Compression = codecs[os.Args[4]]
		producer, err := sarama.NewSyncProducer(bootstrap, conf)
		check(err)
		var msgs []*sarama.ProducerMessage
		in := bufio.NewScanner(os.Stdin)
		in.Buffer(make([]byte, 1<<20), 1<<24)
		for in.Scan() {
			f := strings.Fields(in.Text())
			p, _ := strconv.Atoi(f[0])
			m := &sarama.ProducerMessage{Topic: os.Args[3], Partition: int32(p), Key: sarama.ByteEncoder(dec(f[1]))}
			if v := dec(f[2]); v != nil {
				m.Value = sarama.ByteEncoder(v)
			}
			for _, h := range f[3:] {
				kv := strings.SplitN(h, ":", 2)
				m.Headers = append(m.Headers, sarama.RecordHeader{Key: dec(kv[0]), Value: dec(kv[1])})
			}
			msgs = append(msgs, m)
		}
		check(producer.SendMessages(msgs))
		for _, m := range msgs {
			fmt.Println("ack", m.Partition, m.Offset)
		}
		check(producer.Close())
	case "consume":
		topic := os.Args[3]
		client, err := sarama.NewClient(bootstrap, config())
		check(err)
		partitions, err := client.Partitions(topic)
		check(err)
		for _, p := range partitions {
			for _, l := range consumeFromOldest(client, topic, p) {
				fmt.Println(l)
			}
		}
	default:
		log.Fatalf("unknown command %q", cmd)
	}
}

// The ordinary sarama way: a partition consumer from OffsetOldest, up to the
// newest offset (both looked up with ListOffsets).
func consumeFromOldest(client sarama.Client, topic string, p int32) []string {
	end, err := client.GetOffset(topic, p, sarama.OffsetNewest)
	check(err)
	consumer, err := sarama.NewConsumerFromClient(client)
	check(err)
	pc, err := consumer.ConsumePartition(topic, p, sarama.OffsetOldest)
	check(err)
	defer pc.Close()
	var lines []string
	for next := int64(0); next < end; {
		select {
		case m := <-pc.Messages():
			lines = append(lines, recordLine(m.Partition, m.Offset, m.Key, m.Value, m.Headers))
			next = m.Offset + 1
		case err := <-pc.Errors():
			log.Fatal(err)
		case <-time.After(30 * time.Second):
			log.Fatalf("timed out at offset %d of %d", next, end)
		}
	}
	return lines
}

func splitHostPort(addr string) (string, string) {
	i := strings.LastIndex(addr, ":")
	return addr[:i], addr[i+1:]
}
