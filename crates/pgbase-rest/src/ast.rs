//! The typed syntax tree of a PostgREST query string: select items, filters, logic trees,
//! order terms. Produced by [`crate::query`], consumed by the planner.
//!
//! Names are kept exactly as the client wrote them (after percent-decoding and unquoting); no
//! schema knowledge is applied here.

use std::fmt;

/// Path of embedded resource names from the root, e.g. `["actors"]` for `actors.order=…`.
/// Empty for the root resource.
pub type EmbedPath = Vec<String>;

/// A column reference with an optional JSON/composite/array path: `data->a->0->>b`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Field {
    /// Column name (or `*` in select).
    pub name: String,
    /// JSON path applied to the column, in order.
    pub json_path: Vec<JsonOperation>,
}

impl Field {
    /// A plain column without JSON path.
    pub fn new(name: impl Into<String>) -> Self {
        Field {
            name: name.into(),
            json_path: Vec::new(),
        }
    }

    /// The output key PostgREST uses for this field when not aliased: the last JSON key or
    /// index, else the column name.
    pub fn output_name(&self) -> String {
        // As PostgREST 12: the last key of the path (indexes are skipped), else the column.
        self.json_path
            .iter()
            .rev()
            .find_map(|op| match op {
                JsonOperation::Arrow(JsonOperand::Key(k))
                | JsonOperation::DoubleArrow(JsonOperand::Key(k)) => Some(k.clone()),
                _ => None,
            })
            .unwrap_or_else(|| self.name.clone())
    }
}

/// One step of a JSON path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JsonOperation {
    /// `->` (result stays json).
    Arrow(JsonOperand),
    /// `->>` (result is text).
    DoubleArrow(JsonOperand),
}

/// The operand of a JSON path step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JsonOperand {
    /// An object key, `->name`.
    Key(String),
    /// An array index, `->0` or `->-1` (negative counts from the end).
    Index(i64),
}

/// Aggregate functions allowed in `select` (v12 `db-aggregates-enabled`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AggregateFunction {
    /// `count()` / `col.count()`
    Count,
    /// `col.sum()`
    Sum,
    /// `col.avg()`
    Avg,
    /// `col.max()`
    Max,
    /// `col.min()`
    Min,
}

impl AggregateFunction {
    /// SQL function name.
    pub fn as_str(self) -> &'static str {
        match self {
            AggregateFunction::Count => "count",
            AggregateFunction::Sum => "sum",
            AggregateFunction::Avg => "avg",
            AggregateFunction::Max => "max",
            AggregateFunction::Min => "min",
        }
    }
}

/// Join type requested for an embed with `!inner` / `!left`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JoinType {
    /// `!inner`: the embed filters the parent rows.
    Inner,
    /// `!left` (the default).
    Left,
}

/// A column (or `*`, or aggregate) in `select`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SelectField {
    /// The column; `*` for all columns and for `count()`.
    pub field: Field,
    /// `alias:` prefix.
    pub alias: Option<String>,
    /// `::type` cast applied to the column (before any aggregate).
    pub cast: Option<String>,
    /// `.sum()` etc., or `count()`.
    pub aggregate: Option<AggregateFunction>,
    /// `::type` cast applied to the aggregate result.
    pub aggregate_cast: Option<String>,
}

impl SelectField {
    /// A plain `col` item.
    pub fn column(name: impl Into<String>) -> Self {
        SelectField {
            field: Field::new(name),
            alias: None,
            cast: None,
            aggregate: None,
            aggregate_cast: None,
        }
    }

    /// Is this the `*` item?
    pub fn is_star(&self) -> bool {
        self.field.name == "*" && self.aggregate.is_none() && self.field.json_path.is_empty()
    }
}

/// An embedded resource in `select`: `alias:rel!hint!inner(children)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmbedSelect {
    /// Target name (table, view, FK constraint or column name).
    pub relation: String,
    /// `alias:` prefix (never set for spreads).
    pub alias: Option<String>,
    /// `!hint` to disambiguate the relationship.
    pub hint: Option<String>,
    /// `!inner` / `!left`.
    pub join_type: Option<JoinType>,
    /// The nested select list (may be empty: `rel()`).
    pub children: Vec<SelectItem>,
}

/// One item of `select`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SelectItem {
    /// A column, `*` or aggregate.
    Field(SelectField),
    /// An embed `rel(...)`.
    Relation(EmbedSelect),
    /// A spread embed `...rel(...)`.
    Spread(EmbedSelect),
}

