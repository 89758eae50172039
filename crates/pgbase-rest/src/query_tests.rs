//! Unit tests for the query-string grammar.

use super::*;
use crate::ast::*;

fn f(name: &str) -> Field {
    Field::new(name)
}

fn col(name: &str) -> SelectItem {
    SelectItem::Field(SelectField::column(name))
}

fn key(k: &str) -> JsonOperand {
    JsonOperand::Key(k.into())
}

fn embed(rel: &str, children: Vec<SelectItem>) -> EmbedSelect {
    EmbedSelect {
        relation: rel.into(),
        alias: None,
        hint: None,
        join_type: None,
        children,
    }
}

fn sel(s: &str) -> Vec<SelectItem> {
    match parse_select(s) {
        Ok(v) => v,
        Err(e) => panic!("select {s:?} failed: {:?}", e.body()),
    }
}

/// (message, details) of a failing parse.
fn err(r: Result<impl std::fmt::Debug, ApiError>) -> (String, String) {
    let e = r.expect_err("expected an error");
    assert_eq!(e.code(), "PGRST100");
    assert_eq!(e.status().as_u16(), 400);
    (
        e.message().to_owned(),
        e.body()["details"].as_str().unwrap_or_default().to_owned(),
    )
}

fn op(value: &str) -> OpExpr {
    match parse_op_expr(value) {
        Ok(v) => v,
        Err(e) => panic!("filter {value:?} failed: {:?}", e.body()),
    }
}

fn quant(op: QuantOperator, q: Option<Quantifier>, v: &str) -> Operation {
    Operation::Quant {
        op,
        quantifier: q,
        value: v.into(),
    }
}

// ------------------------------------------------------------------------------------------
// select

#[test]
fn select_basic_columns() {
    assert_eq!(sel("*"), vec![SelectItem::star()]);
    assert_eq!(sel(""), vec![]);
    assert_eq!(sel("id,name"), vec![col("id"), col("name")]);
    assert_eq!(sel(" id , name "), vec![col("id"), col("name")]);
    assert_eq!(sel("*,id"), vec![SelectItem::star(), col("id")]);
    assert_eq!(
        sel("my-col,a_b,$x,123"),
        vec![col("my-col"), col("a_b"), col("$x"), col("123")]
    );
    assert_eq!(
        sel("identifier with spaces"),
        vec![col("identifier with spaces")]
    );
    assert_eq!(sel("\"information.cpe\""), vec![col("information.cpe")]);
    assert_eq!(sel("\" spaced \""), vec![col(" spaced ")]);
    assert_eq!(sel("\"a\\\"b\""), vec![col("a\"b")]);
    assert_eq!(sel("\tid\t"), vec![col("id")]);
}

#[test]
fn select_alias_and_cast() {
    let SelectItem::Field(a) = &sel("alias:col")[0] else {
        panic!()
    };
    assert_eq!(a.alias.as_deref(), Some("alias"));
    assert_eq!(a.field, f("col"));
    let SelectItem::Field(a) = &sel("col::text")[0] else {
        panic!()
    };
    assert_eq!(a.cast.as_deref(), Some("text"));
    assert_eq!(a.alias, None);
    let SelectItem::Field(a) = &sel("alias:col::character varying")[0] else {
        panic!()
    };
    assert_eq!(a.cast.as_deref(), Some("character varying"));
    assert_eq!(a.alias.as_deref(), Some("alias"));
    let SelectItem::Field(a) = &sel("\"my alias\":\"my col\"")[0] else {
        panic!()
    };
    assert_eq!(a.alias.as_deref(), Some("my alias"));
    assert_eq!(a.field, f("my col"));
}

#[test]
fn select_json_paths() {
    let SelectItem::Field(a) = &sel("data->a->0->>b")[0] else {
        panic!()
    };
    assert_eq!(
        a.field.json_path,
        vec![
            JsonOperation::Arrow(key("a")),
            JsonOperation::Arrow(JsonOperand::Index(0)),
            JsonOperation::DoubleArrow(key("b")),
        ]
    );
    assert_eq!(a.field.output_name(), "b");
    let SelectItem::Field(a) = &sel("data->-1")[0] else {
        panic!()
    };
    assert_eq!(
        a.field.json_path,
        vec![JsonOperation::Arrow(JsonOperand::Index(-1))]
    );
    let SelectItem::Field(a) = &sel("alias:name->!@#$%^&*_a::cast")[0] else {
        panic!()
    };
    assert_eq!(
        a.field.json_path,
        vec![JsonOperation::Arrow(key("!@#$%^&*_a"))]
    );
    assert_eq!(a.cast.as_deref(), Some("cast"));
    let SelectItem::Field(a) = &sel("data->\"a.b\"->>c-d")[0] else {
        panic!()
    };
    assert_eq!(
        a.field.json_path,
        vec![
            JsonOperation::Arrow(key("a.b")),
            JsonOperation::DoubleArrow(key("c-d"))
        ]
    );
    // An index inside an embed (followed by `)`).
    let SelectItem::Relation(e) = &sel("rel(data->0)")[0] else {
        panic!()
    };
    let SelectItem::Field(a) = &e.children[0] else {
        panic!()
    };
    assert_eq!(
        a.field.json_path,
        vec![JsonOperation::Arrow(JsonOperand::Index(0))]
    );
    // A number too large for an index is a key.
    let SelectItem::Field(a) = &sel("d->99999999999999999999")[0] else {
        panic!()
    };
    assert_eq!(
        a.field.json_path,
        vec![JsonOperation::Arrow(key("99999999999999999999"))]
    );
    let SelectItem::Field(a) = &sel("a-b->c")[0] else {
        panic!()
    };
    assert_eq!(a.field.name, "a-b");
}

