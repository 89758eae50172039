//! Rendering the TypeScript module: the `Json` type, one `Database` type with a member per
//! schema (`Tables`, `Views`, `Functions`, `Enums`, `CompositeTypes`), the helper types
//! (`Tables<…>`, `TablesInsert<…>`, `TablesUpdate<…>`, `Enums<…>`, `CompositeTypes<…>`) and the
//! `Constants` object listing enum labels. Pure: everything it reads was loaded before, and
//! every name it prints is sorted, so one schema always renders the same text. Property names
//! go through [`key`], string literals through [`lit`].

use std::collections::{BTreeMap, BTreeSet};

use pgbase_catalog::{
    Cardinality, Column, Function, Generated, Identity, Link, RelKind, ReturnShape, SchemaCache,
    Table,
};

use crate::introspect::{Composite, PgTypeInfo};

/// Everything the renderer reads.
pub struct Input<'a> {
    pub cache: &'a SchemaCache,
    pub types: &'a BTreeMap<u32, PgTypeInfo>,
    pub composites: &'a BTreeMap<(String, String), Composite>,
    /// The schemas to render (existing ones), sorted.
    pub schemas: Vec<String>,
}

const EMPTY: &str = "{ [_ in never]: never }";
/// supabase-js reads the PostgREST version from here; pgbase speaks PostgREST 12.
const POSTGREST_VERSION: &str = "12";

/// A TypeScript property name: bare when it is an identifier, else a string literal.
pub fn key(name: &str) -> String {
    let mut chars = name.chars();
    let ident = match chars.next() {
        Some(c) if c.is_ascii_alphabetic() || c == '_' || c == '$' => {
            chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$')
        }
        _ => false,
    };
    if ident { name.to_string() } else { lit(name) }
}

