//! The stop the engine hands to connectors: once raised, no request is sent any more and waits
//! end at once. A flag with wake-ups (`event-listener`), so the contract needs no runtime.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use event_listener::Event;

/// A stop request shared by the engine and every connector's HTTP client; clones share it.
#[derive(Clone, Default)]
pub struct StopToken(Arc<Inner>);

#[derive(Default)]
struct Inner {
    raised: AtomicBool,
    event: Event,
}

impl std::fmt::Debug for StopToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StopToken").field("raised", &self.is_cancelled()).finish()
    }
}

impl StopToken {
    /// A token nobody has raised yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Raises the stop and wakes everyone waiting on [`StopToken::cancelled`].
    pub fn cancel(&self) {
        self.0.raised.store(true, Ordering::SeqCst);
        self.0.event.notify(usize::MAX);
    }

    /// True once [`StopToken::cancel`] was called.
    pub fn is_cancelled(&self) -> bool {
        self.0.raised.load(Ordering::SeqCst)
    }

    /// Resolves once the stop is raised (at once if it was already).
    pub async fn cancelled(&self) {
        loop {
            if self.is_cancelled() {
                return;
            }
            // Listen first, then look again: a cancel between the two still wakes us.
            let listener = self.0.event.listen();
            if self.is_cancelled() {
                return;
            }
            listener.await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::StopToken;
    use std::future::Future;
    use std::pin::pin;
    use std::sync::Arc;
    use std::task::{Context, Wake, Waker};

    struct Flag(std::sync::atomic::AtomicBool);
    impl Wake for Flag {
        fn wake(self: Arc<Self>) {
            self.0.store(true, std::sync::atomic::Ordering::SeqCst);
        }
    }

    #[test]
    fn a_waiter_is_woken_by_the_cancel_of_a_clone() {
        let token = StopToken::new();
        let flag = Arc::new(Flag(false.into()));
        let waker = Waker::from(flag.clone());
        let mut cx = Context::from_waker(&waker);
        let mut wait = pin!(token.cancelled());
        assert!(wait.as_mut().poll(&mut cx).is_pending(), "not raised yet");
        token.clone().cancel();
        assert!(flag.0.load(std::sync::atomic::Ordering::SeqCst), "the waiter was woken");
        assert!(wait.as_mut().poll(&mut cx).is_ready());
        assert!(token.is_cancelled());
        assert!(pin!(token.cancelled()).poll(&mut cx).is_ready(), "resolves at once once raised");
    }
}
