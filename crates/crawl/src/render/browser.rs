//! The browser process: started headless on a fresh profile, watched for its memory budget,
//! and killed whole (every process it started) when a render runs over.

use std::path::Path;
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::io::AsyncBufReadExt;
use tokio::process::{Child, Command};

use super::cdp::Cdp;
use super::{RenderConfig, RenderError};

/// How often the memory of the browser's processes is added up.
const MEMORY_POLL: Duration = Duration::from_millis(200);

/// A running browser and the pipe to it. Dropping it kills every process of the browser.
pub struct Browser {
    pub cdp: Cdp,
    child: Child,
    pid: Option<u32>,
    over_memory: Arc<AtomicBool>,
    _watch: tokio::task::JoinHandle<()>,
    _profile: tempfile_dir::TempDir,
}

impl Browser {
    /// Starts `config.browser` with its own empty profile, every request sent to `proxy`.
    pub async fn launch(config: &RenderConfig, proxy: &str) -> Result<Browser, RenderError> {
        let profile = tempfile_dir::TempDir::new().map_err(|e| RenderError::Launch {
            browser: config.browser.display().to_string(),
            message: format!("cannot create a profile directory: {e}"),
        })?;
        let mut child = command(config, proxy, profile.path())
            .spawn()
            .map_err(|e| RenderError::Launch {
                browser: config.browser.display().to_string(),
                message: e.to_string(),
            })?;
        let (Some(input), Some(output)) = (child.stdin.take(), child.stdout.take()) else {
            return Err(RenderError::Launch {
                browser: config.browser.display().to_string(),
                message: "no pipe to the browser".into(),
            });
        };
        if let Some(stderr) = child.stderr.take() {
            // Chromium logs to stderr; drained so it never blocks on a full pipe, and kept at
            // debug level for whoever needs to know why a render failed.
            tokio::spawn(async move {
                let mut lines = tokio::io::BufReader::new(stderr).lines();
                while let Ok(Some(line)) = lines.next_line().await {
                    tracing::debug!(target: "sitepatrol::render::chromium", "{line}");
                }
            });
        }
        let pid = child.id();
        let over_memory = Arc::new(AtomicBool::new(false));
        let watch = tokio::spawn(watch_memory(pid, config.memory_bytes, over_memory.clone()));
        Ok(Browser {
            cdp: Cdp::new(input, output),
            child,
            pid,
            over_memory,
            _watch: watch,
            _profile: profile,
        })
    }

    /// Whether the memory watch killed the browser.
    pub fn over_memory(&self) -> bool {
        self.over_memory.load(Ordering::Relaxed)
    }

    /// Asks the browser to close, then kills whatever is left.
    pub async fn close(mut self) {
        let close = self.cdp.call("Browser.close", serde_json::json!({}), None);
        let _ = tokio::time::timeout(Duration::from_secs(2), close).await;
        let exited = tokio::time::timeout(Duration::from_secs(3), self.child.wait()).await;
        match exited {
            // Gone and reaped: its pid may be anyone's now, so Drop must not signal it.
            Ok(Ok(_)) => self.pid = None,
            _ => self.kill(),
        }
    }

    fn kill(&mut self) {
        if let Some(pid) = self.pid {
            kill_tree(pid);
        }
        let _ = self.child.start_kill();
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        self._watch.abort();
        self.kill();
    }
}

