//! The events-feed checkpoint: the last cursor given, the newest event delivered, the horizon to
//! which the feed was last read completely (`read_to`), the ids of the events delivered inside
//! the overlap window (`recent`), and a short ring of recent (cursor, newest `createdUtc`
//! before it) pairs to rewind to (sync-model §4).
//!
//! Cursors are opaque (§2.3), so the connector can never make one itself: the feed position only
//! moves to a cursor the server gave. A run rewinds to the ring entry before `read_to − overlap`
//! (the source's horizon, not the newest event: a quiet feed re-reads only its tail page).
//! Events inside that window are delivered again with their event ids (the connector contract:
//! the engine recognises them); events below it that were delivered before are skipped, by
//! `last` and, inside a pull, by the ids of `recent`, so one never delivered (a late commit
//! inside the window) is still delivered. Everything finer (a horizon cut inside a page, the
//! tail page re-polled at the end of the feed) is the same skip.
//!
//! Checkpoints written before `recent` existed keep the older rule (skip by `last`/`seen`, replay
//! everything after a rewind) until their next finished pull starts the id set.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use chrono::{DateTime, Utc};
use connector_api::{Checkpoint, ConnectorError, PullTrail};
use serde::{Deserialize, Serialize};

/// How many ring entries are kept before thinning.
pub const RING_CAP: usize = 24;

/// One rewind point: restarting from `cursor` re-reads every event after `at`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RingEntry {
    /// The cursor (`None`: the beginning of the feed).
    pub cursor: Option<String>,
    /// The newest `createdUtc` of the events before the cursor.
    pub at: DateTime<Utc>,
}

/// The connector's position in the feed of one object.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FeedState {
    /// The cursor to continue from (`None`: the beginning).
    pub cursor: Option<String>,
    /// The newest event time delivered.
    #[serde(default)]
    pub last: Option<DateTime<Utc>>,
    /// Ids of events delivered at exactly `last`.
    #[serde(default)]
    pub seen: Vec<i64>,
    /// After a rewind: events up to this time are delivered again (the engine de-duplicates
    /// them by event id) instead of being skipped.
    #[serde(default)]
    pub replay_until: Option<DateTime<Utc>>,
    /// Recent rewind points, oldest first.
    #[serde(default)]
    pub ring: Vec<RingEntry>,
    /// The horizon to which the feed was last read completely (a pull that reached its end or
    /// its horizon) with nothing delivered since: the next run's overlap is measured back from
    /// here (else from `last`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read_to: Option<DateTime<Utc>>,
    /// The events delivered inside the overlap window, by event id (`None`: a checkpoint from
    /// before the id set, which skips by `last`/`seen` instead).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recent: Option<Recent>,
    /// The pull in progress: requests sent and cursors read from (cleared when it is done).
    #[serde(default, skip_serializing_if = "is_fresh")]
    pub trail: PullTrail,
}

/// The ids of the events delivered at or after `floor` (every one of them), by event time.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Recent {
    /// Events older than this are not tracked (`None`: every delivered event is).
    #[serde(default)]
    pub floor: Option<DateTime<Utc>>,
    /// Event ids by `createdUtc`.
    #[serde(default)]
    pub ids: BTreeMap<DateTime<Utc>, BTreeSet<i64>>,
}

fn is_fresh(t: &PullTrail) -> bool {
    *t == PullTrail::default()
}

impl FeedState {
    /// Reads a checkpoint this connector wrote (`None` or JSON null: the beginning).
    pub fn from_checkpoint(cp: Option<&Checkpoint>) -> Result<Self, ConnectorError> {
        let fresh = || Self { recent: Some(Recent::default()), ..Self::default() };
        match cp {
            None => Ok(fresh()),
            Some(c) if c.0.is_null() => Ok(fresh()),
            Some(c) => serde_json::from_value(c.0.clone()).map_err(|e| ConnectorError::Protocol {
                message: format!("unreadable whitelabelcro checkpoint: {e}"),
            }),
        }
    }

    /// This state as an opaque checkpoint.
    pub fn to_checkpoint(&self) -> Checkpoint {
        Checkpoint(serde_json::to_value(self).expect("feed state serialises"))
    }

    /// Moves to the rewind point for `overlap`: the newest ring entry strictly before
    /// `read_to − overlap` (strictly, so events at exactly that time are re-read too), or the
    /// beginning of the feed. `read_to` is where the last finished pull got to (the newest event
    /// for a checkpoint that never finished one), so a quiet feed moves its window with the
    /// clock instead of re-reading its last burst. Events up to `last` are replayed: with the id
    /// set only those inside the window (ids older than it are forgotten), without it all.
    pub fn rewind(&mut self, overlap: Duration) {
        let Some(last) = self.last else { return };
        let anchor = self.read_to.map_or(last, |r| r.max(last));
        let target = anchor - chrono::Duration::from_std(overlap).unwrap_or(chrono::Duration::MAX);
        self.cursor = self.ring.iter().rev().find(|e| e.at < target).and_then(|e| e.cursor.clone());
        if let Some(r) = &mut self.recent {
            let floor = r.floor.map_or(target, |f| f.max(target));
            r.floor = Some(floor);
            r.ids = r.ids.split_off(&floor);
        }
        self.replay_until = Some(last);
    }

