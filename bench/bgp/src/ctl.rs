//! Persistent control connections used for tight polling: FRR's vty socket (command + NUL,
//! reply ends with three NULs and a status byte) and BIRD's control socket (line protocol with
//! four-digit reply codes; `DDDD-` continues, `DDDD ` ends a reply).

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

/// How long one command may take before the connection counts as broken.
const IO_TIMEOUT: Duration = Duration::from_secs(30);

/// A session on an FRR daemon's vty socket, in the enable node.
pub struct Vty {
    /// The connection to `/var/run/frr/<pathspace>/<daemon>.vty`.
    sock: UnixStream,
}

impl Vty {
    /// Connects to `path` and enters the enable node.
    pub fn connect(path: &Path) -> Result<Vty, String> {
        let sock =
            UnixStream::connect(path).map_err(|e| format!("connect {}: {e}", path.display()))?;
        sock.set_read_timeout(Some(IO_TIMEOUT))
            .and_then(|_| sock.set_write_timeout(Some(IO_TIMEOUT)))
            .map_err(|e| format!("socket timeout on {}: {e}", path.display()))?;
        let mut v = Vty { sock };
        v.cmd("enable")?;
        Ok(v)
    }

    /// Sends `cmd` and returns the reply text; `Err` when the daemon rejects it.
    pub fn cmd(&mut self, cmd: &str) -> Result<String, String> {
        let mut msg = cmd.as_bytes().to_vec();
        msg.push(0);
        self.sock
            .write_all(&msg)
            .map_err(|e| format!("vty write `{cmd}`: {e}"))?;
        let mut buf = Vec::new();
        let mut chunk = [0u8; 65536];
        loop {
            let n = self
                .sock
                .read(&mut chunk)
                .map_err(|e| format!("vty read `{cmd}`: {e}"))?;
            if n == 0 {
                return Err(format!("vty closed the connection during `{cmd}`"));
            }
            buf.extend_from_slice(&chunk[..n]);
            let len = buf.len();
            if len >= 4 && buf[len - 4..len - 1] == [0, 0, 0] {
                let status = buf[len - 1];
                buf.truncate(len - 4);
                let text = String::from_utf8_lossy(&buf).into_owned();
                return if status == 0 {
                    Ok(text)
                } else {
                    Err(format!(
                        "`{cmd}` rejected (status {status}): {}",
                        text.trim()
                    ))
                };
            }
        }
    }

    /// `cmd` parsed as JSON.
    pub fn json(&mut self, cmd: &str) -> Result<serde_json::Value, String> {
        let text = self.cmd(cmd)?;
        serde_json::from_str(&text).map_err(|e| format!("`{cmd}`: not JSON ({e})"))
    }

    /// Runs configuration lines in one `configure terminal` … `end` block.
    pub fn configure(&mut self, lines: &[String]) -> Result<(), String> {
        self.cmd("configure terminal")?;
        let r = lines.iter().try_for_each(|l| self.cmd(l).map(|_| ()));
        self.cmd("end")?;
        r
    }
}

/// A session on BIRD's control socket.
pub struct Birdc {
    /// Reader over the socket (replies are line-based).
    reader: BufReader<UnixStream>,
    /// Writer half (a clone of the same socket).
    writer: UnixStream,
}

impl Birdc {
    /// Connects to `path` and reads the greeting.
    pub fn connect(path: &Path) -> Result<Birdc, String> {
        let sock =
            UnixStream::connect(path).map_err(|e| format!("connect {}: {e}", path.display()))?;
        sock.set_read_timeout(Some(IO_TIMEOUT))
            .and_then(|_| sock.set_write_timeout(Some(IO_TIMEOUT)))
            .map_err(|e| format!("socket timeout on {}: {e}", path.display()))?;
        let writer = sock
            .try_clone()
            .map_err(|e| format!("clone BIRD socket: {e}"))?;
        let mut b = Birdc {
            reader: BufReader::new(sock),
            writer,
        };
        b.reply("greeting")?;
        Ok(b)
    }

    /// Reads one reply; returns its lines without the codes.
    fn reply(&mut self, what: &str) -> Result<Vec<String>, String> {
        let mut lines = Vec::new();
        loop {
            let mut line = String::new();
            let n = self
                .reader
                .read_line(&mut line)
                .map_err(|e| format!("BIRD reply to `{what}`: {e}"))?;
            if n == 0 {
                return Err(format!("BIRD closed the control socket during `{what}`"));
            }
            let line = line.trim_end_matches('\n');
            let b = line.as_bytes();
            if b.len() >= 5 && b[..4].iter().all(u8::is_ascii_digit) {
                let code: u32 = line[..4].parse().unwrap_or(0);
                lines.push(line[5..].to_owned());
                if b[4] == b' ' {
                    if code >= 8000 {
                        return Err(format!("BIRD rejects `{what}`: {}", line[5..].trim()));
                    }
                    return Ok(lines);
                }
            } else {
                lines.push(line.trim_start().to_owned());
            }
        }
    }

    /// Runs a command and returns its reply lines.
    pub fn cmd(&mut self, cmd: &str) -> Result<Vec<String>, String> {
        self.writer
            .write_all(format!("{cmd}\n").as_bytes())
            .map_err(|e| format!("BIRD write `{cmd}`: {e}"))?;
        self.reply(cmd)
    }
}