#[test]
fn select_aggregates() {
    let agg = |s: &str| match &sel(s)[0] {
        SelectItem::Field(a) => a.clone(),
        other => panic!("{other:?}"),
    };
    let c = agg("count()");
    assert_eq!(c.aggregate, Some(AggregateFunction::Count));
    assert_eq!(c.field, f("*"));
    let c = agg("total:count()::int");
    assert_eq!(c.alias.as_deref(), Some("total"));
    assert_eq!(c.aggregate_cast.as_deref(), Some("int"));
    let c = agg("amount.sum()");
    assert_eq!(
        (c.field.name.as_str(), c.aggregate),
        ("amount", Some(AggregateFunction::Sum))
    );
    let c = agg("amount.avg()::int");
    assert_eq!(c.aggregate, Some(AggregateFunction::Avg));
    assert_eq!(c.aggregate_cast.as_deref(), Some("int"));
    let c = agg("x:amount::numeric.max()::text");
    assert_eq!(c.cast.as_deref(), Some("numeric"));
    assert_eq!(c.aggregate, Some(AggregateFunction::Max));
    assert_eq!(c.aggregate_cast.as_deref(), Some("text"));
    assert_eq!(c.alias.as_deref(), Some("x"));
    assert_eq!(agg("amount.min()").aggregate, Some(AggregateFunction::Min));
    assert_eq!(agg("id.count()").aggregate, Some(AggregateFunction::Count));
    assert_eq!(agg("data->x.sum()").aggregate, Some(AggregateFunction::Sum));
    let qp = parse_query("select=a,b(c.sum())", false).unwrap();
    assert!(qp.has_aggregates());
    assert!(
        !parse_query("select=a,b(c)", false)
            .unwrap()
            .has_aggregates()
    );
}

#[test]
fn select_embeds() {
    assert_eq!(
        sel("rel(*)"),
        vec![SelectItem::Relation(embed("rel", vec![SelectItem::star()]))]
    );
    assert_eq!(
        sel("rel()"),
        vec![SelectItem::Relation(embed("rel", vec![]))]
    );
    assert_eq!(
        sel("rel( )"),
        vec![SelectItem::Relation(embed("rel", vec![]))]
    );
    let SelectItem::Relation(e) = &sel("alias:rel(id)")[0] else {
        panic!()
    };
    assert_eq!(e.alias.as_deref(), Some("alias"));
    assert_eq!(e.children, vec![col("id")]);
    let SelectItem::Relation(e) = &sel("rel!hint(*)")[0] else {
        panic!()
    };
    assert_eq!((e.hint.as_deref(), e.join_type), (Some("hint"), None));
    let SelectItem::Relation(e) = &sel("rel!inner(*)")[0] else {
        panic!()
    };
    assert_eq!(
        (e.hint.as_deref(), e.join_type),
        (None, Some(JoinType::Inner))
    );
    let SelectItem::Relation(e) = &sel("rel!left(*)")[0] else {
        panic!()
    };
    assert_eq!(e.join_type, Some(JoinType::Left));
    let SelectItem::Relation(e) = &sel("rel!hint!inner(*)")[0] else {
        panic!()
    };
    assert_eq!(
        (e.hint.as_deref(), e.join_type),
        (Some("hint"), Some(JoinType::Inner))
    );
    let SelectItem::Relation(e) = &sel("alias:rel!inner!hint(*)")[0] else {
        panic!()
    };
    assert_eq!(
        (e.hint.as_deref(), e.join_type),
        (Some("hint"), Some(JoinType::Inner))
    );
    assert_eq!(e.alias.as_deref(), Some("alias"));
    let SelectItem::Relation(e) = &sel("rel!fk_inner_thing(*)")[0] else {
        panic!()
    };
    assert_eq!(e.hint.as_deref(), Some("fk_inner_thing"));
    let SelectItem::Relation(e) = &sel("rel!\"fk.x\"(*)")[0] else {
        panic!()
    };
    assert_eq!(e.hint.as_deref(), Some("fk.x"));
}

