//! The PostgREST query-string grammar: `select`, filters, `and`/`or` logic trees, `order`,
//! `limit`/`offset`, `columns` and `on_conflict`.
//!
//! A hand-written recursive-descent parser that follows PostgREST 12's grammar
//! (`ApiRequest/QueryParams.hs`). Errors are `PGRST100` with PostgREST's message form
//! `"failed to parse select parameter (…)" (line 1, column N)` and details such as
//! `unexpected "[" expecting letter, digit, … or end of input`; bad `limit`/`offset` give
//! `PGRST103`.
//!
//! Deliberate differences from upstream, all stricter or more helpful: trailing input after a
//! complete `select`/filter/`order`/logic tree is an error (upstream silently ignores it),
//! non-numeric or negative `limit`/`offset` are `PGRST103` (upstream ignores non-numbers), a JSON
//! array index may be followed by `)` (so `rel(data->0)` indexes), and hints/aliases may start
//! with `left`/`inner`.

use std::collections::BTreeMap;

use crate::ast::{
    AggregateFunction, EmbedPath, EmbedSelect, Field, Filter, FtsOperator, IsValue, JoinType,
    JsonOperand, JsonOperation, LogicOperator, LogicTree, OpExpr, Operation, OrderDirection,
    OrderNulls, OrderTarget, OrderTerm, PathFilter, PathLogic, PathOrder, QuantOperator,
    Quantifier, SelectField, SelectItem, SimpleOperator,
};
use crate::cursor::{Cursor, Fail, PResult};
use crate::error::{ApiError, RangeError};
use crate::range::RowRange;

/// Maximum nesting of embeds / logic trees; deeper input is rejected (protects the stack).
pub const MAX_DEPTH: usize = 64;

const FIELD_NAME_LABEL: &str = "field name (* or [a..z0..9_$])";
const JSON_KEY_LABEL: &str = "any non reserved character different from: .,>()";
const OPERATOR_LABEL: &str = "operator (eq, gt, ...)";
const DELIMITER_LABEL: &str = "delimiter (.)";
const IS_LABEL: &str = "null or trilean value (unknown, true, false)";

/// Everything the query string says, parsed.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct QueryParams {
    /// The parameters sorted by key and re-encoded (for `Content-Location`).
    pub canonical: String,
    /// `select=`; `[*]` when absent. An empty `select=` gives an empty list.
    pub select: Vec<SelectItem>,
    /// Every filter, root (empty path) and embedded, in query-string order.
    pub filters: Vec<PathFilter>,
    /// `and=`/`or=` trees (with `not.` and embed prefixes).
    pub logic: Vec<PathLogic>,
    /// `order=` per embed path, in query-string order.
    pub order: Vec<PathOrder>,
    /// `limit`/`offset` per embed path (the root is the empty path).
    pub ranges: BTreeMap<EmbedPath, RowRange>,
    /// `columns=a,b` (POST/PATCH/RPC payload columns).
    pub columns: Option<Vec<String>>,
    /// `on_conflict=a,b`.
    pub on_conflict: Option<Vec<String>>,
    /// On GET/HEAD `/rpc/*`: parameters whose value has no operator — function arguments, in
    /// order, repeated keys kept (variadic). Keys are the raw parameter names.
    pub rpc_args: Vec<(String, String)>,
    /// On GET/HEAD `/rpc/*`: every non-reserved `(key, value)` pair, in order, whether it was
    /// taken as a filter or an argument — for a planner that wants to decide by the function's
    /// parameter names.
    pub rpc_raw_params: Vec<(String, String)>,
}

impl QueryParams {
    /// Filters on the root resource.
    pub fn root_filters(&self) -> impl Iterator<Item = &Filter> {
        self.filters
            .iter()
            .filter(|f| f.path.is_empty())
            .map(|f| &f.filter)
    }

    /// Filters on embedded resources.
    pub fn embed_filters(&self) -> impl Iterator<Item = &PathFilter> {
        self.filters.iter().filter(|f| !f.path.is_empty())
    }

    /// The root `limit`/`offset` range ([`RowRange::ALL`] when absent).
    pub fn root_range(&self) -> RowRange {
        self.ranges
            .get(&Vec::new())
            .copied()
            .unwrap_or(RowRange::ALL)
    }

    /// Does `select` (at any depth) use an aggregate?
    pub fn has_aggregates(&self) -> bool {
        fn any(items: &[SelectItem]) -> bool {
            items.iter().any(|i| match i {
                SelectItem::Field(f) => f.aggregate.is_some(),
                SelectItem::Relation(e) | SelectItem::Spread(e) => any(&e.children),
            })
        }
        any(&self.select)
    }
}

