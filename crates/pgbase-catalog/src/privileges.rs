//! Privilege checks against the cached ACLs: "can role R do P on object O",
//! including privileges inherited through role membership and grants to PUBLIC.
//!
//! This mirrors PostgreSQL's ACL check for the objects the API touches; it does not
//! model predefined roles with implicit rights (`pg_read_all_data`, ...), nor
//! `SET ROLE`-only memberships. Row-level security is not a privilege: see
//! [`crate::Table::policies`].

use crate::cache::SchemaCache;
use crate::model::{Grant, Grantee, Privilege, Role};
use std::collections::{BTreeMap, HashMap};

/// An object whose ACL can be checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Object<'a> {
    /// A schema (`USAGE`, `CREATE`).
    Schema(&'a str),
    /// A table, view, ... (`SELECT`, `INSERT`, `UPDATE`, `DELETE`, ...).
    Table { schema: &'a str, name: &'a str },
    /// One column: the table-level privilege or a column-level grant.
    Column {
        schema: &'a str,
        table: &'a str,
        column: &'a str,
    },
    /// A function by oid (overloads have separate ACLs; `EXECUTE`).
    Function(u32),
}

impl<'a> Object<'a> {
    pub fn table(schema: &'a str, name: &'a str) -> Self {
        Object::Table { schema, name }
    }
    pub fn column(schema: &'a str, table: &'a str, column: &'a str) -> Self {
        Object::Column {
            schema,
            table,
            column,
        }
    }
}

/// For every role, the roles whose privileges it uses: itself, then every role
/// reachable through memberships that inherit.
pub(crate) fn effective_roles(roles: &BTreeMap<String, Role>) -> HashMap<String, Vec<String>> {
    roles
        .keys()
        .map(|name| {
            let mut seen = vec![name.clone()];
            let mut i = 0;
            while i < seen.len() {
                if let Some(role) = roles.get(&seen[i]) {
                    for m in role.member_of.iter().filter(|m| m.inherit) {
                        if !seen.contains(&m.role) {
                            seen.push(m.role.clone());
                        }
                    }
                }
                i += 1;
            }
            (name.clone(), seen)
        })
        .collect()
}

impl SchemaCache {
    /// The roles whose privileges `role` uses (itself first); empty for an unknown role.
    pub fn effective_roles(&self, role: &str) -> &[String] {
        self.effective_roles
            .get(role)
            .map(Vec::as_slice)
            .unwrap_or(&[])
    }

    /// Whether `role` is `other` or inherits its privileges.
    pub fn role_inherits(&self, role: &str, other: &str) -> bool {
        self.effective_roles(role).iter().any(|r| r == other)
    }

    /// Whether a grant list gives `privilege` to `role` (directly, inherited, or PUBLIC).
    pub fn grants_allow(&self, grants: &[Grant], role: &str, privilege: Privilege) -> bool {
        let effective = self.effective_roles(role);
        grants.iter().any(|g| {
            g.privilege == privilege
                && match &g.grantee {
                    Grantee::Public => true,
                    Grantee::Role(r) => effective.iter().any(|e| e == r),
                }
        })
    }

    /// Can `role` exercise `privilege` on `object`? Superusers can do everything;
    /// unknown roles and unknown objects can do nothing. Checks only the object's own
    /// ACL (combine with `Object::Schema` for schema `USAGE`).
    pub fn can(&self, role: &str, privilege: Privilege, object: Object<'_>) -> bool {
        let Some(r) = self.role(role) else {
            return false;
        };
        if r.superuser {
            return true;
        }
        match object {
            Object::Schema(name) => self
                .schema(name)
                .is_some_and(|s| self.grants_allow(&s.grants, role, privilege)),
            Object::Table { schema, name } => self
                .table(schema, name)
                .is_some_and(|t| self.grants_allow(&t.grants, role, privilege)),
            Object::Column {
                schema,
                table,
                column,
            } => self.table(schema, table).is_some_and(|t| {
                self.grants_allow(&t.grants, role, privilege)
                    || t.column(column)
                        .is_some_and(|c| self.grants_allow(&c.grants, role, privilege))
            }),
            Object::Function(oid) => self
                .function_by_oid(oid)
                .is_some_and(|f| self.grants_allow(&f.grants, role, privilege)),
        }
    }

    /// Can `role` exercise `privilege` on at least one column of the table (what
    /// PostgreSQL requires to even reference the table, and what pg_graphql checks
    /// for insert/update mutations)?
    pub fn can_any_column(
        &self,
        role: &str,
        privilege: Privilege,
        schema: &str,
        table: &str,
    ) -> bool {
        let Some(t) = self.table(schema, table) else {
            return false;
        };
        self.can(role, privilege, Object::table(schema, table))
            || t.columns
                .iter()
                .any(|c| self.can(role, privilege, Object::column(schema, table, &c.name)))
    }

    /// Names of the columns of `schema.table` on which `role` has `privilege`.
    pub fn permitted_columns(
        &self,
        role: &str,
        privilege: Privilege,
        schema: &str,
        table: &str,
    ) -> Vec<&str> {
        let Some(t) = self.table(schema, table) else {
            return Vec::new();
        };
        t.columns
            .iter()
            .filter(|c| self.can(role, privilege, Object::column(schema, table, &c.name)))
            .map(|c| c.name.as_str())
            .collect()
    }
}