    /// True when an event was already delivered and is not being replayed.
    pub fn already_delivered(&self, id: i64, at: DateTime<Utc>) -> bool {
        if let Some(r) = &self.recent {
            let below = r.floor.is_some_and(|f| at < f);
            if !below && self.replay_until.is_some() {
                // Inside the overlap after a rewind: re-read, with its event id (the engine
                // recognises an event that agrees with the base and it costs nothing).
                return false;
            }
            if r.ids.get(&at).is_some_and(|ids| ids.contains(&id)) {
                return true;
            }
            // Below the window: old ground, beyond what the overlap promises to re-read.
            return below && self.last.is_some_and(|l| at <= l);
        }
        if self.replay_until.is_some_and(|r| at <= r) {
            return false;
        }
        match self.last {
            Some(last) if at < last => true,
            Some(last) if at == last => self.seen.contains(&id),
            _ => false,
        }
    }

    /// Records a delivered event.
    pub fn delivered(&mut self, id: i64, at: DateTime<Utc>) {
        if let Some(r) = &mut self.recent {
            if r.ids.entry(at).or_default().insert(id) {
                // New ground: until this pull reads through to its horizon, the next run's
                // window is measured from the newest event again, so a pull stopped part-way
                // (or one that met events older than the last horizon) re-reads from there.
                self.read_to = None;
            }
            self.last = self.last.max(Some(at));
            return;
        }
        match self.last {
            Some(last) if at < last => {}
            Some(last) if at == last => {
                if !self.seen.contains(&id) {
                    self.seen.push(id);
                }
            }
            _ => {
                self.last = Some(at);
                self.seen = vec![id];
            }
        }
    }

    /// The pull read the feed completely up to `horizon`: the next overlap is measured from
    /// here. A checkpoint without the id set starts one (events at exactly the horizon may be
    /// delivered once more).
    pub fn read_through(&mut self, horizon: DateTime<Utc>) {
        self.read_to = self.read_to.max(Some(horizon));
        if self.recent.is_none() {
            self.recent = Some(Recent { floor: Some(horizon), ids: BTreeMap::new() });
            self.seen.clear();
        }
        self.replay_until = None;
    }

    /// Moves to a cursor the server gave after a page whose newest event was at `at`. Only
    /// new ground (`fresh`: the page delivered something) makes a ring entry: a page re-read
    /// after a rewind adds none. A fresh page ending at the same time as the newest entry moves
    /// that entry's cursor forward, so a burst of events on one second is rewound past as a
    /// whole once the window has left that second.
    pub fn advance(&mut self, cursor: String, at: Option<DateTime<Utc>>, fresh: bool, keep: Duration) {
        self.cursor = Some(cursor.clone());
        let Some(at) = at else { return };
        if let Some(prev) = self.ring.last_mut()
            && at <= prev.at
        {
            if at == prev.at && fresh {
                prev.cursor = Some(cursor);
            }
            return;
        }
        self.ring.push(RingEntry { cursor: Some(cursor), at });
        self.thin(keep);
    }

    /// Bounds the ring: drops the oldest entry while the next one is already older than `keep`
    /// behind the newest, then, if still too long, the entry closest in time to its predecessor,
    /// so coverage stays spread over the window.
    fn thin(&mut self, keep: Duration) {
        let Some(newest) = self.ring.last().map(|e| e.at) else { return };
        let keep = chrono::Duration::from_std(keep).unwrap_or(chrono::Duration::MAX);
        while self.ring.len() > 2 && self.ring[1].at < newest - keep {
            self.ring.remove(0);
        }
        while self.ring.len() > RING_CAP {
            let i = (1..self.ring.len() - 1)
                .min_by_key(|&i| self.ring[i].at - self.ring[i - 1].at)
                .expect("ring longer than cap has inner entries");
            self.ring.remove(i);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_780_000_000 + s, 0).unwrap()
    }

    #[test]
    fn skip_rule_uses_newest_second_and_seen_ids() {
        let mut st = FeedState::default();
        st.delivered(5, t(10));
        st.delivered(6, t(10));
        st.delivered(3, t(9)); // a late commit does not move `last` back
        assert_eq!(st.last, Some(t(10)));
        assert!(st.already_delivered(5, t(10)));
        assert!(!st.already_delivered(7, t(10)), "a new id at the newest second is new");
        assert!(st.already_delivered(1, t(9)));
        assert!(!st.already_delivered(8, t(11)));
        st.delivered(8, t(11));
        assert_eq!((st.last, st.seen.clone()), (Some(t(11)), vec![8]));
    }

