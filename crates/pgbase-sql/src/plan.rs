//! The plan tree shared by the API front ends: what to read (relation, columns, conditions,
//! order, range, embedded relations), what to write ([`WritePlan`], the one write model of
//! REST and GraphQL) and what to call, resolved against the schema cache but free of any front
//! end's syntax. [`crate::emit`] turns a REST plan into one SQL statement; writes are emitted
//! by [`crate::emit_write`] for both front ends.
//!
//! The GraphQL front end plans onto the same relations, conditions, order terms, column
//! references and writes, plus an output model of its own (the last part of this file): JSON
//! objects as ordered `(key, value)` pairs over a row, to-one rows, Relay connections and a
//! mutation's response object. [`crate::emit_graph`] turns that into one statement per
//! top-level field.

/// A step of a JSON path: `->key`, `->0`, `->>key`, `->>0`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JsonStep {
    Key { key: String, as_text: bool },
    Index { index: i64, as_text: bool },
}

/// A schema-qualified relation name, used where a row of the current level must be cast to
/// the relation's row type (rows read from a CTE are anonymous records).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowType {
    pub schema: String,
    pub name: String,
}

/// A computed field: `schema.function(row)` used like a column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ComputedField {
    pub schema: String,
    pub function: String,
    /// Cast the row to this type before the call (rows of a CTE).
    pub row_cast: Option<RowType>,
}

/// The to-one related row a column is read from: the row of `schema.table` whose `foreign`
/// columns equal the current row's `local` columns (`pairs` are `(local, foreign)`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToOne {
    pub schema: String,
    pub table: String,
    pub pairs: Vec<(String, String)>,
}

/// A column of the current level, optionally followed by a JSON path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ColumnRef {
    pub column: String,
    pub json_path: Vec<JsonStep>,
    /// Set when `column` names a computed field rather than a stored column.
    pub computed: Option<ComputedField>,
    /// Set when the column belongs to a to-one related row rather than the current one.
    pub via: Option<Box<ToOne>>,
    /// The value is not json/jsonb (a composite or an array): `json_path` applies to its
    /// `to_jsonb(…)`.
    pub to_json: bool,
    /// Data representation in a response body: the value goes out as `function(column)`
    /// (a `domain → json` cast function); set only on selected columns.
    pub output: Option<Box<FunctionName>>,
    /// Data representation of filter values: each goes in as `function(value)` (a
    /// `text → domain` cast function); set only on filtered columns.
    pub input: Option<Box<FunctionName>>,
}

/// A schema-qualified function.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FunctionName {
    pub schema: String,
    pub name: String,
}

impl ColumnRef {
    pub fn new(column: impl Into<String>) -> ColumnRef {
        ColumnRef {
            column: column.into(),
            json_path: Vec::new(),
            computed: None,
            via: None,
            to_json: false,
            output: None,
            input: None,
        }
    }

