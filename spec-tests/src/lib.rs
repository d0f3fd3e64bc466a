//! Helpers for the conformance tests.