/// Splits a raw query string into decoded `(key, value)` pairs the way PostgREST (WAI's
/// `parseQueryReplacePlus True`) does: separators `&` and `;`, `+` means space, percent-escapes
/// decoded (invalid UTF-8 replaced), a key without `=` has no value.
pub fn decode_query(raw: &str) -> Vec<(String, Option<String>)> {
    let raw = raw.strip_prefix('?').unwrap_or(raw);
    raw.split(['&', ';'])
        .filter(|s| !s.is_empty())
        .map(|part| match part.split_once('=') {
            Some((k, v)) => (decode_component(k), Some(decode_component(v))),
            None => (decode_component(part), None),
        })
        .collect()
}

/// Percent-decodes one query component, turning `+` into a space first.
pub fn decode_component(s: &str) -> String {
    let replaced = s.replace('+', " ");
    percent_encoding::percent_decode_str(&replaced)
        .decode_utf8_lossy()
        .into_owned()
}

fn encode_component(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The canonical form of the query: keys sorted (stable), values of repeated keys joined with
/// `,`, everything percent-encoded.
pub fn canonical_query(pairs: &[(String, Option<String>)]) -> String {
    let mut sorted: Vec<&(String, Option<String>)> = pairs.iter().collect();
    sorted.sort_by(|a, b| a.0.cmp(&b.0));
    let mut out: Vec<String> = Vec::new();
    let mut i = 0;
    while let Some((key, _)) = sorted.get(i) {
        let mut values = Vec::new();
        while let Some((k, v)) = sorted.get(i) {
            if k != key {
                break;
            }
            values.push(encode_component(v.as_deref().unwrap_or("")));
            i += 1;
        }
        out.push(format!("{}={}", encode_component(key), values.join(",")));
    }
    out.join("&")
}

/// Parses a whole query string. `rpc_read` is true for GET/HEAD on `/rpc/*`, where a key whose
/// value has no operator is a function argument.
pub fn parse_query(raw: &str, rpc_read: bool) -> Result<QueryParams, ApiError> {
    let pairs = decode_query(raw);
    let mut qp = QueryParams {
        canonical: canonical_query(&pairs),
        ..QueryParams::default()
    };
    let first = |name: &str| -> Option<Option<&String>> {
        pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_ref())
    };
    // Same order of validation as PostgREST: order, logic, columns, select, filters, on_conflict.
    let mut limits: BTreeMap<EmbedPath, String> = BTreeMap::new();
    let mut offsets: BTreeMap<EmbedPath, String> = BTreeMap::new();
    let mut filters: Vec<(&str, &str)> = Vec::new();
    for (key, value) in &pairs {
        let Some(value) = value else { continue };
        if matches!(key.as_str(), "select" | "columns" | "on_conflict") {
            continue;
        }
        let last = key.rsplit('.').next().unwrap_or(key);
        match last {
            "order" => {
                let path = parse_reserved_path(key)?;
                qp.order.push(PathOrder {
                    path,
                    terms: parse_order(value)?,
                });
            }
            "and" | "or" => qp.logic.push(parse_logic(key, value)?),
            "limit" => {
                limits
                    .entry(parse_reserved_path(key)?)
                    .or_insert(value.clone());
            }
            "offset" => {
                offsets
                    .entry(parse_reserved_path(key)?)
                    .or_insert(value.clone());
            }
            _ => filters.push((key, value)),
        }
    }
    if let Some(Some(c)) = first("columns") {
        qp.columns = Some(parse_columns(c, "columns")?);
    }
    qp.select = match first("select") {
        Some(Some(s)) => parse_select(s)?,
        _ => vec![SelectItem::star()],
    };
    for (key, value) in filters {
        if rpc_read {
            qp.rpc_raw_params.push((key.to_owned(), value.to_owned()));
        }
        match parse_filter(key, value, rpc_read)? {
            FilterOrArg::Filter(f) => qp.filters.push(f),
            FilterOrArg::Arg => qp.rpc_args.push((key.to_owned(), value.to_owned())),
        }
    }
    if let Some(Some(c)) = first("on_conflict") {
        qp.on_conflict = Some(parse_columns(c, "on_conflict")?);
    }
    qp.ranges = build_ranges(&limits, &offsets)?;
    Ok(qp)
}

fn build_ranges(
    limits: &BTreeMap<EmbedPath, String>,
    offsets: &BTreeMap<EmbedPath, String>,
) -> Result<BTreeMap<EmbedPath, RowRange>, ApiError> {
    let mut out = BTreeMap::new();
    for (path, v) in limits {
        let limit = parse_nonneg(v).ok_or(ApiError::invalid_range(RangeError::NegativeLimit))?;
        out.insert(
            path.clone(),
            RowRange {
                offset: 0,
                limit: Some(limit),
            },
        );
    }
    for (path, v) in offsets {
        // A negative offset is a no-op in PostgREST 12 (only a negative limit is refused).
        let offset = match v.trim().parse::<i64>() {
            Ok(n) if n < 0 => 0,
            _ => parse_nonneg(v).ok_or(ApiError::invalid_range(RangeError::NegativeOffset))?,
        };
        out.entry(path.clone()).or_insert(RowRange::ALL).offset = offset;
    }
    Ok(out)
}

