//! The shared conformance suite against the in-process WhiteLabelCRO simulator, for both
//! objects, over real loopback HTTP.

mod common;

use common::world;

mod leads {
    use super::*;
    connector_conformance::conformance_checks!(world(true));
}

mod clients {
    use super::*;
    connector_conformance::conformance_checks!(world(false));
}
