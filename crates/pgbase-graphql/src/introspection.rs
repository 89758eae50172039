//! Introspection (`__schema`, `__type`): the meta types are part of the reflected schema
//! (so selections on them are validated like any other), and their values are produced in
//! Rust from the reflected type definitions, one level of selection at a time (bounded by
//! [`Ctx::descend`]), up to [`MAX_INTROSPECTION_VALUES`] fields per request.

use serde_json::{Map, Value};

use crate::error::GraphqlError;
use crate::select::{Ctx, Sel, check_leaf};
use crate::types::{
    EnumValue, Field, InputValue, Kind, Reflected, Resolve, Role, TypeDef, TypeRef,
};

type Result<T> = std::result::Result<T, GraphqlError>;

fn meta_field(name: &str, ty: TypeRef) -> Field {
    Field::new(name, ty, Resolve::Meta)
}

fn meta_enum(name: &str, values: &[&str]) -> TypeDef {
    let mut t = TypeDef::new(name, Kind::Enum, Role::Introspection);
    t.enum_values = values
        .iter()
        .map(|v| EnumValue {
            name: v.to_string(),
            description: None,
            value: v.to_string(),
        })
        .collect();
    t
}

/// Adds `__Schema`, `__Type`, `__Field`, `__InputValue`, `__EnumValue`, `__Directive`,
/// `__TypeKind` and `__DirectiveLocation`.
pub fn add_meta_types(out: &mut Reflected) {
    let s = TypeRef::named("String");
    let b = TypeRef::required("Boolean");
    let list_of = |n: &str| TypeRef::required(n).list();
    let include_deprecated = vec![InputValue {
        default: Some("false".into()),
        ..InputValue::new("includeDeprecated", TypeRef::named("Boolean"))
    }];
    let mut schema = TypeDef::new("__Schema", Kind::Object, Role::Introspection);
    schema.fields = vec![
        meta_field("description", s.clone()),
        meta_field("types", list_of("__Type").non_null()),
        meta_field("queryType", TypeRef::required("__Type")),
        meta_field("mutationType", TypeRef::named("__Type")),
        meta_field("subscriptionType", TypeRef::named("__Type")),
        meta_field("directives", list_of("__Directive").non_null()),
    ];
    let mut ty = TypeDef::new("__Type", Kind::Object, Role::Introspection);
    ty.fields = vec![
        meta_field("kind", TypeRef::required("__TypeKind")),
        meta_field("name", s.clone()),
        meta_field("description", s.clone()),
        meta_field("specifiedByURL", s.clone()),
        Field {
            args: include_deprecated.clone(),
            ..meta_field("fields", list_of("__Field"))
        },
        meta_field("interfaces", list_of("__Type")),
        meta_field("possibleTypes", list_of("__Type")),
        Field {
            args: include_deprecated.clone(),
            ..meta_field("enumValues", list_of("__EnumValue"))
        },
        Field {
            args: include_deprecated.clone(),
            ..meta_field("inputFields", list_of("__InputValue"))
        },
        meta_field("ofType", TypeRef::named("__Type")),
        meta_field("isOneOf", TypeRef::named("Boolean")),
    ];
    let mut field = TypeDef::new("__Field", Kind::Object, Role::Introspection);
    field.fields = vec![
        meta_field("name", TypeRef::required("String")),
        meta_field("description", s.clone()),
        Field {
            args: include_deprecated.clone(),
            ..meta_field("args", list_of("__InputValue").non_null())
        },
        meta_field("type", TypeRef::required("__Type")),
        meta_field("isDeprecated", b.clone()),
        meta_field("deprecationReason", s.clone()),
    ];
    let mut input = TypeDef::new("__InputValue", Kind::Object, Role::Introspection);
    input.fields = vec![
        meta_field("name", TypeRef::required("String")),
        meta_field("description", s.clone()),
        meta_field("type", TypeRef::required("__Type")),
        meta_field("defaultValue", s.clone()),
        meta_field("isDeprecated", b.clone()),
        meta_field("deprecationReason", s.clone()),
    ];
    let mut enum_value = TypeDef::new("__EnumValue", Kind::Object, Role::Introspection);
    enum_value.fields = vec![
        meta_field("name", TypeRef::required("String")),
        meta_field("description", s.clone()),
        meta_field("isDeprecated", b.clone()),
        meta_field("deprecationReason", s.clone()),
    ];
    let mut directive = TypeDef::new("__Directive", Kind::Object, Role::Introspection);
    directive.fields = vec![
        meta_field("name", TypeRef::required("String")),
        meta_field("description", s),
        meta_field("locations", list_of("__DirectiveLocation").non_null()),
        Field {
            args: include_deprecated,
            ..meta_field("args", list_of("__InputValue").non_null())
        },
        meta_field("isRepeatable", b),
    ];
    for t in [schema, ty, field, input, enum_value, directive] {
        out.insert(t);
    }
    out.insert(meta_enum(
        "__TypeKind",
        &[
            "SCALAR",
            "OBJECT",
            "INTERFACE",
            "UNION",
            "ENUM",
            "INPUT_OBJECT",
            "LIST",
            "NON_NULL",
        ],
    ));
    out.insert(meta_enum(
        "__DirectiveLocation",
        &[
            "QUERY",
            "MUTATION",
            "SUBSCRIPTION",
            "FIELD",
            "FRAGMENT_DEFINITION",
            "FRAGMENT_SPREAD",
            "INLINE_FRAGMENT",
            "VARIABLE_DEFINITION",
            "SCHEMA",
            "SCALAR",
            "OBJECT",
            "FIELD_DEFINITION",
            "ARGUMENT_DEFINITION",
            "INTERFACE",
            "UNION",
            "ENUM",
            "ENUM_VALUE",
            "INPUT_OBJECT",
            "INPUT_FIELD_DEFINITION",
        ],
    ));
}