#[test]
fn select_spread_and_nesting() {
    assert_eq!(
        sel("*,...client(*),other(*)"),
        vec![
            SelectItem::star(),
            SelectItem::Spread(embed("client", vec![SelectItem::star()])),
            SelectItem::Relation(embed("other", vec![SelectItem::star()])),
        ]
    );
    let SelectItem::Spread(e) = &sel("...rel!hint!inner(a,b)")[0] else {
        panic!()
    };
    assert_eq!(
        (e.hint.as_deref(), e.join_type),
        (Some("hint"), Some(JoinType::Inner))
    );
    assert_eq!(e.children, vec![col("a"), col("b")]);
    assert_eq!(
        sel("actors:roles(character,...actors(first_name))"),
        vec![SelectItem::Relation(EmbedSelect {
            alias: Some("actors".into()),
            ..embed(
                "roles",
                vec![
                    col("character"),
                    SelectItem::Spread(embed("actors", vec![col("first_name")]))
                ]
            )
        })]
    );
    assert_eq!(
        sel("a(b(c(d(*))))"),
        vec![SelectItem::Relation(embed(
            "a",
            vec![SelectItem::Relation(embed(
                "b",
                vec![SelectItem::Relation(embed(
                    "c",
                    vec![SelectItem::Relation(embed("d", vec![SelectItem::star()]))]
                ))]
            ))]
        ))]
    );
    assert_eq!(
        sel(" id , clients ( id , name ) , x "),
        vec![
            col("id"),
            SelectItem::Relation(embed("clients", vec![col("id"), col("name")])),
            col("x")
        ]
    );
}

#[test]
fn select_errors_match_postgrest() {
    let (m, d) = err(parse_select("id,clients(name[])"));
    assert_eq!(
        m,
        "\"failed to parse select parameter (id,clients(name[]))\" (line 1, column 16)"
    );
    assert_eq!(
        d,
        "unexpected '[' expecting letter, digit, \"-\", \"->>\", \"->\", \"::\", \".\", \")\", \",\" or end of input"
    );
    let (m, d) = err(parse_select("data->>-78xy"));
    assert!(m.ends_with("(line 1, column 11)"), "{m}");
    assert_eq!(
        d,
        "unexpected 'x' expecting digit, \"->\", \"::\", \".\", \",\" or end of input"
    );
    let (m, d) = err(parse_select("name::"));
    assert!(m.ends_with("(line 1, column 7)"), "{m}");
    assert_eq!(d, "unexpected end of input expecting letter or digit");
    let (m, _) = err(parse_select("name!hint"));
    assert!(m.ends_with("(line 1, column 5)"), "{m}");
    let (m, _) = err(parse_select("*!hint"));
    assert!(m.ends_with("(line 1, column 2)"), "{m}");
}

#[test]
fn select_other_errors() {
    for bad in [
        "a,",
        ",a",
        "rel(",
        "rel(a",
        "a)",
        "count(*)",
        "count(a)",
        "rel->x(*)",
        "a.b",
        "a.sum",
        "x:",
        "\"open",
        "rel!(*)",
        "...(*)",
        "a::",
        "a->",
        "a->>",
        "a->-",
        "(a)",
        "a b(c",
        "*:a",
    ] {
        let e = parse_select(bad).expect_err(bad);
        assert_eq!(e.code(), "PGRST100", "{bad}");
        assert!(
            e.message().starts_with(&format!(
                "\"failed to parse select parameter ({bad})\" (line 1, column "
            )),
            "{bad}: {}",
            e.message()
        );
        assert!(
            e.body()["details"]
                .as_str()
                .is_some_and(|d| d.starts_with("unexpected ")),
            "{bad}"
        );
    }
    // `count` is reserved: never an embed.
    let (_, d) = err(parse_select("count(id)"));
    assert!(d.starts_with("unexpected"), "{d}");
}

#[test]
fn select_depth_is_limited() {
    let deep = format!(
        "{}*{}",
        "a(".repeat(MAX_DEPTH + 5),
        ")".repeat(MAX_DEPTH + 5)
    );
    assert!(parse_select(&deep).is_err());
    let ok = format!("{}*{}", "a(".repeat(10), ")".repeat(10));
    assert!(parse_select(&ok).is_ok());
    let deep_or = format!(
        "{}a.eq.1{}",
        "or(".repeat(MAX_DEPTH + 5),
        ")".repeat(MAX_DEPTH + 5)
    );
    assert!(parse_logic("or", &format!("({deep_or})")).is_err());
}

// ------------------------------------------------------------------------------------------
// filters

