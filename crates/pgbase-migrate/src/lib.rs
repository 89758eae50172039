//! Migrations: the embedded system schemas (`sql/*.sql` at the repository root) and the user's
//! `migrations/*.sql`, applied in name order, each in its own transaction, under one advisory
//! lock so concurrent pgbase processes apply every file exactly once.
//!
//! Entry points: [`migrate`] (system schemas, then user migrations, then a schema-cache reload
//! notification), [`apply_system_schemas`] (what the test harness puts into its template),
//! [`status`] and [`new_migration`].

mod error;
mod locate;
mod runner;
mod system;
mod user;

pub use error::{FailedMigration, MigrateError};
pub use locate::{SourceLocation, locate_offset, split_statements};
pub use runner::{MigrateReport, apply_system_schemas, migrate, status, system_outdated};
pub use system::{SYSTEM_SCHEMAS, SystemSchema, SystemUpgrade};
pub use user::{AppliedMigration, MigrationFile, MigrationState, discover, new_migration};
