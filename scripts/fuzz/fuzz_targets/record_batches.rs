//! Bytes → batches → records (decompressing with a cap). Any input must
//! yield batches and records or typed errors, and iteration never yields
//! more records than the batch claims.
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use odradek::protocol::records::BatchIter;

/// Small enough that a decompression bomb is cut off quickly.
const DECOMPRESSED_LIMIT: usize = 1 << 20;

fuzz_target!(|data: &[u8]| {
    let mut batches = BatchIter::new(Bytes::copy_from_slice(data));
    for batch in batches.by_ref() {
        let Ok(batch) = batch else { break };
        let _ = batch.verify_crc();
        let mut count = 0usize;
        for record in batch.records_with_limit(DECOMPRESSED_LIMIT) {
            let Ok(record) = record else { break };
            count += 1;
            let _ = (record.key, record.value, record.headers);
        }
        let claimed = usize::try_from(batch.record_count()).unwrap_or(0);
        assert!(count <= claimed, "{count} records from a batch claiming {claimed}");
    }
    let _ = batches.partial_error();
});
