//! From a request (`query`, `variables`, `operationName`) to a plan: the depth limit is
//! checked before parsing (so the recursive parser cannot overflow the stack), the document
//! parsed with `graphql-parser` (its messages are pg_graphql's), fragment cycles refused
//! ([`crate::validate`]), the operation picked, variables (bounded in depth) taken as given
//! (each is coerced where it is used, against the argument's type), the top-level selection validated, and each top-level field planned
//! ([`crate::planner`], which bounds the depth of selections once fragments are expanded)
//! and emitted as one statement by `pgbase_sql::emit_graph` (or answered in Rust:
//! `__typename`, introspection). No I/O happens here.

use std::collections::HashMap;

use graphql_parser::query::{
    Definition, Document, OperationDefinition, SelectionSet, Type as AstType, VariableDefinition,
};
use serde_json::{Map, Value};

use crate::error::GraphqlError;
use crate::execute::Job;
use crate::input::literal;
use crate::introspection;
use crate::planner::Planner;
use crate::select::Ctx;
use crate::types::{Reflected, TypeRef};
use crate::validate::{MAX_INPUT_DEPTH, fragment_cycles, json_depth};

/// Deepest nesting of `{`, `(` and `[` accepted (checked before parsing), and deepest
/// nesting of selections once fragments are expanded (checked while planning).
pub const MAX_DEPTH: usize = 64;
/// Most aliases accepted in one document.
pub const MAX_ALIASES: usize = 200;

/// A GraphQL request.
#[derive(Debug, Clone, Default)]
pub struct Request {
    pub query: String,
    pub variables: Option<Value>,
    pub operation_name: Option<String>,
    /// Came over GET: mutations are refused.
    pub read_only: bool,
}

/// How the engine treats requests (set from the server's configuration).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Options {
    /// Refuse `update…Collection` / `deleteFrom…Collection` without a filter (or with a
    /// filter that selects every row, such as `{}`), as pg-safeupdate refuses an UPDATE or
    /// DELETE without a WHERE clause. On by default.
    pub safe_update: bool,
}

impl Default for Options {
    fn default() -> Options {
        Options { safe_update: true }
    }
}

/// A top-level field's plan.
pub enum Planned {
    Value(Value),
    Sql(Job),
    Failed(GraphqlError),
}

/// What to run for an operation.
pub struct Plan {
    pub mutation: bool,
    pub fields: Vec<(String, Planned)>,
    /// Errors that fail the whole operation with `"data": null` (pg_graphql: a mutation
    /// with any failing field, variables that do not fit their types); when there are
    /// any, `fields` is empty.
    pub errors: Vec<GraphqlError>,
}

impl Plan {
    fn failed(mutation: bool, errors: Vec<GraphqlError>) -> Plan {
        Plan {
            mutation,
            fields: Vec::new(),
            errors,
        }
    }
}

/// The deepest bracket nesting (`{`, `(`, `[`) of a document, scanned without recursion
/// the way graphql-parser's tokenizer reads it, so nothing it parses as a bracket is hidden:
/// comments end at `\r` or `\n`, a block string at the first `"""` not preceded by a
/// backslash, a string at an unescaped `"`. A string the tokenizer would refuse
/// (unterminated, or a line break in a plain string) ends the scan: the parser stops there.
pub fn nesting_depth(query: &str) -> usize {
    let bytes = query.as_bytes();
    let (mut depth, mut max, mut i) = (0usize, 0usize, 0usize);
    while i < bytes.len() {
        match bytes[i] {
            b'#' => {
                while i < bytes.len() && bytes[i] != b'\n' && bytes[i] != b'\r' {
                    i += 1;
                }
            }
            b'"' if bytes[i..].starts_with(b"\"\"\"") => {
                let tail = &query[i + 3..];
                let end = tail
                    .match_indices("\"\"\"")
                    .find(|(at, _)| !tail[..*at].ends_with('\\'));
                match end {
                    Some((at, _)) => i += 3 + at + 2,
                    None => break,
                }
            }
            b'"' => {
                let mut escaped = false;
                let mut end = None;
                for (at, &b) in bytes.iter().enumerate().skip(i + 1) {
                    match b {
                        b'"' if !escaped => {
                            end = Some(at);
                            break;
                        }
                        b'\n' => break,
                        _ => {}
                    }
                    escaped = !escaped && b == b'\\';
                }
                match end {
                    Some(at) => i = at,
                    None => break,
                }
            }
            b'{' | b'(' | b'[' => {
                depth += 1;
                max = max.max(depth);
            }
            b'}' | b')' | b']' => depth = depth.saturating_sub(1),
            _ => {}
        }
        i += 1;
    }
    max
}

