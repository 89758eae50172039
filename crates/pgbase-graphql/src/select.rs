//! Selection sets: fragments (named and inline, with cycle detection) are expanded for the
//! concrete type, `@skip`/`@include` applied, fields with the same response key merged,
//! and every field checked against the type (unknown fields named with a suggestion).
//! Arguments are coerced against the field's argument definitions.

use std::collections::HashMap;

use graphql_parser::Pos;
use graphql_parser::query::{
    Directive, Field as AstField, FragmentDefinition, Selection, SelectionSet, TypeCondition,
};
use serde_json::{Map, Value};

use crate::error::{GraphqlError, with_suggestion};
use crate::input::{coerce, literal};
use crate::types::{Field, Reflected, Resolve, Role, TypeDef};

type Result<T> = std::result::Result<T, GraphqlError>;

/// Per-operation context.
pub struct Ctx<'q> {
    pub schema: &'q Reflected,
    pub fragments: HashMap<&'q str, &'q FragmentDefinition<'q, &'q str>>,
    pub variables: Map<String, Value>,
    /// Fragment expansions so far (bounded: nested spreads can multiply).
    pub expansions: std::cell::Cell<usize>,
    /// Selection sets entered so far on the way to the current one (bounded: fragments can
    /// nest selections deeper than the document's own brackets).
    pub depth: std::cell::Cell<usize>,
    /// Fields resolved by introspection so far (bounded: lists multiply them).
    pub introspected: std::cell::Cell<usize>,
}

/// One level of selection entered by [`Ctx::descend`]; leaving it (dropping the guard)
/// goes back up, on errors too.
pub struct Level<'c> {
    depth: &'c std::cell::Cell<usize>,
}

impl Drop for Level<'_> {
    fn drop(&mut self) {
        self.depth.set(self.depth.get().saturating_sub(1));
    }
}

/// Most fragment expansions one request may cause.
pub const MAX_EXPANSIONS: usize = 10_000;

/// One merged field of a selection.
pub struct Sel<'q> {
    /// Alias, or the field name.
    pub key: &'q str,
    pub name: &'q str,
    pub pos: Pos,
    pub ast: &'q AstField<'q, &'q str>,
    pub sets: Vec<&'q SelectionSet<'q, &'q str>>,
}

const MAX_FRAGMENT_DEPTH: usize = 32;

/// Deepest nesting of selection sets accepted once fragments are expanded.
pub const MAX_SELECTION_DEPTH: usize = crate::engine::MAX_DEPTH;

