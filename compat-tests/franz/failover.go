package main

// `failover BOOTSTRAP TOPIC COUNT GROUP`: franz-go's side of
// tests/test_client_failover.py. An idempotent producer (acks=all, franz-go's
// default) writes COUNT records "v-<i>" to partition i % partitions at a
// steady pace, while a group consumer reads the topic and commits after each
// poll; the test kills a leader meanwhile. Prints the lines Failover.java
// documents: ack, record, error, commit-failed, produced, done.

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

var outMu sync.Mutex

func say(format string, args ...any) {
	outMu.Lock()
	defer outMu.Unlock()
	fmt.Printf(format+"\n", args...)
}

func failover(bootstrap, topic string, count int, group string) {
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		failoverProduce(ctx, bootstrap, topic, count)
	}()
	failoverConsume(ctx, bootstrap, topic, count, group)
	wg.Wait()
}

func failoverProduce(ctx context.Context, bootstrap, topic string, count int) {
	cl := client(bootstrap, kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.RequiredAcks(kgo.AllISRAcks()), kgo.ProducerLinger(2*time.Millisecond),
		kgo.RecordDeliveryTimeout(120*time.Second))
	defer cl.Close()
	topics, err := kadm.NewClient(cl).ListTopics(ctx, topic)
	if err != nil || topics[topic].Err != nil {
		say("error listing %s: %v %v", topic, err, topics[topic].Err)
		return
	}
	partitions := len(topics[topic].Partitions)
	for i := 0; i < count; i++ {
		value := "v-" + strconv.Itoa(i)
		r := &kgo.Record{Topic: topic, Partition: int32(i % partitions), Value: []byte(value)}
		cl.Produce(ctx, r, func(r *kgo.Record, err error) {
			if err != nil {
				say("error %v %s", err, value)
			} else {
				say("ack %d %d %s", r.Partition, r.Offset, value)
			}
		})
		time.Sleep(2 * time.Millisecond)
	}
	if err := cl.Flush(ctx); err != nil {
		say("error flush: %v", err)
		return
	}
	say("produced")
}

func failoverConsume(ctx context.Context, bootstrap, topic string, count int, group string) {
	cl := client(bootstrap, kgo.ConsumerGroup(group), kgo.ConsumeTopics(topic),
		kgo.DisableAutoCommit(), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	defer cl.Close()
	seen := map[string]bool{}
	for len(seen) < count && ctx.Err() == nil {
		poll, cancelPoll := context.WithTimeout(ctx, 200*time.Millisecond)
		fetches := cl.PollFetches(poll)
		cancelPoll()
		fetches.EachError(func(t string, p int32, err error) {
			if !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled) {
				say("error fetch %s %d: %v", t, p, err)
			}
		})
		n := 0
		fetches.EachRecord(func(r *kgo.Record) {
			seen[string(r.Value)] = true
			say("record %d %d %s", r.Partition, r.Offset, r.Value)
			n++
		})
		if n > 0 {
			if err := cl.CommitUncommittedOffsets(ctx); err != nil {
				say("commit-failed %v", err)
			}
		}
	}
	if len(seen) == count {
		say("done")
	} else {
		say("error consumed only %d", len(seen))
	}
}