/// A value of a meta type.
#[derive(Clone, Copy)]
enum Meta<'s> {
    Schema,
    Named(&'s TypeDef),
    Wrapped(&'s TypeRef),
    Field(&'s Field),
    Input(&'s InputValue),
    EnumValue(&'s EnumValue),
    Directive(&'static str),
}

impl Meta<'_> {
    fn type_name(&self) -> &'static str {
        match self {
            Meta::Schema => "__Schema",
            Meta::Named(_) | Meta::Wrapped(_) => "__Type",
            Meta::Field(_) => "__Field",
            Meta::Input(_) => "__InputValue",
            Meta::EnumValue(_) => "__EnumValue",
            Meta::Directive(_) => "__Directive",
        }
    }
}

const IF_ARG: &str = "if";

/// Most fields one request's introspection may resolve. Lists multiply a selection by the
/// schema's size at every level (types of fields of types of …), so a document of modest
/// size could otherwise build a result of gigabytes; the standard introspection query of a
/// schema of a thousand tables stays well below this.
pub const MAX_INTROSPECTION_VALUES: usize = 2_000_000;

/// Resolves a top-level `__schema` or `__type(name:)` selection.
pub fn resolve_root<'q>(ctx: &Ctx<'q>, sel: &Sel<'q>) -> Result<Value> {
    check_leaf(sel, false)?;
    match sel.name {
        "__schema" => resolve(ctx, Meta::Schema, sel),
        _ => {
            let name = sel
                .ast
                .arguments
                .iter()
                .find(|(n, _)| *n == "name")
                .and_then(|(_, v)| crate::input::literal(v, &ctx.variables));
            let Some(Value::String(name)) = name else {
                return Err(GraphqlError::at("no name found for __type", sel.pos));
            };
            match visible(ctx.schema, &name) {
                Some(t) => resolve(ctx, Meta::Named(t), sel),
                None => Ok(Value::Null),
            }
        }
    }
}

fn visible<'s>(schema: &'s Reflected, name: &str) -> Option<&'s TypeDef> {
    schema.ty(name).filter(|t| !schema.introspection_hides(t))
}