fn parse_nonneg(v: &str) -> Option<u64> {
    let v = v.trim();
    let v = v.strip_prefix('+').unwrap_or(v);
    v.parse::<u64>().ok()
}

/// The embed path of a reserved key such as `actors.order` (→ `["actors"]`).
fn parse_reserved_path(key: &str) -> Result<EmbedPath, ApiError> {
    // The field part is the reserved word itself.
    parse_tree_path(key).map(|(path, _)| path)
}

/// Parses a filter key `[embed.path.]column[->json]` into its embed path and field.
pub fn parse_tree_path(key: &str) -> Result<(EmbedPath, Field), ApiError> {
    let mut cur = Cursor::new(key);
    let r = (|| {
        let mut names = vec![field_name(&mut cur)?];
        while cur.peek() == Some('.') {
            cur.bump();
            names.push(field_name(&mut cur)?);
        }
        cur.expected(DELIMITER_LABEL);
        let json_path = json_path(&mut cur)?;
        cur.eof()?;
        let name = names.pop().unwrap_or_default();
        Ok((names, Field { name, json_path }))
    })();
    r.map_err(|Fail| cur.error(&format!("failed to parse tree path ({key})")))
}

/// Parses `columns=` / `on_conflict=` (`what` names the parameter in the error).
pub fn parse_columns(value: &str, what: &str) -> Result<Vec<String>, ApiError> {
    let mut cur = Cursor::new(value);
    let r = (|| {
        let mut cols = Vec::new();
        loop {
            cur.ws();
            cols.push(field_name(&mut cur)?);
            cur.ws();
            if !cur.eat(',') {
                break;
            }
        }
        cur.eof()?;
        Ok(cols)
    })();
    r.map_err(|Fail| cur.error(&format!("failed to parse {what} parameter ({value})")))
}

// ---------------------------------------------------------------------------------------------
// Lexical pieces

fn is_ident_char(c: char) -> bool {
    c.is_alphabetic() || c.is_ascii_digit() || matches!(c, '_' | ' ' | '$')
}

/// `many1 (letter | digit | "_ $")`, stripped. `label` replaces `letter`/`digit` when nothing
/// matches.
fn identifier(cur: &mut Cursor, label: Option<&str>) -> PResult<String> {
    let start = cur.pos;
    while cur.peek().is_some_and(is_ident_char) {
        cur.bump();
    }
    if cur.pos == start {
        match label {
            Some(l) => cur.expected(l),
            None => {
                cur.expected("letter");
                cur.expected("digit");
            }
        }
        return Err(Fail);
    }
    cur.expected("letter");
    cur.expected("digit");
    Ok(cur.slice(start, cur.pos).trim().to_owned())
}

/// `"…"` with `\x` escapes.
fn quoted(cur: &mut Cursor) -> PResult<String> {
    if !cur.eat('"') {
        return Err(Fail);
    }
    let mut out = String::new();
    loop {
        match cur.peek() {
            Some('"') => {
                cur.bump();
                return Ok(out);
            }
            Some('\\') => {
                cur.bump();
                match cur.bump() {
                    Some(c) => out.push(c),
                    None => {
                        cur.expected("");
                        return Err(Fail);
                    }
                }
            }
            Some(c) => {
                cur.bump();
                out.push(c);
            }
            None => {
                cur.expected("\"\\\"\"");
                return Err(Fail);
            }
        }
    }
}

/// Pieces joined by `-` (a `-` not followed by `>`).
fn sep_by_dash(
    cur: &mut Cursor,
    piece: &dyn Fn(&mut Cursor, bool) -> PResult<String>,
) -> PResult<String> {
    let mut s = piece(cur, true)?;
    loop {
        if cur.peek() == Some('-') && cur.peek_at(1) != Some('>') {
            cur.bump();
            s.push('-');
            s.push_str(&piece(cur, false)?);
        } else {
            cur.expected("\"-\"");
            return Ok(s);
        }
    }
}

/// A column/relation/alias name: quoted, or identifiers joined by dashes.
fn field_name(cur: &mut Cursor) -> PResult<String> {
    if cur.peek() == Some('"') {
        return quoted(cur);
    }
    sep_by_dash(cur, &|c, first| {
        identifier(c, if first { Some(FIELD_NAME_LABEL) } else { None })
    })
}

fn json_key_piece(cur: &mut Cursor, first: bool) -> PResult<String> {
    let start = cur.pos;
    while cur
        .peek()
        .is_some_and(|c| !matches!(c, '(' | '-' | ':' | '.' | ',' | '>' | ')'))
    {
        cur.bump();
    }
    if cur.pos == start {
        if first {
            cur.expected(JSON_KEY_LABEL);
        }
        return Err(Fail);
    }
    Ok(cur.slice(start, cur.pos).trim().to_owned())
}

