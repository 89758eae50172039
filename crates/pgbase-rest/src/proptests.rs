//! Property tests: the parsers never panic, and every failure is a `PGRST1xx` error (or
//! PostgREST 12's bare 404 `{}` for a path it does not serve). Semantic properties below:
//! generated select lists, filters, logic trees and order terms render to query syntax that
//! parses back to the same tree, alone and assembled into a whole percent-encoded request;
//! the canonical query string decodes to the request's pairs; a `Range` header means the rows
//! it names.

use proptest::prelude::*;

use crate::error::ApiError;
use crate::query;
use crate::request::{RequestConfig, parse_request};

/// `n` cases, or `PROPTEST_CASES` when set (long campaigns: see the README's "Fuzzing").
fn cases(n: u32) -> ProptestConfig {
    let n = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(n);
    ProptestConfig::with_cases(n)
}

fn is_request_error(e: &ApiError) -> bool {
    (e.code().starts_with("PGRST1") || *e == ApiError::not_found()) && e.status().is_client_error()
}

/// Strings made mostly of the grammar's special characters.
fn grammar() -> impl Strategy<Value = String> {
    "[a-z0-9 ().,:!*\"\\\\{}>\\-_$&=%+;é\t]{0,48}"
}

proptest! {
    #![proptest_config(cases(400))]

    #[test]
    fn select_never_panics(s in any::<String>(), g in grammar()) {
        for input in [&s, &g] {
            if let Err(e) = query::parse_select(input) {
                prop_assert!(is_request_error(&e), "{:?}", e.body());
            }
        }
    }

    #[test]
    fn filters_never_panic(k in grammar(), v in any::<String>(), g in grammar(), rpc in any::<bool>()) {
        for value in [&v, &g] {
            if let Err(e) = query::parse_filter(&k, value, rpc) {
                prop_assert!(is_request_error(&e), "{:?}", e.body());
            }
            let prefixed = format!("eq(any).{value}");
            let _ = query::parse_op_expr(&prefixed);
            let in_list = format!("in.({value})");
            let _ = query::parse_op_expr(&in_list);
        }
    }

    #[test]
    fn logic_trees_never_panic(v in any::<String>(), g in grammar(), not in any::<bool>()) {
        let key = if not { "actors.not.or" } else { "and" };
        for value in [v.clone(), g.clone(), format!("({g})"), format!("(a.eq.1,or({g}))")] {
            if let Err(e) = query::parse_logic(key, &value) {
                prop_assert!(is_request_error(&e), "{:?}", e.body());
            }
        }
    }

    #[test]
    fn order_never_panics(v in any::<String>(), g in grammar()) {
        for value in [&v, &g] {
            if let Err(e) = query::parse_order(value) {
                prop_assert!(is_request_error(&e), "{:?}", e.body());
            }
        }
    }

    #[test]
    fn whole_requests_never_panic(
        path in "(/[a-z%0-9]{0,6}){0,3}",
        q in any::<String>(),
        g in grammar(),
        m in prop::sample::select(vec!["GET", "HEAD", "POST", "PATCH", "PUT", "DELETE", "OPTIONS", "TRACE"]),
    ) {
        let cfg = RequestConfig::default();
        let method = http::Method::from_bytes(m.as_bytes()).unwrap_or(http::Method::GET);
        for query in [&q, &g] {
            if let Err(e) = parse_request(&cfg, &method, &path, Some(query), &http::HeaderMap::new()) {
                prop_assert!(is_request_error(&e), "{:?}", e.body());
            }
        }
    }
}

proptest! {
    #![proptest_config(cases(300))]

    #[test]
    fn headers_never_panic(
        accept in "[a-z/*+;=., \"|0-9q]{0,40}",
        prefer in "[a-z=,\\- 0-9/_]{0,40}",
        range in "[0-9\\-]{0,12}",
        profile in "[a-z]{0,6}",
    ) {
        let mut h = http::HeaderMap::new();
        for (k, v) in [("accept", &accept), ("prefer", &prefer), ("range", &range), ("accept-profile", &profile)] {
            if let Ok(v) = http::HeaderValue::from_str(v) {
                h.insert(k, v);
            }
        }
        let cfg = RequestConfig::default();
        if let Err(e) = parse_request(&cfg, &http::Method::GET, "/t", Some("select=*"), &h) {
            prop_assert!(is_request_error(&e), "{:?}", e.body());
        }
        let _ = crate::range::parse_range_header(&range);
        let _ = crate::media::parse_accept(Some(&accept));
    }
}