#[test]
fn filter_operators() {
    use QuantOperator as Q;
    use SimpleOperator as S;
    let cases: Vec<(&str, Operation)> = vec![
        ("eq.1", quant(Q::Equal, None, "1")),
        ("gt.1", quant(Q::GreaterThan, None, "1")),
        ("gte.1", quant(Q::GreaterThanEqual, None, "1")),
        ("lt.1", quant(Q::LessThan, None, "1")),
        ("lte.1", quant(Q::LessThanEqual, None, "1")),
        ("like.*abc*", quant(Q::Like, None, "%abc%")),
        ("ilike.a*c", quant(Q::ILike, None, "a%c")),
        ("match.^a.*$", quant(Q::Match, None, "^a.*$")),
        ("imatch.x*", quant(Q::IMatch, None, "x*")),
        (
            "neq.x",
            Operation::Simple {
                op: S::NotEqual,
                value: "x".into(),
            },
        ),
        (
            "cs.{1,2}",
            Operation::Simple {
                op: S::Contains,
                value: "{1,2}".into(),
            },
        ),
        (
            "cd.{1,2}",
            Operation::Simple {
                op: S::Contained,
                value: "{1,2}".into(),
            },
        ),
        (
            "ov.[1,5)",
            Operation::Simple {
                op: S::Overlap,
                value: "[1,5)".into(),
            },
        ),
        (
            "sl.(1,2)",
            Operation::Simple {
                op: S::StrictlyLeft,
                value: "(1,2)".into(),
            },
        ),
        (
            "sr.x",
            Operation::Simple {
                op: S::StrictlyRight,
                value: "x".into(),
            },
        ),
        (
            "nxr.x",
            Operation::Simple {
                op: S::NotExtendsRight,
                value: "x".into(),
            },
        ),
        (
            "nxl.x",
            Operation::Simple {
                op: S::NotExtendsLeft,
                value: "x".into(),
            },
        ),
        (
            "adj.x",
            Operation::Simple {
                op: S::Adjacent,
                value: "x".into(),
            },
        ),
        ("isdistinct.v", Operation::IsDistinctFrom("v".into())),
        (
            "fts.cat",
            Operation::Fts {
                op: FtsOperator::Fts,
                language: None,
                value: "cat".into(),
            },
        ),
        (
            "plfts(english).fat cats",
            Operation::Fts {
                op: FtsOperator::Plain,
                language: Some("english".into()),
                value: "fat cats".into(),
            },
        ),
        (
            "phfts.a b",
            Operation::Fts {
                op: FtsOperator::Phrase,
                language: None,
                value: "a b".into(),
            },
        ),
        (
            "wfts(french).\"x\" or y",
            Operation::Fts {
                op: FtsOperator::Websearch,
                language: Some("french".into()),
                value: "\"x\" or y".into(),
            },
        ),
        (
            "eq(any).{1,2}",
            quant(Q::Equal, Some(Quantifier::Any), "{1,2}"),
        ),
        (
            "gt(all).{1,2}",
            quant(Q::GreaterThan, Some(Quantifier::All), "{1,2}"),
        ),
        (
            "like(any).{a*,*b}",
            quant(Q::Like, Some(Quantifier::Any), "{a%,%b}"),
        ),
        (
            "ilike(all).{a*}",
            quant(Q::ILike, Some(Quantifier::All), "{a%}"),
        ),
        (
            "match(any).{a,b}",
            quant(Q::Match, Some(Quantifier::Any), "{a,b}"),
        ),
        ("eq.a.b.c", quant(Q::Equal, None, "a.b.c")),
        ("eq.", quant(Q::Equal, None, "")),
        ("eq.(,)\"", quant(Q::Equal, None, "(,)\"")),
    ];
    for (input, expected) in cases {
        let e = op(input);
        assert!(!e.negated, "{input}");
        assert_eq!(e.operation, expected, "{input}");
    }
    let e = op("not.eq.1");
    assert!(e.negated);
    assert_eq!(e.operation, quant(Q::Equal, None, "1"));
    assert!(op("not.in.(1)").negated);
    assert!(op("not.is.null").negated);
    assert!(op("not.fts(english).x").negated);
}

#[test]
fn filter_in_lists() {
    let list = |s: &str| match op(s).operation {
        Operation::In(v) => v,
        other => panic!("{other:?}"),
    };
    assert_eq!(list("in.(1,2,3)"), ["1", "2", "3"]);
    assert_eq!(list("in.(a,b,\"c,d\")"), ["a", "b", "c,d"]);
    assert_eq!(list("in.()"), Vec::<String>::new());
    assert_eq!(list("in.(\"\")"), [""]);
    assert_eq!(list("in.(,)"), ["", ""]);
    assert_eq!(list("in.(\"a\\\"b\",\"c\\\\d\")"), ["a\"b", "c\\d"]);
    assert_eq!(list("in.( a , b )"), ["a ", " b "]);
    assert_eq!(list("in.(\"x\" ,y)"), ["\"x\" ", "y"]);
    assert_eq!(list("in.(\"a)b\")"), ["a)b"]);
    for bad in ["in.1,2", "in.(1,2", "in.(1))", "in.(1)x", "in.", "in.(\"a"] {
        let (m, _) = err(parse_op_expr(bad));
        assert!(
            m.starts_with(&format!("\"failed to parse filter ({bad})\"")),
            "{m}"
        );
    }
}

#[test]
fn filter_is_values() {
    let is = |s: &str| match op(s).operation {
        Operation::Is(v) => v,
        other => panic!("{other:?}"),
    };
    assert_eq!(is("is.null"), IsValue::Null);
    assert_eq!(is("is.NULL"), IsValue::Null);
    assert_eq!(is("is.NuLl"), IsValue::Null);
    assert_eq!(is("is.not_null"), IsValue::NotNull);
    assert_eq!(is("is.NOT_NULL"), IsValue::NotNull);
    assert_eq!(is("is.true"), IsValue::True);
    assert_eq!(is("is.TRUE"), IsValue::True);
    assert_eq!(is("is.false"), IsValue::False);
    assert_eq!(is("is.unknown"), IsValue::Unknown);
    let (m, d) = err(parse_op_expr("is.foo"));
    assert_eq!(m, "\"failed to parse filter (is.foo)\" (line 1, column 4)");
    assert_eq!(
        d,
        "unexpected \"f\" expecting null or trilean value (unknown, true, false)"
    );
    for bad in ["is.nullx", "is.", "is.1", "is. null"] {
        let (_, d) = err(parse_op_expr(bad));
        assert!(d.contains("null or trilean value"), "{bad}: {d}");
    }
}