fn json_operand(cur: &mut Cursor) -> PResult<JsonOperand> {
    let start = cur.pos;
    // Index: -?digits followed by ->, ::, ., ',', ')' or end.
    let neg = cur.peek() == Some('-');
    if neg {
        cur.bump();
    }
    let digits_start = cur.pos;
    while cur.peek().is_some_and(|c| c.is_ascii_digit()) {
        cur.bump();
    }
    if cur.pos > digits_start {
        cur.expected("digit");
        let end_ok = cur.at_end()
            || cur.looking_at("->")
            || cur.looking_at("::")
            || matches!(cur.peek(), Some('.' | ',' | ')'));
        if !end_ok {
            for l in ["\"->\"", "\"::\"", "\".\"", "\",\""] {
                cur.expected_end(l);
            }
            cur.expected_end("end of input");
        }
        let digits = cur.slice(start, cur.pos);
        if end_ok && let Ok(i) = digits.parse::<i64>() {
            return Ok(JsonOperand::Index(i));
        }
    } else if neg {
        cur.expected("digit");
    } else {
        // an index may start here too: PostgREST's message lists `"-"` and digit first
        cur.expected("\"-\"");
        cur.expected("digit");
    }
    cur.pos = start;
    if cur.peek() == Some('"') {
        return quoted(cur).map(JsonOperand::Key);
    }
    sep_by_dash(cur, &json_key_piece).map(JsonOperand::Key)
}

fn json_path(cur: &mut Cursor) -> PResult<Vec<JsonOperation>> {
    let mut path = Vec::new();
    loop {
        if cur.eat_str("->>") {
            path.push(JsonOperation::DoubleArrow(json_operand(cur)?));
        } else if cur.eat_str("->") {
            path.push(JsonOperation::Arrow(json_operand(cur)?));
        } else {
            return Ok(path);
        }
    }
}

/// `ws name json_path ws`
fn field(cur: &mut Cursor) -> PResult<Field> {
    cur.ws();
    let name = field_name(cur)?;
    let json_path = json_path(cur)?;
    cur.ws();
    Ok(Field { name, json_path })
}

/// Runs `f`; on failure restores the position (Parsec's `try`).
fn attempt<T>(cur: &mut Cursor, f: impl FnOnce(&mut Cursor) -> PResult<T>) -> Option<T> {
    let start = cur.pos;
    match f(cur) {
        Ok(v) => Some(v),
        Err(Fail) => {
            cur.pos = start;
            None
        }
    }
}

/// Runs the last alternative of a choice, where PostgREST does not backtrack: if it fails after
/// consuming input, only its own errors are reported.
fn last_alternative<T>(
    cur: &mut Cursor,
    start: usize,
    f: impl FnOnce(&mut Cursor) -> PResult<T>,
) -> PResult<T> {
    let saved = cur.take_errors();
    let r = f(cur);
    match r {
        Ok(v) => Ok(v),
        Err(Fail) => {
            if cur.error_pos() <= start {
                cur.merge_errors(saved);
            }
            Err(Fail)
        }
    }
}

// ---------------------------------------------------------------------------------------------
// select

/// Parses a `select` value into its item forest.
pub fn parse_select(value: &str) -> Result<Vec<SelectItem>, ApiError> {
    let mut cur = Cursor::new(value);
    let r = (|| {
        let items = select_forest(&mut cur, 0)?;
        cur.ws();
        cur.eof()?;
        Ok(items)
    })();
    r.map_err(|Fail| cur.error(&format!("failed to parse select parameter ({value})")))
}

fn select_forest(cur: &mut Cursor, depth: usize) -> PResult<Vec<SelectItem>> {
    let mut items = Vec::new();
    cur.ws();
    if cur.at_end() || cur.peek() == Some(')') {
        return Ok(items);
    }
    if depth > MAX_DEPTH {
        cur.fail_at(cur.pos, "less nesting");
        return Err(Fail);
    }
    loop {
        items.push(select_tree(cur, depth)?);
        cur.ws();
        if !cur.eat(',') {
            return Ok(items);
        }
        cur.ws();
    }
}

fn embed_params(cur: &mut Cursor) -> PResult<(Option<String>, Option<JoinType>)> {
    let mut hint = None;
    let mut join = None;
    for _ in 0..2 {
        if cur.peek() != Some('!') {
            break;
        }
        cur.bump();
        let name = field_name(cur)?;
        match name.as_str() {
            "inner" => {
                join.get_or_insert(JoinType::Inner);
            }
            "left" => {
                join.get_or_insert(JoinType::Left);
            }
            _ => {
                hint.get_or_insert(name);
            }
        }
    }
    Ok((hint, join))
}

fn opt_alias(cur: &mut Cursor) -> Option<String> {
    let save = cur.pos;
    if let Some(name) = attempt(cur, field_name)
        && cur.peek() == Some(':')
        && cur.peek_at(1) != Some(':')
    {
        cur.bump();
        return Some(name);
    }
    cur.pos = save;
    None
}

