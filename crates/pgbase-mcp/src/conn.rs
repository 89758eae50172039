//! The MCP server's database connections: a small set of clients, each with its driver task
//! forwarding the server's notices (`raise notice`, warnings) into a channel the tools drain, which
//! a pooled `pgbase_db` connection cannot do. The checkout follows the same rule as
//! `pgbase_db::Checkout`: a [`Lease`] goes back idle only when its user said it is outside any
//! transaction ([`Lease::release`]); a lease dropped mid-work has its query cancelled and its
//! connection closed, which rolls its transaction back.

use std::ops::{Deref, DerefMut};
use std::sync::{Arc, Mutex};

use futures_util::StreamExt;
use pgbase_db::ConnectConfig;
use tokio::sync::mpsc;
use tokio_postgres::{AsyncMessage, Client};

/// Why no connection could be had.
#[derive(Debug, thiserror::Error)]
pub enum ConnError {
    #[error("cannot connect to the database: {0}")]
    Connect(String),
}

/// One client and the notices its server sent.
pub struct Conn {
    client: Client,
    notices: mpsc::UnboundedReceiver<String>,
}

impl Conn {
    /// The notices received since the last call, as `SEVERITY: message` lines.
    pub fn take_notices(&mut self) -> Vec<String> {
        let mut out = Vec::new();
        while let Ok(notice) = self.notices.try_recv() {
            out.push(notice);
        }
        out
    }
}

/// Where the tools get their connections (cheap to clone).
#[derive(Clone)]
pub struct Connector {
    config: ConnectConfig,
    idle: Arc<Mutex<Vec<Conn>>>,
}

/// At most this many idle connections are kept.
const MAX_IDLE: usize = 4;

impl Connector {
    pub fn new(config: impl Into<ConnectConfig>) -> Connector {
        Connector {
            config: config.into(),
            idle: Arc::new(Mutex::new(Vec::new())),
        }
    }

    /// An idle connection, or a new one.
    pub async fn get(&self) -> Result<Lease, ConnError> {
        let reused = match self.idle.lock() {
            Ok(mut idle) => idle.pop(),
            Err(poisoned) => poisoned.into_inner().pop(),
        };
        let conn = match reused {
            Some(conn) if !conn.client.is_closed() => conn,
            _ => self.connect().await?,
        };
        Ok(Lease {
            conn: Some(conn),
            tls: self.config.tls.clone(),
            idle: self.idle.clone(),
            clean: false,
        })
    }

    async fn connect(&self) -> Result<Conn, ConnError> {
        let (client, mut connection) =
            self.config.connect().await.map_err(|e| {
                ConnError::Connect(pgbase_db::explain(&e, &self.config.pg).to_string())
            })?;
        let (tx, notices) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            let mut messages = futures_util::stream::poll_fn(move |cx| connection.poll_message(cx));
            while let Some(message) = messages.next().await {
                match message {
                    Ok(AsyncMessage::Notice(notice)) => {
                        let _ = tx.send(format!("{}: {}", notice.severity(), notice.message()));
                    }
                    Ok(_) => {}
                    Err(_) => break,
                }
            }
        });
        Ok(Conn { client, notices })
    }
}

/// A connection checked out for one tool call.
pub struct Lease {
    conn: Option<Conn>,
    tls: pgbase_db::MakeRustls,
    idle: Arc<Mutex<Vec<Conn>>>,
    clean: bool,
}

impl Lease {
    /// Says the connection is idle outside any transaction; it goes back when dropped.
    pub fn release(mut self) {
        self.clean = true;
    }

    fn conn(&self) -> &Conn {
        match &self.conn {
            Some(conn) => conn,
            None => unreachable!("a lease holds its connection until dropped"),
        }
    }

    /// The notices received since the last call.
    pub fn take_notices(&mut self) -> Vec<String> {
        match &mut self.conn {
            Some(conn) => conn.take_notices(),
            None => Vec::new(),
        }
    }
}

impl Deref for Lease {
    type Target = Client;
    fn deref(&self) -> &Client {
        &self.conn().client
    }
}

impl DerefMut for Lease {
    fn deref_mut(&mut self) -> &mut Client {
        match &mut self.conn {
            Some(conn) => &mut conn.client,
            None => unreachable!("a lease holds its connection until dropped"),
        }
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        let Some(mut conn) = self.conn.take() else {
            return;
        };
        if self.clean {
            conn.take_notices();
            let mut idle = match self.idle.lock() {
                Ok(idle) => idle,
                Err(poisoned) => poisoned.into_inner(),
            };
            if idle.len() < MAX_IDLE {
                idle.push(conn);
            }
            return;
        }
        // Abandoned mid-work: cancel what it runs, then close it (rolling back its transaction).
        let cancel = conn.client.cancel_token();
        let tls = self.tls.clone();
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                let _ = cancel.cancel_query(tls).await;
                drop(conn);
            });
        }
    }
}
