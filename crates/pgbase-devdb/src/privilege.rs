//! Running the server as an unprivileged user when we are root: `initdb` and `postgres` refuse to
//! run as root, so they are started as the `postgres` system user (else `nobody`), and the
//! directories they write to are created for and handed over (`chown`) to that user.

use std::ffi::CString;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use crate::DevDbError;

/// The account the server processes run as (only used when we are root).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RunAs {
    pub uid: u32,
    pub gid: u32,
    pub name: String,
}

/// `None` when not root (the server runs as we do); the `postgres` or `nobody` user otherwise.
pub(crate) fn server_user() -> Result<Option<RunAs>, DevDbError> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Ok(None);
    }
    for name in ["postgres", "nobody"] {
        if let Some((uid, gid)) = lookup_user(name) {
            return Ok(Some(RunAs {
                uid,
                gid,
                name: name.to_string(),
            }));
        }
    }
    Err(DevDbError::NoUnprivilegedUser)
}

/// uid and gid of a user, via the thread-safe `getpwnam_r`.
fn lookup_user(name: &str) -> Option<(u32, u32)> {
    let cname = CString::new(name).ok()?;
    let mut buf = vec![0 as libc::c_char; 4096];
    // SAFETY: passwd is plain old data; zeroed is a valid (if meaningless) value.
    let mut pwd: libc::passwd = unsafe { std::mem::zeroed() };
    let mut result: *mut libc::passwd = std::ptr::null_mut();
    loop {
        // SAFETY: every pointer is valid for the duration of the call, buf.len() is its size.
        let rc = unsafe {
            libc::getpwnam_r(
                cname.as_ptr(),
                &mut pwd,
                buf.as_mut_ptr(),
                buf.len(),
                &mut result,
            )
        };
        if rc == libc::ERANGE && buf.len() < 1 << 20 {
            buf.resize(buf.len() * 2, 0);
            continue;
        }
        if rc != 0 || result.is_null() {
            return None;
        }
        return Some((pwd.pw_uid, pwd.pw_gid));
    }
}

/// `chown path user` (no-op when `user` is `None`).
pub(crate) fn chown(path: &Path, user: Option<&RunAs>) -> Result<(), DevDbError> {
    if let Some(u) = user {
        std::os::unix::fs::chown(path, Some(u.uid), Some(u.gid))
            .map_err(|e| DevDbError::io("change the owner of", path, e))?;
    }
    Ok(())
}

/// `mkdir -p path`, handing every directory it creates (and `path` itself) to `user`.
pub(crate) fn create_dir_owned(path: &Path, user: Option<&RunAs>) -> Result<(), DevDbError> {
    let mut missing: Vec<PathBuf> = Vec::new();
    let mut cur = Some(path);
    while let Some(p) = cur {
        if p.as_os_str().is_empty() || p.exists() {
            break;
        }
        missing.push(p.to_path_buf());
        cur = p.parent();
    }
    for dir in missing.iter().rev() {
        match std::fs::create_dir(dir) {
            Ok(()) => chown(dir, user)?,
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(DevDbError::io("create", dir, e)),
        }
    }
    chown(path, user)
}

/// Checks that `user` may enter every existing ancestor of `path` (root's own home is 0700 on
/// most systems, and the server would otherwise fail with a less helpful message).
pub(crate) fn check_reachable(path: &Path, user: Option<&RunAs>) -> Result<(), DevDbError> {
    let Some(u) = user else { return Ok(()) };
    let mut dirs: Vec<&Path> = path.ancestors().filter(|p| p.exists()).collect();
    dirs.reverse();
    for dir in dirs {
        let Ok(meta) = std::fs::metadata(dir) else {
            continue;
        };
        let mode = meta.mode();
        let bit = if meta.uid() == u.uid {
            0o100
        } else if meta.gid() == u.gid {
            0o010
        } else {
            0o001
        };
        if mode & bit == 0 {
            return Err(DevDbError::DirNotAccessible {
                path: dir.to_path_buf(),
                user: u.name.clone(),
            });
        }
    }
    Ok(())
}
