//! An ordered parallel map: one producer thread hands items out, a pool of workers works on
//! them in any order, and the calling thread gets the results back in the producer's order.
//!
//! ```text
//!  producer ──(seq, item)──▶ bounded queue ──▶ worker × jobs ──(seq, result)──▶ reorder buffer ──▶ emit
//!     ▲                                                                             │
//!     └──────────────── one permit per item, given back when it is emitted ◀────────┘
//! ```
//!
//! There is no barrier: a worker takes the next item as soon as it is done with the last, so one
//! slow file holds up only the printing, never the other workers. Memory stays bounded however
//! many items there are: the producer holds a permit for every item between being handed out
//! and being emitted, and there are `window` permits, so the reorder buffer never holds more
//! than `window` results, and the producer waits while the oldest item is still being worked on.

use std::collections::BTreeMap;
use std::io;
use std::panic::{self, AssertUnwindSafe};
use std::sync::mpsc::{self, Receiver, Sender, SyncSender};
use std::sync::{Arc, Mutex};
use std::thread;

/// What a worker sends back.
enum Done<O> {
    Item(u64, O),
    /// A worker panicked: the printer stops, so the producer and the other workers stop too
    /// instead of waiting forever for a result that will not come; the scope then re-raises
    /// the panic.
    Panicked,
}

/// Calls `work` on every item of `items` on `jobs` threads, and `emit` on the results in the
/// order of `items`. Stops early, returning the error, when `emit` fails (stdout closed): the
/// producer and the workers stop at their next hand-over, after at most one item each.
pub fn ordered_map<I, O>(
    items: impl Iterator<Item = I> + Send,
    jobs: usize,
    window: usize,
    work: impl Fn(I) -> O + Sync,
    emit: impl FnMut(O) -> io::Result<()>,
) -> io::Result<()>
where
    I: Send,
    O: Send,
{
    let jobs = jobs.max(1);
    let (permits_tx, permits_rx) = mpsc::sync_channel::<()>(window.max(1));
    let (queue_tx, queue_rx) = mpsc::sync_channel::<(u64, I)>(jobs * 2);
    // Shared by the workers alone, so that it is dropped when the last worker stops and a
    // producer blocked on a full queue wakes up with an error instead of waiting forever.
    let queue_rx = Arc::new(Mutex::new(queue_rx));
    let (done_tx, done_rx) = mpsc::channel::<Done<O>>();
    let work = &work;
    thread::scope(|scope| {
        scope.spawn(move || produce(items, permits_tx, queue_tx));
        for _ in 0..jobs {
            let (queue_rx, done_tx) = (Arc::clone(&queue_rx), done_tx.clone());
            scope.spawn(move || serve(&queue_rx, work, done_tx));
        }
        // Only the workers hold senders now: the results end when the last worker stops.
        drop((queue_rx, done_tx));
        reorder(done_rx, permits_rx, emit)
    })
}

/// Numbers the items and queues them, each once it has a permit.
fn produce<I>(
    items: impl Iterator<Item = I>,
    permits: SyncSender<()>,
    queue: SyncSender<(u64, I)>,
) {
    for (seq, item) in (0u64..).zip(items) {
        // Blocks while `window` items are handed out and not yet emitted; fails once the
        // printer has stopped.
        if permits.send(()).is_err() || queue.send((seq, item)).is_err() {
            return;
        }
    }
}

/// One worker: takes items until the queue is closed and empty, or the printer has stopped.
fn serve<I, O>(queue: &Mutex<Receiver<(u64, I)>>, work: impl Fn(I) -> O, done: Sender<Done<O>>) {
    loop {
        // The lock is held while waiting for the next item, never while working on one.
        let next = match queue.lock() {
            Ok(queue) => queue.recv(),
            Err(_) => return,
        };
        let Ok((seq, item)) = next else { return };
        let result = match panic::catch_unwind(AssertUnwindSafe(|| work(item))) {
            Ok(result) => result,
            Err(panic) => {
                let _ = done.send(Done::Panicked);
                panic::resume_unwind(panic);
            }
        };
        if done.send(Done::Item(seq, result)).is_err() {
            return;
        }
    }
}

/// Emits the results in sequence order, giving a permit back for each.
fn reorder<O>(
    done: Receiver<Done<O>>,
    permits: Receiver<()>,
    mut emit: impl FnMut(O) -> io::Result<()>,
) -> io::Result<()> {
    let mut pending = BTreeMap::new();
    let mut next = 0u64;
    for message in done {
        let Done::Item(seq, result) = message else {
            return Err(io::Error::other("a worker panicked"));
        };
        pending.insert(seq, result);
        while let Some(result) = pending.remove(&next) {
            // On an error the receivers are dropped on return, which stops the others.
            emit(result)?;
            next += 1;
            // The item's permit was sent before the item was queued, so it is there to take.
            let _ = permits.recv();
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    #[test]
    fn results_come_in_input_order_whatever_order_they_finish_in() {
        for jobs in [1, 2, 4] {
            let mut seen = Vec::new();
            // Early items take longest, so with several workers they finish last.
            let work = |i: u64| {
                thread::sleep(Duration::from_micros((50 - i % 50) * 20));
                i * 10
            };
            ordered_map(0..200u64, jobs, 8, work, |r| {
                seen.push(r);
                Ok(())
            })
            .unwrap();
            assert_eq!(
                seen,
                (0..200).map(|i| i * 10).collect::<Vec<_>>(),
                "-j{jobs}"
            );
        }
    }

    #[test]
    fn no_more_than_the_window_is_handed_out_ahead_of_the_printer() {
        let window = 5;
        let started = AtomicUsize::new(0);
        let mut emitted = 0;
        let work = |i: usize| {
            started.fetch_add(1, Ordering::SeqCst);
            // Item 0 is slow: the rest must wait for it within the window.
            if i == 0 {
                thread::sleep(Duration::from_millis(100));
            }
        };
        ordered_map(0..100usize, 4, window, work, |()| {
            // Everything started is at most `window` items ahead of what is emitted.
            assert!(started.load(Ordering::SeqCst) <= emitted + window);
            emitted += 1;
            Ok(())
        })
        .unwrap();
        assert_eq!(emitted, 100);
    }

    #[test]
    fn an_emit_error_stops_everything_early() {
        let worked = AtomicUsize::new(0);
        let mut emitted = 0;
        let result = ordered_map(
            0..1_000_000u64,
            2,
            16,
            |_| {
                worked.fetch_add(1, Ordering::Relaxed);
            },
            |()| {
                emitted += 1;
                if emitted == 10 {
                    Err(io::Error::from(io::ErrorKind::BrokenPipe))
                } else {
                    Ok(())
                }
            },
        );
        assert_eq!(result.unwrap_err().kind(), io::ErrorKind::BrokenPipe);
        // The window, the queue and one item per worker at most.
        assert!(worked.load(Ordering::Relaxed) <= 10 + 16 + 2 * 2 + 2);
    }

    #[test]
    fn a_panicking_worker_does_not_hang_the_pool() {
        let result = panic::catch_unwind(|| {
            ordered_map(0..1_000u64, 2, 4, |i| assert!(i != 3, "boom"), |()| Ok(()))
        });
        assert!(result.is_err(), "the panic reaches the caller");
    }

    #[test]
    fn nothing_to_do_is_fine() {
        ordered_map(std::iter::empty::<u8>(), 3, 1, |x| x, |_| unreachable!()).unwrap();
    }
}
