//! Relationship derivation, as PostgREST 12 does it (`SchemaCache.hs`):
//!
//! 1. every foreign key gives a many-to-one, or a one-to-one when its columns are
//!    exactly the PK or a UNIQUE constraint of the referencing table
//!    (`allM2OandO2ORels`; pass `foreign_key_relationships`);
//! 2. those propagate to views that select all the key's columns
//!    (`addViewM2OAndO2ORels`, view-table, table-view and view-view;
//!    `view_relationships`);
//! 3. many-to-many through a junction: a relation with two different many-to-one
//!    relationships whose columns together are part of the junction's primary key
//!    (`addM2MRels`; extra PK columns allowed, unique keys do not count upstream;
//!    `junction_relationships`);
//! 4. the inverse of every many-to-one (one-to-many) and one-to-one
//!    (`addInverseRels`; `inverse`);
//! 5. computed relationships `f(t) RETURNS SETOF u [ROWS 1]` override the detected
//!    relationships from `t` to a relation named like the function
//!    (`getOverrideRelationshipsMap`; `override_with_computed`);
//! 6. only relationships whose source, target and junction are in the exposed
//!    schemas are kept (`removeInternal`; `group_exposed`).
//!
//! [`derive()`] runs these passes in this order, one function each.

use crate::model::{ForeignKey, QualifiedName, Table};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap, HashSet};

/// How many rows of the target one source row relates to.
///
/// The variant order follows PostgREST's `Cardinality` (O2M, M2O, O2O, M2M), which
/// orders relationships in error details.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Cardinality {
    #[serde(rename = "o2m")]
    OneToMany,
    #[serde(rename = "m2o")]
    ManyToOne,
    #[serde(rename = "o2o")]
    OneToOne,
    #[serde(rename = "m2m")]
    ManyToMany,
}

impl Cardinality {
    /// PostgREST's short name (`m2o`, `o2m`, `o2o`, `m2m`) used in PGRST201 details.
    pub fn as_str(self) -> &'static str {
        match self {
            Cardinality::OneToMany => "o2m",
            Cardinality::ManyToOne => "m2o",
            Cardinality::OneToOne => "o2o",
            Cardinality::ManyToMany => "m2m",
        }
    }
}

/// A junction (join) table of a many-to-many relationship.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Junction {
    pub table: QualifiedName,
    /// FK constraint from the junction to the source.
    pub source_constraint: String,
    /// FK constraint from the junction to the target.
    pub target_constraint: String,
    /// `(source column, junction column)` pairs.
    pub source_columns: Vec<(String, String)>,
    /// `(target column, junction column)` pairs.
    pub target_columns: Vec<(String, String)>,
}

/// What joins the two sides of a relationship.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Link {
    /// A foreign key between source and target (either direction).
    ForeignKey {
        constraint: String,
        /// `(source column, target column)` pairs, in key order.
        columns: Vec<(String, String)>,
        /// One-to-one only: `true` when the source is the referenced ("parent") side,
        /// `false` when the source holds the FK (PostgREST `isParent`).
        parent: bool,
    },
    /// Many-to-many through a junction table.
    Junction(Junction),
    /// A computed relationship: `function(source) RETURNS SETOF target`.
    Computed {
        function: QualifiedName,
        /// Not set-returning, or `ROWS 1`.
        to_one: bool,
    },
}

/// A relationship usable for resource embedding, from `source` to `target`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Relationship {
    pub source: QualifiedName,
    pub target: QualifiedName,
    /// Computed relationships are `ManyToOne` when to-one, else `OneToMany`.
    pub cardinality: Cardinality,
    pub is_self: bool,
    pub source_is_view: bool,
    pub target_is_view: bool,
    pub link: Link,
}

impl Relationship {
    /// The embedding yields an object (M2O, O2O, to-one computed) rather than an array.
    pub fn is_to_one(&self) -> bool {
        match &self.link {
            Link::Computed { to_one, .. } => *to_one,
            _ => matches!(
                self.cardinality,
                Cardinality::ManyToOne | Cardinality::OneToOne
            ),
        }
    }

    pub fn is_computed(&self) -> bool {
        matches!(self.link, Link::Computed { .. })
    }

    /// FK constraint name(s): one for FK relationships, both junction FKs for M2M,
    /// none for computed relationships.
    pub fn constraints(&self) -> Vec<&str> {
        match &self.link {
            Link::ForeignKey { constraint, .. } => vec![constraint.as_str()],
            Link::Junction(j) => vec![j.source_constraint.as_str(), j.target_constraint.as_str()],
            Link::Computed { .. } => Vec::new(),
        }
    }

