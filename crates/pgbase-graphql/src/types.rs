//! The reflected GraphQL type system: type, field and input-value definitions, each field
//! tagged with how it resolves ([`Resolve`]), plus the table model the planner reads
//! ([`TableInfo`], [`ColumnInfo`], [`RelInfo`]). Built once per (role, catalog version) by
//! [`crate::reflect`] and shared read-only by validation, compilation and introspection.

use std::collections::BTreeMap;
use std::fmt;

/// A GraphQL type reference (`Int`, `[Int!]!`, ...).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TypeRef {
    Named(String),
    List(Box<TypeRef>),
    NonNull(Box<TypeRef>),
}

impl TypeRef {
    pub fn named(name: &str) -> TypeRef {
        TypeRef::Named(name.to_string())
    }

    /// `name!`
    pub fn required(name: &str) -> TypeRef {
        TypeRef::NonNull(Box::new(TypeRef::named(name)))
    }

    pub fn non_null(self) -> TypeRef {
        match self {
            TypeRef::NonNull(_) => self,
            other => TypeRef::NonNull(Box::new(other)),
        }
    }

    pub fn list(self) -> TypeRef {
        TypeRef::List(Box::new(self))
    }

    /// The innermost named type.
    pub fn base(&self) -> &str {
        match self {
            TypeRef::Named(n) => n,
            TypeRef::List(t) | TypeRef::NonNull(t) => t.base(),
        }
    }

    /// The type without its outer `!`.
    pub fn nullable(&self) -> &TypeRef {
        match self {
            TypeRef::NonNull(t) => t,
            other => other,
        }
    }

    pub fn is_non_null(&self) -> bool {
        matches!(self, TypeRef::NonNull(_))
    }
}

impl fmt::Display for TypeRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TypeRef::Named(n) => write!(f, "{n}"),
            TypeRef::List(t) => write!(f, "[{t}]"),
            TypeRef::NonNull(t) => write!(f, "{t}!"),
        }
    }
}

/// `__TypeKind`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Scalar,
    Object,
    Interface,
    Enum,
    InputObject,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Scalar => "SCALAR",
            Kind::Object => "OBJECT",
            Kind::Interface => "INTERFACE",
            Kind::Enum => "ENUM",
            Kind::InputObject => "INPUT_OBJECT",
        }
    }
}

/// How a field's value is produced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resolve {
    Typename,
    // Query / Mutation
    Collection(usize),
    ByPk(usize),
    Node,
    Insert(usize),
    Update(usize),
    Delete(usize),
    /// A function as a Query/Mutation field.
    Function(usize),
    // node types
    NodeId,
    /// A computed field: a function taking the row.
    Computed(usize),
    Column(usize),
    Relation(usize),
    // connections
    Edges,
    PageInfo,
    TotalCount,
    Cursor,
    EdgeNode,
    HasNextPage,
    HasPreviousPage,
    StartCursor,
    EndCursor,
    Aggregate,
    AggregateCount,
    AggregateGroup(AggOp),
    // mutation responses
    AffectedCount,
    Records,
    // introspection
    Schema,
    Type,
    Meta,
}

/// An aggregate function of `aggregate { sum avg min max }`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AggOp {
    Sum,
    Avg,
    Min,
    Max,
}

impl AggOp {
    pub const ALL: [AggOp; 4] = [AggOp::Sum, AggOp::Avg, AggOp::Min, AggOp::Max];

    /// `Sum`, `Avg`, ... (type names).
    pub fn title(self) -> &'static str {
        match self {
            AggOp::Sum => "Sum",
            AggOp::Avg => "Avg",
            AggOp::Min => "Min",
            AggOp::Max => "Max",
        }
    }

    /// The result scalar for a column of scalar `s`, `None` when not aggregatable.
    pub fn result(self, s: &Scalar) -> Option<Scalar> {
        let numeric = matches!(
            s,
            Scalar::Int | Scalar::BigInt | Scalar::Float | Scalar::BigFloat
        );
        match self {
            AggOp::Sum if matches!(s, Scalar::Int) => Some(Scalar::BigInt),
            AggOp::Sum | AggOp::Avg if numeric => Some(Scalar::BigFloat),
            AggOp::Sum | AggOp::Avg => None,
            AggOp::Min | AggOp::Max => match s {
                Scalar::Int
                | Scalar::BigInt
                | Scalar::Float
                | Scalar::BigFloat
                | Scalar::String
                | Scalar::Date
                | Scalar::Time
                | Scalar::Datetime
                | Scalar::Boolean => Some(s.clone()),
                _ => None,
            },
        }
    }
}

/// An argument or input-object field.
#[derive(Debug, Clone)]
pub struct InputValue {
    pub name: String,
    pub description: Option<String>,
    pub ty: TypeRef,
    /// Default value in GraphQL syntax.
    pub default: Option<String>,
}

