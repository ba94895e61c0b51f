//! A real SMTP server for the suites: Debian's `python3-aiosmtpd`, started per test on a free
//! port, keeping each message it accepts in a maildir; stopped when dropped.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub struct Smtp {
    child: Child,
    dir: PathBuf,
    pub url: String,
}

/// One message as received: its headers and its body, quoted-printable undone.
#[derive(Debug, Clone)]
pub struct Mail {
    pub to: String,
    pub subject: String,
    pub body: String,
}

impl Smtp {
    pub async fn start() -> Self {
        let port = {
            let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            probe.local_addr().unwrap().port()
        };
        let dir = std::env::temp_dir().join(format!("cc-smtp-{}", uuid::Uuid::new_v4()));
        let child = Command::new("/usr/bin/python3")
            .args(["-m", "aiosmtpd", "-n", "-l"])
            .arg(format!("127.0.0.1:{port}"))
            .args(["-c", "aiosmtpd.handlers.Mailbox"])
            .arg(&dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("python3-aiosmtpd (make test installs it)");
        let smtp = Self {
            child,
            dir,
            url: format!("smtp://127.0.0.1:{port}"),
        };
        for _ in 0..100 {
            if tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_ok()
            {
                return smtp;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("aiosmtpd did not start listening on port {port}");
    }

    /// Every message received so far, oldest first.
    pub fn messages(&self) -> Vec<Mail> {
        let mut files: Vec<(std::time::SystemTime, String, PathBuf)> =
            std::fs::read_dir(self.dir.join("new"))
                .map(|entries| {
                    entries
                        .flatten()
                        .map(|e| {
                            let modified = e.metadata().and_then(|m| m.modified()).unwrap();
                            (modified, e.file_name().to_string_lossy().into(), e.path())
                        })
                        .collect()
                })
                .unwrap_or_default();
        files.sort();
        files
            .into_iter()
            .map(|(_, _, path)| parse(&std::fs::read_to_string(path).unwrap()))
            .collect()
    }

    /// The messages sent to `address`.
    pub fn to(&self, address: &str) -> Vec<Mail> {
        self.messages()
            .into_iter()
            .filter(|m| m.to == address)
            .collect()
    }
}

impl Drop for Smtp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn parse(raw: &str) -> Mail {
    let raw = raw.replace("\r\n", "\n");
    let (head, body) = raw.split_once("\n\n").unwrap_or((&raw, ""));
    // A long header goes on in lines that start with white space.
    let head = head.replace("\n ", " ").replace("\n\t", " ");
    let header = |name: &str| {
        head.lines()
            .find_map(|l| l.strip_prefix(&format!("{name}: ")))
            .unwrap_or_default()
            .to_owned()
    };
    let quoted = head
        .to_ascii_lowercase()
        .contains("content-transfer-encoding: quoted-printable");
    Mail {
        to: header("To"),
        subject: decode_words(&header("Subject")),
        body: if quoted {
            unquote(body)
        } else {
            body.to_owned()
        },
    }
}

/// Undoes RFC 2047's base64 encoded words (`=?utf-8?b?…?=`), as a subject with quotes comes;
/// the white space between two encoded words is not part of the text.
fn decode_words(header: &str) -> String {
    use base64::Engine;
    let mut out = String::new();
    let mut after_encoded = false;
    for word in header.split_whitespace() {
        let encoded = word
            .to_ascii_lowercase()
            .starts_with("=?utf-8?b?")
            .then(|| word.strip_suffix("?="))
            .flatten()
            .and_then(|inner| {
                base64::engine::general_purpose::STANDARD
                    .decode(&inner[10..])
                    .ok()
            });
        let joined = after_encoded && encoded.is_some();
        if !(out.is_empty() || joined) {
            out.push(' ');
        }
        after_encoded = encoded.is_some();
        match encoded {
            Some(bytes) => out.push_str(&String::from_utf8_lossy(&bytes)),
            None => out.push_str(word),
        }
    }
    out
}

/// Undoes quoted-printable: soft line breaks and `=XX` bytes.
fn unquote(body: &str) -> String {
    let joined = body.replace("=\n", "");
    let bytes = joined.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'='
            && i + 2 < bytes.len()
            && let Ok(byte) = u8::from_str_radix(&joined[i + 1..i + 3], 16)
        {
            out.push(byte);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}
