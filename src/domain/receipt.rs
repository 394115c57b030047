//! A receipt: something to do once the last holder of a piece of work is done with it. A Redis
//! Streams entry's receipt travels with every event and publication made from it (they hold
//! clones of one `Arc<Receipt>`); when the last of them is dropped (routed, written to history,
//! delivered, or dropped as invalid), the entry is acknowledged.

use std::fmt;

pub struct Receipt(Option<Box<dyn FnOnce() + Send + Sync>>);

impl Receipt {
    pub fn new(on_done: impl FnOnce() + Send + Sync + 'static) -> Self {
        Receipt(Some(Box::new(on_done)))
    }
}

impl Drop for Receipt {
    fn drop(&mut self) {
        if let Some(on_done) = self.0.take() {
            on_done();
        }
    }
}

impl fmt::Debug for Receipt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Receipt")
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    use super::*;

    #[test]
    fn runs_once_when_the_last_holder_is_done() {
        let done = Arc::new(AtomicUsize::new(0));
        let counter = done.clone();
        let receipt = Arc::new(Receipt::new(move || {
            counter.fetch_add(1, Ordering::Relaxed);
        }));
        let held = receipt.clone();
        drop(receipt);
        assert_eq!(done.load(Ordering::Relaxed), 0, "still held");
        drop(held);
        assert_eq!(done.load(Ordering::Relaxed), 1);
    }
}