impl SelectItem {
    /// The implicit `select=*`.
    pub fn star() -> Self {
        SelectItem::Field(SelectField::column("*"))
    }
}

/// Operators taking a single value, without `(any)`/`(all)` modifiers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SimpleOperator {
    /// `neq` → `<>`
    NotEqual,
    /// `cs` → `@>`
    Contains,
    /// `cd` → `<@`
    Contained,
    /// `ov` → `&&`
    Overlap,
    /// `sl` → `<<`
    StrictlyLeft,
    /// `sr` → `>>`
    StrictlyRight,
    /// `nxr` → `&<`
    NotExtendsRight,
    /// `nxl` → `&>`
    NotExtendsLeft,
    /// `adj` → `-|-`
    Adjacent,
}

impl SimpleOperator {
    /// The SQL operator.
    pub fn sql(self) -> &'static str {
        match self {
            SimpleOperator::NotEqual => "<>",
            SimpleOperator::Contains => "@>",
            SimpleOperator::Contained => "<@",
            SimpleOperator::Overlap => "&&",
            SimpleOperator::StrictlyLeft => "<<",
            SimpleOperator::StrictlyRight => ">>",
            SimpleOperator::NotExtendsRight => "&<",
            SimpleOperator::NotExtendsLeft => "&>",
            SimpleOperator::Adjacent => "-|-",
        }
    }
}

/// Operators accepting the `(any)` / `(all)` modifiers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QuantOperator {
    /// `eq` → `=`
    Equal,
    /// `gt` → `>`
    GreaterThan,
    /// `gte` → `>=`
    GreaterThanEqual,
    /// `lt` → `<`
    LessThan,
    /// `lte` → `<=`
    LessThanEqual,
    /// `like` → `LIKE` (value `*` already turned into `%`)
    Like,
    /// `ilike` → `ILIKE` (value `*` already turned into `%`)
    ILike,
    /// `match` → `~`
    Match,
    /// `imatch` → `~*`
    IMatch,
}

impl QuantOperator {
    /// The SQL operator.
    pub fn sql(self) -> &'static str {
        match self {
            QuantOperator::Equal => "=",
            QuantOperator::GreaterThan => ">",
            QuantOperator::GreaterThanEqual => ">=",
            QuantOperator::LessThan => "<",
            QuantOperator::LessThanEqual => "<=",
            QuantOperator::Like => "like",
            QuantOperator::ILike => "ilike",
            QuantOperator::Match => "~",
            QuantOperator::IMatch => "~*",
        }
    }
}

/// `(any)` / `(all)` modifier: the value is a `{a,b}` array literal compared with `op ANY/ALL`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Quantifier {
    /// `(any)`
    Any,
    /// `(all)`
    All,
}

/// Full-text search operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FtsOperator {
    /// `fts` → `to_tsquery`
    Fts,
    /// `plfts` → `plainto_tsquery`
    Plain,
    /// `phfts` → `phraseto_tsquery`
    Phrase,
    /// `wfts` → `websearch_to_tsquery`
    Websearch,
}

impl FtsOperator {
    /// The tsquery constructor function.
    pub fn function(self) -> &'static str {
        match self {
            FtsOperator::Fts => "to_tsquery",
            FtsOperator::Plain => "plainto_tsquery",
            FtsOperator::Phrase => "phraseto_tsquery",
            FtsOperator::Websearch => "websearch_to_tsquery",
        }
    }
}

/// The right-hand side of `is.`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IsValue {
    /// `is.null`
    Null,
    /// `is.not_null` (v13)
    NotNull,
    /// `is.true`
    True,
    /// `is.false`
    False,
    /// `is.unknown`
    Unknown,
}

impl IsValue {
    /// SQL after `IS `.
    pub fn sql(self) -> &'static str {
        match self {
            IsValue::Null => "NULL",
            IsValue::NotNull => "NOT NULL",
            IsValue::True => "TRUE",
            IsValue::False => "FALSE",
            IsValue::Unknown => "UNKNOWN",
        }
    }
}

