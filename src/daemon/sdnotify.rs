//! The systemd notify protocol, by hand: one datagram per message to `$NOTIFY_SOCKET`, sent
//! without waiting. A full or missing socket is logged, never waited on: the daemon's work
//! matters more than its reports.

use std::os::unix::ffi::OsStrExt;
use std::os::unix::net::UnixDatagram;
use std::time::Duration;

use nix::sys::socket::{MsgFlags, UnixAddr, sendto};

/// A connection to systemd's notify socket, if the service has one.
pub struct Notifier {
    socket: Option<(UnixDatagram, UnixAddr)>,
    /// Half of `$WATCHDOG_USEC`, when the watchdog is on and meant for this process.
    pub watchdog: Option<Duration>,
    failures: u64,
}

impl Notifier {
    /// Reads `$NOTIFY_SOCKET`, `$WATCHDOG_USEC` and `$WATCHDOG_PID`.
    pub fn from_env() -> Notifier {
        let socket = std::env::var_os("NOTIFY_SOCKET").and_then(|path| {
            let bytes = path.as_bytes();
            // A leading '@' names an abstract socket.
            let addr = match bytes.strip_prefix(b"@") {
                Some(name) => UnixAddr::new_abstract(name).ok()?,
                None => UnixAddr::new(bytes).ok()?,
            };
            let sock = UnixDatagram::unbound().ok()?;
            Some((sock, addr))
        });
        let for_us = std::env::var("WATCHDOG_PID")
            .ok()
            .and_then(|p| p.parse::<u32>().ok())
            .is_none_or(|pid| pid == std::process::id());
        let watchdog = std::env::var("WATCHDOG_USEC")
            .ok()
            .and_then(|u| u.parse::<u64>().ok())
            .filter(|&u| u > 0 && for_us)
            .map(|u| Duration::from_micros(u / 2));
        Notifier {
            socket,
            watchdog,
            failures: 0,
        }
    }

    /// Sends one message (e.g. `READY=1\nSTATUS=…`). Never blocks.
    pub fn send(&mut self, message: &str) {
        let Some((sock, addr)) = &self.socket else {
            return;
        };
        use std::os::fd::AsRawFd;
        match sendto(
            sock.as_raw_fd(),
            message.as_bytes(),
            addr,
            MsgFlags::MSG_DONTWAIT | MsgFlags::MSG_NOSIGNAL,
        ) {
            Ok(_) => self.failures = 0,
            Err(e) => {
                self.failures += 1;
                // The first failure and then every hundredth: a gone socket must not flood logs.
                if self.failures == 1 || self.failures % 100 == 0 {
                    tracing::warn!(error = %e, failures = self.failures, "cannot notify systemd");
                }
            }
        }
    }

    pub fn ready(&mut self, status: &str) {
        self.send(&format!("READY=1\nSTATUS={}", one_line(status)));
    }

    pub fn status(&mut self, status: &str) {
        self.send(&format!("STATUS={}", one_line(status)));
    }

    pub fn stopping(&mut self) {
        self.send("STOPPING=1\nSTATUS=stopping");
    }

    pub fn reloading(&mut self) {
        self.send("RELOADING=1");
    }

    pub fn watchdog_ping(&mut self) {
        self.send("WATCHDOG=1");
    }
}

/// STATUS is one line.
fn one_line(s: &str) -> String {
    s.replace(['\n', '\r'], " ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sends_datagrams_to_the_socket_without_blocking() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notify");
        let server = UnixDatagram::bind(&path).unwrap();
        let sock = UnixDatagram::unbound().unwrap();
        let mut n = Notifier {
            socket: Some((sock, UnixAddr::new(&path).unwrap())),
            watchdog: None,
            failures: 0,
        };
        n.ready("12 clips\nwatching");
        let mut buf = [0u8; 256];
        let k = server.recv(&mut buf).unwrap();
        assert_eq!(&buf[..k], b"READY=1\nSTATUS=12 clips watching");
        // A full socket does not block the sender: fill it, then keep sending.
        for _ in 0..100_000 {
            n.watchdog_ping();
            if n.failures > 0 {
                break;
            }
        }
        assert!(n.failures > 0, "the socket never filled");
        drop(server);
        n.watchdog_ping();
    }
}
