//! A small DevTools protocol client over chromium's `--remote-debugging-pipe`.
//!
//! The pipe (fd 3 into the browser, fd 4 out of it; JSON messages each ended by a NUL byte)
//! needs no WebSocket and opens no port: a debugging port on loopback would be a door any
//! local process, and any page that got past the proxy, could knock on. Commands are matched
//! to their answers by id; events go to a channel the render reads (load, dialogs are
//! answered here at once so that an `alert` cannot stall a render).

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::sync::{Mutex, mpsc, oneshot};

use super::RenderError;

/// One message larger than this ends the connection: the screenshot of one viewport and a
/// capped text are far below it; a hostile page cannot make the daemon buffer more.
pub const MAX_MESSAGE: usize = 64 << 20;

/// The commands waiting for their answer; `None` once the pipe closed, so that a command sent
/// after that fails at once instead of waiting for an answer that cannot come.
type Pending = Arc<std::sync::Mutex<Option<HashMap<u64, oneshot::Sender<Result<Value, Value>>>>>>;
type Writer = Arc<Mutex<Box<dyn AsyncWrite + Send + Unpin>>>;

/// A connection to the browser.
pub struct Cdp {
    writer: Writer,
    pending: Pending,
    next_id: AtomicU64,
    events: Mutex<mpsc::Receiver<Value>>,
    _reader: tokio::task::JoinHandle<()>,
}

impl Drop for Cdp {
    fn drop(&mut self) {
        self._reader.abort();
    }
}

impl Cdp {
    /// Speaks over `input` (the browser's fd 3) and `output` (its fd 4).
    pub fn new(
        input: impl AsyncWrite + Send + Unpin + 'static,
        output: impl AsyncRead + Send + Unpin + 'static,
    ) -> Cdp {
        let writer: Writer = Arc::new(Mutex::new(Box::new(input)));
        let pending: Pending = Arc::new(std::sync::Mutex::new(Some(HashMap::new())));
        // Events beyond this many unread are dropped: the render waits only for a few kinds,
        // and a page firing events without end must not grow memory.
        let (events_tx, events_rx) = mpsc::channel(1024);
        let reader = tokio::spawn(read_loop(
            output,
            pending.clone(),
            events_tx,
            writer.clone(),
        ));
        Cdp {
            writer,
            pending,
            next_id: AtomicU64::new(1),
            events: Mutex::new(events_rx),
            _reader: reader,
        }
    }

    /// Sends a command (to a page's session when `session` is given) and waits for its
    /// answer. The caller bounds the wait (the render's timeout).
    pub async fn call(
        &self,
        method: &str,
        params: Value,
        session: Option<&str>,
    ) -> Result<Value, RenderError> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let mut message = json!({ "id": id, "method": method, "params": params });
        if let Some(session) = session {
            message["sessionId"] = json!(session);
        }
        let (tx, rx) = oneshot::channel();
        match lock(&self.pending).as_mut() {
            Some(pending) => pending.insert(id, tx),
            None => return Err(RenderError::BrowserGone),
        };
        send(&self.writer, &message).await?;
        match rx.await {
            Ok(Ok(result)) => Ok(result),
            Ok(Err(error)) => Err(RenderError::Protocol(format!(
                "{method}: {}",
                error["message"]
                    .as_str()
                    .unwrap_or("an error without a message")
            ))),
            Err(_) => Err(RenderError::BrowserGone),
        }
    }

    /// Waits for the next event named `method` on `session`; other events are dropped.
    pub async fn event(&self, method: &str, session: &str) -> Result<Value, RenderError> {
        let mut events = self.events.lock().await;
        loop {
            let event = events.recv().await.ok_or(RenderError::BrowserGone)?;
            if event["method"] == method && event["sessionId"] == session {
                return Ok(event);
            }
        }
    }
}

fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

async fn send(writer: &Writer, message: &Value) -> Result<(), RenderError> {
    let mut bytes = message.to_string().into_bytes();
    bytes.push(0);
    let mut w = writer.lock().await;
    w.write_all(&bytes)
        .await
        .map_err(|_| RenderError::BrowserGone)?;
    w.flush().await.map_err(|_| RenderError::BrowserGone)
}