fn select_tree(cur: &mut Cursor, depth: usize) -> PResult<SelectItem> {
    let start = cur.pos;
    // ...spread(…)
    if cur.looking_at("...")
        && let Some((relation, hint, join_type)) = attempt(cur, |c| {
            c.pos += 3;
            let name = field_name(c)?;
            let (hint, join) = embed_params(c)?;
            if c.peek() == Some('(') {
                Ok((name, hint, join))
            } else {
                c.expected("\"(\"");
                Err(Fail)
            }
        })
    {
        let children = embed_children(cur, depth)?;
        return Ok(SelectItem::Spread(EmbedSelect {
            relation,
            alias: None,
            hint,
            join_type,
            children,
        }));
    }
    // alias:relation!hint!inner(…)
    if let Some((alias, relation, hint, join_type)) = attempt(cur, |c| {
        let alias = opt_alias(c);
        let name = field_name(c)?;
        if name == "count" {
            return Err(Fail);
        }
        let (hint, join) = embed_params(c)?;
        if c.peek() == Some('(') {
            Ok((alias, name, hint, join))
        } else {
            c.expected("\"(\"");
            Err(Fail)
        }
    }) {
        let children = embed_children(cur, depth)?;
        return Ok(SelectItem::Relation(EmbedSelect {
            relation,
            alias,
            hint,
            join_type,
            children,
        }));
    }
    cur.pos = start;
    // *
    if cur.peek() == Some('*')
        && let Some(()) = attempt(cur, |c| {
            c.bump();
            c.ws();
            select_end(c)
        })
    {
        return Ok(SelectItem::star());
    }
    // alias:count()::cast
    if let Some(item) = attempt(cur, |c| {
        let alias = opt_alias(c);
        if !c.eat_str("count()") {
            return Err(Fail);
        }
        let aggregate_cast = opt_cast(c)?;
        c.ws();
        select_end(c)?;
        Ok(SelectField {
            field: Field::new("*"),
            alias,
            cast: None,
            aggregate: Some(AggregateFunction::Count),
            aggregate_cast,
        })
    }) {
        return Ok(SelectItem::Field(item));
    }
    last_alternative(cur, start, |c| {
        let alias = opt_alias(c);
        let field = field(c)?;
        let cast = opt_cast(c)?;
        let aggregate = attempt(c, |c| {
            if !c.eat('.') {
                return Err(Fail);
            }
            let agg = if c.eat_str("sum") {
                AggregateFunction::Sum
            } else if c.eat_str("avg") {
                AggregateFunction::Avg
            } else if c.eat_str("count") {
                AggregateFunction::Count
            } else if c.eat_str("max") {
                AggregateFunction::Max
            } else if c.eat_str("min") {
                AggregateFunction::Min
            } else {
                return Err(Fail);
            };
            if c.eat_str("()") { Ok(agg) } else { Err(Fail) }
        });
        let aggregate_cast = opt_cast(c)?;
        c.ws();
        select_end(c)?;
        Ok(SelectItem::Field(SelectField {
            field,
            alias,
            cast,
            aggregate,
            aggregate_cast,
        }))
    })
}

fn embed_children(cur: &mut Cursor, depth: usize) -> PResult<Vec<SelectItem>> {
    if !cur.eat('(') {
        return Err(Fail);
    }
    let children = select_forest(cur, depth + 1)?;
    cur.ws();
    if !cur.eat(')') {
        return Err(Fail);
    }
    cur.ws();
    Ok(children)
}

fn opt_cast(cur: &mut Cursor) -> PResult<Option<String>> {
    if cur.eat_str("::") {
        Ok(Some(identifier(cur, None)?))
    } else {
        Ok(None)
    }
}

/// Lookahead for `)`, `,` or end of input.
fn select_end(cur: &mut Cursor) -> PResult<()> {
    if cur.at_end() || matches!(cur.peek(), Some(')' | ',')) {
        Ok(())
    } else {
        cur.expected_end("\")\"");
        cur.expected_end("\",\"");
        cur.expected_end("end of input");
        Err(Fail)
    }
}

// ---------------------------------------------------------------------------------------------
// Filters

/// A filter parameter is either a filter or (on GET/HEAD `/rpc/*`) a function argument.
#[derive(Debug, Clone, PartialEq)]
pub enum FilterOrArg {
    /// `key=[not.]op.value`
    Filter(PathFilter),
    /// The value has no operator: a function argument.
    Arg,
}

/// How a filter value ends.
#[derive(Clone, Copy, PartialEq, Eq)]
enum ValueMode {
    /// The value is the rest of the input (a query parameter).
    Rest,
    /// Inside a logic tree: quoted, `{array}`, or up to `,`/`)`.
    Logic,
}