// ---------------------------------------------------------------------------------------------
// Semantic properties: a syntax tree generated here, rendered in PostgREST's query grammar,
// parses back to the same tree (render → parse is the identity), and the query string's
// canonical form decodes back to the decoded pairs.

use crate::ast::{
    EmbedSelect, Field, Filter, IsValue, JoinType, JsonOperand, JsonOperation, LogicOperator,
    LogicTree, OpExpr, Operation, OrderDirection, OrderNulls, OrderTarget, OrderTerm,
    QuantOperator, SelectField, SelectItem, SimpleOperator,
};

/// Names that are no keyword of the grammar (`or`, `not`, `asc`, `count`, …).
fn name() -> impl Strategy<Value = String> {
    "c_[a-z0-9_]{0,5}"
}

fn json_path() -> impl Strategy<Value = Vec<JsonOperation>> {
    let operand = prop_oneof![
        "k[a-z0-9]{0,4}".prop_map(JsonOperand::Key),
        (0i64..20).prop_map(JsonOperand::Index),
    ];
    prop::collection::vec(
        (any::<bool>(), operand).prop_map(|(double, o)| {
            if double {
                JsonOperation::DoubleArrow(o)
            } else {
                JsonOperation::Arrow(o)
            }
        }),
        0..3,
    )
}

fn field() -> impl Strategy<Value = Field> {
    (name(), json_path()).prop_map(|(name, json_path)| Field { name, json_path })
}

fn render_field(f: &Field) -> String {
    let mut out = f.name.clone();
    for op in &f.json_path {
        let (arrow, operand) = match op {
            JsonOperation::Arrow(o) => ("->", o),
            JsonOperation::DoubleArrow(o) => ("->>", o),
        };
        out.push_str(arrow);
        match operand {
            JsonOperand::Key(k) => out.push_str(k),
            JsonOperand::Index(i) => out.push_str(&i.to_string()),
        }
    }
    out
}

fn select_field() -> impl Strategy<Value = SelectField> {
    let cast =
        prop::option::of(prop::sample::select(vec!["text", "int", "jsonb"]).prop_map(String::from));
    (field(), prop::option::of(name()), cast).prop_map(|(field, alias, cast)| SelectField {
        field,
        alias,
        cast,
        aggregate: None,
        aggregate_cast: None,
    })
}

fn select_items() -> impl Strategy<Value = Vec<SelectItem>> {
    let leaf = select_field().prop_map(SelectItem::Field);
    let tree = leaf.prop_recursive(3, 16, 4, |inner| {
        let join = prop::option::of(prop::sample::select(vec![JoinType::Inner, JoinType::Left]));
        (
            name(),
            prop::option::of(name()),
            prop::option::of(name()),
            join,
            prop::collection::vec(inner, 1..4),
            0u8..3,
        )
            .prop_map(|(relation, alias, hint, join_type, children, kind)| {
                let embed = EmbedSelect {
                    relation,
                    alias,
                    hint,
                    join_type,
                    children,
                };
                if kind == 0 {
                    // A spread has no alias of its own.
                    SelectItem::Spread(EmbedSelect {
                        alias: None,
                        ..embed
                    })
                } else {
                    SelectItem::Relation(embed)
                }
            })
    });
    prop::collection::vec(tree, 1..5)
}