/// The command line. The wrapper shell only moves the pipe onto the descriptors chromium
/// reads (`--remote-debugging-pipe`: fd 3 in, fd 4 out) and `exec`s it, so the child is the
/// browser itself.
fn command(config: &RenderConfig, proxy: &str, profile: &Path) -> Command {
    let mut command = Command::new("/bin/sh");
    command
        .arg("-c")
        .arg(r#"exec "$0" "$@" 3<&0 4>&1 </dev/null >/dev/null"#)
        .arg(&config.browser)
        .args(browser_args(config, proxy, profile))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        // Its own process group, so that nothing chromium starts shares the daemon's.
        .process_group(0);
    command
}

/// Chromium's flags: headless on a fresh profile; every connection through the proxy (none
/// bypasses it, not even loopback; no name is resolved by the browser itself; WebRTC may not
/// send UDP past it; no QUIC); the memory budget of its JavaScript heaps; nothing that calls
/// home; and the sandbox unless it cannot run (root).
pub fn browser_args(config: &RenderConfig, proxy: &str, profile: &Path) -> Vec<String> {
    let heap_mb = (config.memory_bytes / 2 / (1 << 20)).max(64);
    let mut args: Vec<String> = [
        "--headless=new",
        "--remote-debugging-pipe",
        "--no-first-run",
        "--no-default-browser-check",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-extensions",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-default-apps",
        "--disable-breakpad",
        "--disable-quic",
        "--no-pings",
        "--mute-audio",
        "--hide-scrollbars",
        "--proxy-bypass-list=<-loopback>",
        "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
        "--force-webrtc-ip-handling-policy=disable_non_proxied_udp",
        "--webrtc-ip-handling-policy=disable_non_proxied_udp",
        "--renderer-process-limit=2",
        "--disable-features=Translate,MediaRouter,OptimizationHints,InterestFeedContentSuggestions",
    ]
    .into_iter()
    .map(String::from)
    .collect();
    args.push(format!("--proxy-server=http://{proxy}"));
    args.push(format!("--user-data-dir={}", profile.display()));
    args.push(format!("--js-flags=--max-old-space-size={heap_mb}"));
    args.push(format!(
        "--window-size={},{}",
        config.viewport.0, config.viewport.1
    ));
    if let Some(agent) = &config.user_agent {
        args.push(format!("--user-agent={agent}"));
    }
    if !config.sandbox {
        args.push("--no-sandbox".into());
    }
    args.push("about:blank".into());
    args
}

/// Adds up the memory of the browser and every process under it; past `budget`, kills them
/// all and says so.
async fn watch_memory(pid: Option<u32>, budget: u64, over: Arc<AtomicBool>) {
    let Some(pid) = pid else {
        return;
    };
    loop {
        tokio::time::sleep(MEMORY_POLL).await;
        let used = tokio::task::spawn_blocking(move || tree_memory(pid))
            .await
            .unwrap_or(0);
        if used > budget {
            tracing::warn!(
                used_mb = used >> 20,
                budget_mb = budget >> 20,
                "render: the browser went over its memory budget; killed"
            );
            over.store(true, Ordering::Relaxed);
            kill_tree(pid);
            return;
        }
    }
}

/// (pid, parent, memory) of every process, read from /proc. Memory is the proportional set
/// size (`Pss` of `smaps_rollup`: shared pages split between the processes sharing them), so
/// that chromium's processes, which share most of their pages, are not counted many times
/// over (their summed RSS on about:blank is 2.4 times their PSS); RSS where PSS is unreadable.
fn processes() -> Vec<(u32, u32, u64)> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.flatten()
        .filter_map(|entry| entry.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(|pid| {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
            let (parent, rss) = parse_stat(&stat)?;
            Some((pid, parent, rss))
        })
        .collect()
}

/// The proportional set size of `pid`, in bytes.
fn pss(pid: u32) -> Option<u64> {
    let rollup = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).ok()?;
    parse_pss(&rollup)
}

fn parse_pss(rollup: &str) -> Option<u64> {
    let kb: u64 = rollup
        .lines()
        .find_map(|l| l.strip_prefix("Pss:"))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()?;
    Some(kb.saturating_mul(1024))
}

/// The parent pid and resident bytes from `/proc/PID/stat`. The command name (field 2) is
/// in parentheses and may hold spaces and parentheses, so fields are counted after the last
/// `)`: state, ppid, ... rss is the 22nd after it (field 24), in pages of 4 KiB.
fn parse_stat(stat: &str) -> Option<(u32, u64)> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let parent = fields.get(1)?.parse().ok()?;
    let pages: u64 = fields.get(21)?.parse().ok()?;
    Some((parent, pages.saturating_mul(4096)))
}

