//! InitProducerId (key 22). Without a transactional id: a fresh producer id
//! at epoch 0 for an idempotent producer (as in Kafka, a new id even when
//! the request names its old one, KIP-360). With one: the transaction
//! coordinator's id and a bumped epoch, fencing older producers of the id.

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

pub async fn handle(broker: &Broker, version: i16, request: InitProducerIdRequest) -> ResponseBody {
    let failed = |code: ErrorCode| InitProducerIdResponse {
        error_code: code.code(),
        producer_id: -1,
        producer_epoch: -1,
        ..InitProducerIdResponse::default()
    };
    let response = match request
        .transactional_id
        .as_deref()
        .filter(|id| !id.is_empty())
    {
        Some(transactional_id) => {
            let coordinated = super::coordinators::check(
                broker,
                super::coordinators::Coordinated::Transaction,
                transactional_id,
            );
            if let Err(code) = coordinated {
                return ResponseBody::InitProducerId(failed(code));
            }
            // v3+ may name the producer id and epoch it had (KIP-360).
            let expected = (version >= 3 && request.producer_id >= 0)
                .then_some((request.producer_id, request.producer_epoch));
            match broker
                .txns
                .init_producer_id(
                    broker,
                    transactional_id,
                    request.transaction_timeout_ms,
                    expected,
                )
                .await
            {
                Ok((producer_id, producer_epoch)) => InitProducerIdResponse {
                    producer_id,
                    producer_epoch,
                    ..InitProducerIdResponse::default()
                },
                // PRODUCER_FENCED exists from v4.
                Err(ErrorCode::ProducerFenced) if version < 4 => {
                    failed(ErrorCode::InvalidProducerEpoch)
                }
                Err(code) => failed(code),
            }
        }
        None => match crate::txn::producer_ids::allocate(broker).await {
            Ok(producer_id) => InitProducerIdResponse {
                producer_id,
                producer_epoch: 0,
                ..InitProducerIdResponse::default()
            },
            Err(e) => {
                tracing::error!(error = %e, "could not persist the producer id block");
                failed(ErrorCode::UnknownServerError)
            }
        },
    };
    ResponseBody::InitProducerId(response)
}