    /// `function(row)` used like a column.
    pub fn computed(field: ComputedField) -> ColumnRef {
        ColumnRef {
            column: field.function.clone(),
            json_path: Vec::new(),
            computed: Some(field),
            via: None,
            to_json: false,
            output: None,
            input: None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Aggregate {
    Count,
    Sum,
    Avg,
    Max,
    Min,
    /// `min` of booleans.
    BoolAnd,
    /// `max` of booleans.
    BoolOr,
}

impl Aggregate {
    /// The SQL function's name.
    pub fn name(self) -> &'static str {
        match self {
            Aggregate::Count => "count",
            Aggregate::Sum => "sum",
            Aggregate::Avg => "avg",
            Aggregate::Max => "max",
            Aggregate::Min => "min",
            Aggregate::BoolAnd => "bool_and",
            Aggregate::BoolOr => "bool_or",
        }
    }
}

/// One output field.
#[derive(Debug, Clone, PartialEq)]
pub enum SelectExpr {
    /// Every column of the relation (`*`).
    Star,
    Column {
        column: ColumnRef,
        /// The JSON key in the output.
        alias: String,
        /// A validated, canonical type name (see `crate::emit::cast_type`).
        cast: Option<String>,
    },
    /// `count()` (column `None`) or `agg(column)`.
    Aggregate {
        function: Aggregate,
        column: Option<ColumnRef>,
        /// Cast of the column before it is aggregated (`col::int.sum()`).
        column_cast: Option<String>,
        alias: String,
        cast: Option<String>,
    },
    /// An embedded relation's value (`Embed::alias` names it).
    Embed { embed: usize },
    /// The columns of a to-one embedded relation, spread into this level.
    Spread { embed: usize, columns: Vec<String> },
}

/// A comparison value: bind parameters only.
#[derive(Debug, Clone, PartialEq)]
pub enum Operand {
    /// `op $1`
    Value(String),
    /// `op ANY($1)` / `op ALL($1)` with an array literal.
    Any(String),
    All(String),
}

/// A boolean condition over the current level.
#[derive(Debug, Clone, PartialEq)]
pub enum Condition {
    And(Vec<Condition>),
    Or(Vec<Condition>),
    Not(Box<Condition>),
    /// `column <op> operand`; `op` is one of a fixed set of SQL operators.
    Compare {
        column: ColumnRef,
        op: &'static str,
        operand: Operand,
    },
    /// `column IS [NOT] NULL|TRUE|FALSE|UNKNOWN` (`what` is fixed SQL).
    Is {
        column: ColumnRef,
        what: &'static str,
    },
    /// Full-text search: `column @@ function([language,] $value)`; a column that is not a
    /// `tsvector` is wrapped in `to_tsvector([language,] column)`.
    TextSearch {
        column: ColumnRef,
        function: &'static str,
        language: Option<String>,
        value: String,
        to_tsvector: bool,
    },
    /// An embedded relation exists (`rel=not.is.null`) or not (`rel=is.null`).
    EmbedPresent {
        embed: usize,
        present: bool,
    },
    /// Some row of `plan` (its source and filter) joined to the current row by `join` exists.
    Exists {
        plan: Box<ReadPlan>,
        join: Join,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Nulls {
    First,
    Last,
}

#[derive(Debug, Clone, PartialEq)]
pub enum OrderTarget {
    Column(ColumnRef),
    /// A column of a to-one embed.
    EmbedColumn {
        embed: usize,
        column: String,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub struct OrderExpr {
    pub target: OrderTarget,
    pub descending: bool,
    pub nulls: Option<Nulls>,
}

/// What a level reads from.
#[derive(Debug, Clone, PartialEq)]
pub enum Source {
    Table {
        schema: String,
        name: String,
    },
    /// A set-returning function over the parent row (computed relationship).
    ComputedOverParent {
        schema: String,
        function: String,
        /// Cast the parent row to this type first (a parent read from a CTE).
        parent_cast: Option<RowType>,
    },
    /// A named CTE of the statement (the rows of a write or of a function call).
    Cte(&'static str),
    /// A set-returning function called with named arguments (`None` = SQL NULL).
    Function {
        schema: String,
        function: String,
        args: Vec<(String, Option<String>)>,
    },
}

/// How an embedded level joins its parent.
#[derive(Debug, Clone, PartialEq)]
pub enum Join {
    /// `child.c = parent.p` for each `(parent column, child column)`.
    Columns(Vec<(String, String)>),
    /// Through a junction table: `(parent column, junction column)` and
    /// `(child column, junction column)` pairs.
    Junction {
        schema: String,
        table: String,
        parent: Vec<(String, String)>,
        child: Vec<(String, String)>,
    },
    /// The source already depends on the parent row.
    Computed,
}

/// An embedded relation.
#[derive(Debug, Clone, PartialEq)]
pub struct Embed {
    /// The JSON key in the output.
    pub name: String,
    pub plan: ReadPlan,
    pub join: Join,
    pub to_one: bool,
    /// `!inner`: parent rows without a match are dropped.
    pub inner: bool,
}

/// One level of a read.
#[derive(Debug, Clone, PartialEq)]
pub struct ReadPlan {
    pub source: Source,
    pub select: Vec<SelectExpr>,
    pub filter: Vec<Condition>,
    pub order: Vec<OrderExpr>,
    pub limit: Option<u64>,
    pub offset: u64,
    pub embeds: Vec<Embed>,
}

impl ReadPlan {
    pub fn new(source: Source) -> ReadPlan {
        ReadPlan {
            source,
            select: Vec::new(),
            filter: Vec::new(),
            order: Vec::new(),
            limit: None,
            offset: 0,
            embeds: Vec::new(),
        }
    }

    /// Whether this level outputs nothing: no column, only embeds that output nothing
    /// themselves (`rel()`, `rel(other())`). Such an embed only filters (`!inner`) and is left
    /// out of its parent's output, as in PostgREST.
    pub fn outputs_nothing(&self) -> bool {
        self.select.iter().all(|s| match s {
            SelectExpr::Embed { embed } => self
                .embeds
                .get(*embed)
                .is_none_or(|e| e.plan.outputs_nothing()),
            _ => false,
        })
    }

    pub fn has_aggregates(&self) -> bool {
        self.select
            .iter()
            .any(|s| matches!(s, SelectExpr::Aggregate { .. }))
    }
}

// ---------------------------------------------------------------------------------------------
// The write model: one insert/update/delete plan for every front end. REST fills it from a
// request body and the query string, GraphQL from mutation arguments; `crate::emit_write`
// renders it into the CTEs of the statement, ending with `pgrst_source` (the written rows).
// ---------------------------------------------------------------------------------------------

/// An insert, update or delete of one table, and the rows it hands on.
#[derive(Debug, Clone, PartialEq)]
pub struct WritePlan {
    pub schema: String,
    pub table: String,
    pub write: Write,
    /// Where values marked as coming from the payload are read.
    pub payload: PayloadSource,
    /// What the write hands to `pgrst_source`.
    pub returning: WriteReturning,
    /// The table's columns with a data representation (every one, written or not: their keys
    /// never reach the type's text input). Applies to payload values only.
    pub representations: Vec<Representation>,
}

/// The JSON document a write reads its values from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PayloadSource {
    /// None: every value is a bind parameter of the write itself (GraphQL arguments), or the
    /// write has none (a GraphQL delete).
    Params,
    /// A JSON document, one bind parameter however many rows it holds (REST's request body;
    /// `None`: no body, read as SQL null). Its rows are read with `json_populate_record`
    /// into `pgrst_body`.
    Json(Option<String>),
}

/// What a write does to its table.
#[derive(Debug, Clone, PartialEq)]
pub enum Write {
    /// Rows for `columns` (no columns: rows of defaults), and what to do on a conflict.
    Insert {
        columns: Vec<String>,
        rows: InsertRows,
        on_conflict: Option<OnConflict>,
    },
    /// `column = value` on the rows matching `filter` (no assignment: nothing is written and
    /// no row is affected, as PostgREST answers an empty PATCH).
    Update {
        set: Vec<(String, SetValue)>,
        filter: Vec<Condition>,
        /// With `limit`/`offset`, the rows are picked in this order.
        order: Vec<OrderExpr>,
        limit: Option<u64>,
        /// Rows of the ordered selection skipped before `limit` applies.
        offset: u64,
    },
    /// The rows matching `filter`.
    Delete {
        filter: Vec<Condition>,
        order: Vec<OrderExpr>,
        limit: Option<u64>,
        offset: u64,
    },
}

/// The rows an insert writes.
#[derive(Debug, Clone, PartialEq)]
pub enum InsertRows {
    /// Every element of the JSON payload (an object or an array of objects); with `groups`,
    /// one insert per group of elements sharing the same keys (`Prefer: missing=default`).
    Payload { groups: Vec<InsertGroup> },
    /// Rows of bind parameters, one value per column (GraphQL's `objects`).
    Values(Vec<Vec<InsertValue>>),
}

/// Elements of an insert body that carry the same keys (`Prefer: missing=default`): they are
/// inserted naming only `columns`, so every other column takes its DEFAULT.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InsertGroup {
    pub columns: Vec<String>,
    /// 1-based positions of the elements in the body, as a Postgres array literal (`{1,3}`).
    pub positions: String,
}

/// One value of an inserted row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InsertValue {
    Default,
    /// A bind parameter (`None` = SQL NULL).
    Value(Option<String>),
}

/// The new value of an updated column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SetValue {
    /// The column's DEFAULT.
    Default,
    /// A bind parameter (`None` = SQL NULL).
    Value(Option<String>),
    /// The column's value in the JSON payload (through its data representation, if any).
    Payload,
}

/// `on conflict (columns) do …`. Without columns there is no `ON CONFLICT` clause at all (a
/// REST upsert on a table without a primary key: a duplicate is still a 409).
#[derive(Debug, Clone, PartialEq)]
pub struct OnConflict {
    pub columns: Vec<String>,
    pub action: ConflictAction,
}

/// What an insert does when a row conflicts.
#[derive(Debug, Clone, PartialEq)]
pub enum ConflictAction {
    DoNothing,
    /// Update the inserted columns (all but the conflict columns, when there are others) from
    /// the new row, counting the updated rows in the setting `pgrst.updated` (REST's
    /// `resolution=merge-duplicates`: the response tells inserted from updated rows).
    Merge,
    /// Update `columns` from the new row where `filter` holds on the existing one (GraphQL's
    /// `onConflict`); no columns is `DoNothing`.
    Update {
        columns: Vec<String>,
        filter: Vec<Condition>,
    },
}

/// What a write returns into `pgrst_source`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum WriteReturning {
    /// The written rows, every column (`return=representation`, `headers-only`, GraphQL
    /// records read by computed fields): needs the SELECT privilege (and, under row-level
    /// security, a SELECT policy) on the table.
    #[default]
    Rows,
    /// Only one `1` per written row, to count them (`return=minimal`, PostgREST's
    /// `RETURNING 1`): needs no SELECT privilege, so insert-only tables can be written.
    Count,
    /// Only these columns (the primary key for a `Location` header, the columns a role may
    /// read): needs SELECT on them alone. No columns is `Count`.
    Columns(Vec<String>),
}

impl WriteReturning {
    /// Whole rows are returned.
    pub fn rows(&self) -> bool {
        matches!(self, WriteReturning::Rows)
    }
}

/// A column whose body value is converted by its data-representation function (PostgREST:
/// an implicit `CREATE CAST (json AS domain) WITH FUNCTION schema.function(json)`), not by the
/// type's text input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Representation {
    pub column: String,
    pub schema: String,
    pub function: String,
}

/// A function call; its rows are the `pgrst_source` CTE.
#[derive(Debug, Clone, PartialEq)]
pub struct CallPlan {
    pub schema: String,
    pub function: String,
    pub args: CallArgs,
    /// Scalar results are exposed as the column `pgrst_scalar`.
    pub scalar: bool,
    /// The `VARIADIC` parameter's name, passed as `VARIADIC name := array` when given.
    pub variadic: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum CallArgs {
    /// `name := $n` for each argument (`None` = SQL NULL).
    Named(Vec<(String, Option<String>)>),
    /// The whole request body as the function's only argument, passed by position and cast
    /// to its type (`f($1::json)`): a single unnamed json/jsonb/text/xml/bytea parameter, or
    /// any single json/jsonb parameter with `Prefer: params=single-object`.
    Whole {
        body: String,
        arg_type: WholeBodyType,
    },
}

/// The type of a function's only argument that receives the whole request body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WholeBodyType {
    Json,
    Jsonb,
    Text,
    Xml,
    /// The body as Postgres' hex text form of `bytea` (`\x…`).
    Bytea,
}

impl WholeBodyType {
    /// The type by its `format_type` name, if it is one of these.
    pub fn from_type_name(name: &str) -> Option<WholeBodyType> {
        match name {
            "json" => Some(WholeBodyType::Json),
            "jsonb" => Some(WholeBodyType::Jsonb),
            "text" => Some(WholeBodyType::Text),
            "xml" => Some(WholeBodyType::Xml),
            "bytea" => Some(WholeBodyType::Bytea),
            _ => None,
        }
    }