/// Parses one filter parameter `key=value`.
pub fn parse_filter(key: &str, value: &str, rpc_read: bool) -> Result<FilterOrArg, ApiError> {
    let (path, field) = match parse_tree_path(key) {
        Ok(p) => p,
        Err(_) if rpc_read => return Ok(FilterOrArg::Arg),
        Err(e) => return Err(e),
    };
    let mut cur = Cursor::new(value);
    let r = (|| {
        let e = op_expr(&mut cur, ValueMode::Rest, rpc_read)?;
        if e.is_some() {
            cur.eof()?;
        }
        Ok(e)
    })();
    match r {
        Ok(Some(expr)) => Ok(FilterOrArg::Filter(PathFilter {
            path,
            filter: Filter { field, expr },
        })),
        Ok(None) => Ok(FilterOrArg::Arg),
        Err(Fail) => Err(cur.error(&format!("failed to parse filter ({value})"))),
    }
}

/// Parses a filter value `[not.]op[(mod)].value` on its own (no key).
pub fn parse_op_expr(value: &str) -> Result<OpExpr, ApiError> {
    let mut cur = Cursor::new(value);
    let r = (|| {
        let e = op_expr(&mut cur, ValueMode::Rest, false)?;
        cur.eof()?;
        e.ok_or(Fail)
    })();
    r.map_err(|Fail| cur.error(&format!("failed to parse filter ({value})")))
}

fn is_value_end(cur: &Cursor, mode: ValueMode) -> bool {
    match mode {
        ValueMode::Rest => cur.at_end(),
        ValueMode::Logic => {
            let mut i = 0;
            while matches!(cur.peek_at(i), Some(' ' | '\t')) {
                i += 1;
            }
            matches!(cur.peek_at(i), None | Some(',' | ')'))
        }
    }
}

/// `Ok(None)`: no operator and `allow_noop` (an RPC argument). Commit points where a failure is
/// an error even for RPC: after `not.`, `in.`, `is.`, `isdistinct.`.
fn op_expr(cur: &mut Cursor, mode: ValueMode, allow_noop: bool) -> PResult<Option<OpExpr>> {
    let start = cur.pos;
    let negated = if cur.looking_at("not.") {
        cur.pos += 4;
        true
    } else {
        let _ = cur.eat_str("not");
        cur.pos = start;
        false
    };
    let op_start = cur.pos;
    while cur.peek().is_some_and(|c| c.is_ascii_lowercase()) {
        cur.bump();
    }
    let word = cur.slice(op_start, cur.pos);
    let committed_word = matches!(word.as_str(), "in" | "is" | "isdistinct");
    if committed_word && cur.peek() == Some('.') {
        cur.bump();
        let operation = match word.as_str() {
            "in" => Operation::In(list_value(cur)?),
            "is" => Operation::Is(is_value(cur, mode)?),
            _ => Operation::IsDistinctFrom(single_value(cur, mode)),
        };
        return Ok(Some(OpExpr { negated, operation }));
    }
    let operation = attempt(cur, |c| plain_operation(c, &word, mode));
    match operation {
        Some(operation) => Ok(Some(OpExpr { negated, operation })),
        None => {
            cur.fail_at(op_start, OPERATOR_LABEL);
            if allow_noop && !negated {
                cur.pos = start;
                Ok(None)
            } else {
                Err(Fail)
            }
        }
    }
}

fn delimiter(cur: &mut Cursor) -> PResult<()> {
    if cur.peek() == Some('.') {
        cur.bump();
        Ok(())
    } else {
        cur.expected(DELIMITER_LABEL);
        Err(Fail)
    }
}

