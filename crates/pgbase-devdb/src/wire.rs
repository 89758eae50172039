//! Just enough of the PostgreSQL wire protocol (version 3) to run one statement over the
//! cluster's unix socket as a role that authenticates with `trust`: the cluster sets the
//! superuser's password with it right after start, so this crate needs no database client.
//! Any authentication request other than "ok" is refused rather than answered.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

use crate::DevDbError;

/// How long one read or write on the socket may take.
const IO_TIMEOUT: Duration = Duration::from_secs(10);
/// The protocol version in the startup message: 3.0.
const PROTOCOL_3_0: i32 = 196_608;
/// Larger messages than this are not expected in answer to a utility statement.
const MAX_MESSAGE: usize = 1 << 20;

/// Runs `sql` (one simple-protocol query) in database `postgres` as `user` over `socket` (the
/// path of `.s.PGSQL.<port>`). The server must let `user` in without a password.
pub(crate) fn execute(socket: &Path, user: &str, sql: &str) -> Result<(), DevDbError> {
    let fail = |message: String| DevDbError::Setup {
        socket: socket.to_path_buf(),
        message,
    };
    let mut stream = UnixStream::connect(socket).map_err(|e| fail(e.to_string()))?;
    stream
        .set_read_timeout(Some(IO_TIMEOUT))
        .and_then(|()| stream.set_write_timeout(Some(IO_TIMEOUT)))
        .map_err(|e| fail(e.to_string()))?;

    let mut startup = PROTOCOL_3_0.to_be_bytes().to_vec();
    for part in ["user", user, "database", "postgres"] {
        push_cstr(&mut startup, part).map_err(fail)?;
    }
    startup.push(0);
    send(&mut stream, None, &startup).map_err(fail)?;
    read_until_ready(&mut stream, true).map_err(fail)?;

    let mut query = Vec::with_capacity(sql.len() + 1);
    push_cstr(&mut query, sql).map_err(fail)?;
    send(&mut stream, Some(b'Q'), &query).map_err(fail)?;
    read_until_ready(&mut stream, false).map_err(fail)?;
    // Terminate; the server closes the connection anyway when we drop the stream.
    let _ = send(&mut stream, Some(b'X'), &[]);
    Ok(())
}

fn push_cstr(buf: &mut Vec<u8>, text: &str) -> Result<(), String> {
    if text.as_bytes().contains(&0) {
        return Err("a protocol string may not contain a NUL byte".to_string());
    }
    buf.extend_from_slice(text.as_bytes());
    buf.push(0);
    Ok(())
}

fn send(stream: &mut UnixStream, kind: Option<u8>, body: &[u8]) -> Result<(), String> {
    let len = i32::try_from(body.len() + 4).map_err(|_| "message too long".to_string())?;
    let mut message = Vec::with_capacity(body.len() + 5);
    message.extend(kind);
    message.extend_from_slice(&len.to_be_bytes());
    message.extend_from_slice(body);
    stream.write_all(&message).map_err(|e| e.to_string())
}

/// Reads messages until ReadyForQuery; the first ErrorResponse becomes the error. During
/// start-up an error ends the exchange (the server closes the connection after it).
fn read_until_ready(stream: &mut UnixStream, startup: bool) -> Result<(), String> {
    let mut error = None;
    loop {
        let mut head = [0u8; 5];
        stream.read_exact(&mut head).map_err(|e| e.to_string())?;
        let len = i32::from_be_bytes([head[1], head[2], head[3], head[4]]);
        let len = usize::try_from(len)
            .ok()
            .filter(|l| (4..=MAX_MESSAGE).contains(l))
            .ok_or_else(|| format!("unexpected message length {len}"))?;
        let mut body = vec![0u8; len - 4];
        stream.read_exact(&mut body).map_err(|e| e.to_string())?;
        match head[0] {
            b'R' => {
                let code = body
                    .get(..4)
                    .map(|b| i32::from_be_bytes([b[0], b[1], b[2], b[3]]));
                if code != Some(0) {
                    return Err(format!(
                        "the server asked for a password on the unix socket (authentication \
                         request {code:?}); its pg_hba.conf must keep `local ... trust`"
                    ));
                }
            }
            b'E' => {
                let message = error_text(&body);
                if startup {
                    return Err(message);
                }
                error.get_or_insert(message);
            }
            b'Z' => return error.map_or(Ok(()), Err),
            _ => {}
        }
    }
}

/// `SQLSTATE: message` from an ErrorResponse body.
fn error_text(body: &[u8]) -> String {
    let (mut code, mut message) = (String::new(), String::new());
    for field in body.split(|b| *b == 0) {
        match field.split_first() {
            Some((b'C', value)) => code = String::from_utf8_lossy(value).into_owned(),
            Some((b'M', value)) => message = String::from_utf8_lossy(value).into_owned(),
            _ => {}
        }
    }
    format!("{code}: {message}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_fields_are_read() {
        let body = b"SERROR\0C42501\0Mpermission denied\0\0";
        assert_eq!(error_text(body), "42501: permission denied");
    }

    #[test]
    fn nul_bytes_are_refused() {
        let mut buf = Vec::new();
        assert!(push_cstr(&mut buf, "a\0b").is_err());
        assert!(push_cstr(&mut buf, "ab").is_ok());
        assert_eq!(buf, b"ab\0");
    }
}