impl<'q> Ctx<'q> {
    /// Enters one more level of nested selections: every walk of the selections (planner,
    /// introspection) holds one [`Level`] per level it recurses into, so a document whose
    /// fragments nest selections without end gets an error rather than a stack overflow.
    pub fn descend(&self) -> Result<Level<'_>> {
        let n = self.depth.get() + 1;
        if n > MAX_SELECTION_DEPTH {
            return Err(GraphqlError::new(format!(
                "Query is nested too deeply: selections nest more than {MAX_SELECTION_DEPTH} \
                 levels once fragments are expanded"
            )));
        }
        self.depth.set(n);
        Ok(Level { depth: &self.depth })
    }

    /// The fields selected on `ty` by `sets`, merged by response key, in document order,
    /// each checked against `ty`.
    pub fn collect(
        &self,
        ty: &TypeDef,
        sets: &[&'q SelectionSet<'q, &'q str>],
    ) -> Result<Vec<Sel<'q>>> {
        let out = self.gather(ty, sets)?;
        for sel in &out {
            self.check_field(ty, sel)?;
        }
        Ok(out)
    }

    /// The fields selected on `ty` by `sets`, merged by response key, in document order,
    /// not yet checked against `ty` ([`Ctx::check_field`]).
    pub fn gather(
        &self,
        ty: &TypeDef,
        sets: &[&'q SelectionSet<'q, &'q str>],
    ) -> Result<Vec<Sel<'q>>> {
        let mut out: Vec<Sel<'q>> = Vec::new();
        let mut stack: Vec<&'q str> = Vec::new();
        for set in sets {
            self.collect_into(ty, set, &mut out, &mut stack)?;
        }
        Ok(out)
    }

    fn collect_into(
        &self,
        ty: &TypeDef,
        set: &'q SelectionSet<'q, &'q str>,
        out: &mut Vec<Sel<'q>>,
        stack: &mut Vec<&'q str>,
    ) -> Result<()> {
        for item in &set.items {
            match item {
                Selection::Field(f) => {
                    if !self.included(&f.directives)? {
                        continue;
                    }
                    let key = f.alias.unwrap_or(f.name);
                    match out.iter_mut().find(|s| s.key == key) {
                        Some(existing) => {
                            // pg_graphql's words (its issue_237 suites)
                            if existing.name != f.name {
                                return Err(GraphqlError::at(
                                    format!(
                                        "Fields `{}` and `{}` are different",
                                        f.name, existing.name
                                    ),
                                    f.position,
                                ));
                            }
                            if existing.ast.arguments != f.arguments {
                                return Err(GraphqlError::at(
                                    format!("Two fields named `{key}` have different arguments"),
                                    f.position,
                                ));
                            }
                            existing.sets.push(&f.selection_set);
                        }
                        None => out.push(Sel {
                            key,
                            name: f.name,
                            pos: f.position,
                            ast: f,
                            sets: vec![&f.selection_set],
                        }),
                    }
                }
                Selection::FragmentSpread(spread) => {
                    if !self.included(&spread.directives)? {
                        continue;
                    }
                    let name = spread.fragment_name;
                    let Some(frag) = self.fragments.get(name) else {
                        return Err(GraphqlError::at(
                            format!("Unknown fragment {name}"),
                            spread.position,
                        ));
                    };
                    if stack.contains(&name) {
                        return Err(GraphqlError::new("Found a cycle between fragments"));
                    }
                    if stack.len() >= MAX_FRAGMENT_DEPTH {
                        return Err(GraphqlError::new(format!(
                            "Fragment cycle depth is greater than {MAX_FRAGMENT_DEPTH}"
                        )));
                    }
                    self.expand()?;
                    let TypeCondition::On(cond) = frag.type_condition;
                    if !self.applies(ty, cond)? {
                        continue;
                    }
                    stack.push(name);
                    self.collect_into(ty, &frag.selection_set, out, stack)?;
                    stack.pop();
                }
                Selection::InlineFragment(inline) => {
                    if !self.included(&inline.directives)? {
                        continue;
                    }
                    if let Some(TypeCondition::On(cond)) = inline.type_condition
                        && !self.applies(ty, cond)?
                    {
                        continue;
                    }
                    self.collect_into(ty, &inline.selection_set, out, stack)?;
                }
            }
        }
        Ok(())
    }

    fn expand(&self) -> Result<()> {
        let n = self.expansions.get() + 1;
        self.expansions.set(n);
        if n > MAX_EXPANSIONS {
            return Err(GraphqlError::new(format!(
                "Too many fragment expansions: the limit is {MAX_EXPANSIONS}"
            )));
        }
        Ok(())
    }

    /// Whether a fragment on `cond` applies to objects of type `ty`.
    fn applies(&self, ty: &TypeDef, cond: &str) -> Result<bool> {
        if self.schema.ty(cond).is_none() {
            return Err(GraphqlError::new(format!("Unknown type {cond}")));
        }
        Ok(ty.name == cond || ty.interfaces.iter().any(|i| i == cond))
    }

    /// `@skip(if:)` / `@include(if:)`.
    fn included(&self, directives: &[Directive<'q, &'q str>]) -> Result<bool> {
        for d in directives {
            let (skip_when, label) = match d.name {
                "skip" => (true, "@skip"),
                "include" => (false, "@include"),
                other => {
                    return Err(GraphqlError::at(
                        format!("Unknown directive {other}"),
                        d.position,
                    ));
                }
            };
            let mut cond = None;
            for (name, value) in &d.arguments {
                if *name != "if" {
                    return Err(GraphqlError::at(
                        format!("Unknown argument to {label}: {name}"),
                        d.position,
                    ));
                }
                cond = literal(value, &self.variables);
            }
            let Some(Value::Bool(cond)) = cond else {
                return Err(GraphqlError::at(
                    format!("Value for \"if\" in {label} directive is required"),
                    d.position,
                ));
            };
            if cond == skip_when {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// Whether `ty` has the field `sel` selects.
    pub fn check_field(&self, ty: &TypeDef, sel: &Sel<'q>) -> Result<()> {
        if sel.name == "__typename" {
            return Ok(());
        }
        if ty.name == "Query"
            && self.schema.introspection
            && (sel.name == "__schema" || sel.name == "__type")
        {
            return Ok(());
        }
        if ty.field(sel.name).is_none()
            && sel.name == "aggregate"
            && matches!(ty.role, Role::Connection(_))
        {
            return Err(GraphqlError::at(
                "enable the aggregate directive to use aggregates",
                sel.pos,
            ));
        }
        if ty.field(sel.name).is_none() {
            return Err(GraphqlError::at(
                with_suggestion(
                    unknown_field(ty, sel.name),
                    sel.name,
                    ty.fields.iter().map(|f| f.name.as_str()),
                ),
                sel.pos,
            ));
        }
        Ok(())
    }

    /// The field's arguments, coerced; absent arguments without default are left out.
    pub fn args(&self, field: &Field, sel: &Sel<'q>) -> Result<Map<String, Value>> {
        let mut out = Map::new();
        for (name, _) in &sel.ast.arguments {
            if field.arg(name).is_none() {
                // pg_graphql reads the arguments as one input object
                let message = format!("Input contains extra keys [\"{name}\"]");
                return Err(GraphqlError::at(
                    with_suggestion(message, name, field.args.iter().map(|a| a.name.as_str())),
                    sel.pos,
                ));
            }
        }
        for def in &field.args {
            let given = sel
                .ast
                .arguments
                .iter()
                .find(|(n, _)| *n == def.name)
                .and_then(|(_, v)| literal(v, &self.variables));
            let value = match given {
                Some(v) => v,
                None => match &def.default {
                    Some(d) => serde_json::from_str(d).unwrap_or(Value::Null),
                    // pg_graphql names the missing key columns of a `…ByPk` field (the
                    // planner does) and words any other missing argument as a null
                    None if def.ty.is_non_null() && !matches!(field.resolve, Resolve::ByPk(_)) => {
                        return Err(GraphqlError::at("Invalid input for NonNull type", sel.pos));
                    }
                    None => continue,
                },
            };
            let coerced = coerce(self.schema, &value, &def.ty).map_err(|e| e.or_at(sel.pos))?;
            out.insert(def.name.clone(), coerced);
        }
        Ok(out)
    }
}

/// pg_graphql's words for a field `name` that type `ty` does not have; they differ by the
/// kind of type (its builders word them one by one). A `…ByPk` field's own selection is
/// worded as on `Query` (see [`unknown_field_by_pk`]).
pub fn unknown_field(ty: &TypeDef, name: &str) -> String {
    let t = &ty.name;
    match ty.role {
        Role::Node(_) => format!("Unknown field '{name}' on type '{t}'"),
        Role::Connection(_) => "unknown field in connection".into(),
        Role::Edge(_) => "unknown field in edge".into(),
        Role::PageInfo => "unknown field in pageInfo".into(),
        Role::Aggregate(_) => format!("Unknown field \"{name}\" selected on type \"{t}\""),
        Role::AggregateGroup(..) => {
            format!("Unknown or invalid field \"{name}\" selected on type \"{t}\"")
        }
        Role::Response(_) if t.ends_with("InsertResponse") => "unknown field in insert".into(),
        Role::Response(_) if t.ends_with("UpdateResponse") => "unknown field in update".into(),
        Role::Response(_) if t.ends_with("DeleteResponse") => "unknown field in delete".into(),
        _ => unknown_field_by_pk(ty, name),
    }
}

/// `Unknown field "x" on type T`: a field unknown to `Query`, `Mutation`, or to the row a
/// `…ByPk` field selects.
pub fn unknown_field_by_pk(ty: &TypeDef, name: &str) -> String {
    format!("Unknown field \"{name}\" on type {}", ty.name)
}

/// Leaf fields must have no selection; object fields must have one.
pub fn check_leaf(sel: &Sel<'_>, leaf: bool) -> Result<()> {
    let has = sel.sets.iter().any(|s| !s.items.is_empty());
    if leaf && has {
        return Err(GraphqlError::at(
            format!("Field \"{}\" must not have a selection", sel.name),
            sel.pos,
        ));
    }
    if !leaf && !has {
        return Err(GraphqlError::at(
            format!("Field \"{}\" requires a selection set", sel.name),
            sel.pos,
        ));
    }
    Ok(())
}
