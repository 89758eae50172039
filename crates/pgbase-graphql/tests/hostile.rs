//! Hostile documents (issue #10): self-spreading fragments, deep selections, deep values and
//! deep variables. Each runs on a thread with a normal 2 MB stack (tokio's default worker
//! stack), so a recursion without a bound would overflow it and abort the test binary; the
//! engine must answer with `{data: null, errors: [{message}]}` instead. A proptest generates
//! nested fragments, selections and values and checks that every one gets a response.

mod common;

use std::sync::Arc;

use common::{Env, env};
use pgbase_graphql::{Reflected, Request, engine};
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, TestRunner};
use serde_json::{Value, json};

/// The stack of a tokio worker thread (and of Rust's spawned threads).
const STACK: usize = 2 * 1024 * 1024;

/// Runs `f` on a thread with a 2 MB stack; a stack overflow aborts the whole test binary.
fn on_small_stack<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    std::thread::Builder::new()
        .stack_size(STACK)
        .spawn(f)
        .expect("spawn")
        .join()
        .expect("the thread panicked")
}

/// Runs `query` (with `variables`) through the whole engine as `anon`, on a 2 MB stack with
/// its own current-thread runtime.
fn run_small(e: &Env, query: String, variables: Value) -> Value {
    let state = shared_state(e);
    on_small_stack(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(async move {
            let request = Request {
                query,
                variables: Some(variables),
                ..Request::default()
            };
            pgbase_graphql::execute(&state, "anon", &json!({"role": "anon"}), &request)
                .await
                .to_json()
        })
    })
}

/// A state sharing the environment's pool and catalog (the thread needs an owned one).
fn shared_state(e: &Env) -> Arc<pgbase_graphql::GraphqlState> {
    Arc::new(pgbase_graphql::GraphqlState::new(
        e.state.pool.clone(),
        e.state.catalog.clone(),
        e.state.schemas.clone(),
        true,
    ))
}

fn first_message(out: &Value) -> String {
    out["errors"][0]["message"]
        .as_str()
        .unwrap_or_else(|| panic!("expected an error: {out}"))
        .to_string()
}

/// The self-spreading fragment of issue #10: `F` spreads itself through `account`.
const SELF_SPREAD: &str = "{ blogCollection { edges { node { ...F } } } }
fragment F on blog { account { blogCollection { edges { node { ...F } } } } }";

#[tokio::test]
async fn a_fragment_spreading_itself_through_a_relationship_is_refused() {
    let e = env().await;
    let out = run_small(&e, SELF_SPREAD.into(), json!({}));
    assert_eq!(out["data"], Value::Null, "{out}");
    assert_eq!(first_message(&out), "Found a cycle between fragments");
    // two fragments spreading each other through relationships, one of them unused by the
    // operation: still refused (the spec's rule covers every fragment)
    let q = "{ __typename }
        fragment A on blog { account { ...B } }
        fragment B on account { blogCollection { edges { node { ...A } } } }";
    let out = run_small(&e, q.into(), json!({}));
    assert_eq!(out["data"], Value::Null, "{out}");
    assert_eq!(first_message(&out), "Found a cycle between fragments");
    // introspection types spreading themselves
    let q = "{ __schema { types { ...T } } } fragment T on __Type { ofType { ...T } }";
    let out = run_small(&e, q.into(), json!({}));
    assert_eq!(first_message(&out), "Found a cycle between fragments");
    // the engine still answers
    let out = run_small(&e, "{ blogByPk(id: 1) { id } }".into(), json!({}));
    assert_eq!(out, json!({"data": {"blogByPk": {"id": 1}}}));
}