/// `root` and its descendants.
fn tree(root: u32, all: &[(u32, u32, u64)]) -> Vec<(u32, u64)> {
    let mut out = vec![];
    let mut frontier = vec![root];
    while let Some(pid) = frontier.pop() {
        if let Some((_, _, rss)) = all.iter().find(|(p, _, _)| *p == pid) {
            out.push((pid, *rss));
        }
        frontier.extend(
            all.iter()
                .filter(|(_, parent, _)| *parent == pid)
                .map(|(p, _, _)| *p)
                .filter(|p| !out.iter().any(|(seen, _)| seen == p)),
        );
    }
    out
}

fn tree_memory(root: u32) -> u64 {
    tree(root, &processes())
        .iter()
        .map(|(pid, rss)| pss(*pid).unwrap_or(*rss))
        .sum()
}

/// Kills the browser's process group and every process under it (a renderer that left the
/// group is still under it).
fn kill_tree(root: u32) {
    let pids: Vec<u32> = tree(root, &processes())
        .into_iter()
        .map(|(p, _)| p)
        .collect();
    let Ok(group) = i32::try_from(root) else {
        return;
    };
    // SAFETY: kill(2) takes plain integers and touches no memory of ours; the group is the
    // one `process_group(0)` made for the browser (its pid), so nothing else is signalled.
    unsafe {
        libc::kill(-group, libc::SIGKILL);
    }
    for pid in pids {
        if let Ok(pid) = i32::try_from(pid) {
            // SAFETY: as above; these are the browser's own descendants, read just now.
            unsafe {
                libc::kill(pid, libc::SIGKILL);
            }
        }
    }
}

/// Whether this process runs as root, where chromium's sandbox cannot start.
pub fn running_as_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|l| l.strip_prefix("Uid:"))
                .and_then(|ids| ids.split_whitespace().nth(1).map(|euid| euid == "0"))
        })
        .unwrap_or(false)
}

/// A temporary directory removed on drop (the browser's profile), without a crate for it.
mod tempfile_dir {
    use std::path::{Path, PathBuf};

    pub struct TempDir(PathBuf);

    impl TempDir {
        pub fn new() -> std::io::Result<TempDir> {
            let path = std::env::temp_dir().join(format!(
                "sitepatrol-render-{}-{:016x}",
                std::process::id(),
                fastrand_u64()
            ));
            std::fs::create_dir(&path)?;
            Ok(TempDir(path))
        }

        pub fn path(&self) -> &Path {
            &self.0
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    /// A name nobody guesses in advance (the directory is created, never opened if present).
    fn fastrand_u64() -> u64 {
        use std::hash::{BuildHasher, Hasher};
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u128(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0),
        );
        h.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_lines() {
        let stat = "1234 (chromium (x) y) S 1000 1234 1234 0 -1 4194560 100 0 0 0 5 3 0 0 20 0 \
                    12 0 999 123456789 2560 18446744073709551615";
        assert_eq!(parse_stat(stat), Some((1000, 2560 * 4096)));
        assert_eq!(parse_stat("garbage"), None);
        assert_eq!(parse_stat("1 (x) S"), None);
    }

    #[test]
    fn pss_lines() {
        let rollup = "55d0-7ffd ---p 00000000 00:00 0 [rollup]\nRss: 120000 kB\nPss: 51234 kB\n";
        assert_eq!(parse_pss(rollup), Some(51234 * 1024));
        assert_eq!(parse_pss("Rss: 1 kB\n"), None);
        assert_eq!(parse_pss("Pss: lots kB\n"), None);
    }

    #[test]
    fn trees_of_processes() {
        let all = [(1, 0, 10), (5, 1, 20), (6, 5, 30), (7, 1, 40), (8, 2, 50)];
        let mut t: Vec<u32> = tree(5, &all).into_iter().map(|(p, _)| p).collect();
        t.sort();
        assert_eq!(t, [5, 6]);
        assert_eq!(tree(1, &all).iter().map(|(_, r)| r).sum::<u64>(), 100);
    }
}