/// A TypeScript (JSON-compatible) string literal.
pub fn lit(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 || c == '\u{2028}' || c == '\u{2029}' => {
                out.push_str(&format!("\\u{:04x}", c as u32))
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// `T[]`, parenthesised when `T` is a union or otherwise spaced.
fn array_of(t: &str) -> String {
    if t.contains(' ') || t.contains('|') {
        format!("({t})[]")
    } else {
        format!("{t}[]")
    }
}

fn nullable(t: String, null: bool) -> String {
    if null { format!("{t} | null") } else { t }
}

/// An indented text buffer.
struct Out {
    buf: String,
}

impl Out {
    fn line(&mut self, depth: usize, text: &str) {
        for _ in 0..depth {
            self.buf.push_str("  ");
        }
        self.buf.push_str(text);
        self.buf.push('\n');
    }
}

struct Renderer<'a> {
    input: &'a Input<'a>,
    rendered: BTreeSet<&'a str>,
}

/// Renders the whole module.
pub fn render(input: &Input<'_>) -> String {
    let r = Renderer {
        input,
        rendered: input.schemas.iter().map(String::as_str).collect(),
    };
    let mut out = Out { buf: String::new() };
    out.line(
        0,
        "export type Json =\n  | string\n  | number\n  | boolean\n  | null\n  | { [key: string]: Json | undefined }\n  | Json[]",
    );
    out.line(0, "");
    out.line(0, "export type Database = {");
    out.line(1, "__InternalSupabase: {");
    out.line(2, &format!("PostgrestVersion: {}", lit(POSTGREST_VERSION)));
    out.line(1, "}");
    for schema in &input.schemas {
        r.schema(&mut out, schema);
    }
    out.line(0, "}");
    if let Some(default) = default_schema(&input.schemas) {
        out.line(0, "");
        out.buf.push_str(&helpers(default));
        r.constants(&mut out);
    }
    out.buf
}

/// The schema the helper types use when none is named: `public`, else the first one.
fn default_schema(schemas: &[String]) -> Option<&str> {
    schemas
        .iter()
        .find(|s| *s == "public")
        .or_else(|| schemas.first())
        .map(String::as_str)
}

/// One relationship entry of `Relationships`.
#[derive(PartialEq, Eq, PartialOrd, Ord)]
struct Rel {
    name: String,
    columns: Vec<String>,
    one_to_one: bool,
    referenced: String,
    referenced_columns: Vec<String>,
}

impl<'a> Renderer<'a> {
    fn db_path(&self, schema: &str, section: &str, name: &str) -> String {
        format!("Database[{}][{}][{}]", lit(schema), lit(section), lit(name))
    }

    /// The TypeScript type of a Postgres type.
    fn ts(&self, oid: u32) -> String {
        self.ts_depth(oid, 0)
    }

    fn ts_depth(&self, oid: u32, depth: u8) -> String {
        let Some(t) = self.input.types.get(&oid) else {
            return "unknown".into();
        };
        if depth > 16 {
            return "unknown".into();
        }
        match t.kind.as_str() {
            "d" => return self.ts_depth(t.base, depth + 1),
            "e" => {
                return if self.rendered.contains(t.schema.as_str()) {
                    self.db_path(&t.schema, "Enums", &t.name)
                } else if t.labels.is_empty() {
                    "never".into()
                } else {
                    t.labels
                        .iter()
                        .map(|l| lit(l))
                        .collect::<Vec<_>>()
                        .join(" | ")
                };
            }
            "c" => return self.composite_ref(t),
            "r" | "m" => return "string".into(),
            "p" => {
                return match t.name.as_str() {
                    "void" => "undefined".into(),
                    "record" => "Record<string, unknown>".into(),
                    _ => "unknown".into(),
                };
            }
            _ => {}
        }
        if t.category == "A" && t.element != 0 {
            return array_of(&self.ts_depth(t.element, depth + 1));
        }
        let builtin = t.schema == "pg_catalog";
        match (t.name.as_str(), t.category.as_str()) {
            ("json" | "jsonb", _) if builtin => "Json".into(),
            ("money", _) if builtin => "string".into(),
            (_, "N") => "number".into(),
            (_, "B") => "boolean".into(),
            (_, "S") => "string".into(),
            (_, "D" | "T" | "I" | "V" | "G" | "U" | "R") if builtin => "string".into(),
            ("citext", _) => "string".into(),
            _ => "unknown".into(),
        }
    }

    /// A composite type used as a column/argument type: the rendered composite type or row.
    fn composite_ref(&self, t: &PgTypeInfo) -> String {
        if !self.rendered.contains(t.schema.as_str()) {
            return "unknown".into();
        }
        if t.relkind == "c" {
            if self
                .input
                .composites
                .contains_key(&(t.schema.clone(), t.name.clone()))
            {
                return self.db_path(&t.schema, "CompositeTypes", &t.name);
            }
            return "unknown".into();
        }
        match self
            .input
            .cache
            .table(&t.schema, &t.name)
            .and_then(section_of)
        {
            Some(section) => format!("{}[\"Row\"]", self.db_path(&t.schema, section, &t.name)),
            None => "unknown".into(),
        }
    }

    fn schema(&self, out: &mut Out, schema: &str) {
        out.line(1, &format!("{}: {{", key(schema)));
        let rels: Vec<&Table> = self.input.cache.tables_in(schema).collect();
        let tables: Vec<&Table> = rels
            .iter()
            .copied()
            .filter(|t| section_of(t) == Some("Tables"))
            .collect();
        let views: Vec<&Table> = rels
            .iter()
            .copied()
            .filter(|t| section_of(t) == Some("Views"))
            .collect();

        if tables.is_empty() {
            out.line(2, &format!("Tables: {EMPTY}"));
        } else {
            out.line(2, "Tables: {");
            for t in &tables {
                self.relation(out, t);
            }
            out.line(2, "}");
        }
        if views.is_empty() {
            out.line(2, &format!("Views: {EMPTY}"));
        } else {
            out.line(2, "Views: {");
            for v in &views {
                self.relation(out, v);
            }
            out.line(2, "}");
        }
        self.functions(out, schema);
        self.enums(out, schema);
        self.composite_types(out, schema);
        out.line(1, "}");
    }

    fn relation(&self, out: &mut Out, t: &Table) {
        let mut cols: Vec<&Column> = t.columns.iter().collect();
        cols.sort_by(|a, b| a.name.cmp(&b.name));
        out.line(3, &format!("{}: {{", key(&t.name)));

        out.line(4, "Row: {");
        for c in &cols {
            let ty = nullable(self.ts(c.type_oid), c.nullable);
            out.line(5, &format!("{}: {ty}", key(&c.name)));
        }
        out.line(4, "}");

        let is_table = section_of(t) == Some("Tables");
        let writable_view = t.kind == RelKind::View && (t.insertable || t.updatable);
        if is_table || writable_view {
            out.line(4, "Insert: {");
            for c in &cols {
                out.line(5, &self.write_field(t, c, true));
            }
            out.line(4, "}");
            out.line(4, "Update: {");
            for c in &cols {
                out.line(5, &self.write_field(t, c, false));
            }
            out.line(4, "}");
        }

        let rels = self.relationships(t);
        if rels.is_empty() {
            out.line(4, "Relationships: []");
        } else {
            out.line(4, "Relationships: [");
            for r in rels {
                out.line(5, "{");
                out.line(6, &format!("foreignKeyName: {}", lit(&r.name)));
                out.line(6, &format!("columns: {}", lit_array(&r.columns)));
                out.line(6, &format!("isOneToOne: {}", r.one_to_one));
                out.line(6, &format!("referencedRelation: {}", lit(&r.referenced)));
                out.line(
                    6,
                    &format!("referencedColumns: {}", lit_array(&r.referenced_columns)),
                );
                out.line(5, "},");
            }
            out.line(4, "]");
        }
        out.line(3, "}");
    }

    /// A field of `Insert` (`insert`) or `Update`.
    fn write_field(&self, t: &Table, c: &Column, insert: bool) -> String {
        let name = key(&c.name);
        let view = t.is_view();
        let read_only = if view {
            c.source.is_none()
        } else {
            c.generated != Generated::No || c.identity == Identity::Always
        };
        if read_only {
            return format!("{name}?: never");
        }
        let ty = nullable(self.ts(c.type_oid), c.nullable);
        let optional = !insert
            || view
            || c.nullable
            || c.default.is_some()
            || c.identity == Identity::ByDefault;
        if optional {
            format!("{name}?: {ty}")
        } else {
            format!("{name}: {ty}")
        }
    }

    /// The relation's outgoing foreign keys (its own, and for views those of the tables it
    /// selects the key columns of), one entry per constraint and target.
    fn relationships(&self, t: &Table) -> Vec<Rel> {
        let mut out: BTreeSet<Rel> = BTreeSet::new();
        for fk in &t.foreign_keys {
            out.insert(Rel {
                name: fk.name.clone(),
                columns: fk.columns.clone(),
                one_to_one: fk.unique,
                referenced: fk.referenced_table.clone(),
                referenced_columns: fk.referenced_columns.clone(),
            });
        }
        for rel in self.input.cache.relationships_from(&t.schema, &t.name) {
            let Link::ForeignKey {
                constraint,
                columns,
                parent: false,
            } = &rel.link
            else {
                continue;
            };
            if !matches!(
                rel.cardinality,
                Cardinality::ManyToOne | Cardinality::OneToOne
            ) {
                continue;
            }
            out.insert(Rel {
                name: constraint.clone(),
                columns: columns.iter().map(|(s, _)| s.clone()).collect(),
                one_to_one: rel.cardinality == Cardinality::OneToOne,
                referenced: rel.target.name.clone(),
                referenced_columns: columns.iter().map(|(_, t)| t.clone()).collect(),
            });
        }
        out.into_iter().collect()
    }

    fn functions(&self, out: &mut Out, schema: &str) {
        let mut by_name: BTreeMap<&str, Vec<String>> = BTreeMap::new();
        for f in self.input.cache.functions().filter(|f| f.schema == schema) {
            if let Some(body) = self.function(f) {
                by_name.entry(f.name.as_str()).or_default().push(body);
            }
        }
        if by_name.is_empty() {
            out.line(2, &format!("Functions: {EMPTY}"));
            return;
        }
        out.line(2, "Functions: {");
        for (name, mut overloads) in by_name {
            overloads.sort();
            overloads.dedup();
            if overloads.len() == 1 {
                out.line(3, &format!("{}: {}", key(name), overloads[0]));
            } else {
                out.line(3, &format!("{}:", key(name)));
                for o in &overloads {
                    out.line(4, &format!("| {o}"));
                }
            }
        }
        out.line(2, "}");
    }

    /// `{ Args: …; Returns: …; SetofOptions?: … }` of one function, or `None` when the API
    /// cannot call it (unnamed arguments among several).
    fn function(&self, f: &Function) -> Option<String> {
        let inputs: Vec<_> = f.input_args().collect();
        // One unnamed argument is callable (the request body, or the row of a computed
        // column) and is keyed "" as in supabase's output; unnamed ones among several are not.
        if inputs.len() > 1
            && inputs
                .iter()
                .any(|a| a.name.as_deref().unwrap_or("").is_empty())
        {
            return None;
        }
        let args = if inputs.is_empty() {
            "never".to_string()
        } else {
            let mut fields: Vec<String> = inputs
                .iter()
                .map(|a| {
                    let name = key(a.name.as_deref().unwrap_or_default());
                    let opt = if a.has_default { "?" } else { "" };
                    format!("{name}{opt}: {}", self.ts(a.type_oid))
                })
                .collect();
            fields.sort();
            format!("{{ {} }}", fields.join("; "))
        };
        let mut setof = None;
        let one = match f.return_shape() {
            ReturnShape::Void => "undefined".to_string(),
            ReturnShape::Scalar => self.ts(f.return_type.oid),
            ReturnShape::Record => "Record<string, unknown>".to_string(),
            ReturnShape::Pseudo => "unknown".to_string(),
            ReturnShape::Relation(q) => match self.input.cache.table(&q.schema, &q.name) {
                Some(rel) => {
                    if q.schema == f.schema && section_of(rel).is_some() {
                        setof = Some(q.name.clone());
                    }
                    let mut cols: Vec<&Column> = rel.columns.iter().collect();
                    cols.sort_by(|a, b| a.name.cmp(&b.name));
                    inline_object(
                        cols.iter()
                            .map(|c| (c.name.clone(), nullable(self.ts(c.type_oid), c.nullable))),
                    )
                }
                None => "Record<string, unknown>".to_string(),
            },
            ReturnShape::Composite => {
                if f.has_out_args {
                    let mut fields: Vec<(String, String)> = f
                        .output_args()
                        .map(|a| (a.name.clone().unwrap_or_default(), self.ts(a.type_oid)))
                        .collect();
                    fields.sort();
                    inline_object(fields.into_iter())
                } else {
                    self.ts(f.return_type.oid)
                }
            }
        };
        let returns = if f.returns_set && f.return_shape() != ReturnShape::Void {
            array_of(&one)
        } else {
            one
        };
        let mut body = format!("{{ Args: {args}; Returns: {returns}");
        if let Some(to) = setof {
            body.push_str(&format!(
                "; SetofOptions: {{ from: \"*\"; to: {}; isOneToOne: {}; isSetofReturn: {} }}",
                lit(&to),
                !f.returns_set,
                f.returns_set
            ));
        }
        body.push_str(" }");
        Some(body)
    }

    fn enums(&self, out: &mut Out, schema: &str) {
        let enums: BTreeMap<&str, &PgTypeInfo> = self
            .input
            .types
            .values()
            .filter(|t| t.kind == "e" && t.schema == schema)
            .map(|t| (t.name.as_str(), t))
            .collect();
        if enums.is_empty() {
            out.line(2, &format!("Enums: {EMPTY}"));
            return;
        }
        out.line(2, "Enums: {");
        for (name, t) in enums {
            let union = if t.labels.is_empty() {
                "never".to_string()
            } else {
                t.labels
                    .iter()
                    .map(|l| lit(l))
                    .collect::<Vec<_>>()
                    .join(" | ")
            };
            out.line(3, &format!("{}: {union}", key(name)));
        }
        out.line(2, "}");
    }

    fn composite_types(&self, out: &mut Out, schema: &str) {
        let composites: Vec<(&String, &Composite)> = self
            .input
            .composites
            .iter()
            .filter(|((s, _), _)| s == schema)
            .map(|((_, n), c)| (n, c))
            .collect();
        if composites.is_empty() {
            out.line(2, &format!("CompositeTypes: {EMPTY}"));
            return;
        }
        out.line(2, "CompositeTypes: {");
        for (name, attrs) in composites {
            out.line(3, &format!("{}: {{", key(name)));
            let mut attrs: Vec<&(String, u32)> = attrs.iter().collect();
            attrs.sort();
            for (attr, oid) in attrs {
                out.line(4, &format!("{}: {} | null", key(attr), self.ts(*oid)));
            }
            out.line(3, "}");
        }
        out.line(2, "}");
    }

    fn constants(&self, out: &mut Out) {
        out.line(0, "export const Constants = {");
        for schema in &self.input.schemas {
            out.line(1, &format!("{}: {{", key(schema)));
            let enums: BTreeMap<&str, &PgTypeInfo> = self
                .input
                .types
                .values()
                .filter(|t| t.kind == "e" && &t.schema == schema)
                .map(|t| (t.name.as_str(), t))
                .collect();
            if enums.is_empty() {
                out.line(2, "Enums: {},");
            } else {
                out.line(2, "Enums: {");
                for (name, t) in enums {
                    out.line(3, &format!("{}: {},", key(name), lit_array(&t.labels)));
                }
                out.line(2, "},");
            }
            out.line(1, "},");
        }
        out.line(0, "} as const");
    }
}

/// `Tables` for tables, partitioned and foreign tables; `Views` for views and materialized
/// views; `None` for anything else.
fn section_of(t: &Table) -> Option<&'static str> {
    match t.kind {
        RelKind::Table | RelKind::PartitionedTable | RelKind::ForeignTable => Some("Tables"),
        RelKind::View | RelKind::MaterializedView => Some("Views"),
        _ => None,
    }
}

