//! The reconciler (being written).