    /// `(source column, target column)` pairs of a direct FK relationship; empty for
    /// junction and computed relationships.
    pub fn column_pairs(&self) -> &[(String, String)] {
        match &self.link {
            Link::ForeignKey { columns, .. } => columns,
            _ => &[],
        }
    }

    /// The junction of a many-to-many relationship.
    pub fn junction(&self) -> Option<&Junction> {
        match &self.link {
            Link::Junction(j) => Some(j),
            _ => None,
        }
    }

    fn sort_key(&self) -> impl Ord + '_ {
        (
            self.is_computed(),
            &self.target,
            self.is_self,
            self.cardinality,
            &self.link,
            self.source_is_view,
            self.target_is_view,
        )
    }
}

/// A view's dependency on a base-table key (PostgREST `ViewKeyDependency`), as
/// delivered by the catalog query.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ViewKeyDependency {
    pub table_schema: String,
    pub table_name: String,
    pub view_schema: String,
    pub view_name: String,
    pub constraint_name: String,
    /// `p` (primary key of the table), `f` (FK held by the table), `f_ref` (FK
    /// referencing the table).
    pub constraint_type: String,
    /// `(table column, [view columns selecting it])`, in key order.
    pub columns: Vec<(String, Vec<String>)>,
}

impl ViewKeyDependency {
    fn table(&self) -> QualifiedName {
        QualifiedName::new(&self.table_schema, &self.table_name)
    }
    fn view(&self) -> QualifiedName {
        QualifiedName::new(&self.view_schema, &self.view_name)
    }
    /// Every choice of one view column per key column (cartesian product), as
    /// `(table column, view column)` lists.
    fn expand(&self) -> Vec<Vec<(String, String)>> {
        let mut out: Vec<Vec<(String, String)>> = vec![Vec::new()];
        for (tcol, vcols) in &self.columns {
            let mut next = Vec::with_capacity(out.len() * vcols.len());
            for prefix in &out {
                for vcol in vcols {
                    let mut p = prefix.clone();
                    p.push((tcol.clone(), vcol.clone()));
                    next.push(p);
                }
            }
            out = next;
        }
        out
    }
}

/// A computed-relationship candidate: `function(source row) RETURNS [SETOF] target`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ComputedRelationship {
    pub function_schema: String,
    pub function_name: String,
    pub function_oid: u32,
    pub source_schema: String,
    pub source_table: String,
    pub target_schema: String,
    pub target_table: String,
    pub to_one: bool,
}

/// Primary keys of views inferred from the base tables' primary keys the view
/// selects (PostgREST `addViewPrimaryKeys`): for each PK dependency, the first view
/// column of every key column.
pub fn view_primary_keys(deps: &[ViewKeyDependency]) -> HashMap<QualifiedName, Vec<String>> {
    let mut out: HashMap<QualifiedName, Vec<String>> = HashMap::new();
    for dep in deps.iter().filter(|d| d.constraint_type == "p") {
        let cols = out.entry(dep.view()).or_default();
        cols.extend(dep.columns.iter().filter_map(|(_, v)| v.first().cloned()));
    }
    out
}

fn fk_rel(
    source: QualifiedName,
    target: QualifiedName,
    cardinality: Cardinality,
    constraint: &str,
    columns: Vec<(String, String)>,
    flags: (bool, bool, bool),
) -> Relationship {
    let (is_self, source_is_view, target_is_view) = flags;
    Relationship {
        source,
        target,
        cardinality,
        is_self,
        source_is_view,
        target_is_view,
        link: Link::ForeignKey {
            constraint: constraint.to_owned(),
            columns,
            parent: false,
        },
    }
}

/// Derives every relationship and groups them by source relation, each group
/// sorted deterministically (FK-based first, then computed; by target).
///
/// `tables` are the exposed relations (view primary keys already inferred);
/// `foreign_keys` are all FKs of the database (including ones between non-exposed
/// tables, needed for views over them).
pub fn derive(
    exposed_schemas: &[String],
    tables: &[&Table],
    foreign_keys: &[ForeignKey],
    view_key_deps: &[ViewKeyDependency],
    computed: &[ComputedRelationship],
) -> HashMap<QualifiedName, Vec<Relationship>> {
    let table_map: HashMap<QualifiedName, &Table> =
        tables.iter().map(|t| (t.qualified_name(), *t)).collect();
    let is_view = |q: &QualifiedName| table_map.get(q).is_some_and(|t| t.is_view());

    let mut rels = foreign_key_relationships(foreign_keys, &is_view);
    let through_views = view_relationships(&rels, view_key_deps);
    rels.extend(through_views);
    let many_to_many = junction_relationships(&rels, &table_map);
    rels.extend(many_to_many);
    let inverses: Vec<Relationship> = rels.iter().filter_map(inverse).collect();
    rels.extend(inverses);
    override_with_computed(&mut rels, computed, &is_view);
    group_exposed(rels, exposed_schemas)
}

