//! The system schemas pgbase installs before any user migration, embedded from `sql/` at the
//! repository root. Each file is applied once, in order, and recorded in
//! `pgbase.system_migrations`; a newer pgbase brings new files, so upgrades are additive.

/// One embedded system schema file.
#[derive(Debug, Clone, Copy)]
pub struct SystemSchema {
    /// Ordering key, the number in the file name (`0001`).
    pub version: i32,
    /// The file name, e.g. `0001_pgbase.sql`.
    pub name: &'static str,
    pub sql: &'static str,
}

/// Every system schema, in the order it is applied.
pub const SYSTEM_SCHEMAS: &[SystemSchema] = &[
    SystemSchema {
        version: 1,
        name: "0001_pgbase.sql",
        sql: include_str!("../../../sql/0001_pgbase.sql"),
    },
    SystemSchema {
        version: 2,
        name: "0002_auth.sql",
        sql: include_str!("../../../sql/0002_auth.sql"),
    },
    SystemSchema {
        version: 3,
        name: "0003_extensions_jwt.sql",
        sql: include_str!("../../../sql/0003_extensions_jwt.sql"),
    },
    SystemSchema {
        version: 4,
        name: "0004_pgmq.sql",
        sql: include_str!("../../../sql/0004_pgmq.sql"),
    },
    SystemSchema {
        version: 5,
        name: "0005_cron.sql",
        sql: include_str!("../../../sql/0005_cron.sql"),
    },
    SystemSchema {
        version: 6,
        name: "0006_net.sql",
        sql: include_str!("../../../sql/0006_net.sql"),
    },
    SystemSchema {
        version: 7,
        name: "0007_safety.sql",
        sql: include_str!("../../../sql/0007_safety.sql"),
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