    /// The SQL type name.
    pub fn sql(self) -> &'static str {
        match self {
            WholeBodyType::Json => "json",
            WholeBodyType::Jsonb => "jsonb",
            WholeBodyType::Text => "text",
            WholeBodyType::Xml => "xml",
            WholeBodyType::Bytea => "bytea",
        }
    }
}

// ---------------------------------------------------------------------------------------------
// GraphQL output model: what one top-level GraphQL field reads and the JSON it answers with.
// ---------------------------------------------------------------------------------------------

/// How a value is written into the JSON output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Format {
    /// As Postgres converts it to JSON.
    Plain,
    /// As text: `bigint` and `numeric`, which JSON numbers cannot carry exactly.
    Text,
    /// Each element as text (arrays of `bigint`/`numeric`).
    TextArray,
    /// A `json`/`jsonb` value as its text (a JSON string holding the document).
    JsonText,
    /// Enum labels renamed: `(SQL label, output name)`; other labels become null.
    Labels(Vec<(String, String)>),
}

/// A JSON object: `(key, value)` pairs in output order.
pub type Object<T> = Vec<(String, T)>;

/// A value of a JSON object built over the current row.
#[derive(Debug, Clone, PartialEq)]
pub enum Output {
    /// A fixed string (`__typename`).
    Literal(String),
    /// A column (or computed field) of the row.
    Column { column: ColumnRef, format: Format },
    /// A global id: base64 of the `jsonb` text of `[schema, table, pk values...]`, newlines
    /// removed (pg_graphql's `nodeId`).
    NodeId {
        schema: String,
        table: String,
        pk: Vec<String>,
    },
    /// A to-one row as an object, null when there is none.
    Row(Box<RowObject>),
    /// A Relay connection.
    Connection(Box<Connection>),
}

