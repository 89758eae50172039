//! The plan tree shared by the API front ends: what to read (relation, columns, conditions,
//! order, range, embedded relations) and what to write, resolved against the schema cache but
//! free of any front end's syntax. [`crate::emit`] turns it into one SQL statement.

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

/// A column of the current level, optionally followed by a JSON path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ColumnRef {
    pub column: String,
    pub json_path: Vec<JsonStep>,
    /// Set when `column` names a computed field rather than a stored column.
    pub computed: Option<ComputedField>,
}

impl ColumnRef {
    pub fn new(column: impl Into<String>) -> ColumnRef {
        ColumnRef {
            column: column.into(),
            json_path: Vec::new(),
            computed: None,
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

    pub fn has_aggregates(&self) -> bool {
        self.select
            .iter()
            .any(|s| matches!(s, SelectExpr::Aggregate { .. }))
    }
}

/// Elements of an insert body that carry the same keys (`Prefer: missing=default`): they are
/// inserted naming only `columns`, so every other column takes its DEFAULT.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InsertGroup {
    pub columns: Vec<String>,
    /// 1-based positions of the elements in the body, as a Postgres array literal (`{1,3}`).
    pub positions: String,
}

/// What an insert does when a row conflicts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConflictAction {
    DoNothing,
    /// Update the inserted columns from the new row.
    Merge,
}

/// A write on one table; its rows are the `pgrst_source` CTE.
#[derive(Debug, Clone, PartialEq)]
pub enum Write {
    /// `columns` from every element of the JSON body (an object or an array of objects); with
    /// `groups`, one insert per group of elements sharing the same keys.
    Insert {
        columns: Vec<String>,
        on_conflict: Option<(Vec<String>, ConflictAction)>,
        groups: Vec<InsertGroup>,
    },
    /// `columns` set from the JSON body object on the rows matching `filter`; `defaults` are set
    /// to their DEFAULT (`Prefer: missing=default` with `columns=`).
    Update {
        columns: Vec<String>,
        defaults: Vec<String>,
        filter: Vec<Condition>,
        order: Vec<OrderExpr>,
        limit: Option<u64>,
    },
    Delete {
        filter: Vec<Condition>,
        order: Vec<OrderExpr>,
        limit: Option<u64>,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub struct WritePlan {
    pub schema: String,
    pub table: String,
    pub write: Write,
    /// The request body as JSON text: one bind parameter however many rows it holds.
    pub body: Option<String>,
}

/// A function call; its rows are the `pgrst_source` CTE.
#[derive(Debug, Clone, PartialEq)]
pub struct CallPlan {
    pub schema: String,
    pub function: String,
    pub args: CallArgs,
    /// Scalar results are exposed as the column `pgrst_scalar`.
    pub scalar: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub enum CallArgs {
    /// `name := $n` for each argument (`None` = SQL NULL).
    Named(Vec<(String, Option<String>)>),
    /// The whole JSON body as the single unnamed json/jsonb argument.
    SingleJson(String),
}