/// Pass 1: a many-to-one (or one-to-one, for a unique key) from every foreign key.
fn foreign_key_relationships(
    foreign_keys: &[ForeignKey],
    is_view: &impl Fn(&QualifiedName) -> bool,
) -> Vec<Relationship> {
    foreign_keys
        .iter()
        .map(|fk| {
            let source = fk.table_name();
            let target = fk.referenced_name();
            let flags = (source == target, is_view(&source), is_view(&target));
            let card = if fk.unique {
                Cardinality::OneToOne
            } else {
                Cardinality::ManyToOne
            };
            let cols = fk
                .columns
                .iter()
                .cloned()
                .zip(fk.referenced_columns.iter().cloned())
                .collect();
            fk_rel(source, target, card, &fk.name, cols, flags)
        })
        .collect()
}

/// Pass 2: the foreign-key relationships carried over to the views that select all of a
/// key's columns (view → table, table → view and view → view).
fn view_relationships(
    rels: &[Relationship],
    view_key_deps: &[ViewKeyDependency],
) -> Vec<Relationship> {
    let mut view_rels = Vec::new();
    for rel in rels {
        let Link::ForeignKey {
            constraint,
            columns,
            parent: false,
        } = &rel.link
        else {
            continue;
        };
        let deps_of = |table: &QualifiedName, kind: &str| -> Vec<&ViewKeyDependency> {
            view_key_deps
                .iter()
                .filter(|d| {
                    d.constraint_type == kind
                        && &d.constraint_name == constraint
                        && &d.table() == table
                })
                .collect()
        };
        let view_table = deps_of(&rel.source, "f");
        let table_view = deps_of(&rel.target, "f_ref");
        for vt in &view_table {
            for combo in vt.expand() {
                let cols = combo
                    .iter()
                    .zip(columns)
                    .map(|((_, v), (_, f))| (v.clone(), f.clone()))
                    .collect();
                view_rels.push(fk_rel(
                    vt.view(),
                    rel.target.clone(),
                    rel.cardinality,
                    constraint,
                    cols,
                    (false, true, false),
                ));
            }
        }
        for tv in &table_view {
            for combo in tv.expand() {
                let cols = columns
                    .iter()
                    .zip(&combo)
                    .map(|((t, _), (_, v))| (t.clone(), v.clone()))
                    .collect();
                view_rels.push(fk_rel(
                    rel.source.clone(),
                    tv.view(),
                    rel.cardinality,
                    constraint,
                    cols,
                    (false, false, true),
                ));
            }
        }
        view_rels.extend(view_to_view(rel, constraint, &view_table, &table_view));
    }
    view_rels
}

/// Pass 2, view → view: one relationship per pair of views over the two ends of `rel`'s key.
fn view_to_view(
    rel: &Relationship,
    constraint: &str,
    view_table: &[&ViewKeyDependency],
    table_view: &[&ViewKeyDependency],
) -> Vec<Relationship> {
    let mut out = Vec::new();
    for vt in view_table {
        for vt_combo in vt.expand() {
            for tv in table_view {
                for tv_combo in tv.expand() {
                    let (v1, v2) = (vt.view(), tv.view());
                    let cols = vt_combo
                        .iter()
                        .zip(&tv_combo)
                        .map(|((_, a), (_, b))| (a.clone(), b.clone()))
                        .collect();
                    let is_self = v1 == v2;
                    out.push(fk_rel(
                        v1,
                        v2,
                        rel.cardinality,
                        constraint,
                        cols,
                        (is_self, true, true),
                    ));
                }
            }
        }
    }
    out
}

/// Pass 3: many-to-many through every junction, a relation with two different many-to-one
/// relationships whose columns together lie in its primary key.
fn junction_relationships(
    rels: &[Relationship],
    table_map: &HashMap<QualifiedName, &Table>,
) -> Vec<Relationship> {
    let mut m2o_by_source: HashMap<&QualifiedName, Vec<&Relationship>> = HashMap::new();
    for rel in rels
        .iter()
        .filter(|r| r.cardinality == Cardinality::ManyToOne)
    {
        m2o_by_source.entry(&rel.source).or_default().push(rel);
    }
    let mut m2m = Vec::new();
    for (jt, jt_rels) in &m2o_by_source {
        let pk: HashSet<&str> = table_map
            .get(*jt)
            .map(|t| t.primary_key.iter().map(String::as_str).collect())
            .unwrap_or_default();
        for r1 in jt_rels {
            for r2 in jt_rels {
                m2m.extend(through_junction(jt, &pk, r1, r2));
            }
        }
    }
    m2m
}

