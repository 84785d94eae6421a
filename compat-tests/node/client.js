// The kafkajs side of the compat tests: speaks the line protocol of
// compat-tests/harness/data.py.
//
//   node client.js metadata BOOTSTRAP
//   node client.js create   BOOTSTRAP TOPIC N
//   node client.js produce  BOOTSTRAP TOPIC CODEC   < record lines
//   node client.js consume  BOOTSTRAP TOPIC
//   node client.js group    BOOTSTRAP TOPIC GROUP STRATEGY INSTANCE SESSION_MS
//
// Codecs: gzip is built in; snappy is kafkajs-snappy (pure JS); LZ4 and ZSTD
// are small codecs over pure-JS lz4js and WebAssembly zstd, because the
// usual kafkajs-lz4 / @kafkajs/zstd need a native build (the latter fails
// on Node 20).
//
// kafkajs's only consumer is a group consumer: "consume" (no group) drives
// kafkajs's own cluster/broker layer (the one its consumer uses) to fetch
// from an assigned offset; "group" is the real group consumer.
const fs = require('fs')
const lz4js = require('lz4js')
const zstd = require('@bokuweb/zstd-wasm')
const { Kafka, CompressionTypes, CompressionCodecs, logLevel } = require('kafkajs')
const SnappyCodec = require('kafkajs-snappy')

CompressionCodecs[CompressionTypes.Snappy] = SnappyCodec
// lz4js writes frames without the block-independence flag, which Kafka's
// LZ4 reader refuses ("Dependent block stream is unsupported"). Below its
// 4 MiB block size a frame is one block, independent in fact: set the flag
// (FLG bit 5) and recompute the header checksum, as kafkajs-lz4 would send.
const xxh32 = require('lz4js/xxh32')
function lz4Frame(src) {
  if (src.length > (4 << 20)) throw new Error('lz4: batches above 4 MiB need more than one block')
  const frame = Buffer.from(lz4js.compress(src))
  frame[4] |= 0x20
  frame[6] = (xxh32.hash(0, frame, 4, 2) >> 8) & 0xff
  return frame
}
CompressionCodecs[CompressionTypes.LZ4] = () => ({
  async compress(encoder) { return lz4Frame(encoder.buffer) },
  async decompress(buffer) { return Buffer.from(lz4js.decompress(buffer)) },
})
CompressionCodecs[CompressionTypes.ZSTD] = () => ({  // zstd.init() runs once, in main()
  async compress(encoder) { return Buffer.from(zstd.compress(encoder.buffer, 3)) },
  async decompress(buffer) { return Buffer.from(zstd.decompress(buffer)) },
})
const CODECS = {
  none: CompressionTypes.None, gzip: CompressionTypes.GZIP, snappy: CompressionTypes.Snappy,
  lz4: CompressionTypes.LZ4, zstd: CompressionTypes.ZSTD,
}

const enc = b => (b == null ? '~' : '.' + b.toString('base64'))
const dec = s => (s === '~' ? null : Buffer.from(s.slice(1), 'base64'))

async function main([cmd, bootstrap, topic, arg, ...rest]) {
  await zstd.init()
  if (cmd === 'group') return group(bootstrap, topic, arg, ...rest)
  const kafka = new Kafka({ clientId: 'compat-kafkajs', brokers: [bootstrap], logLevel: logLevel.WARN })
  const admin = kafka.admin()
  await admin.connect()
  try {
    if (cmd === 'metadata') {
      const c = await admin.describeCluster()
      console.log(`cluster ${c.clusterId == null ? '~' : c.clusterId}`)
      console.log(`controller ${c.controller}`)
      for (const b of c.brokers) console.log(`broker ${b.nodeId} ${b.host} ${b.port}`)
    } else if (cmd === 'create') {
      const created = await admin.createTopics({ topics: [{ topic, numPartitions: Number(arg), replicationFactor: 1 }] })
      if (!created) throw new Error('createTopics: topic already existed')
      const md = await admin.fetchTopicMetadata({ topics: [topic] })
      for (const p of md.topics[0].partitions) console.log(`partition ${p.partitionId} ${p.leader}`)
    } else if (cmd === 'produce') {
      await produce(kafka, topic, CODECS[arg])
    } else if (cmd === 'consume') {
      await consume(kafka, admin, topic)
    } else {
      throw new Error(`unknown command ${cmd}`)
    }
  } finally {
    await admin.disconnect()
  }
}