#[test]
fn filter_errors_match_postgrest() {
    let e = parse_filter("a.b", "noop.0", false).unwrap_err();
    assert_eq!(
        e.message(),
        "\"failed to parse filter (noop.0)\" (line 1, column 1)"
    );
    assert_eq!(
        e.body()["details"],
        "unexpected \"o\" expecting \"not\" or operator (eq, gt, ...)"
    );
    let e = parse_filter("id", "val", false).unwrap_err();
    assert_eq!(
        e.message(),
        "\"failed to parse filter (val)\" (line 1, column 1)"
    );
    assert_eq!(
        e.body()["details"],
        "unexpected \"v\" expecting \"not\" or operator (eq, gt, ...)"
    );
    let (m, d) = err(parse_op_expr("not.xx.1"));
    assert!(m.ends_with("(line 1, column 5)"), "{m}");
    assert_eq!(d, "unexpected \"x\" expecting operator (eq, gt, ...)");
    for bad in [
        "",
        "eq",
        "eq1",
        "neq(any).1",
        "is(any).null",
        "in(any).(1)",
        "fts().x",
        "fts(a b.x",
        "eq(some).1",
        "EQ.1",
        "not.",
        "not",
        "cs(any).x",
        "eq(any)x",
    ] {
        let e = parse_op_expr(bad).expect_err(bad);
        assert_eq!(e.code(), "PGRST100", "{bad}");
    }
}

#[test]
fn filter_keys_and_paths() {
    let FilterOrArg::Filter(pf) = parse_filter("actors.first_name", "eq.X", false).unwrap() else {
        panic!()
    };
    assert_eq!(pf.path, vec!["actors".to_owned()]);
    assert_eq!(pf.filter.field, f("first_name"));
    let FilterOrArg::Filter(pf) = parse_filter("a.b.c->x->>0", "eq.1", false).unwrap() else {
        panic!()
    };
    assert_eq!(pf.path, vec!["a".to_owned(), "b".to_owned()]);
    assert_eq!(pf.filter.field.name, "c");
    assert_eq!(
        pf.filter.field.json_path,
        vec![
            JsonOperation::Arrow(key("x")),
            JsonOperation::DoubleArrow(JsonOperand::Index(0))
        ]
    );
    let FilterOrArg::Filter(pf) = parse_filter("\"a.b\"", "eq.1", false).unwrap() else {
        panic!()
    };
    assert!(pf.path.is_empty());
    assert_eq!(pf.filter.field.name, "a.b");
    let e = parse_filter("a[", "eq.1", false).unwrap_err();
    assert_eq!(e.code(), "PGRST100");
    assert!(
        e.message()
            .starts_with("\"failed to parse tree path (a[)\""),
        "{}",
        e.message()
    );
}

#[test]
fn rpc_read_arguments() {
    assert_eq!(parse_filter("a", "val", true).unwrap(), FilterOrArg::Arg);
    assert_eq!(parse_filter("a", "", true).unwrap(), FilterOrArg::Arg);
    assert_eq!(parse_filter("a", "eq", true).unwrap(), FilterOrArg::Arg);
    assert_eq!(
        parse_filter("a", "{1,2,3}", true).unwrap(),
        FilterOrArg::Arg
    );
    assert_eq!(
        parse_filter("a", "eq(x).1", true).unwrap(),
        FilterOrArg::Arg
    );
    assert_eq!(parse_filter("a[0]", "1", true).unwrap(), FilterOrArg::Arg);
    assert!(matches!(
        parse_filter("a", "eq.5", true).unwrap(),
        FilterOrArg::Filter(_)
    ));
    // Committed prefixes stay errors, as upstream.
    for v in ["not.sure", "in.x", "is.great"] {
        assert!(parse_filter("a", v, true).is_err(), "{v}");
    }
    let qp = parse_query("a=1&b=eq.2&v=1&v=2&select=x&order=x", true).unwrap();
    assert_eq!(
        qp.rpc_args,
        vec![
            ("a".into(), "1".into()),
            ("v".into(), "1".into()),
            ("v".into(), "2".into())
        ]
    );
    assert_eq!(qp.filters.len(), 1);
    assert_eq!(qp.rpc_raw_params.len(), 4);
    // Not an RPC read: a missing operator is an error.
    assert!(parse_query("a=1", false).is_err());
}

// ------------------------------------------------------------------------------------------
// logic trees

fn leaf(field: &str, o: Operation) -> LogicTree {
    LogicTree::Filter(Filter {
        field: f(field),
        expr: OpExpr {
            negated: false,
            operation: o,
        },
    })
}

fn eq(v: &str) -> Operation {
    quant(QuantOperator::Equal, None, v)
}

