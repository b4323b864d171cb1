//! `--store` and `--lock-timeout` turned into an open store: the location grammar and the
//! backends live in the `annal` facade (`annal::open_with`); this module only adds the
//! command line's wording to its errors.

use std::sync::Arc;
use std::time::Duration;

use annal_core::Store;

pub(crate) use annal::{Access, Location, without_password};

/// Parses `--store`, naming the flag in the error.
pub(crate) fn parse(text: &str) -> anyhow::Result<Location> {
    Location::parse(text).map_err(|error| match error {
        annal::LocationError::Empty => {
            anyhow::anyhow!("--store is empty; give a file path, ndjson:DIR or a postgres:// URL")
        }
        error => anyhow::anyhow!("--store {error}"),
    })
}

/// Opens the store at `location`.
pub(crate) async fn open(
    location: Location,
    access: Access,
    lock_timeout: Duration,
) -> anyhow::Result<Arc<dyn Store>> {
    let options = annal::OpenOptions::new(access).lock_timeout(lock_timeout);
    match annal::open_with(&location, options).await {
        Ok(store) => Ok(store),
        Err(annal::OpenError::NotFound { location }) => Err(anyhow::anyhow!(
            "no store at {location}: create one with `annal init` or point --store (or \
             ANNAL_STORE) at an existing store"
        )),
        Err(error) => Err(error.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_errors_name_the_flag() {
        let error = parse("ndjson:").unwrap_err().to_string();
        assert!(
            error.starts_with("--store ndjson: needs a directory"),
            "{error}"
        );
    }
}
