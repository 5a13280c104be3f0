//! In-memory connector (being written).