#[test]
fn logic_trees() {
    let t = parse_logic("or", "(a.eq.1,b.gt.2)").unwrap();
    assert!(t.path.is_empty());
    assert_eq!(
        t.tree,
        LogicTree::Expr {
            negated: false,
            op: LogicOperator::Or,
            children: vec![
                leaf("a", eq("1")),
                leaf("b", quant(QuantOperator::GreaterThan, None, "2"))
            ]
        }
    );
    let t = parse_logic("and", "(a.eq.1,or(b.is.null,not.and(c.lt.3,d.not.eq.4)))").unwrap();
    let LogicTree::Expr {
        op: LogicOperator::And,
        children,
        negated: false,
    } = &t.tree
    else {
        panic!()
    };
    let LogicTree::Expr {
        op: LogicOperator::Or,
        children: inner,
        ..
    } = &children[1]
    else {
        panic!()
    };
    assert_eq!(inner[0], leaf("b", Operation::Is(IsValue::Null)));
    let LogicTree::Expr {
        negated: true,
        op: LogicOperator::And,
        children: deepest,
    } = &inner[1]
    else {
        panic!()
    };
    let LogicTree::Filter(d) = &deepest[1] else {
        panic!()
    };
    assert!(d.expr.negated);
    let t = parse_logic("not.or", "(a.eq.1,b.eq.2)").unwrap();
    assert!(matches!(
        t.tree,
        LogicTree::Expr {
            negated: true,
            op: LogicOperator::Or,
            ..
        }
    ));
    let t = parse_logic("actors.or", "(a.eq.1)").unwrap();
    assert_eq!(t.path, vec!["actors".to_owned()]);
    let t = parse_logic("actors.not.and", "(a.eq.1)").unwrap();
    assert_eq!(t.path, vec!["actors".to_owned()]);
    assert!(matches!(
        t.tree,
        LogicTree::Expr {
            negated: true,
            op: LogicOperator::And,
            ..
        }
    ));
}

#[test]
fn logic_values() {
    let t = parse_logic(
        "or",
        "(a.eq.\"x,y\",tags.cs.{a,b},c.in.(1,\"2,3\"),d.like.*z*,e.eq.\"q\\\"t\")",
    )
    .unwrap();
    let LogicTree::Expr { children, .. } = t.tree else {
        panic!()
    };
    assert_eq!(children[0], leaf("a", eq("x,y")));
    assert_eq!(
        children[1],
        leaf(
            "tags",
            Operation::Simple {
                op: SimpleOperator::Contains,
                value: "{a,b}".into()
            }
        )
    );
    assert_eq!(
        children[2],
        leaf("c", Operation::In(vec!["1".into(), "2,3".into()]))
    );
    assert_eq!(
        children[3],
        leaf("d", quant(QuantOperator::Like, None, "%z%"))
    );
    assert_eq!(children[4], leaf("e", eq("q\"t")));
    // whitespace
    let t = parse_logic("or", "( a.eq.1 , b.eq.2 )").unwrap();
    let LogicTree::Expr { children, .. } = t.tree else {
        panic!()
    };
    assert_eq!(children[0], leaf("a", eq("1 ")));
    // quoted value followed by other text is taken raw
    let t = parse_logic("or", "(a.eq.\"x\"y)").unwrap();
    let LogicTree::Expr { children, .. } = t.tree else {
        panic!()
    };
    assert_eq!(children[0], leaf("a", eq("\"x\"y")));
    // json path, fts with language, is inside a tree
    let t = parse_logic("or", "(data->>k.eq.1,t.fts(english).cat,x.is.true)").unwrap();
    let LogicTree::Expr { children, .. } = t.tree else {
        panic!()
    };
    assert_eq!(children.len(), 3);
    // A column named like a logic operator.
    let t = parse_logic("or", "(or.eq.1,not.eq.2)").unwrap();
    let LogicTree::Expr { children, .. } = t.tree else {
        panic!()
    };
    assert_eq!(children[0], leaf("or", eq("1")));
    assert_eq!(children[1], leaf("not", eq("2")));
}

#[test]
fn logic_errors_match_postgrest() {
    let e = parse_logic("or", "()").unwrap_err();
    assert_eq!(
        e.message(),
        "\"failed to parse logic tree (())\" (line 1, column 4)"
    );
    assert_eq!(
        e.body()["details"],
        "unexpected \")\" expecting field name (* or [a..z0..9_$]), negation operator (not) or logic operator (and, or)"
    );
    let (m, d) = err(parse_logic("or", "(id.in.1,2,id.eq.3)"));
    assert!(m.ends_with("(line 1, column 10)"), "{m}");
    assert_eq!(d, "unexpected \"1\" expecting \"(\"");
    let (m, d) = err(parse_logic("or", ")("));
    assert!(m.ends_with("(line 1, column 3)"), "{m}");
    assert_eq!(d, "unexpected \")\" expecting \"(\"");
    let (m, d) = err(parse_logic("and", "(ord(id.eq.1,id.eq.1),id.eq.2)"));
    assert!(m.ends_with("(line 1, column 7)"), "{m} {d}");
    let (m, d) = err(parse_logic("or", "(id.eq.1,not.xor(id.eq.2,id.eq.3))"));
    assert!(m.ends_with("(line 1, column 16)"), "{m}");
    assert_eq!(d, "unexpected \"x\" expecting logic operator (and, or)");
    for (k, v) in [
        ("or", "(a.eq.1)x"),
        ("or", "(a.eq.1"),
        ("or", "a.eq.1"),
        ("or", ""),
        ("or", "(a.is.maybe)"),
        ("or", "(a.zz.1)"),
        ("or", "(a.eq.1,)"),
        ("and", "(a,b)"),
    ] {
        let e = parse_logic(k, v).expect_err(v);
        assert_eq!(e.code(), "PGRST100", "{v}");
        assert!(
            e.message()
                .starts_with(&format!("\"failed to parse logic tree ({v})\"")),
            "{}",
            e.message()
        );
    }
    let e = parse_logic("a[.or", "(a.eq.1)").unwrap_err();
    assert!(
        e.message()
            .starts_with("\"failed to parse logic path (a[.or)\"")
    );
}