/// The operators without a commit point (the cursor is just after the operator word).
fn plain_operation(cur: &mut Cursor, word: &str, mode: ValueMode) -> PResult<Operation> {
    let quant = match word {
        "eq" => Some(QuantOperator::Equal),
        "gt" => Some(QuantOperator::GreaterThan),
        "gte" => Some(QuantOperator::GreaterThanEqual),
        "lt" => Some(QuantOperator::LessThan),
        "lte" => Some(QuantOperator::LessThanEqual),
        "like" => Some(QuantOperator::Like),
        "ilike" => Some(QuantOperator::ILike),
        "match" => Some(QuantOperator::Match),
        "imatch" => Some(QuantOperator::IMatch),
        _ => None,
    };
    if let Some(op) = quant {
        let quantifier = if cur.peek() == Some('(') {
            cur.bump();
            let q = if cur.eat_str("any") {
                Quantifier::Any
            } else if cur.eat_str("all") {
                Quantifier::All
            } else {
                return Err(Fail);
            };
            if !cur.eat(')') {
                return Err(Fail);
            }
            Some(q)
        } else {
            cur.expected("\"(\"");
            None
        };
        delimiter(cur)?;
        let mut value = single_value(cur, mode);
        if matches!(op, QuantOperator::Like | QuantOperator::ILike) {
            value = value.replace('*', "%");
        }
        return Ok(Operation::Quant {
            op,
            quantifier,
            value,
        });
    }
    let simple = match word {
        "neq" => Some(SimpleOperator::NotEqual),
        "cs" => Some(SimpleOperator::Contains),
        "cd" => Some(SimpleOperator::Contained),
        "ov" => Some(SimpleOperator::Overlap),
        "sl" => Some(SimpleOperator::StrictlyLeft),
        "sr" => Some(SimpleOperator::StrictlyRight),
        "nxr" => Some(SimpleOperator::NotExtendsRight),
        "nxl" => Some(SimpleOperator::NotExtendsLeft),
        "adj" => Some(SimpleOperator::Adjacent),
        _ => None,
    };
    if let Some(op) = simple {
        delimiter(cur)?;
        return Ok(Operation::Simple {
            op,
            value: single_value(cur, mode),
        });
    }
    let fts = match word {
        "fts" => Some(FtsOperator::Fts),
        "plfts" => Some(FtsOperator::Plain),
        "phfts" => Some(FtsOperator::Phrase),
        "wfts" => Some(FtsOperator::Websearch),
        _ => None,
    };
    if let Some(op) = fts {
        let language = if cur.peek() == Some('(') {
            cur.bump();
            let lang = identifier(cur, None)?;
            if !cur.eat(')') {
                return Err(Fail);
            }
            Some(lang)
        } else {
            cur.expected("\"(\"");
            None
        };
        delimiter(cur)?;
        return Ok(Operation::Fts {
            op,
            language,
            value: single_value(cur, mode),
        });
    }
    Err(Fail)
}

/// A single value: the rest of the input, or in a logic tree a quoted value, a `{…}` array
/// literal, or the text up to `,`/`)`.
fn single_value(cur: &mut Cursor, mode: ValueMode) -> String {
    match mode {
        ValueMode::Rest => {
            let start = cur.pos;
            while cur.bump().is_some() {}
            cur.slice(start, cur.pos)
        }
        ValueMode::Logic => {
            if cur.peek() == Some('"')
                && let Some(v) = attempt(cur, |c| {
                    let v = quoted(c)?;
                    if matches!(c.peek(), Some(',' | ')')) {
                        Ok(v)
                    } else {
                        Err(Fail)
                    }
                })
            {
                return v;
            }
            if cur.peek() == Some('{')
                && let Some(v) = attempt(cur, |c| {
                    let start = c.pos;
                    c.bump();
                    while c.peek().is_some_and(|ch| ch != '{' && ch != '}') {
                        c.bump();
                    }
                    if c.eat('}') {
                        Ok(c.slice(start, c.pos))
                    } else {
                        Err(Fail)
                    }
                })
            {
                return v;
            }
            raw_until_comma_paren(cur)
        }
    }
}

fn raw_until_comma_paren(cur: &mut Cursor) -> String {
    let start = cur.pos;
    while cur.peek().is_some_and(|c| c != ',' && c != ')') {
        cur.bump();
    }
    cur.slice(start, cur.pos)
}

/// `(a,b,"c,d")` → elements; `()` → empty list.
fn list_value(cur: &mut Cursor) -> PResult<Vec<String>> {
    cur.ws();
    if !cur.eat('(') {
        return Err(Fail);
    }
    cur.ws();
    let mut items = Vec::new();
    let mut only_empty_unquoted = true;
    loop {
        let quoted_item = if cur.peek() == Some('"') {
            attempt(cur, |c| {
                let v = quoted(c)?;
                if matches!(c.peek(), Some(',' | ')')) {
                    Ok(v)
                } else {
                    Err(Fail)
                }
            })
        } else {
            None
        };
        match quoted_item {
            Some(v) => {
                only_empty_unquoted = false;
                items.push(v);
            }
            None => {
                let v = raw_until_comma_paren(cur);
                if !v.is_empty() {
                    only_empty_unquoted = false;
                }
                items.push(v);
            }
        }
        if !cur.eat(',') {
            break;
        }
    }
    if !cur.eat(')') {
        return Err(Fail);
    }
    cur.ws();
    if only_empty_unquoted && items.len() == 1 {
        items.clear();
    }
    Ok(items)
}

fn is_value(cur: &mut Cursor, mode: ValueMode) -> PResult<IsValue> {
    const CANDIDATES: [(&str, IsValue); 5] = [
        ("null", IsValue::Null),
        ("not_null", IsValue::NotNull),
        ("unknown", IsValue::Unknown),
        ("true", IsValue::True),
        ("false", IsValue::False),
    ];
    let start = cur.pos;
    for (word, v) in CANDIDATES {
        if cur.looking_at_ci(word) {
            cur.pos += word.len();
            if is_value_end(cur, mode) {
                return Ok(v);
            }
            cur.pos = start;
        }
    }
    cur.expected(IS_LABEL);
    Err(Fail)
}

// ---------------------------------------------------------------------------------------------
// Logic trees