    #[test]
    fn rewind_picks_newest_ring_entry_strictly_before_target_and_replays() {
        let mut st = FeedState::default();
        let keep = Duration::from_secs(3600);
        st.advance("c1".into(), Some(t(0)), true, keep);
        st.advance("c2".into(), Some(t(100)), true, keep);
        st.advance("c3".into(), Some(t(200)), true, keep);
        st.delivered(9, t(300));
        let mut r = st.clone();
        r.rewind(Duration::from_secs(100)); // target 200: c3 is not strictly before
        assert_eq!(r.cursor.as_deref(), Some("c2"));
        assert!(!r.already_delivered(9, t(300)), "replayed");
        let mut r = st.clone();
        r.rewind(Duration::from_secs(10_000));
        assert_eq!(r.cursor, None, "nothing old enough: the beginning");
        let mut fresh = FeedState::default();
        fresh.rewind(Duration::from_secs(60));
        assert_eq!(fresh, FeedState::default(), "nothing delivered: nothing to rewind");
    }

    fn fresh() -> FeedState {
        FeedState::from_checkpoint(None).unwrap()
    }

    #[test]
    fn a_finished_pull_moves_the_window_with_the_horizon_not_the_newest_event() {
        let keep = Duration::from_secs(3600);
        let mut st = fresh();
        st.advance("before".into(), Some(t(0)), true, keep);
        // A burst on one second over three pages: the ring's entry for that second moves to
        // the last page's cursor.
        for (i, page) in ["p1", "p2", "p3"].iter().enumerate() {
            for id in 0..3 {
                st.delivered(10 + i as i64 * 3 + id, t(100));
            }
            st.advance((*page).into(), Some(t(100)), true, keep);
        }
        st.read_through(t(110));
        let mut inside = st.clone();
        inside.rewind(Duration::from_secs(60)); // target 50: the burst is inside the overlap
        assert_eq!(inside.cursor.as_deref(), Some("before"));
        assert!(!inside.already_delivered(10, t(100)), "re-read in the overlap, with its event id");
        assert!(!inside.already_delivered(99, t(100)), "a late event on the burst's second is new");
        assert!(!inside.already_delivered(98, t(60)), "a late event inside the window is new");

        st.read_through(t(400)); // quiet runs later
        st.rewind(Duration::from_secs(60)); // target 340
        assert_eq!(st.cursor.as_deref(), Some("p3"), "past the whole burst, not into it");
        assert!(st.already_delivered(12, t(100)), "below the window: old ground, not replayed");
        assert!(st.recent.as_ref().unwrap().ids.is_empty(), "ids older than the window are forgotten");
        assert!(!st.already_delivered(50, t(390)), "inside the window and never delivered");
    }

    #[test]
    fn a_pull_stopped_part_way_through_events_older_than_the_horizon_reads_the_rest_next_time() {
        let keep = Duration::from_secs(3600);
        let mut st = fresh();
        st.read_through(t(1000)); // an earlier run found the feed empty
        // Events stamped long before that horizon arrive (a backdated import); the pull stops
        // after the first page.
        st.delivered(1, t(100));
        st.delivered(2, t(100));
        st.advance("p1".into(), Some(t(100)), true, keep);
        assert_eq!(st.read_to, None, "new ground: the horizon no longer says what was read");
        st.rewind(Duration::from_secs(60));
        assert!(!st.already_delivered(3, t(100)), "the unread rest of the second is delivered");
        assert!(!st.already_delivered(1, t(100)), "the page read is re-read inside the overlap");
    }

    #[test]
    fn a_checkpoint_from_before_the_id_set_keeps_the_replay_until_its_next_finished_pull() {
        let mut st = FeedState::default();
        st.delivered(1, t(10));
        st.rewind(Duration::from_secs(5));
        assert_eq!(st.replay_until, Some(t(10)));
        assert!(!st.already_delivered(1, t(10)), "replayed, as before");
        st.read_through(t(20));
        assert_eq!((st.replay_until, st.read_to), (None, Some(t(20))));
        assert!(st.already_delivered(1, t(10)), "below the new id set's floor");
        assert!(!st.already_delivered(2, t(20)), "at the floor and never delivered");
    }

    #[test]
    fn ring_is_bounded_but_still_covers_the_keep_window() {
        let mut st = FeedState::default();
        let keep = Duration::from_secs(600);
        for i in 0..500 {
            st.advance(format!("c{i}"), Some(t(i * 10)), true, keep);
        }
        assert!(st.ring.len() <= RING_CAP);
        let newest = st.ring.last().unwrap().at;
        assert!(st.ring[0].at <= newest - chrono::Duration::seconds(600), "oldest {:?}", st.ring[0].at);
        assert!(st.ring.windows(2).all(|w| w[0].at <= w[1].at));
    }

    #[test]
    fn checkpoint_round_trips_and_rejects_garbage() {
        let mut st = FeedState::default();
        st.advance("abc".into(), Some(t(1)), true, Duration::from_secs(60));
        st.delivered(1, t(1));
        let back = FeedState::from_checkpoint(Some(&st.to_checkpoint())).unwrap();
        assert_eq!(back, st);
        let bad = Checkpoint(serde_json::json!({"cursor": 5}));
        assert!(FeedState::from_checkpoint(Some(&bad)).is_err());
        assert_eq!(
            FeedState::from_checkpoint(None).unwrap(),
            FeedState { recent: Some(Recent::default()), ..FeedState::default() }
        );
    }
}
