//! The `annal` facade: one dependency for library users, re-exporting the Store API and the
//! backends enabled by cargo features.
//!
//! The README below is this crate's documentation, and its example runs as a doctest.
#![doc = include_str!("../../../README.md")]

pub use annal_core::*;