fn render_select(items: &[SelectItem]) -> String {
    let render = |item: &SelectItem| match item {
        SelectItem::Field(f) => {
            let mut out = String::new();
            if let Some(a) = &f.alias {
                out.push_str(&format!("{a}:"));
            }
            out.push_str(&render_field(&f.field));
            if let Some(c) = &f.cast {
                out.push_str(&format!("::{c}"));
            }
            out
        }
        SelectItem::Relation(e) | SelectItem::Spread(e) => {
            let mut out = String::new();
            if matches!(item, SelectItem::Spread(_)) {
                out.push_str("...");
            }
            if let Some(a) = &e.alias {
                out.push_str(&format!("{a}:"));
            }
            out.push_str(&e.relation);
            if let Some(h) = &e.hint {
                out.push_str(&format!("!{h}"));
            }
            match e.join_type {
                Some(JoinType::Inner) => out.push_str("!inner"),
                Some(JoinType::Left) => out.push_str("!left"),
                None => {}
            }
            out.push_str(&format!("({})", render_select(&e.children)));
            out
        }
    };
    items.iter().map(render).collect::<Vec<_>>().join(",")
}

/// Operations with values free of the logic-tree delimiters `,()"` and of `*` (like's `%`).
fn operation() -> impl Strategy<Value = Operation> {
    let value = || "[a-zA-Z0-9_@-]{0,8}";
    let quant = prop::sample::select(vec![
        QuantOperator::Equal,
        QuantOperator::GreaterThan,
        QuantOperator::GreaterThanEqual,
        QuantOperator::LessThan,
        QuantOperator::LessThanEqual,
        QuantOperator::Like,
        QuantOperator::ILike,
        QuantOperator::Match,
        QuantOperator::IMatch,
    ]);
    let is = prop::sample::select(vec![
        IsValue::Null,
        IsValue::NotNull,
        IsValue::True,
        IsValue::False,
        IsValue::Unknown,
    ]);
    prop_oneof![
        (quant, value()).prop_map(|(op, value)| Operation::Quant {
            op,
            quantifier: None,
            value
        }),
        value().prop_map(|value| Operation::Simple {
            op: SimpleOperator::NotEqual,
            value
        }),
        prop::collection::vec("[a-z0-9]{1,6}", 0..4).prop_map(Operation::In),
        is.prop_map(Operation::Is),
        value().prop_map(Operation::IsDistinctFrom),
    ]
}

fn render_op_expr(e: &OpExpr) -> String {
    let body = match &e.operation {
        Operation::Quant { op, value, .. } => {
            let op = match op {
                QuantOperator::Equal => "eq",
                QuantOperator::GreaterThan => "gt",
                QuantOperator::GreaterThanEqual => "gte",
                QuantOperator::LessThan => "lt",
                QuantOperator::LessThanEqual => "lte",
                QuantOperator::Like => "like",
                QuantOperator::ILike => "ilike",
                QuantOperator::Match => "match",
                QuantOperator::IMatch => "imatch",
            };
            format!("{op}.{value}")
        }
        Operation::Simple { value, .. } => format!("neq.{value}"),
        Operation::In(values) => format!("in.({})", values.join(",")),
        Operation::Is(v) => format!(
            "is.{}",
            match v {
                IsValue::Null => "null",
                IsValue::NotNull => "not_null",
                IsValue::True => "true",
                IsValue::False => "false",
                IsValue::Unknown => "unknown",
            }
        ),
        Operation::IsDistinctFrom(v) => format!("isdistinct.{v}"),
        Operation::Fts { .. } => unreachable!("not generated"),
    };
    if e.negated {
        format!("not.{body}")
    } else {
        body
    }
}

fn op_expr() -> impl Strategy<Value = OpExpr> {
    (any::<bool>(), operation()).prop_map(|(negated, operation)| OpExpr { negated, operation })
}

fn logic_tree() -> impl Strategy<Value = LogicTree> {
    let leaf = (name(), op_expr()).prop_map(|(n, expr)| {
        LogicTree::Filter(Filter {
            field: Field::new(n),
            expr,
        })
    });
    let connective = || prop::sample::select(vec![LogicOperator::And, LogicOperator::Or]);
    let tree = leaf.prop_recursive(3, 24, 4, move |inner| {
        (
            any::<bool>(),
            connective(),
            prop::collection::vec(inner, 1..4),
        )
            .prop_map(|(negated, op, children)| LogicTree::Expr {
                negated,
                op,
                children,
            })
    });
    (
        any::<bool>(),
        connective(),
        prop::collection::vec(tree, 1..4),
    )
        .prop_map(|(negated, op, children)| LogicTree::Expr {
            negated,
            op,
            children,
        })
}