impl InputValue {
    pub fn new(name: &str, ty: TypeRef) -> InputValue {
        InputValue {
            name: name.to_string(),
            description: None,
            ty,
            default: None,
        }
    }
}

/// An output field.
#[derive(Debug, Clone)]
pub struct Field {
    pub name: String,
    pub description: Option<String>,
    pub args: Vec<InputValue>,
    pub ty: TypeRef,
    pub resolve: Resolve,
}

impl Field {
    pub fn new(name: &str, ty: TypeRef, resolve: Resolve) -> Field {
        Field {
            name: name.to_string(),
            description: None,
            args: Vec::new(),
            ty,
            resolve,
        }
    }

    pub fn arg(&self, name: &str) -> Option<&InputValue> {
        self.args.iter().find(|a| a.name == name)
    }
}

/// An enum value: GraphQL name and the SQL value it stands for.
#[derive(Debug, Clone)]
pub struct EnumValue {
    pub name: String,
    pub description: Option<String>,
    pub value: String,
}

/// What a type stands for (what the planner does with a selection on it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Plain,
    Query,
    Mutation,
    /// The object type of a table.
    Node(usize),
    Connection(usize),
    Edge(usize),
    PageInfo,
    Response(usize),
    Filter(usize),
    OrderBy(usize),
    InsertInput(usize),
    UpdateInput(usize),
    Aggregate(usize),
    AggregateGroup(usize, AggOp),
    /// `IntFilter`, `StringListFilter`, ...: filter on one column.
    ScalarFilter,
    Introspection,
}

/// A named type.
#[derive(Debug, Clone)]
pub struct TypeDef {
    pub name: String,
    pub kind: Kind,
    pub description: Option<String>,
    pub fields: Vec<Field>,
    pub interfaces: Vec<String>,
    pub possible_types: Vec<String>,
    pub input_fields: Vec<InputValue>,
    pub enum_values: Vec<EnumValue>,
    pub role: Role,
}

impl TypeDef {
    pub fn new(name: &str, kind: Kind, role: Role) -> TypeDef {
        TypeDef {
            name: name.to_string(),
            kind,
            description: None,
            fields: Vec::new(),
            interfaces: Vec::new(),
            possible_types: Vec::new(),
            input_fields: Vec::new(),
            enum_values: Vec::new(),
            role,
        }
    }

    pub fn field(&self, name: &str) -> Option<&Field> {
        self.fields.iter().find(|f| f.name == name)
    }

    pub fn input_field(&self, name: &str) -> Option<&InputValue> {
        self.input_fields.iter().find(|f| f.name == name)
    }

    pub fn enum_value(&self, name: &str) -> Option<&EnumValue> {
        self.enum_values.iter().find(|v| v.name == name)
    }
}

/// pg_graphql's scalar for a column (element type for arrays).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scalar {
    Int,
    BigInt,
    Float,
    BigFloat,
    Boolean,
    String,
    Uuid,
    Date,
    Time,
    Datetime,
    Json,
    Opaque,
    /// A reflected enum: its GraphQL type name.
    Enum(String),
}

impl Scalar {
    /// The GraphQL type name.
    pub fn type_name(&self) -> &str {
        match self {
            Scalar::Int => "Int",
            Scalar::BigInt => "BigInt",
            Scalar::Float => "Float",
            Scalar::BigFloat => "BigFloat",
            Scalar::Boolean => "Boolean",
            Scalar::String => "String",
            Scalar::Uuid => "UUID",
            Scalar::Date => "Date",
            Scalar::Time => "Time",
            Scalar::Datetime => "Datetime",
            Scalar::Json => "JSON",
            Scalar::Opaque => "Opaque",
            Scalar::Enum(name) => name,
        }
    }
}

/// A column as GraphQL sees it.
#[derive(Debug, Clone)]
pub struct ColumnInfo {
    /// SQL name.
    pub sql: String,
    /// GraphQL field name.
    pub field: String,
    pub scalar: Scalar,
    pub list: bool,
    pub nullable: bool,
    pub description: Option<String>,
    pub max_length: Option<i32>,
    pub insertable: bool,
    pub updatable: bool,
}

impl ColumnInfo {
    /// The output type of the column field.
    pub fn output_type(&self) -> TypeRef {
        let base = TypeRef::named(self.scalar.type_name());
        let ty = if self.list { base.list() } else { base };
        if self.nullable { ty } else { ty.non_null() }
    }

    /// Usable in filters and orderBy (not JSON).
    pub fn filterable(&self) -> bool {
        self.scalar != Scalar::Json
    }
}

/// A relationship field of a table type.
#[derive(Debug, Clone)]
pub struct RelInfo {
    pub field: String,
    pub target: usize,
    /// `(local column, foreign column)` SQL names.
    pub pairs: Vec<(String, String)>,
    pub to_many: bool,
    pub nullable: bool,
}