fn lit_array(items: &[String]) -> String {
    format!(
        "[{}]",
        items.iter().map(|s| lit(s)).collect::<Vec<_>>().join(", ")
    )
}

fn inline_object(fields: impl Iterator<Item = (String, String)>) -> String {
    let fields: Vec<String> = fields.map(|(n, t)| format!("{}: {t}", key(&n))).collect();
    if fields.is_empty() {
        "Record<string, never>".to_string()
    } else {
        format!("{{ {} }}", fields.join("; "))
    }
}

/// The helper types, with `default` as the schema used when none is named.
fn helpers(default: &str) -> String {
    let d = lit(default);
    let mut s = String::new();
    s.push_str("type DatabaseWithoutInternals = Omit<Database, \"__InternalSupabase\">\n\n");
    s.push_str(&format!(
        "type DefaultSchema = DatabaseWithoutInternals[{d}]\n\n"
    ));
    s.push_str("type SchemaOption = { schema: keyof DatabaseWithoutInternals }\n\n");
    s.push_str(
        "type RelationsOf<S extends keyof DatabaseWithoutInternals> =\n  DatabaseWithoutInternals[S][\"Tables\"] & DatabaseWithoutInternals[S][\"Views\"]\n\n",
    );
    // Tables<…>: the row of a table or view.
    s.push_str(
        "export type Tables<\n  NameOrOptions extends keyof (DefaultSchema[\"Tables\"] & DefaultSchema[\"Views\"]) | SchemaOption,\n",
    );
    s.push_str(
        "  Name extends NameOrOptions extends SchemaOption\n    ? keyof RelationsOf<NameOrOptions[\"schema\"]>\n    : never = never,\n> = NameOrOptions extends SchemaOption\n  ? RelationsOf<NameOrOptions[\"schema\"]>[Name] extends { Row: infer R }\n    ? R\n    : never\n  : NameOrOptions extends keyof (DefaultSchema[\"Tables\"] & DefaultSchema[\"Views\"])\n    ? (DefaultSchema[\"Tables\"] & DefaultSchema[\"Views\"])[NameOrOptions] extends { Row: infer R }\n      ? R\n      : never\n    : never\n\n",
    );
    for (helper, field) in [("TablesInsert", "Insert"), ("TablesUpdate", "Update")] {
        s.push_str(&format!(
            "export type {helper}<\n  NameOrOptions extends keyof DefaultSchema[\"Tables\"] | SchemaOption,\n  Name extends NameOrOptions extends SchemaOption\n    ? keyof DatabaseWithoutInternals[NameOrOptions[\"schema\"]][\"Tables\"]\n    : never = never,\n> = NameOrOptions extends SchemaOption\n  ? DatabaseWithoutInternals[NameOrOptions[\"schema\"]][\"Tables\"][Name] extends {{ {field}: infer F }}\n    ? F\n    : never\n  : NameOrOptions extends keyof DefaultSchema[\"Tables\"]\n    ? DefaultSchema[\"Tables\"][NameOrOptions] extends {{ {field}: infer F }}\n      ? F\n      : never\n    : never\n\n"
        ));
    }
    for (helper, section) in [("Enums", "Enums"), ("CompositeTypes", "CompositeTypes")] {
        s.push_str(&format!(
            "export type {helper}<\n  NameOrOptions extends keyof DefaultSchema[\"{section}\"] | SchemaOption,\n  Name extends NameOrOptions extends SchemaOption\n    ? keyof DatabaseWithoutInternals[NameOrOptions[\"schema\"]][\"{section}\"]\n    : never = never,\n> = NameOrOptions extends SchemaOption\n  ? DatabaseWithoutInternals[NameOrOptions[\"schema\"]][\"{section}\"][Name]\n  : NameOrOptions extends keyof DefaultSchema[\"{section}\"]\n    ? DefaultSchema[\"{section}\"][NameOrOptions]\n    : never\n\n"
        ));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_bare_only_when_they_are_identifiers() {
        assert_eq!(key("user_id"), "user_id");
        assert_eq!(key("$x1"), "$x1");
        assert_eq!(key("1st"), "\"1st\"");
        assert_eq!(key("first name"), "\"first name\"");
        assert_eq!(key("a-b"), "\"a-b\"");
        assert_eq!(key("ünï"), "\"ünï\"");
    }

    #[test]
    fn literals_escape_quotes_backslashes_and_controls() {
        assert_eq!(lit(r#"a"b\c"#), r#""a\"b\\c""#);
        assert_eq!(lit("x\ny\u{1}"), "\"x\\ny\\u0001\"");
    }

    #[test]
    fn arrays_of_unions_are_parenthesised() {
        assert_eq!(array_of("number"), "number[]");
        assert_eq!(array_of("\"a\" | \"b\""), "(\"a\" | \"b\")[]");
    }
}
