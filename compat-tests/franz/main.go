// franz-go (github.com/twmb/franz-go) speaking the compat-tests line
// protocol (see compat-tests/clients/__init__.py): metadata, create,
// produce, consume, and failover (failover.go).
package main

import (
	"bufio"
	"context"
	"encoding/base64"
	"fmt"
	"log"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

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

var codecs = map[string]kgo.CompressionCodec{
	"none":   kgo.NoCompression(),
	"gzip":   kgo.GzipCompression(),
	"snappy": kgo.SnappyCompression(),
	"lz4":    kgo.Lz4Compression(),
	"zstd":   kgo.ZstdCompression(),
}

func client(bootstrap string, opts ...kgo.Opt) *kgo.Client {
	opts = append([]kgo.Opt{kgo.SeedBrokers(strings.Split(bootstrap, ",")...), kgo.ClientID("compat-franz")}, opts...)
	cl, err := kgo.NewClient(opts...)
	check(err)
	return cl
}

func main() {
	cmd, bootstrap := os.Args[1], os.Args[2]
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	switch cmd {
	case "metadata":
		cl := client(bootstrap)
		defer cl.Close()
		md, err := kadm.NewClient(cl).BrokerMetadata(ctx)
		check(err)
		if md.Cluster == "" {
			fmt.Println("cluster ~")
		} else {
			fmt.Println("cluster", md.Cluster)
		}
		fmt.Println("controller", md.Controller)
		for _, b := range md.Brokers {
			fmt.Println("broker", b.NodeID, b.Host, b.Port)
		}
	case "create":
		topic := os.Args[3]
		n, _ := strconv.Atoi(os.Args[4])
		cl := client(bootstrap)
		defer cl.Close()
		adm := kadm.NewClient(cl)
		created, err := adm.CreateTopic(ctx, int32(n), 1, nil, topic)
		check(err)
		check(created.Err)
		// The leaders as the client then sees them (each partition led once known).
		for {
			topics, err := adm.ListTopics(ctx, topic)
			check(err)
			detail := topics[topic]
			ready := detail.Err == nil && len(detail.Partitions) == n
			for _, p := range detail.Partitions {
				ready = ready && p.Leader >= 0
			}
			if ready {
				for _, p := range detail.Partitions.Sorted() {
					fmt.Println("partition", p.Partition, p.Leader)
				}
				return
			}
			time.Sleep(50 * time.Millisecond)
		}
	case "produce":
		topic := os.Args[3]
		cl := client(bootstrap, kgo.RecordPartitioner(kgo.ManualPartitioner()),
			kgo.ProducerBatchCompression(codecs[os.Args[4]]), kgo.RequiredAcks(kgo.AllISRAcks()))
		defer cl.Close()
		var records []*kgo.Record
		in := bufio.NewScanner(os.Stdin)
		in.Buffer(make([]byte, 1<<20), 1<<24)
		for in.Scan() {
			f := strings.Fields(in.Text())
			p, _ := strconv.Atoi(f[0])
			r := &kgo.Record{Topic: topic, Partition: int32(p), Key: dec(f[1]), Value: dec(f[2])}
			for _, h := range f[3:] {
				kv := strings.SplitN(h, ":", 2)
				r.Headers = append(r.Headers, kgo.RecordHeader{Key: string(dec(kv[0])), Value: dec(kv[1])})
			}
			records = append(records, r)
		}
		check(cl.ProduceSync(ctx, records...).FirstErr())
		for _, r := range records {
			fmt.Println("ack", r.Partition, r.Offset)
		}
	case "consume":
		topic := os.Args[3]
		adm := kadm.NewClient(client(bootstrap))
		ends, err := adm.ListEndOffsets(ctx, topic)
		check(err)
		check(ends.Error())
		want := map[int32]int64{}
		offsets := map[string]map[int32]kgo.Offset{topic: {}}
		ends.Each(func(o kadm.ListedOffset) {
			want[o.Partition] = o.Offset
			offsets[topic][o.Partition] = kgo.NewOffset().AtStart()
		})
		cl := client(bootstrap, kgo.ConsumePartitions(offsets))
		defer cl.Close()
		got := map[int32][]string{}
		done := func() bool {
			for p, end := range want {
				if int64(len(got[p])) < end {
					return false
				}
			}
			return true
		}
		for !done() {
			fetches := cl.PollFetches(ctx)
			if errs := fetches.Errors(); len(errs) > 0 {
				log.Fatalf("fetch errors: %v", errs)
			}
			fetches.EachRecord(func(r *kgo.Record) {
				f := []string{"record", strconv.Itoa(int(r.Partition)), strconv.FormatInt(r.Offset, 10), enc(r.Key), enc(r.Value)}
				for _, h := range r.Headers {
					f = append(f, enc([]byte(h.Key))+":"+enc(h.Value))
				}
				got[r.Partition] = append(got[r.Partition], strings.Join(f, " "))
			})
		}
		for p := int32(0); p < int32(len(want)); p++ {
			for _, line := range got[p] {
				fmt.Println(line)
			}
		}
	case "failover":
		n, err := strconv.Atoi(os.Args[4])
		check(err)
		failover(bootstrap, os.Args[3], n, os.Args[5])
	default:
		log.Fatalf("unknown command %q", cmd)
	}
}
