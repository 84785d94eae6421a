//! InitProducerId (key 22), for idempotent producers: a fresh producer id
//! at epoch 0. As in Kafka, a non-transactional request always gets a new
//! id (it may name its old id and epoch, KIP-360; a new id is what it needs).
//! Transactional ids need the transaction coordinator, which this broker
//! does not have yet (FindCoordinator for transactions is not advertised).

use super::Implemented;
use crate::broker::Broker;
use crate::protocol::error_code::ErrorCode;
use crate::protocol::messages::{
    ApiKey, InitProducerIdRequest, InitProducerIdResponse, ResponseBody,
};

pub const IMPLEMENTED: Implemented = Implemented {
    api_key: ApiKey::InitProducerId,
    min: 0,
    max: 5,
};

pub fn handle(broker: &Broker, _version: i16, request: InitProducerIdRequest) -> ResponseBody {
    let failed = |code: ErrorCode| InitProducerIdResponse {
        error_code: code.code(),
        producer_id: -1,
        producer_epoch: -1,
        ..InitProducerIdResponse::default()
    };
    let response = if request
        .transactional_id
        .as_deref()
        .is_some_and(|id| !id.is_empty())
    {
        failed(ErrorCode::CoordinatorNotAvailable)
    } else {
        match broker.producer_ids.allocate() {
            Ok(producer_id) => InitProducerIdResponse {
                producer_id,
                producer_epoch: 0,
                ..InitProducerIdResponse::default()
            },
            Err(e) => {
                tracing::error!(error = %e, "could not persist the producer id block");
                failed(ErrorCode::UnknownServerError)
            }
        }
    };
    ResponseBody::InitProducerId(response)
}