#[tokio::test]
async fn selection_depth_through_fragments_is_bounded() {
    let e = env().await;
    // 40 fragments, each one relationship deeper than the next: no cycle, no literal depth,
    // but a selection 160 levels deep once expanded
    let mut q = String::from("{ blogCollection { edges { node { ...F0 } } } }\n");
    for i in 0..40 {
        q.push_str(&format!(
            "fragment F{i} on blog {{ account {{ blogCollection {{ edges {{ node {{ ...F{} }} }} }} }} }}\n",
            i + 1
        ));
    }
    q.push_str("fragment F40 on blog { id }\n");
    let out = run_small(&e, q, json!({}));
    assert_eq!(out["data"], Value::Null, "{out}");
    let msg = first_message(&out);
    assert!(msg.contains("nested too deeply"), "{msg}");
    // just under the limit, the selection is planned, emitted and run: 3 levels, then 15
    // fragments of 4 levels each, then `id` (63 levels)
    let mut q = String::from("{ blogCollection(first: 1) { edges { node { ...F0 } } } }\n");
    for i in 0..15 {
        q.push_str(&format!(
            "fragment F{i} on blog {{ account {{ blogCollection(first: 1) {{ edges {{ node {{ ...F{} }} }} }} }} }}\n",
            i + 1
        ));
    }
    q.push_str("fragment F15 on blog { id }\n");
    let out = run_small(&e, q, json!({}));
    assert!(out.get("errors").is_none(), "{out}");
    let mut node = &out["data"]["blogCollection"]["edges"][0]["node"];
    for _ in 0..15 {
        node = &node["account"]["blogCollection"]["edges"][0]["node"];
    }
    assert_eq!(node["id"], 1, "{out}");
    // one level more is refused
    let q = format!("{{ blogCollection {{ edges {{ node {{ ...F0 }} }} }} }}\n{}",
        (0..16).map(|i| format!(
            "fragment F{i} on blog {{ account {{ blogCollection {{ edges {{ node {{ ...F{} }} }} }} }} }}\n",
            i + 1
        )).collect::<String>() + "fragment F16 on blog { id }\n");
    let msg = first_message(&run_small(&e, q, json!({})));
    assert!(msg.contains("nested too deeply"), "{msg}");
    // the same through introspection: types lead to fields whose types lead back to types
    let mut q = String::from("{ __type(name: \"blog\") { ...T0 } }\n");
    for i in 0..80 {
        q.push_str(&format!(
            "fragment T{i} on __Type {{ name fields {{ type {{ ...T{n} }} }} ofType {{ ...T{n} }} }}\n",
            n = i + 1
        ));
    }
    q.push_str("fragment T80 on __Type { name }\n");
    let msg = first_message(&run_small(&e, q, json!({})));
    assert!(
        msg.contains("nested too deeply") || msg.starts_with("Too many fragment expansions"),
        "{msg}"
    );
}

#[tokio::test]
async fn introspection_that_multiplies_is_refused() {
    let e = env().await;
    // every level selects input fields of the type both directly and through two wrappers
    // (`not: blogFilter`, `and: [blogFilter!]`): the document doubles per level, the result
    // triples per level and per filter type
    let mut inner = String::from("name");
    for _ in 0..11 {
        inner = format!(
            "name inputFields {{ name type {{ {inner} ofType {{ ofType {{ {inner} }} }} }} }}"
        );
    }
    let q = format!("{{ __schema {{ types {{ {inner} }} }} }}");
    assert!(q.len() < 400_000, "{}", q.len());
    let msg = first_message(&run_small(&e, q, json!({})));
    assert!(
        msg.starts_with("Introspection result is too large"),
        "{msg}"
    );
    // the standard introspection query still answers
    let out = run_small(
        &e,
        include_str!("fixtures/introspection.graphql").into(),
        json!({}),
    );
    assert!(out.get("errors").is_none(), "{}", out["errors"]);
    assert!(out["data"]["__schema"]["types"].as_array().is_some());
}

#[tokio::test]
async fn deep_documents_and_values_are_refused_before_parsing() {
    let e = env().await;
    let cases = [
        "{a".repeat(100_000) + &"}".repeat(100_000),
        format!(
            "{{ blogCollection(filter: {}) {{ totalCount }} }}",
            "[".repeat(100_000)
        ),
        format!("query($v: {}Int) {{ __typename }}", "[".repeat(100_000)),
        // a comment ended by a carriage return does not hide what follows
        format!("#\r{}", "{a".repeat(100_000)),
        // nor does a block string ending in an escaped quote
        format!("{{ a(x: \"\"\"\\\\\"\"\"x\"\"\") {}", "{a".repeat(100_000)),
    ];
    for q in cases {
        let out = run_small(&e, q, json!({}));
        assert_eq!(out["data"], Value::Null, "{out}");
        let msg = first_message(&out);
        assert!(
            msg.contains("nested too deeply") || msg.contains("parse error"),
            "{msg}"
        );
    }
}