fn render_children(children: &[LogicTree]) -> String {
    let render = |t: &LogicTree| match t {
        LogicTree::Filter(f) => format!("{}.{}", f.field.name, render_op_expr(&f.expr)),
        LogicTree::Expr {
            negated,
            op,
            children,
        } => format!(
            "{}{}({})",
            if *negated { "not." } else { "" },
            if *op == LogicOperator::And {
                "and"
            } else {
                "or"
            },
            render_children(children)
        ),
    };
    children.iter().map(render).collect::<Vec<_>>().join(",")
}

fn order_terms() -> impl Strategy<Value = Vec<OrderTerm>> {
    let dir = prop::option::of(prop::sample::select(vec![
        OrderDirection::Asc,
        OrderDirection::Desc,
    ]));
    let nulls = prop::option::of(prop::sample::select(vec![
        OrderNulls::First,
        OrderNulls::Last,
    ]));
    prop::collection::vec(
        (field(), dir, nulls).prop_map(|(f, direction, nulls)| OrderTerm {
            target: OrderTarget::Field(f),
            direction,
            nulls,
        }),
        1..5,
    )
}

fn render_order(terms: &[OrderTerm]) -> String {
    terms
        .iter()
        .map(|t| {
            let OrderTarget::Field(f) = &t.target else {
                unreachable!("not generated")
            };
            let mut out = render_field(f);
            match t.direction {
                Some(OrderDirection::Asc) => out.push_str(".asc"),
                Some(OrderDirection::Desc) => out.push_str(".desc"),
                None => {}
            }
            match t.nulls {
                Some(OrderNulls::First) => out.push_str(".nullsfirst"),
                Some(OrderNulls::Last) => out.push_str(".nullslast"),
                None => {}
            }
            out
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// Percent-encodes every byte but the unreserved ones, as a careful client does.
fn percent_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

proptest! {
    #![proptest_config(cases(300))]

    #[test]
    fn rendered_selects_parse_back(items in select_items()) {
        let text = render_select(&items);
        let parsed = query::parse_select(&text).map_err(|e| TestCaseError::fail(format!("{text}: {:?}", e.body())))?;
        prop_assert_eq!(parsed, items, "{}", text);
    }

    #[test]
    fn rendered_filters_parse_back(f in field(), expr in op_expr()) {
        let key = render_field(&f);
        let value = render_op_expr(&expr);
        let parsed = query::parse_filter(&key, &value, false)
            .map_err(|e| TestCaseError::fail(format!("{key}={value}: {:?}", e.body())))?;
        let query::FilterOrArg::Filter(pf) = parsed else {
            return Err(TestCaseError::fail(format!("{key}={value}: an argument?")));
        };
        prop_assert!(pf.path.is_empty());
        prop_assert_eq!(pf.filter, Filter { field: f, expr: expr.clone() }, "{}={}", key, value);
        // The operator alone parses the same.
        prop_assert_eq!(query::parse_op_expr(&value).ok(), Some(expr));
    }

    #[test]
    fn rendered_logic_trees_parse_back(tree in logic_tree()) {
        let LogicTree::Expr { negated, op, children } = &tree else { unreachable!() };
        let key = format!("{}{}", if *negated { "not." } else { "" }, if *op == LogicOperator::And { "and" } else { "or" });
        let value = format!("({})", render_children(children));
        let parsed = query::parse_logic(&key, &value)
            .map_err(|e| TestCaseError::fail(format!("{key}={value}: {:?}", e.body())))?;
        prop_assert!(parsed.path.is_empty());
        prop_assert_eq!(parsed.tree, tree, "{}={}", key, value);
    }

    #[test]
    fn rendered_orders_parse_back(terms in order_terms()) {
        let text = render_order(&terms);
        let parsed = query::parse_order(&text).map_err(|e| TestCaseError::fail(format!("{text}: {:?}", e.body())))?;
        prop_assert_eq!(parsed, terms, "{}", text);
    }

    /// The canonical query (the cache key of a request) decodes back to the request's pairs,
    /// sorted by key; canonicalising is idempotent. (Keys are distinct: repeated keys are joined.)
    #[test]
    fn canonical_query_round_trips(
        pairs in prop::collection::btree_map("[a-z_.]{1,6}|[ -~é]{1,4}", prop::option::of(any::<String>()), 0..6),
        order in any::<prop::sample::Index>(),
    ) {
        let mut pairs: Vec<(String, Option<String>)> = pairs.into_iter().collect();
        let sorted: Vec<(String, Option<String>)> =
            pairs.iter().map(|(k, v)| (k.clone(), Some(v.clone().unwrap_or_default()))).collect();
        if !pairs.is_empty() {
            let n = pairs.len();
            pairs.rotate_left(order.index(n));
        }
        let canonical = query::canonical_query(&pairs);
        let decoded = query::decode_query(&canonical);
        prop_assert_eq!(&decoded, &sorted, "{}", canonical);
        prop_assert_eq!(query::canonical_query(&decoded), canonical);
    }

    /// A whole request assembled from generated parts (select list, a filter, a logic tree,
    /// order, limit/offset, every value percent-encoded as a client sends it) parses into a
    /// read of the addressed table whose parts are the generated ones.
    #[test]
    fn rendered_requests_parse_back(
        relation in name(),
        items in select_items(),
        f in field(),
        expr in op_expr(),
        tree in logic_tree(),
        terms in order_terms(),
        limit in 0u64..10_000,
        offset in 0u64..10_000,
    ) {
        let LogicTree::Expr { negated, op, children } = &tree else { unreachable!() };
        let logic_key = format!("{}{}", if *negated { "not." } else { "" }, if *op == LogicOperator::And { "and" } else { "or" });
        let pairs = [
            ("select".to_string(), render_select(&items)),
            (render_field(&f), render_op_expr(&expr)),
            (logic_key, format!("({})", render_children(children))),
            ("order".to_string(), render_order(&terms)),
            ("limit".to_string(), limit.to_string()),
            ("offset".to_string(), offset.to_string()),
        ];
        let query = pairs
            .iter()
            .map(|(k, v)| format!("{}={}", percent_encode(k), percent_encode(v)))
            .collect::<Vec<_>>()
            .join("&");
        let path = format!("/{relation}");
        let r = parse_request(&RequestConfig::default(), &http::Method::GET, &path, Some(&query), &http::HeaderMap::new())
            .map_err(|e| TestCaseError::fail(format!("{query}: {:?}", e.body())))?;
        prop_assert_eq!(r.action, crate::request::Action::RelationRead { relation, headers_only: false });
        let q = r.query;
        prop_assert_eq!(q.select, items, "{}", query);
        prop_assert_eq!(q.filters.len(), 1, "{}", query);
        prop_assert!(q.filters[0].path.is_empty());
        prop_assert_eq!(&q.filters[0].filter, &Filter { field: f, expr }, "{}", query);
        prop_assert_eq!(q.logic.len(), 1, "{}", query);
        prop_assert!(q.logic[0].path.is_empty());
        prop_assert_eq!(&q.logic[0].tree, &tree, "{}", query);
        prop_assert_eq!(q.order.len(), 1, "{}", query);
        prop_assert!(q.order[0].path.is_empty());
        prop_assert_eq!(&q.order[0].terms, &terms, "{}", query);
        prop_assert_eq!(r.top_level_range, crate::range::RowRange { offset, limit: Some(limit) }, "{}", query);
    }

    /// A `Range: a-b` header (a ≤ b) is rows a..=b; `a-` is everything from a.
    #[test]
    fn range_headers_mean_what_they_say(a in 0u64..1_000_000, len in 0u64..1_000_000, open in any::<bool>()) {
        let header = if open { format!("{a}-") } else { format!("{a}-{}", a + len) };
        let r = crate::range::parse_range_header(&header);
        let want = crate::range::RowRange { offset: a, limit: if open { None } else { Some(len + 1) } };
        prop_assert_eq!(r, Some(Ok(want)), "{}", header);
    }
}