fn type_view<'s>(schema: &'s Reflected, ty: &'s TypeRef) -> Option<Meta<'s>> {
    match ty {
        TypeRef::Named(n) => schema.ty(n).map(Meta::Named),
        other => Some(Meta::Wrapped(other)),
    }
}

fn resolve<'q>(ctx: &Ctx<'q>, meta: Meta<'_>, sel: &Sel<'q>) -> Result<Value> {
    let schema = ctx.schema;
    let Some(meta_ty) = schema.ty(meta.type_name()) else {
        return Err(GraphqlError::new("introspection is not enabled"));
    };
    let _level = ctx.descend()?;
    let sels = ctx.collect(meta_ty, &sel.sets)?;
    let produced = ctx.introspected.get() + sels.len();
    if produced > MAX_INTROSPECTION_VALUES {
        return Err(GraphqlError::new(format!(
            "Introspection result is too large: more than {MAX_INTROSPECTION_VALUES} values; \
             select fewer nested fields"
        )));
    }
    ctx.introspected.set(produced);
    let mut out = Map::new();
    for s in &sels {
        let leaf = |v: Value| -> Result<Value> {
            check_leaf(s, true)?;
            Ok(v)
        };
        let obj = |m: Option<Meta<'_>>| -> Result<Value> {
            check_leaf(s, false)?;
            match m {
                Some(m) => resolve(ctx, m, s),
                None => Ok(Value::Null),
            }
        };
        let list = |items: Vec<Meta<'_>>| -> Result<Value> {
            check_leaf(s, false)?;
            items
                .into_iter()
                .map(|m| resolve(ctx, m, s))
                .collect::<Result<Vec<_>>>()
                .map(Value::Array)
        };
        let text = |t: Option<&str>| {
            leaf(
                t.map(|t| Value::String(t.to_string()))
                    .unwrap_or(Value::Null),
            )
        };
        if s.name == "__typename" {
            // pg_graphql answers `__typename` on a `__Type` with the described type's name
            let name = match meta {
                Meta::Named(t) => t.name.as_str(),
                _ => meta.type_name(),
            };
            out.insert(s.key.to_string(), leaf(Value::String(name.into()))?);
            continue;
        }
        let value = match (meta, s.name) {
            (Meta::Schema, "description") => {
                text(Some("Represents the GraphQL schema of the database"))?
            }
            (Meta::Schema, "types") => list(
                schema
                    .types
                    .values()
                    .filter(|t| !schema.introspection_hides(t))
                    .map(Meta::Named)
                    .collect(),
            )?,
            (Meta::Schema, "queryType") => obj(schema.ty("Query").map(Meta::Named))?,
            // no mutation type when introspection hides every mutation field
            (Meta::Schema, "mutationType") => obj(schema
                .ty("Mutation")
                .filter(|m| {
                    m.fields
                        .iter()
                        .any(|f| !schema.introspection_hides_field(f))
                })
                .map(Meta::Named))?,
            (Meta::Schema, "subscriptionType") => obj(None)?,
            (Meta::Schema, "directives") => {
                list(vec![Meta::Directive("include"), Meta::Directive("skip")])?
            }
            (Meta::Named(t), "kind") => leaf(t.kind.as_str().into())?,
            (Meta::Named(t), "name") => text(Some(&t.name))?,
            (Meta::Named(t), "description") => text(t.description.as_deref())?,
            (Meta::Named(_), "specifiedByURL") => text(None)?,
            (Meta::Named(t), "fields") => match t.kind {
                Kind::Object | Kind::Interface => list(
                    t.fields
                        .iter()
                        .filter(|f| !schema.introspection_hides_field(f))
                        .map(Meta::Field)
                        .collect(),
                )?,
                _ => obj(None)?,
            },
            (Meta::Named(t), "interfaces") => match t.kind {
                Kind::Object | Kind::Interface => list(
                    t.interfaces
                        .iter()
                        .filter_map(|i| schema.ty(i))
                        .map(Meta::Named)
                        .collect(),
                )?,
                // as pg_graphql: an empty list, not null, for the other kinds
                _ => list(Vec::new())?,
            },
            (Meta::Named(t), "possibleTypes") => match t.kind {
                Kind::Interface => list(
                    t.possible_types
                        .iter()
                        .filter_map(|i| schema.ty(i))
                        .map(Meta::Named)
                        .collect(),
                )?,
                _ => obj(None)?,
            },
            // pg_graphql lists no enum values (not null) for the other kinds
            (Meta::Named(t), "enumValues") => match t.kind {
                Kind::Enum => list(t.enum_values.iter().map(Meta::EnumValue).collect())?,
                _ => list(Vec::new())?,
            },
            (Meta::Named(t), "inputFields") => match t.kind {
                Kind::InputObject => list(t.input_fields.iter().map(Meta::Input).collect())?,
                _ => obj(None)?,
            },
            (Meta::Named(t), "isOneOf") => match t.kind {
                Kind::InputObject => leaf(Value::Bool(false))?,
                _ => leaf(Value::Null)?,
            },
            (Meta::Named(_), "ofType") => obj(None)?,
            (Meta::Wrapped(w), "kind") => leaf(
                match w {
                    TypeRef::NonNull(_) => "NON_NULL",
                    _ => "LIST",
                }
                .into(),
            )?,
            (Meta::Wrapped(w), "ofType") => match w {
                TypeRef::NonNull(inner) | TypeRef::List(inner) => obj(type_view(schema, inner))?,
                TypeRef::Named(_) => obj(None)?,
            },
            (
                Meta::Wrapped(_),
                "fields" | "interfaces" | "possibleTypes" | "enumValues" | "inputFields",
            ) => obj(None)?,
            (Meta::Wrapped(_), _) => leaf(Value::Null)?,
            (Meta::Field(f), "name") => text(Some(&f.name))?,
            (Meta::Field(f), "description") => text(f.description.as_deref())?,
            (Meta::Field(f), "args") => list(f.args.iter().map(Meta::Input).collect())?,
            (Meta::Field(f), "type") => obj(type_view(schema, &f.ty))?,
            (Meta::Field(_) | Meta::Input(_) | Meta::EnumValue(_), "isDeprecated") => {
                leaf(Value::Bool(false))?
            }
            (Meta::Field(_) | Meta::Input(_) | Meta::EnumValue(_), "deprecationReason") => {
                text(None)?
            }
            (Meta::Input(i), "name") => text(Some(&i.name))?,
            (Meta::Input(i), "description") => text(i.description.as_deref())?,
            (Meta::Input(i), "type") => obj(type_view(schema, &i.ty))?,
            (Meta::Input(i), "defaultValue") => text(i.default.as_deref())?,
            (Meta::EnumValue(e), "name") => text(Some(&e.name))?,
            (Meta::EnumValue(e), "description") => text(e.description.as_deref())?,
            (Meta::Directive(d), "name") => text(Some(d))?,
            (Meta::Directive(d), "description") => text(Some(if d == "skip" {
                "This field or fragment will be skipped when the `if` argument is true."
            } else {
                "This field or fragment will be included only when the `if` argument is true."
            }))?,
            (Meta::Directive(_), "locations") => leaf(serde_json::json!([
                "FIELD",
                "FRAGMENT_SPREAD",
                "INLINE_FRAGMENT"
            ]))?,
            (Meta::Directive(d), "args") => {
                check_leaf(s, false)?;
                let arg = InputValue {
                    description: Some(
                        if d == "skip" {
                            "Skipped when true"
                        } else {
                            "Included when true"
                        }
                        .into(),
                    ),
                    ..InputValue::new(IF_ARG, TypeRef::required("Boolean"))
                };
                Value::Array(vec![resolve(ctx, Meta::Input(&arg), s)?])
            }
            (Meta::Directive(_), "isRepeatable") => leaf(Value::Bool(false))?,
            _ => leaf(Value::Null)?,
        };
        out.insert(s.key.to_string(), value);
    }
    Ok(Value::Object(out))
}