fn count_aliases<'a>(set: &SelectionSet<'a, &'a str>) -> usize {
    use graphql_parser::query::Selection;
    set.items
        .iter()
        .map(|s| match s {
            Selection::Field(f) => usize::from(f.alias.is_some()) + count_aliases(&f.selection_set),
            Selection::InlineFragment(i) => count_aliases(&i.selection_set),
            Selection::FragmentSpread(_) => 0,
        })
        .sum()
}

fn type_ref<'a>(t: &AstType<'a, &'a str>) -> TypeRef {
    match t {
        AstType::NamedType(n) => TypeRef::named(n),
        AstType::ListType(inner) => type_ref(inner).list(),
        AstType::NonNullType(inner) => type_ref(inner).non_null(),
    }
}

fn single(message: impl Into<String>) -> Vec<GraphqlError> {
    vec![GraphqlError::new(message)]
}

/// The request's variables with the operation's defaults filled in; their values are checked
/// where they are used (see [`crate::select`]).
fn variables<'a>(
    schema: &Reflected,
    defs: &[VariableDefinition<'a, &'a str>],
    given: Option<&Value>,
) -> Result<Map<String, Value>, GraphqlError> {
    // checked before anything copies or walks the values recursively
    if let Some(Value::Object(m)) = given {
        for (name, value) in m {
            if json_depth(value) > MAX_INPUT_DEPTH {
                return Err(GraphqlError::new(format!(
                    "Variable \"${name}\" is nested too deeply: the limit is {MAX_INPUT_DEPTH} levels"
                )));
            }
        }
    }
    // pg_graphql reads variables from the request as given, declared or not
    let mut out = match given {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(m)) => m.clone(),
        Some(_) => return Err(GraphqlError::new("variables must be an object")),
    };
    for def in defs {
        let ty = type_ref(&def.var_type);
        if schema.ty(ty.base()).is_none() {
            return Err(GraphqlError::at(
                format!("Unknown type {}", ty.base()),
                def.position,
            ));
        }
        // pg_graphql checks a variable's value where it is used, against the argument's type
        // (`Invalid input for AccountFilter type`), not against the declared type; a missing
        // required variable is likewise reported by the argument or directive that needs it
        if !out.contains_key(def.name)
            && let Some(d) = &def.default_value
        {
            out.insert(
                def.name.to_string(),
                literal(d, &Map::new()).unwrap_or(Value::Null),
            );
        }
    }
    Ok(out)
}

/// Parses and validates `request` against `schema` and plans its top-level fields, with the
/// default [`Options`].
pub fn plan(schema: &Reflected, request: &Request) -> Result<Plan, Vec<GraphqlError>> {
    plan_with(schema, request, Options::default())
}

