//! The join emitter, shared by REST and GraphQL: how a level's row (`child`, an alias) is tied
//! to the row of its enclosing level (`parent`) for a [`Join`] of the plan tree.
//!
//! Both front ends read related rows through correlated subqueries (REST: `left join lateral`
//! embeds and `exists` filters; GraphQL: scalar subqueries per to-one row and connection), so
//! a join is a list of conditions on the subquery plus, through a junction table, the junction
//! itself. The one choice left to the caller is how the junction enters ([`Through`]).

use crate::Snippet;
use crate::plan::Join;

/// How a junction table (a many-to-many relationship) enters the child's query.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Through {
    /// ` join junction as child_j on …` after the child's source, the parent side in the
    /// conditions: one child row per junction row, as PostgREST embeds them.
    Join,
    /// One condition `exists(select 1 from junction as child_j where …)`: each child row once,
    /// as pg_graphql's connections list them.
    Exists,
}

/// The SQL of a join: what follows the child's source in `FROM`, and the conditions for its
/// `WHERE`.
#[derive(Debug, Default)]
pub(crate) struct JoinSql {
    /// ` join … on …`, or empty.
    pub(crate) from: Snippet,
    pub(crate) conditions: Vec<Snippet>,
}

/// The SQL tying `child` to `parent` by `join`.
pub(crate) fn join(join: &Join, child: &str, parent: &str, through: Through) -> JoinSql {
    match join {
        Join::Columns(pairs) => JoinSql {
            from: Snippet::new(),
            conditions: pairs
                .iter()
                .map(|(parent_col, child_col)| equal(child, child_col, parent, parent_col))
                .collect(),
        },
        Join::Junction {
            schema,
            table,
            parent: parent_pairs,
            child: child_pairs,
        } => {
            let junction = format!("{child}_j");
            let child_side = child_pairs
                .iter()
                .map(|(child_col, junction_col)| equal(&junction, junction_col, child, child_col));
            let parent_side = parent_pairs.iter().map(|(parent_col, junction_col)| {
                equal(&junction, junction_col, parent, parent_col)
            });
            let mut from = Snippet::sql(match through {
                Through::Join => " join ",
                Through::Exists => "exists(select 1 from ",
            });
            from.push(Snippet::qualified(schema, table))
                .push_sql(" as ")
                .push_ident(&junction);
            match through {
                Through::Join => {
                    from.push_sql(" on ")
                        .push(Snippet::join(child_side, " and "));
                    JoinSql {
                        from,
                        conditions: parent_side.collect(),
                    }
                }
                Through::Exists => {
                    from.push_sql(" where ")
                        .push(Snippet::join(child_side.chain(parent_side), " and "))
                        .push_sql(")");
                    JoinSql {
                        from: Snippet::new(),
                        conditions: vec![from],
                    }
                }
            }
        }
        Join::Computed => JoinSql::default(),
    }
}

/// `child.c = parent.p and …` for `(parent column, child column)` pairs (`true` for none): a
/// to-one row read from a related table.
pub(crate) fn join_pairs(child: &str, parent: &str, pairs: &[(String, String)]) -> Snippet {
    if pairs.is_empty() {
        return Snippet::sql("true");
    }
    Snippet::join(
        pairs
            .iter()
            .map(|(parent_col, child_col)| equal(child, child_col, parent, parent_col)),
        " and ",
    )
}

/// `left."l" = right."r"`.
fn equal(left: &str, left_col: &str, right: &str, right_col: &str) -> Snippet {
    let mut c = Snippet::ident(left);
    c.push_sql(".")
        .push_ident(left_col)
        .push_sql(" = ")
        .push_ident(right)
        .push_sql(".")
        .push_ident(right_col);
    c
}

#[cfg(test)]
mod tests {
    use super::*;

    fn junction() -> Join {
        Join::Junction {
            schema: "public".into(),
            table: "post_tags".into(),
            parent: vec![("id".into(), "post_id".into())],
            child: vec![("id".into(), "tag_id".into())],
        }
    }

    #[test]
    fn a_junction_is_joined_or_tested_for_existence() {
        let joined = join(&junction(), "c", "p", Through::Join);
        assert_eq!(
            joined.from.render().0,
            " join \"public\".\"post_tags\" as \"c_j\" on \"c_j\".\"tag_id\" = \"c\".\"id\""
        );
        let conditions: Vec<String> = joined.conditions.iter().map(|c| c.render().0).collect();
        assert_eq!(conditions, ["\"c_j\".\"post_id\" = \"p\".\"id\""]);

        let exists = join(&junction(), "c", "p", Through::Exists);
        assert!(exists.from.is_empty());
        let conditions: Vec<String> = exists.conditions.iter().map(|c| c.render().0).collect();
        assert_eq!(
            conditions,
            [
                "exists(select 1 from \"public\".\"post_tags\" as \"c_j\" where \
              \"c_j\".\"tag_id\" = \"c\".\"id\" and \"c_j\".\"post_id\" = \"p\".\"id\")"
            ]
        );
    }

    #[test]
    fn column_pairs_are_one_condition_each_whatever_the_junction_form() {
        let pairs = Join::Columns(vec![
            ("id".into(), "post_id".into()),
            ("lang".into(), "lang".into()),
        ]);
        for through in [Through::Join, Through::Exists] {
            let sql = join(&pairs, "c", "p", through);
            assert!(sql.from.is_empty());
            let conditions: Vec<String> = sql.conditions.iter().map(|c| c.render().0).collect();
            assert_eq!(
                conditions,
                [
                    "\"c\".\"post_id\" = \"p\".\"id\"",
                    "\"c\".\"lang\" = \"p\".\"lang\""
                ]
            );
        }
        assert!(
            join(&Join::Computed, "c", "p", Through::Join)
                .conditions
                .is_empty()
        );
    }
}
