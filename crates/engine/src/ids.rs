//! Id generation behind a seam: run ids and idempotency keys are UUIDv7 built from the injected
//! clock and a seeded rng, so a simulated run produces the same ids from the same seed.

use std::sync::Mutex;

use connector_api::SharedClock;
use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;
use uuid::Uuid;

/// Makes time-ordered unique ids.
#[derive(Debug)]
pub struct IdGen {
    clock: SharedClock,
    rng: Mutex<ChaCha8Rng>,
}

impl IdGen {
    /// A generator seeded with `seed` (production seeds from the clock and process id).
    pub fn new(clock: SharedClock, seed: u64) -> Self {
        Self { clock, rng: Mutex::new(ChaCha8Rng::seed_from_u64(seed)) }
    }

    /// A generator for production: seeded from the time and the process id.
    pub fn from_entropy(clock: SharedClock) -> Self {
        let seed =
            clock.now().timestamp_nanos_opt().unwrap_or_default() as u64 ^ u64::from(std::process::id());
        Self::new(clock, seed)
    }

    /// A new UUIDv7.
    pub fn next(&self) -> Uuid {
        let millis = self.clock.now().timestamp_millis().max(0) as u64;
        let mut random = [0u8; 10];
        self.rng.lock().expect("id rng lock").fill_bytes(&mut random);
        uuid::Builder::from_unix_timestamp_millis(millis, &random).into_uuid()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use connector_api::ManualClock;

    #[test]
    fn same_seed_same_ids_and_ids_are_time_ordered() {
        let clock = ManualClock::at_epoch();
        let (a, b) = (IdGen::new(clock.shared(), 9), IdGen::new(clock.shared(), 9));
        let first = a.next();
        assert_eq!(first, b.next());
        clock.advance(std::time::Duration::from_millis(5));
        let second = a.next();
        assert!(second > first);
        assert_eq!(first.get_version_num(), 7);
    }
}