// ------------------------------------------------------------------------------------------
// order

fn term(t: OrderTarget, d: Option<OrderDirection>, n: Option<OrderNulls>) -> OrderTerm {
    OrderTerm {
        target: t,
        direction: d,
        nulls: n,
    }
}

#[test]
fn order_terms() {
    use OrderDirection::*;
    use OrderNulls::*;
    assert_eq!(
        parse_order("a.desc.nullslast,b,c->>k.asc").unwrap(),
        vec![
            term(OrderTarget::Field(f("a")), Some(Desc), Some(Last)),
            term(OrderTarget::Field(f("b")), None, None),
            term(
                OrderTarget::Field(Field {
                    name: "c".into(),
                    json_path: vec![JsonOperation::DoubleArrow(key("k"))]
                }),
                Some(Asc),
                None
            ),
        ]
    );
    assert_eq!(
        parse_order("name.desc.nullsfirst").unwrap(),
        vec![term(OrderTarget::Field(f("name")), Some(Desc), Some(First))]
    );
    assert_eq!(
        parse_order("a.nullsfirst").unwrap(),
        vec![term(OrderTarget::Field(f("a")), None, Some(First))]
    );
    assert_eq!(
        parse_order("directors(last_name).desc").unwrap(),
        vec![term(
            OrderTarget::Relation {
                relation: "directors".into(),
                field: f("last_name")
            },
            Some(Desc),
            None
        )]
    );
    assert_eq!(
        parse_order("clients(json_col->key).desc.nullsfirst").unwrap(),
        vec![term(
            OrderTarget::Relation {
                relation: "clients".into(),
                field: Field {
                    name: "json_col".into(),
                    json_path: vec![JsonOperation::Arrow(key("key"))]
                }
            },
            Some(Desc),
            Some(First)
        )]
    );
    assert_eq!(parse_order("name,clients(name),id").unwrap().len(), 3);
    assert_eq!(parse_order(" a , b.desc ").unwrap().len(), 2);
    assert_eq!(
        parse_order("json_col->!@#$%^&*_a.asc.nullslast").unwrap()[0].target,
        OrderTarget::Field(Field {
            name: "json_col".into(),
            json_path: vec![JsonOperation::Arrow(key("!@#$%^&*_a"))]
        })
    );
}

#[test]
fn order_errors_match_postgrest() {
    let cases = [
        (
            "clients(name,id)",
            8,
            "unexpected '(' expecting letter, digit, \"-\", \"->>\", \"->\", delimiter (.), \",\" or end of input",
        ),
        (
            "id.ac",
            4,
            "unexpected \"c\" expecting \"asc\", \"desc\", \"nullsfirst\" or \"nullslast\"",
        ),
        (
            "id.descc",
            8,
            "unexpected 'c' expecting delimiter (.), \",\" or end of input",
        ),
        (
            "id.nulsfist",
            4,
            "unexpected \"n\" expecting \"asc\", \"desc\", \"nullsfirst\" or \"nullslast\"",
        ),
        (
            "id.nullslasttt",
            13,
            "unexpected 't' expecting \",\" or end of input",
        ),
        (
            "id.smth34",
            4,
            "unexpected \"s\" expecting \"asc\", \"desc\", \"nullsfirst\" or \"nullslast\"",
        ),
        (
            "id.asc.nlsfst",
            8,
            "unexpected \"l\" expecting \"nullsfirst\" or \"nullslast\"",
        ),
        (
            "id.asc.nullslasttt",
            17,
            "unexpected 't' expecting \",\" or end of input",
        ),
        (
            "id.asc.smth34",
            8,
            "unexpected \"s\" expecting \"nullsfirst\" or \"nullslast\"",
        ),
    ];
    for (input, column, details) in cases {
        let (m, d) = err(parse_order(input));
        assert_eq!(
            m,
            format!("\"failed to parse order ({input})\" (line 1, column {column})"),
            "{input}"
        );
        assert_eq!(d, details, "{input}");
    }
    for bad in ["", ",", "a,", "a..desc", "rel()", "a.desc.asc"] {
        assert!(parse_order(bad).is_err(), "{bad}");
    }
}

// ------------------------------------------------------------------------------------------
// whole query strings

#[test]
fn decoding() {
    assert_eq!(
        decode_query("?a=1&b=x+y&c=%2B%20&d&;e=f=g&=h"),
        vec![
            ("a".into(), Some("1".into())),
            ("b".into(), Some("x y".into())),
            ("c".into(), Some("+ ".into())),
            ("d".into(), None),
            ("e".into(), Some("f=g".into())),
            (String::new(), Some("h".into())),
        ]
    );
    assert_eq!(decode_component("%E2%9C%93%zz"), "✓%zz");
    assert_eq!(decode_component("%FF"), "\u{FFFD}");
    assert_eq!(
        canonical_query(&decode_query("b=2&a=1&a=3&c&d=x%20y")),
        "a=1,3&b=2&c=&d=x%20y"
    );
}

