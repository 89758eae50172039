//! Child processes that cannot outlive us. The postmaster is spawned by a dedicated "keeper"
//! thread that then blocks in `wait()` for it; the child sets `PR_SET_PDEATHSIG` in `pre_exec`
//! (after std has switched uid/gid, so the kernel does not clear it), so when the keeper thread
//! dies — which happens when our process exits, panics out or is SIGKILLed — the kernel signals
//! the server. A thread of its own is needed because the death signal is tied to the spawning
//! *thread*, not the process: a short-lived caller thread would shut the server down.

use std::io;
use std::os::unix::process::CommandExt;
use std::process::{Command, ExitStatus};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::thread::JoinHandle;
use std::time::Duration;

/// Makes `cmd`'s process receive `signal` when the spawning thread exits.
pub(crate) fn set_parent_death_signal(cmd: &mut Command, signal: libc::c_int) {
    let parent = pid_t(std::process::id());
    // SAFETY: the closure only makes async-signal-safe system calls (prctl, getppid).
    unsafe {
        cmd.pre_exec(move || {
            if libc::prctl(
                libc::PR_SET_PDEATHSIG,
                libc::c_ulong::from(signal.unsigned_abs()),
                0,
                0,
                0,
            ) != 0
            {
                return Err(io::Error::last_os_error());
            }
            // The parent may have died between fork and prctl: then nobody would signal us.
            if libc::getppid() != parent {
                return Err(io::Error::other("parent process exited during spawn"));
            }
            Ok(())
        });
    }
}

/// A child process owned by a keeper thread that waits on it.
#[derive(Debug)]
pub(crate) struct Keeper {
    pid: u32,
    exit_rx: Receiver<Result<ExitStatus, String>>,
    exit: Option<Result<ExitStatus, String>>,
    thread: Option<JoinHandle<()>>,
}

impl Keeper {
    /// Spawns `cmd` from a new keeper thread; the child gets `death_signal` when that thread ends.
    pub(crate) fn spawn(mut cmd: Command, death_signal: libc::c_int) -> io::Result<Keeper> {
        let (pid_tx, pid_rx) = mpsc::sync_channel::<io::Result<u32>>(1);
        let (exit_tx, exit_rx) = mpsc::sync_channel(1);
        let thread = std::thread::Builder::new()
            .name("pgbase-devdb-keeper".into())
            .spawn(move || {
                set_parent_death_signal(&mut cmd, death_signal);
                let mut child = match cmd.spawn() {
                    Ok(c) => c,
                    Err(e) => {
                        let _ = pid_tx.send(Err(e));
                        return;
                    }
                };
                let _ = pid_tx.send(Ok(child.id()));
                let status = child.wait().map_err(|e| e.to_string());
                let _ = exit_tx.send(status);
            })?;
        let pid = match pid_rx.recv() {
            Ok(r) => r?,
            Err(_) => return Err(io::Error::other("keeper thread ended before spawning")),
        };
        Ok(Keeper {
            pid,
            exit_rx,
            exit: None,
            thread: Some(thread),
        })
    }

    pub(crate) fn pid(&self) -> u32 {
        self.pid
    }

    /// The exit status if the child has exited (waiting at most `timeout`).
    pub(crate) fn wait_timeout(
        &mut self,
        timeout: Duration,
    ) -> Option<&Result<ExitStatus, String>> {
        if self.exit.is_none() {
            match self.exit_rx.recv_timeout(timeout) {
                Ok(status) => self.exit = Some(status),
                Err(RecvTimeoutError::Timeout) => return None,
                Err(RecvTimeoutError::Disconnected) => {
                    self.exit = Some(Err("keeper thread ended".into()))
                }
            }
            if let Some(t) = self.thread.take() {
                let _ = t.join();
            }
        }
        self.exit.as_ref()
    }

    pub(crate) fn has_exited(&mut self) -> bool {
        self.wait_timeout(Duration::ZERO).is_some()
    }

    /// Sends `signal` unless the child has already been reaped (its pid may be reused then).
    pub(crate) fn signal(&mut self, signal: libc::c_int) {
        if !self.has_exited() {
            // SAFETY: kill has no memory-safety preconditions.
            unsafe { libc::kill(pid_t(self.pid), signal) };
        }
    }
}

/// A process id as libc takes it (Linux pids stay below 2^22, so this never saturates).
fn pid_t(pid: u32) -> libc::pid_t {
    libc::pid_t::try_from(pid).unwrap_or(libc::pid_t::MAX)
}

/// Whether a process with this pid exists and is not a zombie.
pub fn process_alive(pid: u32) -> bool {
    let Ok(pid_t) = libc::pid_t::try_from(pid) else {
        return false;
    };
    if pid_t <= 0 {
        return false;
    }
    // SAFETY: signal 0 only checks for existence and permission.
    let rc = unsafe { libc::kill(pid_t, 0) };
    if rc != 0 && io::Error::last_os_error().raw_os_error() != Some(libc::EPERM) {
        return false;
    }
    // A zombie (exited, not yet reaped — e.g. an orphan under a PID 1 that never reaps) is dead.
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .is_none_or(|state| state != "Z" && state != "X"),
        Err(_) => true,
    }
}

/// Whether `pid` is alive and runs the `postgres` executable.
pub(crate) fn is_live_postgres(pid: u32) -> bool {
    process_alive(pid)
        && std::fs::read_to_string(format!("/proc/{pid}/comm"))
            .map(|c| c.trim() == "postgres")
            .unwrap_or(true)
}