/// One row of `source` as an object (the first match, null when none).
#[derive(Debug, Clone, PartialEq)]
pub struct RowObject {
    pub source: Source,
    /// How the row depends on the current row of the enclosing level (`None`: it does not).
    pub join: Option<Join>,
    pub filter: Vec<Condition>,
    pub object: Object<Output>,
    /// A row whose every column is null counts as no row (a function returning a row type
    /// answers "nothing" that way).
    pub skip_null_row: bool,
}

/// A page of `source` with edges, page info, count and aggregates.
#[derive(Debug, Clone, PartialEq)]
pub struct Connection {
    pub source: Source,
    pub join: Option<Join>,
    pub filter: Vec<Condition>,
    /// The order rows are read in: reversed when `backward`. Cursors encode these targets'
    /// values in this order.
    pub order: Vec<OrderExpr>,
    /// Rows after the cursor in `order` (keyset pagination).
    pub keyset: Option<Condition>,
    /// Page size (already capped).
    pub limit: u64,
    pub offset: u64,
    /// `last`/`before`: the page was read in reverse and its edges are put back in order.
    pub backward: bool,
    pub fields: Object<ConnectionField>,
}

impl Connection {
    /// Whether any selection needs the page info (and so a numbered, materialised page).
    pub fn has_page_info(&self) -> bool {
        self.fields
            .iter()
            .any(|(_, f)| matches!(f, ConnectionField::PageInfo(_)))
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum ConnectionField {
    Literal(String),
    Edges(Object<EdgeField>),
    PageInfo(Object<PageInfoField>),
    /// Rows matching the filter, ignoring pagination.
    TotalCount,
    /// Aggregates over the rows matching the filter.
    Aggregate(Object<AggregateField>),
}

#[derive(Debug, Clone, PartialEq)]
pub enum EdgeField {
    Literal(String),
    Cursor,
    Node(Object<Output>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PageInfoField {
    Literal(String),
    HasNextPage,
    HasPreviousPage,
    StartCursor,
    EndCursor,
}

#[derive(Debug, Clone, PartialEq)]
pub enum AggregateField {
    Literal(String),
    /// `count(*)`.
    Count,
    /// A group (`sum { ... }`): `function(column)` per key.
    Group(Object<AggregateValue>),
}

#[derive(Debug, Clone, PartialEq)]
pub enum AggregateValue {
    Literal(String),
    Apply {
        function: Aggregate,
        column: ColumnRef,
        /// Written as text (bigint/numeric results).
        as_text: bool,
    },
}

/// A GraphQL mutation: the shared write ([`WritePlan`]) and the response object built over
/// its rows.
#[derive(Debug, Clone, PartialEq)]
pub struct MutationPlan {
    pub write: WritePlan,
    pub fields: Object<MutationField>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum MutationField {
    Literal(String),
    AffectedCount,
    /// The affected rows, each as this object.
    Records(Object<Output>),
}

/// What one top-level GraphQL field runs. Each becomes one statement answering one row:
/// (JSON text, affected row count for mutations).
#[derive(Debug, Clone, PartialEq)]
pub enum GraphStatement {
    /// One row as an object (`xByPk`, `node`, a function returning a row).
    Row(RowObject),
    Connection(Box<Connection>),
    /// A function returning a scalar (or an array of scalars).
    Call {
        schema: String,
        function: String,
        args: Vec<(String, Option<String>)>,
        format: Format,
    },
    Mutation(MutationPlan),
}