/// Pass 3, one pair: `r1.target` to `r2.target` through junction `jt` (primary key `pk`),
/// when the two keys differ and their junction columns lie in `pk`.
fn through_junction(
    jt: &QualifiedName,
    pk: &HashSet<&str>,
    r1: &Relationship,
    r2: &Relationship,
) -> Option<Relationship> {
    let (
        Link::ForeignKey {
            constraint: c1,
            columns: cols1,
            ..
        },
        Link::ForeignKey {
            constraint: c2,
            columns: cols2,
            ..
        },
    ) = (&r1.link, &r2.link)
    else {
        return None;
    };
    if c1 == c2 {
        return None;
    }
    let in_pk = cols1
        .iter()
        .chain(cols2)
        .all(|(jcol, _)| pk.contains(jcol.as_str()));
    if !in_pk {
        return None;
    }
    let swap = |cols: &[(String, String)]| -> Vec<(String, String)> {
        cols.iter().map(|(a, b)| (b.clone(), a.clone())).collect()
    };
    Some(Relationship {
        source: r1.target.clone(),
        target: r2.target.clone(),
        cardinality: Cardinality::ManyToMany,
        is_self: r1.target == r2.target,
        source_is_view: r1.target_is_view,
        target_is_view: r2.target_is_view,
        link: Link::Junction(Junction {
            table: jt.clone(),
            source_constraint: c1.clone(),
            target_constraint: c2.clone(),
            source_columns: swap(cols1),
            target_columns: swap(cols2),
        }),
    })
}

/// Pass 4: the inverse of a many-to-one (a one-to-many) or of a one-to-one (the other side).
fn inverse(r: &Relationship) -> Option<Relationship> {
    let Link::ForeignKey {
        constraint,
        columns,
        parent,
    } = &r.link
    else {
        return None;
    };
    let (cardinality, parent) = match r.cardinality {
        Cardinality::ManyToOne => (Cardinality::OneToMany, false),
        Cardinality::OneToOne => (Cardinality::OneToOne, !parent),
        _ => return None,
    };
    Some(Relationship {
        source: r.target.clone(),
        target: r.source.clone(),
        cardinality,
        is_self: r.is_self,
        source_is_view: r.target_is_view,
        target_is_view: r.source_is_view,
        link: Link::ForeignKey {
            constraint: constraint.clone(),
            columns: columns
                .iter()
                .map(|(a, b)| (b.clone(), a.clone()))
                .collect(),
            parent,
        },
    })
}

/// Pass 5: computed relationships replace the detected ones from their source to a relation
/// named like the function, and are added (one per source and function: the last wins, as
/// `HM.fromList`).
fn override_with_computed(
    rels: &mut Vec<Relationship>,
    computed: &[ComputedRelationship],
    is_view: &impl Fn(&QualifiedName) -> bool,
) {
    let overridden: HashSet<(QualifiedName, QualifiedName)> = computed
        .iter()
        .map(|c| {
            (
                QualifiedName::new(&c.source_schema, &c.source_table),
                QualifiedName::new(&c.function_schema, &c.function_name),
            )
        })
        .collect();
    rels.retain(|r| !overridden.contains(&(r.source.clone(), r.target.clone())));
    let mut computed_map: BTreeMap<(QualifiedName, QualifiedName), Relationship> = BTreeMap::new();
    for c in computed {
        let source = QualifiedName::new(&c.source_schema, &c.source_table);
        let target = QualifiedName::new(&c.target_schema, &c.target_table);
        let function = QualifiedName::new(&c.function_schema, &c.function_name);
        let rel = Relationship {
            is_self: source == target,
            source_is_view: is_view(&source),
            target_is_view: is_view(&target),
            cardinality: if c.to_one {
                Cardinality::ManyToOne
            } else {
                Cardinality::OneToMany
            },
            source: source.clone(),
            target,
            link: Link::Computed {
                function: function.clone(),
                to_one: c.to_one,
            },
        };
        computed_map.insert((source, function), rel);
    }
    rels.extend(computed_map.into_values());
}