/// Parses and validates `request` against `schema` and plans its top-level fields.
pub fn plan_with(
    schema: &Reflected,
    request: &Request,
    options: Options,
) -> Result<Plan, Vec<GraphqlError>> {
    let depth = nesting_depth(&request.query);
    if depth > MAX_DEPTH {
        return Err(single(format!(
            "Query is nested too deeply: depth {depth} exceeds the limit of {MAX_DEPTH}"
        )));
    }
    let doc: Document<'_, &str> =
        graphql_parser::parse_query(&request.query).map_err(|e| single(e.to_string()))?;
    // pg_graphql's one message for any cycle (its issue_fragment_spread_cycles suite)
    if !fragment_cycles(&doc).is_empty() {
        return Err(single("Found a cycle between fragments"));
    }

    let mut operations = Vec::new();
    let mut fragments = HashMap::new();
    for d in &doc.definitions {
        match d {
            Definition::Operation(op) => operations.push(op),
            Definition::Fragment(f) => {
                fragments.insert(f.name, f);
            }
        }
    }
    let aliases: usize = operations
        .iter()
        .map(|op| match op {
            OperationDefinition::SelectionSet(s) => count_aliases(s),
            OperationDefinition::Query(q) => count_aliases(&q.selection_set),
            OperationDefinition::Mutation(m) => count_aliases(&m.selection_set),
            OperationDefinition::Subscription(s) => count_aliases(&s.selection_set),
        })
        .sum::<usize>()
        + fragments
            .values()
            .map(|f| count_aliases(&f.selection_set))
            .sum::<usize>();
    if aliases > MAX_ALIASES {
        return Err(single(format!(
            "Too many aliases: {aliases} exceeds the limit of {MAX_ALIASES}"
        )));
    }
    fn name_of<'a>(op: &OperationDefinition<'a, &'a str>) -> Option<&'a str> {
        match op {
            OperationDefinition::SelectionSet(_) => None,
            OperationDefinition::Query(q) => q.name,
            OperationDefinition::Mutation(m) => m.name,
            OperationDefinition::Subscription(s) => s.name,
        }
    }
    if operations.len() > 1 && operations.iter().any(|op| name_of(op).is_none()) {
        return Err(single(
            "Anonymous operations must be the only defined operation",
        ));
    }
    let mut names: Vec<&str> = operations.iter().filter_map(|op| name_of(op)).collect();
    names.sort_unstable();
    if names.windows(2).any(|w| w[0] == w[1]) {
        return Err(single("Operation names must be unique"));
    }
    let op = match request.operation_name.as_deref() {
        Some(wanted) => operations
            .iter()
            .find(|op| name_of(op) == Some(wanted))
            .copied(),
        None if operations.len() == 1 => Some(operations[0]),
        None => None,
    };
    let Some(op) = op else {
        return Err(single("Operation not found"));
    };
    let (mutation, defs, set) = match op {
        OperationDefinition::SelectionSet(s) => (false, &[][..], s),
        OperationDefinition::Query(q) => (false, &q.variable_definitions[..], &q.selection_set),
        OperationDefinition::Mutation(m) => (true, &m.variable_definitions[..], &m.selection_set),
        OperationDefinition::Subscription(_) => {
            return Err(single("Subscriptions are not supported"));
        }
    };
    if mutation && request.read_only {
        return Err(single("Mutations are not allowed over GET; use POST"));
    }
    if !matches!(
        request.variables,
        None | Some(Value::Null | Value::Object(_))
    ) {
        return Err(single("variables must be an object"));
    }
    let vars = match variables(schema, defs, request.variables.as_ref()) {
        Ok(v) => v,
        Err(e) => return Ok(Plan::failed(mutation, vec![e])),
    };
    let root_name = if mutation { "Mutation" } else { "Query" };
    let Some(root) = schema.ty(root_name) else {
        return Ok(Plan::failed(
            mutation,
            single(format!("Unknown type {root_name}")),
        ));
    };
    let ctx = Ctx {
        schema,
        fragments,
        variables: vars,
        expansions: std::cell::Cell::new(0),
        depth: std::cell::Cell::new(0),
        introspected: std::cell::Cell::new(0),
    };
    // fields unknown to the root type fail one by one, as pg_graphql resolves them
    let sels = ctx.gather(root, &[set]).map_err(|e| vec![e])?;
    if sels.is_empty() {
        return Err(single("Selection set must not be empty"));
    }
    let planner = Planner::new(&ctx, options);
    let mut fields = Vec::new();
    for sel in &sels {
        let planned = if let Err(e) = ctx.check_field(root, sel) {
            Planned::Failed(e)
        } else if sel.name == "__typename" {
            Planned::Value(Value::String(root_name.into()))
        } else if sel.name == "__schema" || sel.name == "__type" {
            match introspection::resolve_root(&ctx, sel) {
                Ok(v) => Planned::Value(v),
                Err(e) => Planned::Failed(e),
            }
        } else {
            match planner.top_level(root, sel) {
                Ok(statement) => Planned::Sql(Job {
                    sql: pgbase_sql::emit_graph::statement(&statement.plan),
                    at_most: statement.at_most,
                }),
                Err(e) => Planned::Failed(e.or_at(sel.pos)),
            }
        };
        if mutation && let Planned::Failed(e) = planned {
            return Ok(Plan::failed(mutation, vec![e]));
        }
        fields.push((sel.key.to_string(), planned));
    }
    Ok(Plan {
        mutation,
        fields,
        errors: Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn depth_ignores_strings_and_comments() {
        assert_eq!(nesting_depth("{ a { b } }"), 2);
        assert_eq!(nesting_depth("{ a(x: \"{{{{\") }"), 2);
        assert_eq!(nesting_depth("# {{{{\n{ a }"), 1);
        assert_eq!(nesting_depth("{ a(x: \"\"\"{{{\"\"\") }"), 2);
    }

    #[test]
    fn depth_reads_the_document_as_the_tokenizer_does() {
        // a comment ends at a carriage return too
        assert_eq!(nesting_depth("#\r{{"), 2);
        // a block string ends at the first `"""` not preceded by a backslash
        assert_eq!(nesting_depth(r#"{ a(x: """\\"""x""") { b } }"#), 2);
        assert_eq!(nesting_depth(r#"{ a(x: """\\"""x""") { b { c } } }"#), 3);
        assert_eq!(nesting_depth(r#"{ a(x: """\""" {{{{ """) }"#), 2);
        // an escaped quote does not end a string; an escaped backslash does not escape it
        assert_eq!(nesting_depth(r#"{ a(x: "\"{{{{") }"#), 2);
        assert_eq!(nesting_depth(r#"{ a(x: "\\") { b { c } } }"#), 3);
        // what the tokenizer refuses ends the scan
        assert_eq!(nesting_depth("{ a(x: \"\n{{{{"), 2);
        assert_eq!(nesting_depth("{ \"\"\" {{{{"), 1);
    }

    /// Runs `f` on a thread with the 2 MB stack of a tokio worker.
    fn on_small_stack<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
        std::thread::Builder::new()
            .stack_size(2 * 1024 * 1024)
            .spawn(f)
            .expect("spawn")
            .join()
            .expect("no stack overflow")
    }

    fn first_error(query: String) -> String {
        on_small_stack(move || {
            let request = Request {
                query,
                ..Request::default()
            };
            match plan(&Reflected::default(), &request) {
                Ok(_) => String::new(),
                Err(errors) => errors[0].to_string(),
            }
        })
    }

    #[test]
    fn deep_documents_never_reach_the_parser() {
        let n = 100_000;
        let cases = [
            "{a".repeat(n) + &"}".repeat(n),
            format!("{{ a(x: {}1{}) }}", "[".repeat(n), "]".repeat(n)),
            format!("{{ a(x: {}) }}", "{b: ".repeat(n)),
            format!("query($v: {}Int{}) {{ a }}", "[".repeat(n), "]".repeat(n)),
            format!("#\r{}", "{a".repeat(n)),
            format!(r#"{{ a(x: """\\"""x""") {} }}"#, "{a".repeat(n)),
        ];
        for q in cases {
            let message = first_error(q);
            assert!(
                message.starts_with("Query is nested too deeply: depth "),
                "{message}"
            );
        }
    }

    #[test]
    fn fragment_cycles_are_refused_before_planning() {
        assert_eq!(
            first_error("{ a } fragment F on Query { b { ...F } }".into()),
            "Found a cycle between fragments"
        );
    }

    #[test]
    fn deep_variables_are_refused() {
        let mut v = serde_json::json!(1);
        for _ in 0..200 {
            v = Value::Array(vec![v]);
        }
        let message = on_small_stack(move || {
            let request = Request {
                query: "query($v: Int) { a }".into(),
                variables: Some(Value::Object(std::iter::once(("v".into(), v)).collect())),
                ..Request::default()
            };
            match plan(&Reflected::default(), &request) {
                Ok(plan) => plan
                    .errors
                    .first()
                    .map(|e| e.to_string())
                    .unwrap_or_default(),
                Err(errors) => errors[0].to_string(),
            }
        });
        assert_eq!(
            message,
            "Variable \"$v\" is nested too deeply: the limit is 128 levels"
        );
    }

    #[test]
    fn unfiltered_writes_are_refused_by_default() {
        assert!(Options::default().safe_update);
    }

    #[test]
    fn parse_errors_are_graphql_parser_messages() {
        let schema = Reflected::default();
        let errors = plan(
            &schema,
            &Request {
                query: "{ account".into(),
                ..Request::default()
            },
        )
        .err()
        .unwrap();
        assert_eq!(
            errors[0].to_string(),
            "query parse error: Parse error at 1:10\nUnexpected end of input\nExpected }\n"
        );
    }

    #[test]
    fn hostile_nesting_is_refused_before_parsing() {
        let q = "{".repeat(10_000);
        let errors = plan(
            &Reflected::default(),
            &Request {
                query: q,
                ..Request::default()
            },
        )
        .err()
        .unwrap();
        assert!(errors[0].to_string().contains("nested too deeply"));
    }
}
