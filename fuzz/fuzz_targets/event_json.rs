//! Fuzz target: events as JSON at the append boundary.
//!
//! The bytes are read as a batch (`[...]`) or one `NewEvent`, then checked by `prepare_batch`
//! under the default limits and under tiny ones. Whatever it accepts must be storable as is: the
//! prepared payload and metadata are objects whose compact text parses back to the same value,
//! and the recorded form survives a JSON round trip. The same bytes are also read as a
//! `RecordedEvent`, the form clients and the NDJSON import decode.

#![no_main]

use annal_core::backend::prepare_batch;
use annal_core::{Limits, NewEvent, Position, RecordedEvent, StreamId, Version};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let batch: Vec<NewEvent> = match serde_json::from_slice::<Vec<NewEvent>>(data) {
        Ok(batch) => batch,
        Err(_) => match serde_json::from_slice::<NewEvent>(data) {
            Ok(event) => vec![event],
            Err(_) => Vec::new(),
        },
    };
    let tiny = Limits {
        payload_bytes_max: 16,
        metadata_bytes_max: 8,
        batch_events_max: 2,
        text_bytes_max: 4,
        ..Limits::default()
    };
    for limits in [Limits::default(), tiny] {
        if let Ok(prepared) = prepare_batch(batch.clone(), &limits, 1) {
            assert_eq!(prepared.len(), batch.len());
            let stream = StreamId::new("s").unwrap();
            for (n, event) in prepared.iter().enumerate() {
                assert!(event.payload_json.len() <= limits.payload_bytes_max);
                assert!(event.metadata_json.len() <= limits.metadata_bytes_max);
                let payload: serde_json::Value = serde_json::from_str(&event.payload_json).unwrap();
                assert_eq!(payload, batch[n].payload);
                let metadata: serde_json::Value =
                    serde_json::from_str(&event.metadata_json).unwrap();
                let given = batch[n].metadata.clone();
                assert_eq!(metadata, given.unwrap_or_else(|| serde_json::json!({})));
                let n = n as u64 + 1;
                let recorded = event.record(&stream, Version(n), Position(n));
                let text = serde_json::to_string(&recorded).unwrap();
                let back: RecordedEvent = serde_json::from_str(&text).unwrap();
                assert_eq!(back, recorded);
            }
        }
    }
    if let Ok(recorded) = serde_json::from_slice::<RecordedEvent>(data) {
        let text = serde_json::to_string(&recorded).unwrap();
        let back: RecordedEvent = serde_json::from_str(&text).unwrap();
        assert_eq!(back, recorded);
    }
});