/// A table (or view with declared keys) exposed to the role.
#[derive(Debug, Clone)]
pub struct TableInfo {
    pub schema: String,
    pub name: String,
    pub type_name: String,
    pub description: Option<String>,
    /// SELECT-able columns, in column order.
    pub columns: Vec<ColumnInfo>,
    /// Indexes into `columns`.
    pub pk: Vec<usize>,
    pub max_rows: u64,
    pub total_count: bool,
    pub aggregate: bool,
    /// Unique keys (primary key and unique indexes) over reflected columns: name, SQL columns.
    pub unique_keys: Vec<(String, Vec<String>)>,
    pub relations: Vec<RelInfo>,
}

impl TableInfo {
    /// The column that field name `field` stands for: the last one of that name, as in
    /// pg_graphql, where a later column replaces an earlier one of the same name.
    pub fn column_by_field(&self, field: &str) -> Option<(usize, &ColumnInfo)> {
        self.columns
            .iter()
            .enumerate()
            .rfind(|(_, c)| c.field == field)
    }

    pub fn connection_type(&self) -> String {
        format!("{}Connection", self.type_name)
    }
}

/// A function argument as GraphQL sees it.
#[derive(Debug, Clone)]
pub struct FuncArg {
    pub sql: String,
    pub field: String,
    pub scalar: Scalar,
    pub list: bool,
    pub required: bool,
}

/// What a function returns.
#[derive(Debug, Clone, PartialEq)]
pub enum FuncReturn {
    /// A scalar (a list when `true`).
    Scalar(Scalar, bool),
    /// One row of a reflected table (null when no row or all columns null).
    Row(usize),
    /// `setof` rows of a reflected table: a connection.
    Rows(usize),
}

/// A function exposed as a root field or a computed field.
#[derive(Debug, Clone)]
pub struct FuncInfo {
    pub schema: String,
    pub name: String,
    pub field: String,
    pub description: Option<String>,
    /// Arguments the caller passes (empty for computed fields, which take the row).
    pub args: Vec<FuncArg>,
    pub ret: FuncReturn,
}

/// The whole reflected schema for one role.
#[derive(Debug, Clone, Default)]
pub struct Reflected {
    pub types: BTreeMap<String, TypeDef>,
    pub tables: Vec<TableInfo>,
    pub functions: Vec<FuncInfo>,
    pub has_mutation: bool,
    pub introspection: bool,
    /// The upsert extension (`onConflict` on `insertInto…Collection`, beyond pg_graphql) is on.
    pub upsert: bool,
    /// Tables, functions and other types of schemas whose introspection is off while another
    /// schema's is on: left out of `__schema` / `__type` (they still resolve in queries).
    pub hidden_tables: std::collections::HashSet<usize>,
    pub hidden_functions: std::collections::HashSet<usize>,
    pub hidden_types: std::collections::HashSet<String>,
}

impl Reflected {
    pub fn ty(&self, name: &str) -> Option<&TypeDef> {
        self.types.get(name)
    }

    /// Whether introspection leaves `ty` out (see `hidden_tables`).
    pub fn introspection_hides(&self, ty: &TypeDef) -> bool {
        match ty.role {
            Role::Node(t)
            | Role::Connection(t)
            | Role::Edge(t)
            | Role::Response(t)
            | Role::Filter(t)
            | Role::OrderBy(t)
            | Role::InsertInput(t)
            | Role::UpdateInput(t)
            | Role::Aggregate(t)
            | Role::AggregateGroup(t, _) => self.hidden_tables.contains(&t),
            _ => self.hidden_types.contains(&ty.name),
        }
    }

    /// Whether introspection leaves the root field `f` out.
    pub fn introspection_hides_field(&self, f: &Field) -> bool {
        match f.resolve {
            Resolve::Collection(t)
            | Resolve::ByPk(t)
            | Resolve::Insert(t)
            | Resolve::Update(t)
            | Resolve::Delete(t) => self.hidden_tables.contains(&t),
            Resolve::Function(fi) => self.hidden_functions.contains(&fi),
            _ => false,
        }
    }

    /// Adds `ty`. Of fields (or input fields) that share a name, only the last one stays,
    /// where it stands: pg_graphql resolves a name through a map filled in field order, so
    /// a column declared later, or a computed field (listed after the columns), replaces an
    /// earlier column of the same GraphQL name.
    pub fn insert(&mut self, mut ty: TypeDef) {
        keep_last(&mut ty.fields, |f| &f.name);
        keep_last(&mut ty.input_fields, |f| &f.name);
        self.types.insert(ty.name.clone(), ty);
    }
}

/// Drops every item whose name comes again later in `items`.
fn keep_last<T>(items: &mut Vec<T>, name: impl Fn(&T) -> &String) {
    let mut seen = std::collections::HashSet::new();
    let mut keep: Vec<bool> = items
        .iter()
        .rev()
        .map(|item| seen.insert(name(item).clone()))
        .collect();
    keep.reverse();
    let mut flags = keep.into_iter();
    items.retain(|_| flags.next().unwrap_or(true));
}