/// Reads NUL-ended messages until the pipe closes or a message breaks the size cap; then
/// every pending command fails (its sender is dropped).
async fn read_loop(
    output: impl AsyncRead + Unpin,
    pending: Pending,
    events: mpsc::Sender<Value>,
    writer: Writer,
) {
    let mut reader = BufReader::new(output);
    let mut buf = Vec::new();
    loop {
        buf.clear();
        match read_message(&mut reader, &mut buf).await {
            Ok(true) => {}
            Ok(false) | Err(_) => break,
        }
        let Ok(message) = serde_json::from_slice::<Value>(&buf) else {
            continue;
        };
        dispatch(message, &pending, &events, &writer).await;
    }
    *lock(&pending) = None;
}

async fn dispatch(
    message: Value,
    pending: &Pending,
    events: &mpsc::Sender<Value>,
    writer: &Writer,
) {
    if let Some(id) = message["id"].as_u64() {
        let waiting = lock(pending).as_mut().and_then(|p| p.remove(&id));
        if let Some(tx) = waiting {
            let answer = match message.get("error") {
                Some(error) => Err(error.clone()),
                None => Ok(message["result"].clone()),
            };
            let _ = tx.send(answer);
        }
        return;
    }
    if message["method"] == "Page.javascriptDialogOpening" {
        // A dialog blocks the page's scripts until answered; answer it so the render goes on.
        // Id 0 is never a command of ours, so its answer is dropped.
        let close = json!({ "id": 0, "method": "Page.handleJavaScriptDialog",
            "params": { "accept": false }, "sessionId": message["sessionId"] });
        let _ = send(writer, &close).await;
        return;
    }
    let _ = events.try_send(message);
}

/// Reads one NUL-ended message into `buf`: `Ok(true)` with the message, `Ok(false)` at the
/// end of the pipe, an error for a message over [`MAX_MESSAGE`].
async fn read_message<R: AsyncRead + Unpin>(
    reader: &mut BufReader<R>,
    buf: &mut Vec<u8>,
) -> std::io::Result<bool> {
    loop {
        let available = reader.fill_buf().await?;
        if available.is_empty() {
            return Ok(false);
        }
        let (taken, done) = match memchr(available) {
            Some(at) => (at + 1, true),
            None => (available.len(), false),
        };
        buf.extend_from_slice(&available[..taken - usize::from(done)]);
        reader.consume(taken);
        if buf.len() > MAX_MESSAGE {
            return Err(std::io::ErrorKind::InvalidData.into());
        }
        if done {
            return Ok(true);
        }
    }
}

fn memchr(bytes: &[u8]) -> Option<usize> {
    bytes.iter().position(|b| *b == 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fake browser on an in-memory pipe: answers commands by id, sends an event and a
    /// dialog, and the client sorts them out.
    #[tokio::test]
    async fn commands_answers_and_events() {
        let (client_in, mut browser_in) = tokio::io::duplex(1 << 16);
        let (mut browser_out, client_out) = tokio::io::duplex(1 << 16);
        let cdp = Cdp::new(client_in, client_out);
        let browser = tokio::spawn(async move {
            use tokio::io::AsyncReadExt;
            let mut got = Vec::new();
            let mut byte = [0u8; 1];
            while browser_in.read_exact(&mut byte).await.is_ok() && byte[0] != 0 {
                got.push(byte[0]);
            }
            let command: Value = serde_json::from_slice(&got).unwrap();
            assert_eq!(command["method"], "Runtime.evaluate");
            let id = command["id"].as_u64().unwrap();
            let out = [
                json!({"method": "Page.javascriptDialogOpening", "sessionId": "s"}),
                json!({"method": "Page.loadEventFired", "sessionId": "s"}),
                json!({"id": id, "result": {"v": 1}}),
            ];
            for m in out {
                let mut bytes = m.to_string().into_bytes();
                bytes.push(0);
                browser_out.write_all(&bytes).await.unwrap();
            }
            // The dialog is answered without the caller.
            got.clear();
            while browser_in.read_exact(&mut byte).await.is_ok() && byte[0] != 0 {
                got.push(byte[0]);
            }
            let answer: Value = serde_json::from_slice(&got).unwrap();
            assert_eq!(answer["method"], "Page.handleJavaScriptDialog");
            browser_out
        });
        let result = cdp
            .call("Runtime.evaluate", json!({}), Some("s"))
            .await
            .unwrap();
        assert_eq!(result["v"], 1);
        cdp.event("Page.loadEventFired", "s").await.unwrap();
        let browser_out = browser.await.unwrap();
        drop(browser_out);
        // The browser is gone: commands fail instead of hanging.
        let gone = cdp.call("Page.enable", json!({}), None).await;
        assert!(gone.is_err());
    }
}