#[test]
fn full_query() {
    let qp = parse_query(
        "select=id,actors(*)&id=gte.10&actors.name=like.A*&or=(a.eq.1,b.eq.2)&actors.or=(c.eq.3)\
         &order=id.desc&actors.order=name&limit=10&offset=5&actors.limit=2&actors.offset=1\
         &columns=%22a%22,%22b%22&on_conflict=a,%20b",
        false,
    )
    .unwrap();
    assert_eq!(qp.select.len(), 2);
    assert_eq!(qp.filters.len(), 2);
    assert_eq!(qp.root_filters().count(), 1);
    assert_eq!(qp.embed_filters().count(), 1);
    assert_eq!(qp.logic.len(), 2);
    assert_eq!(qp.logic[1].path, vec!["actors".to_owned()]);
    assert_eq!(qp.order.len(), 2);
    assert_eq!(qp.order[1].path, vec!["actors".to_owned()]);
    assert_eq!(
        qp.root_range(),
        RowRange {
            offset: 5,
            limit: Some(10)
        }
    );
    assert_eq!(
        qp.ranges.get(&vec!["actors".to_owned()]),
        Some(&RowRange {
            offset: 1,
            limit: Some(2)
        })
    );
    assert_eq!(qp.columns, Some(vec!["a".to_owned(), "b".to_owned()]));
    assert_eq!(qp.on_conflict, Some(vec!["a".to_owned(), "b".to_owned()]));
    assert!(qp.rpc_args.is_empty());
}

#[test]
fn defaults_and_edge_cases() {
    let qp = parse_query("", false).unwrap();
    assert_eq!(qp.select, vec![SelectItem::star()]);
    assert!(qp.ranges.is_empty());
    assert_eq!(qp.root_range(), RowRange::ALL);
    // A parameter without `=` is ignored; the first `select` wins.
    let qp = parse_query("id&select=a&select=b", false).unwrap();
    assert_eq!(qp.select, vec![col("a")]);
    assert!(qp.filters.is_empty());
    assert_eq!(parse_query("select=", false).unwrap().select, vec![]);
    // Only offset.
    let qp = parse_query("offset=3", false).unwrap();
    assert_eq!(
        qp.root_range(),
        RowRange {
            offset: 3,
            limit: None
        }
    );
    // limit=0 is allowed.
    let qp = parse_query("limit=0&offset=4", false).unwrap();
    assert_eq!(
        qp.root_range(),
        RowRange {
            offset: 4,
            limit: Some(0)
        }
    );
    // `+` is a space.
    let qp = parse_query("select=a,+b&name=eq.John+Doe", false).unwrap();
    assert_eq!(qp.select, vec![col("a"), col("b")]);
    assert_eq!(
        qp.filters[0].filter.expr.operation,
        quant(QuantOperator::Equal, None, "John Doe")
    );
    // Percent-encoded reserved characters.
    let qp = parse_query("name=in.%28a%2Cb%29", false).unwrap();
    assert_eq!(
        qp.filters[0].filter.expr.operation,
        Operation::In(vec!["a".into(), "b".into()])
    );
}

#[test]
fn range_errors() {
    for q in [
        "limit=-1",
        "limit=abc",
        "limit=1.5",
        "offset=x",
        "actors.limit=-1",
    ] {
        let e = parse_query(q, false).expect_err(q);
        assert_eq!(e.code(), "PGRST103", "{q}");
        assert_eq!(e.status().as_u16(), 416);
    }
    // a negative offset is a no-op
    let qp = parse_query("offset=-2", false).expect("offset=-2");
    assert_eq!(qp.ranges.get(&Vec::new()).map(|r| r.offset), Some(0));
    let e = parse_query("limit=-1", false).unwrap_err();
    assert_eq!(
        e.body()["details"],
        "Limit should be greater than or equal to zero."
    );
}

#[test]
fn columns_and_on_conflict() {
    assert_eq!(parse_columns("a,b", "columns").unwrap(), ["a", "b"]);
    assert_eq!(
        parse_columns("\"a\",\"b c\"", "columns").unwrap(),
        ["a", "b c"]
    );
    assert_eq!(parse_columns(" a , b ", "columns").unwrap(), ["a", "b"]);
    let (m, _) = err(parse_columns("a,", "columns"));
    assert!(
        m.starts_with("\"failed to parse columns parameter (a,)\""),
        "{m}"
    );
    let (m, _) = err(parse_columns("a(b)", "on_conflict"));
    assert!(
        m.starts_with("\"failed to parse on_conflict parameter (a(b))\""),
        "{m}"
    );
    assert!(parse_query("columns=", false).is_err());
}

#[test]
fn query_validation_order() {
    // A bad order is reported before a bad select (PostgREST's order of checks).
    let e = parse_query("select=a[&order=b..", false).unwrap_err();
    assert!(
        e.message().contains("failed to parse order"),
        "{}",
        e.message()
    );
    let e = parse_query("select=a[&id=zz.1", false).unwrap_err();
    assert!(
        e.message().contains("failed to parse select"),
        "{}",
        e.message()
    );
}

#[test]
fn a_bad_json_operand_lists_index_and_key_as_expected() {
    let e = parse_query("select=data->(x", false).expect_err("bad operand");
    assert_eq!(
        e.body()["details"],
        "unexpected \"(\" expecting \"-\", digit or any non reserved character different from: .,>()"
    );
}
