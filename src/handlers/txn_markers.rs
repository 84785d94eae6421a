//! WriteTxnMarkers (key 27): a transaction coordinator on another broker
//! asks this one to end a transaction in the partitions it leads. Each
//! marker is answered once it is durable.

use super::Implemented;
use crate::broker::Broker;
use crate::protocol::error_code::ErrorCode;
use crate::protocol::messages::write_txn_markers_response::{
    WritableTxnMarkerPartitionResult, WritableTxnMarkerResult, WritableTxnMarkerTopicResult,
};
use crate::protocol::messages::{
    ApiKey, ResponseBody, WriteTxnMarkersRequest, WriteTxnMarkersResponse,
};
use crate::txn::markers::{self, Outcome};

/// v0 is the same request without KIP-890's transaction version.
pub const IMPLEMENTED: Implemented = Implemented {
    api_key: ApiKey::WriteTxnMarkers,
    min: 0,
    max: 1,
};

pub async fn handle(broker: &Broker, request: WriteTxnMarkersRequest) -> ResponseBody {
    let mut results = Vec::with_capacity(request.markers.len());
    for marker in request.markers {
        let outcome = Outcome {
            producer_id: marker.producer_id,
            epoch: marker.producer_epoch,
            commit: marker.transaction_result,
            coordinator_epoch: marker.coordinator_epoch,
        };
        // Every append first (one fsync round for all), then the waits.
        let mut topics = Vec::with_capacity(marker.topics.len());
        for topic in marker.topics {
            let appended: Vec<_> = topic
                .partition_indexes
                .iter()
                .map(|&index| {
                    (
                        index,
                        markers::append_here(broker, outcome, &topic.name, index),
                    )
                })
                .collect();
            topics.push((topic.name, appended));
        }
        let mut topic_results = Vec::with_capacity(topics.len());
        for (name, appended) in topics {
            let mut partitions = Vec::with_capacity(appended.len());
            for (partition_index, append) in appended {
                let code = match append {
                    Err(code) => code,
                    Ok(None) => ErrorCode::None,
                    Ok(Some(pending)) => match pending.wait().await {
                        Ok(_) => {
                            markers::settle_offsets(broker, outcome, &name, partition_index);
                            ErrorCode::None
                        }
                        Err(e) => {
                            tracing::error!(topic = %name, partition = partition_index, error = %e, "transaction marker not durable");
                            ErrorCode::UnknownServerError
                        }
                    },
                };
                partitions.push(WritableTxnMarkerPartitionResult {
                    partition_index,
                    error_code: code.code(),
                });
            }
            topic_results.push(WritableTxnMarkerTopicResult { name, partitions });
        }
        results.push(WritableTxnMarkerResult {
            producer_id: marker.producer_id,
            topics: topic_results,
        });
    }
    ResponseBody::WriteTxnMarkers(WriteTxnMarkersResponse { markers: results })
}
