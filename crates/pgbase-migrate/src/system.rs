//! The system schemas pgbase installs before any user migration, embedded from `sql/` at the
//! repository root. Each file is applied once, in order, and recorded in
//! `pgbase.system_migrations` with the checksum of the text it applied. A file changed after a
//! release comes with an upgrade (`sql/upgrade/`): idempotent SQL that brings a database which
//! applied any earlier text of that file to the current one, run under the migration lock when
//! its probe finds a piece of the current text missing, before later files are applied.

/// One embedded system schema file.
#[derive(Debug, Clone, Copy)]
pub struct SystemSchema {
    /// Ordering key, the number in the file name (`0001`).
    pub version: i32,
    /// The file name, e.g. `0001_pgbase.sql`.
    pub name: &'static str,
    pub sql: &'static str,
    /// How a database that applied an earlier text of this file reaches the current one.
    pub upgrade: Option<SystemUpgrade>,
}

/// The in-place upgrade of one system file from its earlier texts.
#[derive(Debug, Clone, Copy)]
pub struct SystemUpgrade {
    /// A query returning one boolean: true when the database lacks part of the current text.
    pub needed: &'static str,
    /// Idempotent SQL that brings any earlier text's objects to the current ones.
    pub sql: &'static str,
}

/// Every system schema, in the order it is applied.
pub const SYSTEM_SCHEMAS: &[SystemSchema] = &[
    SystemSchema {
        version: 1,
        name: "0001_pgbase.sql",
        sql: include_str!("../../../sql/0001_pgbase.sql"),
        // Earlier texts gave service_role BYPASSRLS and made the event trigger only as a
        // superuser; the upgrade tries again, as the current text does (a login that may not
        // gets a warning, never a failure).
        upgrade: Some(SystemUpgrade {
            needed: "select not exists (select from pg_event_trigger
                    where evtname = 'pgbase_ddl_end' and evtevent = 'ddl_command_end'
                      and evtfoid = to_regprocedure('pgbase.on_ddl()'))
                or exists (select from pg_roles where rolname = 'service_role' and not rolbypassrls)",
            sql: include_str!("../../../sql/upgrade/0001_pgbase.sql"),
        }),
    },
    SystemSchema {
        version: 2,
        name: "0002_auth.sql",
        sql: include_str!("../../../sql/0002_auth.sql"),
        upgrade: None,
    },
    SystemSchema {
        version: 3,
        name: "0003_extensions_jwt.sql",
        sql: include_str!("../../../sql/0003_extensions_jwt.sql"),
        upgrade: None,
    },
    SystemSchema {
        version: 4,
        name: "0004_pgmq.sql",
        sql: include_str!("../../../sql/0004_pgmq.sql"),
        upgrade: Some(SystemUpgrade {
            needed: "select to_regclass('pgmq.notify_insert_settings') is null
                or to_regprocedure('pgmq.enable_notify_insert(text, integer)') is null
                or to_regprocedure('pgmq._send_one(text, jsonb, jsonb, timestamptz)') is null
                or to_regprocedure('pgmq_public.delete(text, bigint)') is null",
            sql: include_str!("../../../sql/upgrade/0004_pgmq.sql"),
        }),
    },
    SystemSchema {
        version: 5,
        name: "0005_cron.sql",
        sql: include_str!("../../../sql/0005_cron.sql"),
        upgrade: Some(SystemUpgrade {
            needed: "select to_regprocedure('cron._runner_for(text)') is null",
            sql: include_str!("../../../sql/upgrade/0005_cron.sql"),
        }),
    },
    SystemSchema {
        version: 6,
        name: "0006_net.sql",
        sql: include_str!("../../../sql/0006_net.sql"),
        upgrade: Some(SystemUpgrade {
            needed: "select not exists (select from pg_attribute
                where attrelid = 'net.http_request_queue'::regclass
                  and attname = 'claimed_by' and not attisdropped)",
            sql: include_str!("../../../sql/upgrade/0006_net.sql"),
        }),
    },
    SystemSchema {
        version: 7,
        name: "0007_safety.sql",
        sql: include_str!("../../../sql/0007_safety.sql"),
        upgrade: None,
    },
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_strictly_increasing_and_match_file_names() {
        for pair in SYSTEM_SCHEMAS.windows(2) {
            assert!(pair[0].version < pair[1].version);
        }
        for schema in SYSTEM_SCHEMAS {
            assert!(schema.name.starts_with(&format!("{:04}_", schema.version)));
        }
    }
}