#[tokio::test]
async fn deep_variables_are_refused() {
    let e = env().await;
    let mut deep = json!(1);
    for _ in 0..2_000 {
        deep = Value::Array(vec![deep]);
    }
    let out = run_small(
        &e,
        "query($v: JSON) { __typename }".into(),
        Value::Object(std::iter::once(("v".to_string(), deep)).collect()),
    );
    let msg = first_message(&out);
    assert!(msg.contains("nested too deeply"), "{msg}");
    // a filter nested through `and` 63 times (128 levels, the limit) still works
    let mut filter = json!({"id": {"eq": 1}});
    for _ in 0..63 {
        filter = and(filter);
    }
    let query = "query($f: blogFilter) { blogCollection(filter: $f) { edges { node { id } } } }";
    let out = run_small(
        &e,
        query.into(),
        Value::Object(std::iter::once(("f".to_string(), filter.clone())).collect()),
    );
    assert_eq!(
        out["data"]["blogCollection"]["edges"],
        json!([{"node": {"id": 1}}]),
        "{out}"
    );
    // one `and` more is refused
    let out = run_small(
        &e,
        query.into(),
        Value::Object(std::iter::once(("f".to_string(), and(filter))).collect()),
    );
    assert_eq!(
        first_message(&out),
        "Variable \"$f\" is nested too deeply: the limit is 128 levels"
    );
}

/// `{"and": [inner]}`, built without serializing `inner` again (as `json!` would).
fn and(inner: Value) -> Value {
    let mut m = serde_json::Map::new();
    m.insert("and".into(), Value::Array(vec![inner]));
    Value::Object(m)
}

/// One step of a generated selection: follow a field of the current type (`Step` picks
/// among the fields that lead to an object, so walks go deep), spread a generated fragment,
/// or select a field with a nested filter value (where the type has `blogCollection`).
#[derive(Debug, Clone)]
enum Piece {
    Step(usize),
    Spread(usize),
    Value(usize),
}

/// The object fields of the fixture's types (for `anon`), and the type each leads to.
fn moves(ty: &str) -> &'static [(&'static str, &'static str)] {
    match ty {
        "Query" => &[
            ("blogCollection", "blogConnection"),
            ("accountCollection", "accountConnection"),
            ("blog_postCollection", "blog_postConnection"),
            ("__schema", "__Schema"),
        ],
        "blogConnection" => &[("edges", "blogEdge")],
        "accountConnection" => &[("edges", "accountEdge")],
        "blog_postConnection" => &[("edges", "blog_postEdge")],
        "blogEdge" => &[("node", "blog")],
        "accountEdge" => &[("node", "account")],
        "blog_postEdge" => &[("node", "blog_post")],
        "blog" => &[
            ("account", "account"),
            ("blog_postCollection", "blog_postConnection"),
        ],
        "account" => &[("blogCollection", "blogConnection")],
        "blog_post" => &[("blog", "blog")],
        "__Schema" => &[("types", "__Type"), ("queryType", "__Type")],
        "__Type" => &[
            ("fields", "__Field"),
            ("ofType", "__Type"),
            ("inputFields", "__InputValue"),
        ],
        "__Field" => &[("type", "__Type"), ("args", "__InputValue")],
        "__InputValue" => &[("type", "__Type")],
        _ => &[],
    }
}

/// A leaf field of every generated type.
fn leaf(ty: &str) -> &'static str {
    match ty {
        "blogConnection" | "accountConnection" | "blog_postConnection" => {
            "pageInfo { hasNextPage }"
        }
        "blogEdge" | "accountEdge" | "blog_postEdge" => "cursor",
        "__Schema" => "description",
        t if t.starts_with("__") => "name",
        _ => "__typename",
    }
}

const FRAGMENT_TYPES: &[&str] = &["blog", "account", "blog_post", "blogConnection", "__Type"];

fn piece() -> impl Strategy<Value = Piece> + Clone {
    prop_oneof![
        8 => (0usize..4).prop_map(Piece::Step),
        3 => (0usize..4).prop_map(Piece::Spread),
        1 => prop_oneof![19 => 0usize..8, 1 => 0usize..200].prop_map(Piece::Value),
    ]
}