/// A filter operation with its value(s). Values are raw text, bound as untyped parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Operation {
    /// `eq gt gte lt lte like ilike match imatch`, optionally `(any)`/`(all)`.
    Quant {
        /// The operator.
        op: QuantOperator,
        /// `(any)` / `(all)`.
        quantifier: Option<Quantifier>,
        /// The value (for like/ilike, `*` already replaced by `%`).
        value: String,
    },
    /// `neq cs cd ov sl sr nxr nxl adj`.
    Simple {
        /// The operator.
        op: SimpleOperator,
        /// The value.
        value: String,
    },
    /// `in.(a,b,"c,d")`; `in.()` is the empty list.
    In(Vec<String>),
    /// `is.null` etc.
    Is(IsValue),
    /// `isdistinct.v`
    IsDistinctFrom(String),
    /// `fts`/`plfts`/`phfts`/`wfts`, optional `(lang)`.
    Fts {
        /// The operator.
        op: FtsOperator,
        /// Text search configuration, e.g. `english`.
        language: Option<String>,
        /// The query text.
        value: String,
    },
}

/// An operation, possibly negated with `not.`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpExpr {
    /// `not.` prefix.
    pub negated: bool,
    /// The operation.
    pub operation: Operation,
}

/// `column[->json]=[not.]op.value`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filter {
    /// The filtered column (or embed name, for `rel=is.null`).
    pub field: Field,
    /// The operation.
    pub expr: OpExpr,
}

/// A filter on the resource at `path` (empty path = root).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathFilter {
    /// Embed path.
    pub path: EmbedPath,
    /// The filter.
    pub filter: Filter,
}

/// `and` / `or`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogicOperator {
    /// `and`
    And,
    /// `or`
    Or,
}

/// A boolean tree from `or=(…)` / `and=(…)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogicTree {
    /// A leaf filter.
    Filter(Filter),
    /// `[not.]and(…)` / `[not.]or(…)`.
    Expr {
        /// `not.` prefix.
        negated: bool,
        /// The connective.
        op: LogicOperator,
        /// At least one child.
        children: Vec<LogicTree>,
    },
}

/// A logic tree on the resource at `path`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathLogic {
    /// Embed path.
    pub path: EmbedPath,
    /// The tree (its root is always an [`LogicTree::Expr`]).
    pub tree: LogicTree,
}

/// `asc` / `desc`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrderDirection {
    /// `.asc`
    Asc,
    /// `.desc`
    Desc,
}

/// `nullsfirst` / `nullslast`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrderNulls {
    /// `.nullsfirst`
    First,
    /// `.nullslast`
    Last,
}

/// What an order term sorts by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OrderTarget {
    /// A column of the resource.
    Field(Field),
    /// A column of a to-one embed: `order=directors(last_name)`.
    Relation {
        /// Embed name (or alias).
        relation: String,
        /// The column in that embed.
        field: Field,
    },
}

/// One term of `order=`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderTerm {
    /// The sort key.
    pub target: OrderTarget,
    /// Explicit direction.
    pub direction: Option<OrderDirection>,
    /// Explicit nulls placement.
    pub nulls: Option<OrderNulls>,
}

/// `order=` for the resource at `path`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathOrder {
    /// Embed path.
    pub path: EmbedPath,
    /// Terms in priority order.
    pub terms: Vec<OrderTerm>,
}

impl fmt::Display for JsonOperation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (arrow, op) = match self {
            JsonOperation::Arrow(op) => ("->", op),
            JsonOperation::DoubleArrow(op) => ("->>", op),
        };
        match op {
            JsonOperand::Key(k) => write!(f, "{arrow}{k}"),
            JsonOperand::Index(i) => write!(f, "{arrow}{i}"),
        }
    }
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)?;
        for op in &self.json_path {
            write!(f, "{op}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_names_and_display() {
        let f = Field {
            name: "data".into(),
            json_path: vec![
                JsonOperation::Arrow(JsonOperand::Key("a".into())),
                JsonOperation::DoubleArrow(JsonOperand::Index(-1)),
            ],
        };
        // PostgREST 12 names a path by its last key: `data->a->>-1` is `a`.
        assert_eq!(f.output_name(), "a");
        assert_eq!(f.to_string(), "data->a->>-1");
        assert_eq!(Field::new("x").output_name(), "x");
        assert!(SelectField::column("*").is_star());
        assert_eq!(
            SelectItem::star(),
            SelectItem::Field(SelectField::column("*"))
        );
        assert_eq!(AggregateFunction::Avg.as_str(), "avg");
        assert_eq!(SimpleOperator::Adjacent.sql(), "-|-");
        assert_eq!(QuantOperator::IMatch.sql(), "~*");
        assert_eq!(FtsOperator::Websearch.function(), "websearch_to_tsquery");
        assert_eq!(IsValue::NotNull.sql(), "NOT NULL");
    }
}