/// Parses a logic parameter: `key` is `[embed.path.][not.](and|or)`, `value` is `(…)`.
pub fn parse_logic(key: &str, value: &str) -> Result<PathLogic, ApiError> {
    let mut kc = Cursor::new(key);
    let names = (|| {
        let mut names = vec![field_name(&mut kc)?];
        while kc.eat('.') {
            names.push(field_name(&mut kc)?);
        }
        kc.eof()?;
        Ok(names)
    })()
    .map_err(|Fail| kc.error(&format!("failed to parse logic path ({key})")))?;
    let negated = names.iter().any(|n| n == "not");
    let mut names: Vec<String> = names.into_iter().filter(|n| n != "not").collect();
    let op = names.pop().unwrap_or_default();
    let source = format!("{}{op}{value}", if negated { "not." } else { "" });
    let mut cur = Cursor::new(&source);
    let r = (|| {
        let tree = logic_tree(&mut cur, 0)?;
        cur.eof()?;
        Ok(tree)
    })();
    match r {
        Ok(tree @ LogicTree::Expr { .. }) => Ok(PathLogic { path: names, tree }),
        Ok(LogicTree::Filter(_)) | Err(Fail) => {
            Err(cur.error(&format!("failed to parse logic tree ({value})")))
        }
    }
}

fn logic_tree(cur: &mut Cursor, depth: usize) -> PResult<LogicTree> {
    let start = cur.pos;
    if depth > MAX_DEPTH {
        cur.fail_at(start, "less nesting");
        return Err(Fail);
    }
    if let Some(f) = attempt(cur, |c| {
        let field = field(c)?;
        delimiter(c)?;
        let expr = op_expr(c, ValueMode::Logic, false)?.ok_or(Fail)?;
        c.ws();
        Ok(Filter { field, expr })
    }) {
        return Ok(LogicTree::Filter(f));
    }
    last_alternative(cur, start, |c| {
        let negated = if c.looking_at("not.") {
            c.pos += 4;
            true
        } else {
            c.expected("negation operator (not)");
            false
        };
        let op = if c.looking_at("and") {
            c.pos += 3;
            LogicOperator::And
        } else if c.looking_at("or") {
            c.pos += 2;
            LogicOperator::Or
        } else {
            c.expected("logic operator (and, or)");
            return Err(Fail);
        };
        c.ws();
        if !c.eat('(') {
            return Err(Fail);
        }
        c.ws();
        let mut children = Vec::new();
        loop {
            children.push(logic_tree(c, depth + 1)?);
            c.ws();
            if !c.eat(',') {
                break;
            }
            c.ws();
        }
        if !c.eat(')') {
            return Err(Fail);
        }
        c.ws();
        Ok(LogicTree::Expr {
            negated,
            op,
            children,
        })
    })
}

// ---------------------------------------------------------------------------------------------
// order

/// Parses an `order` value.
pub fn parse_order(value: &str) -> Result<Vec<OrderTerm>, ApiError> {
    let mut cur = Cursor::new(value);
    let r = (|| {
        let mut terms = Vec::new();
        loop {
            terms.push(order_term(&mut cur)?);
            if !cur.eat(',') {
                break;
            }
        }
        cur.eof()?;
        Ok(terms)
    })();
    r.map_err(|Fail| cur.error(&format!("failed to parse order ({value})")))
}

fn order_term(cur: &mut Cursor) -> PResult<OrderTerm> {
    cur.ws();
    let start = cur.pos;
    if let Some(t) = attempt(cur, |c| {
        let relation = field_name(c)?;
        if !c.eat('(') {
            return Err(Fail);
        }
        let field = field(c)?;
        if !c.eat(')') {
            return Err(Fail);
        }
        order_modifiers(c, OrderTarget::Relation { relation, field })
    }) {
        return Ok(t);
    }
    last_alternative(cur, start, |c| {
        let field = field(c)?;
        order_modifiers(c, OrderTarget::Field(field))
    })
}

fn order_modifiers(cur: &mut Cursor, target: OrderTarget) -> PResult<OrderTerm> {
    let direction = attempt(cur, |c| {
        delimiter(c)?;
        if c.eat_str("asc") {
            Ok(OrderDirection::Asc)
        } else if c.eat_str("desc") {
            Ok(OrderDirection::Desc)
        } else {
            Err(Fail)
        }
    });
    let nulls = attempt(cur, |c| {
        delimiter(c)?;
        if c.eat_str("nullsfirst") {
            Ok(OrderNulls::First)
        } else if c.eat_str("nullslast") {
            Ok(OrderNulls::Last)
        } else {
            Err(Fail)
        }
    });
    cur.ws();
    if !(cur.at_end() || cur.peek() == Some(',')) {
        cur.expected_end("\",\"");
        cur.expected_end("end of input");
        return Err(Fail);
    }
    Ok(OrderTerm {
        target,
        direction,
        nulls,
    })
}

#[cfg(test)]
#[path = "query_tests.rs"]
mod tests;