/// Pass 6: the relationships whose source, target and junction lie in the exposed schemas,
/// grouped by source and sorted.
fn group_exposed(
    rels: Vec<Relationship>,
    exposed_schemas: &[String],
) -> HashMap<QualifiedName, Vec<Relationship>> {
    let exposed = |s: &str| exposed_schemas.iter().any(|e| e == s);
    let mut grouped: HashMap<QualifiedName, Vec<Relationship>> = HashMap::new();
    for rel in rels {
        let junction_ok = rel.junction().is_none_or(|j| exposed(&j.table.schema));
        if exposed(&rel.source.schema) && exposed(&rel.target.schema) && junction_ok {
            grouped.entry(rel.source.clone()).or_default().push(rel);
        }
    }
    for group in grouped.values_mut() {
        group.sort_by(|a, b| a.sort_key().cmp(&b.sort_key()));
    }
    grouped
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(name: &str) -> QualifiedName {
        QualifiedName::new("api", name)
    }

    fn pairs(cols: &[(&str, &str)]) -> Vec<(String, String)> {
        cols.iter()
            .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
            .collect()
    }

    /// `from(cols) references to(cols)` as pass 1 makes it.
    fn m2o(from: &str, to: &str, constraint: &str, cols: &[(&str, &str)]) -> Relationship {
        let flags = (from == to, false, false);
        fk_rel(
            q(from),
            q(to),
            Cardinality::ManyToOne,
            constraint,
            pairs(cols),
            flags,
        )
    }

    #[test]
    fn inverse_turns_many_to_one_around_and_flips_one_to_one_parents() {
        let up = m2o(
            "posts",
            "authors",
            "posts_author_fk",
            &[("author_id", "id")],
        );
        let down = inverse(&up).expect("an inverse");
        assert_eq!((&down.source, &down.target), (&q("authors"), &q("posts")));
        assert_eq!(down.cardinality, Cardinality::OneToMany);
        assert_eq!(
            down.column_pairs(),
            pairs(&[("id", "author_id")]).as_slice()
        );
        let one = Relationship {
            cardinality: Cardinality::OneToOne,
            ..up
        };
        let other = inverse(&one).expect("an inverse");
        assert_eq!(other.cardinality, Cardinality::OneToOne);
        assert!(matches!(other.link, Link::ForeignKey { parent: true, .. }));
        let computed = Relationship {
            link: Link::Computed {
                function: q("f"),
                to_one: true,
            },
            ..one
        };
        assert!(inverse(&computed).is_none());
    }

    #[test]
    fn a_junction_needs_two_keys_inside_its_primary_key() {
        let to_post = m2o("post_tags", "posts", "pt_post_fk", &[("post_id", "id")]);
        let to_tag = m2o("post_tags", "tags", "pt_tag_fk", &[("tag_id", "id")]);
        let jt = q("post_tags");
        let pk: HashSet<&str> = ["post_id", "tag_id", "extra"].into_iter().collect();
        let m2m = through_junction(&jt, &pk, &to_post, &to_tag).expect("posts ↔ tags");
        assert_eq!((&m2m.source, &m2m.target), (&q("posts"), &q("tags")));
        assert_eq!(m2m.cardinality, Cardinality::ManyToMany);
        let junction = m2m.junction().expect("a junction");
        assert_eq!(junction.source_columns, pairs(&[("id", "post_id")]));
        assert_eq!(junction.target_columns, pairs(&[("id", "tag_id")]));
        // the same key twice is no junction
        assert!(through_junction(&jt, &pk, &to_post, &to_post).is_none());
        // a key column outside the primary key is no junction
        let post_only: HashSet<&str> = ["post_id"].into_iter().collect();
        assert!(through_junction(&jt, &post_only, &to_post, &to_tag).is_none());
    }

    #[test]
    fn only_relationships_inside_the_exposed_schemas_are_kept_and_sorted() {
        let visible = m2o("posts", "authors", "a_fk", &[("author_id", "id")]);
        let earlier = m2o("posts", "blogs", "b_fk", &[("blog_id", "id")]);
        let hidden = Relationship {
            target: QualifiedName::new("private", "secrets"),
            ..m2o("posts", "x", "c_fk", &[("secret_id", "id")])
        };
        let mut hidden_junction = earlier.clone();
        hidden_junction.link = Link::Junction(Junction {
            table: QualifiedName::new("private", "pb"),
            source_constraint: "s".into(),
            target_constraint: "t".into(),
            source_columns: Vec::new(),
            target_columns: Vec::new(),
        });
        let grouped = group_exposed(
            vec![earlier.clone(), hidden, hidden_junction, visible.clone()],
            &["api".to_owned()],
        );
        assert_eq!(grouped.len(), 1);
        assert_eq!(grouped[&q("posts")], vec![visible, earlier]);
    }
}