/// A selection on `ty` walking down `pieces`: each step opens a level, spreads and values
/// sit in the innermost one, and `tail` is spread there last. A spread picks a fragment on
/// the current type when there is one (`fragments` are their types; none: no spread); from
/// fragment `me`, picks 0 to 2 only spread later fragments, pick 3 any (often a cycle).
/// Returns the selection and the innermost type.
fn selection(
    mut ty: &'static str,
    pieces: &[Piece],
    fragments: &[&str],
    me: Option<usize>,
    tail: Option<usize>,
) -> (String, &'static str) {
    let mut out = String::from("{ ");
    let mut closing = Vec::new();
    for p in pieces {
        match p {
            Piece::Step(i) => {
                let options = moves(ty);
                if options.is_empty() {
                    continue;
                }
                let (field, next) = options[i % options.len()];
                out.push_str(&format!("{} {field} {{ ", leaf(ty)));
                closing.push(ty);
                ty = next;
            }
            Piece::Spread(n) => {
                let first = match me {
                    Some(i) if *n != 3 => i + 1,
                    _ => 0,
                };
                let fitting: Vec<usize> = (first..fragments.len())
                    .filter(|&j| fragments[j] == ty)
                    .collect();
                if !fitting.is_empty() {
                    out.push_str(&format!("...G{} ", fitting[n % fitting.len()]));
                }
            }
            Piece::Value(depth) if ty == "Query" || ty == "account" => {
                let value = format!(
                    "{}{{id: {{eq: 1}}}}{}",
                    "{and: [".repeat(*depth),
                    "]}".repeat(*depth)
                );
                out.push_str(&format!(
                    "v{depth}: blogCollection(filter: {value}) {{ edges {{ cursor }} }} "
                ));
            }
            Piece::Value(_) => {}
        }
    }
    if let Some(t) = tail {
        out.push_str(&format!("...G{t} "));
    }
    out.push_str(leaf(ty));
    out.push_str(&" }".repeat(closing.len() + 1));
    (out, ty)
}