async function produce(kafka, topic, compression) {
  // Idempotent (kafkajs's default is off; it wants one request in flight).
  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1, allowAutoTopicCreation: false })
  await producer.connect()
  const messages = []
  for (const line of fs.readFileSync(0, 'utf8').split('\n').filter(l => l.trim())) {
    const [partition, key, value, ...hs] = line.split(' ')
    const headers = {}
    for (const h of hs) {  // a repeated key becomes an array, as kafkajs expects
      const [k, v] = h.split(':').map(dec)
      const name = k.toString('utf8')
      headers[name] = name in headers ? [].concat(headers[name], v) : v
    }
    messages.push({ partition: Number(partition), key: dec(key), value: dec(value), headers })
  }
  // One send: kafkajs puts each partition's messages in one batch and
  // reports each partition's base offset.
  const results = await producer.send({ topic, acks: -1, compression, messages })
  const next = {}
  for (const r of results) next[r.partition] = BigInt(r.baseOffset)
  for (const m of messages) console.log(`ack ${m.partition} ${next[m.partition]++}`)
  await producer.disconnect()
}

async function consume(kafka, admin, topic) {
  const createCluster = kafka[Object.getOwnPropertySymbols(kafka).find(s => s.description === 'private:Kafka:createCluster')]
  const cluster = createCluster({ allowAutoTopicCreation: false })
  await cluster.connect()
  await cluster.addTargetTopic(topic)
  // ListOffsets: each partition's first (low) and end (high) offsets.
  const bounds = await admin.fetchTopicOffsets(topic)
  for (const { partition, low, high } of bounds.sort((a, b) => a.partition - b.partition)) {
    const [leader] = Object.keys(cluster.findLeaderForPartitions(topic, [partition]))
    const broker = await cluster.findBroker({ nodeId: leader })
    let next = BigInt(low)
    const end = BigInt(high)
    const deadline = Date.now() + 30000
    while (next < end) {
      if (Date.now() > deadline) throw new Error(`timed out at ${topic}/${partition}@${next}`)
      const resp = await broker.fetch({
        maxWaitTime: 500, isolationLevel: 0,
        topics: [{ topic, partitions: [{ partition, fetchOffset: next.toString(), maxBytes: 16 << 20 }] }],
      })
      const p = resp.responses[0].partitions[0]
      if (p.errorCode !== 0) throw new Error(`fetch error ${p.errorCode}`)
      for (const m of p.messages) {
        if (BigInt(m.offset) < next || m.isControlRecord) continue
        const hs = []
        for (const [k, v] of Object.entries(m.headers || {})) {
          for (const one of Array.isArray(v) ? v : [v]) hs.push(`${enc(Buffer.from(k))}:${enc(one)}`)
        }
        console.log(['record', partition, m.offset, enc(m.key), enc(m.value), ...hs].join(' '))
        next = BigInt(m.offset) + 1n
      }
    }
  }
  await cluster.disconnect()
}

// A subscribing group consumer printing the group lines of
// compat-tests/clients/__init__.py. kafkajs commits after each batch
// (autoCommit with neither interval nor threshold), which is at-least-once;
// it closes cleanly on EOF of stdin. It has only the round-robin assignor,
// eager, and no static membership (group.instance.id).
async function group(bootstrap, topic, groupId, strategy, instance, sessionMs) {
  if (strategy !== 'roundrobin') throw new Error(`kafkajs has no ${strategy} assignor`)
  if (instance !== '~') throw new Error('kafkajs has no static membership')
  const out = line => process.stdout.write(line + '\n')
  const kafka = new Kafka({ clientId: 'compat-kafkajs', brokers: [bootstrap], logLevel: logLevel.WARN })
  const consumer = kafka.consumer({ groupId, sessionTimeout: Number(sessionMs), heartbeatInterval: 1000 })
  const { GROUP_JOIN, REBALANCING, HEARTBEAT, CRASH } = consumer.events
  let generation = -1
  consumer.on(GROUP_JOIN, ({ payload }) => {
    const owned = (payload.memberAssignment[topic] || []).slice().sort((a, b) => a - b)
    out(`assigned -1 ${owned.length ? owned.join(',') : '-'}`)
  })
  // Eager: a rebalance revokes everything until the next join.
  consumer.on(REBALANCING, () => out('assigned -1 -'))
  consumer.on(HEARTBEAT, ({ payload }) => {
    if (payload.groupGenerationId !== generation) {
      generation = payload.groupGenerationId
      out(`generation ${generation}`)
    }
  })
  consumer.on(CRASH, ({ payload }) => out(`error ${String(payload.error).replace(/ /g, '_')}`))
  await consumer.connect()
  await consumer.subscribe({ topics: [topic], fromBeginning: true })
  await consumer.run({
    eachMessage: async ({ partition, message }) => out(`record ${partition} ${message.offset} ${enc(message.key)}`),
  })
  await new Promise(resolve => {
    process.stdin.on('end', resolve)
    process.stdin.resume()
  })
  await consumer.disconnect()
  out('closed')
}

main(process.argv.slice(2)).then(
  () => process.exit(0),
  e => { console.error(e); process.exit(1) })