/// The generated parts of a document: the operation's pieces, the fragments' types and
/// pieces, whether the fragments form a chain, and the depth of the variable.
type Parts = (Vec<Piece>, Vec<(&'static str, Vec<Piece>)>, bool, usize);

/// A document: an operation and up to five fragments, either spreading each other at random
/// (cycles are likely) or as a chain (each spreads the next at its innermost level, on the
/// type it got to: deep once expanded, no cycle), with a variable nested up to 300 levels.
fn document() -> impl Strategy<Value = (String, Value)> {
    let body = |n: usize| prop::collection::vec(piece(), 0..n);
    (
        prop_oneof![3 => body(30), 1 => body(80)],
        prop::collection::vec((prop::sample::select(FRAGMENT_TYPES), body(50)), 0..6),
        any::<bool>(),
        prop_oneof![0usize..20, 0usize..300],
    )
        .prop_map(|(op, fragments, chain, var_depth): Parts| {
            let n = fragments.len();
            let mut q;
            if chain && n > 0 {
                let (text, mut on) = selection("Query", &op, &[], None, Some(0));
                q = text;
                for (i, (_, body)) in fragments.iter().enumerate() {
                    let tail = (i + 1 < n).then_some(i + 1);
                    let (text, inner) = selection(on, body, &[], None, tail);
                    q.push_str(&format!("\nfragment G{i} on {on} {text}"));
                    on = inner;
                }
            } else {
                let types: Vec<&str> = fragments.iter().map(|(on, _)| *on).collect();
                q = selection("Query", &op, &types, None, None).0;
                for (i, (on, body)) in fragments.iter().enumerate() {
                    let (text, _) = selection(on, body, &types, Some(i), None);
                    q.push_str(&format!("\nfragment G{i} on {on} {text}"));
                }
            }
            let mut v = json!({"id": {"eq": 1}});
            for _ in 0..var_depth {
                v = and(v);
            }
            let mut vars = serde_json::Map::new();
            vars.insert("unused".into(), v);
            (q, Value::Object(vars))
        })
}

/// What became of the generated documents (counts of errors by kind).
#[derive(Debug, Default)]
struct Outcomes {
    /// Planned without any error.
    planned: usize,
    cycles: usize,
    /// Refused before parsing (or by the parser's own limit).
    too_deep: usize,
    /// Refused while planning: fragments nest selections too deeply.
    too_deep_expanded: usize,
    other: usize,
}

fn plan_all(
    schema: &Reflected,
    query: String,
    variables: Value,
    outcomes: &std::sync::Mutex<Outcomes>,
) -> Result<(), TestCaseError> {
    let request = Request {
        query,
        variables: Some(variables),
        ..Request::default()
    };
    let result = engine::plan(schema, &request);
    let Ok(mut seen) = outcomes.lock() else {
        return Err(TestCaseError::fail("poisoned"));
    };
    let messages: Vec<String> = match result {
        Ok(plan) => plan
            .fields
            .iter()
            .filter_map(|(_, planned)| match planned {
                engine::Planned::Failed(e) => Some(e.to_string()),
                _ => None,
            })
            .collect(),
        Err(errors) => {
            prop_assert!(!errors.is_empty());
            errors.iter().map(|e| e.to_string()).collect()
        }
    };
    if messages.is_empty() {
        seen.planned += 1;
    }
    for message in messages {
        if message.starts_with("Found a cycle between fragments") {
            seen.cycles += 1;
        } else if message.contains("once fragments are expanded") {
            seen.too_deep_expanded += 1;
        } else if message.contains("nested too deeply") || message.contains("Recursion limit") {
            seen.too_deep += 1;
        } else {
            seen.other += 1;
        }
    }
    Ok(())
}

fn json_depth(v: &Value) -> usize {
    match v {
        Value::Array(a) => 1 + a.iter().map(json_depth).max().unwrap_or(0),
        Value::Object(o) => 1 + o.values().map(json_depth).max().unwrap_or(0),
        _ => 0,
    }
}

#[tokio::test]
async fn generated_documents_always_get_a_response() {
    let e = env().await;
    let schema = e.state.schema_for("anon").expect("schema");
    let (outcome, seen) = on_small_stack(move || {
        // PROPTEST_CASES=N for a long campaign (see the README's "Fuzzing")
        let cases = std::env::var("PROPTEST_CASES")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(400);
        let mut runner = TestRunner::new(Config {
            cases,
            failure_persistence: None,
            ..Config::default()
        });
        let seen = std::sync::Mutex::new(Outcomes::default());
        let outcome = runner
            .run(&document(), |(q, v)| plan_all(&schema, q, v, &seen))
            .map_err(|e| e.to_string());
        (outcome, seen.into_inner().unwrap_or_default())
    });
    assert_eq!(outcome, Ok(()));
    // the generator reaches every kind of answer
    eprintln!("{seen:?}");
    assert!(
        seen.planned > 10 && seen.cycles > 10 && seen.too_deep > 10 && seen.too_deep_expanded > 0,
        "{seen:?}"
    );
    // a few through the executor too (SQL of the deepest accepted selections)
    let mut runner = TestRunner::new(Config {
        cases: 20,
        failure_persistence: None,
        ..Config::default()
    });
    let documents: Vec<(String, Value)> = (0..300)
        .map(|_| {
            document()
                .new_tree(&mut runner)
                .map(|tree| tree.current())
                .expect("generate")
        })
        .collect();
    let schema = e.state.schema_for("anon").expect("schema");
    let mut accepted = 0;
    for (q, v) in documents.into_iter().take(40) {
        let request = Request {
            query: q.clone(),
            variables: Some(v.clone()),
            ..Request::default()
        };
        // (Variables deeper than 128 levels are refused before planning, by the handler.)
        let clean = json_depth(&v) < 100
            && engine::plan(&schema, &request).is_ok_and(|plan| {
                plan.fields
                    .iter()
                    .all(|(_, p)| !matches!(p, engine::Planned::Failed(_)))
            });
        let out = run_small(&e, q.clone(), v);
        assert!(
            out.get("data").is_some() || out.get("errors").is_some(),
            "{out}"
        );
        // Semantic property: a document the planner accepts runs: Postgres accepts the SQL
        // it becomes, and the answer has data and no errors.
        if clean {
            accepted += 1;
            assert!(
                out.get("errors").is_none() && out["data"].is_object(),
                "an accepted document failed to run:\n{q}\n{out}"
            );
        }
    }
    eprintln!("{accepted} accepted documents ran");
    assert!(accepted > 0, "no generated document was accepted");
}
