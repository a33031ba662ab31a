//! List queries: Tastypie-style parameters (`limit`, `offset`, `order_by`, `field__op=value`) parsed
//! against a resource's fields, and turned into SQL for SQLite or PostgreSQL.
//!
//! Pure: nothing here touches a database, so every operator is unit-tested on both dialects.

use crate::descriptor::{Field, Kind};
use crate::validate::FieldErrors;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A bound parameter.
#[derive(Debug, Clone, PartialEq)]
pub enum Bind {
    Text(String),
    Int(i64),
}

/// How a field is stored: in a real column, or inside the JSON document.
#[derive(Debug, Clone, PartialEq)]
pub enum Column {
    /// A real column; `int` tells how to bind values compared with it.
    Plain { sql: &'static str, int: bool },
    Json { field: &'static str, ty: JsonTy },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JsonTy {
    Text,
    Int,
    Bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Exact,
    IExact,
    Contains,
    IContains,
    StartsWith,
    IStartsWith,
    EndsWith,
    IEndsWith,
    Gt,
    Gte,
    Lt,
    Lte,
    IsNull,
    In,
}

impl Op {
    fn parse(s: &str) -> Option<Op> {
        Some(match s {
            "exact" => Op::Exact,
            "iexact" => Op::IExact,
            "contains" => Op::Contains,
            "icontains" => Op::IContains,
            "startswith" => Op::StartsWith,
            "istartswith" => Op::IStartsWith,
            "endswith" => Op::EndsWith,
            "iendswith" => Op::IEndsWith,
            "gt" => Op::Gt,
            "gte" => Op::Gte,
            "lt" => Op::Lt,
            "lte" => Op::Lte,
            "isnull" => Op::IsNull,
            "in" => Op::In,
            _ => return None,
        })
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Filter {
    pub column: Column,
    pub op: Op,
    pub values: Vec<Bind>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ListQuery {
    pub filters: Vec<Filter>,
    /// Columns to sort by, `true` for descending. The id always breaks ties.
    pub order: Vec<(Column, bool)>,
    /// `None`: every matching row.
    pub limit: Option<i64>,
    pub offset: i64,
}

/// Tastypie's default page size.
pub const DEFAULT_LIMIT: i64 = 20;
/// The largest page a client may ask for (`limit=0` also means "all").
pub const MAX_LIMIT: i64 = 100_000;

/// Maps a field to where it is stored; `None` means the field cannot be filtered on.
pub type ColumnOf<'a> = dyn Fn(&str) -> Option<(Column, Option<&'static Field>)> + 'a;

/// Parses list parameters. Unknown fields and operators, and values of the wrong type, are errors
/// naming the parameter.
pub fn parse(params: &[(String, String)], column_of: &ColumnOf<'_>) -> Result<ListQuery, FieldErrors> {
    let mut errors = FieldErrors::default();
    let mut q = ListQuery { filters: Vec::new(), order: Vec::new(), limit: Some(DEFAULT_LIMIT), offset: 0 };
    for (key, value) in params {
        match key.as_str() {
            "format" | "_" => {}
            "limit" => match value.parse::<i64>() {
                Ok(0) => q.limit = None,
                Ok(n) if (1..=MAX_LIMIT).contains(&n) => q.limit = Some(n),
                _ => errors.add("limit", format!("Must be a whole number from 0 to {MAX_LIMIT}.")),
            },
            "offset" => match value.parse::<i64>() {
                Ok(n) if n >= 0 => q.offset = n,
                _ => errors.add("offset", "Must be a whole number, 0 or more."),
            },
            "order_by" => {
                let (desc, name) = match value.strip_prefix('-') {
                    Some(name) => (true, name),
                    None => (false, value.as_str()),
                };
                match column_of(name) {
                    Some((column, _)) => q.order.push((column, desc)),
                    None => errors.add("order_by", format!("Cannot order by \"{name}\".")),
                }
            }
            _ => {
                let (name, op) = match key.rsplit_once("__") {
                    Some((name, op)) => match Op::parse(op) {
                        Some(op) => (name, op),
                        None => {
                            errors.add(key.clone(), format!("Unknown filter \"{op}\"."));
                            continue;
                        }
                    },
                    None => (key.as_str(), Op::Exact),
                };
                let Some((column, field)) = column_of(name) else {
                    errors.add(key.clone(), format!("Cannot filter on \"{name}\"."));
                    continue;
                };
                match values_for(&column, field, op, value) {
                    Ok(values) => q.filters.push(Filter { column, op, values }),
                    Err(msg) => errors.add(key.clone(), msg),
                }
            }
        }
    }
    if errors.is_empty() { Ok(q) } else { Err(errors) }
}

fn values_for(column: &Column, field: Option<&'static Field>, op: Op, raw: &str) -> Result<Vec<Bind>, String> {
    if op == Op::IsNull {
        return match raw {
            "true" | "True" | "1" => Ok(vec![Bind::Int(1)]),
            "false" | "False" | "0" => Ok(vec![Bind::Int(0)]),
            _ => Err("Must be true or false.".into()),
        };
    }
    let raws: Vec<&str> = if op == Op::In { raw.split(',').collect() } else { vec![raw] };
    let is_int = match column {
        Column::Plain { int, .. } => *int,
        Column::Json { ty, .. } => *ty != JsonTy::Text,
    };
    let textual = matches!(op, Op::Contains | Op::IContains | Op::StartsWith | Op::IStartsWith | Op::EndsWith | Op::IEndsWith | Op::IExact);
    if is_int && textual {
        return Err("Text filters do not apply to this field.".into());
    }
    raws.into_iter()
        .map(|r| {
            if let Column::Json { ty: JsonTy::Bool, .. } = column {
                return match r {
                    "true" | "True" | "1" => Ok(Bind::Int(1)),
                    "false" | "False" | "0" => Ok(Bind::Int(0)),
                    _ => Err("Must be true or false.".into()),
                };
            }
            if let Some(Field { kind: Kind::Ref(target), .. }) = field {
                let id = crate::descriptor::parse_ref_to(target, &serde_json::Value::String(r.to_string()))
                    .ok_or_else(|| format!("Must be a {target} id or resource_uri."))?;
                return Ok(if is_int {
                    Bind::Int(id)
                } else {
                    Bind::Text(format!("{}{target}/{id}/", crate::descriptor::CONFIG_PREFIX))
                });
            }
            if is_int {
                r.parse::<i64>().map(Bind::Int).map_err(|_| "Must be a whole number.".to_string())
            } else {
                Ok(Bind::Text(r.to_string()))
            }
        })
        .collect()
}

/// SQL text with its parameters, written for one backend.
#[derive(Debug, Clone, PartialEq)]
pub struct Sql {
    pub backend: Backend,
    pub text: String,
    pub binds: Vec<Bind>,
}

impl Sql {
    pub fn new(backend: Backend, text: &str) -> Self {
        Sql { backend, text: text.to_string(), binds: Vec::new() }
    }
    pub fn push(&mut self, text: &str) -> &mut Self {
        self.text.push_str(text);
        self
    }
    /// Appends a placeholder for `bind`.
    pub fn bind(&mut self, bind: Bind) -> &mut Self {
        self.binds.push(bind);
        match self.backend {
            Backend::Sqlite => self.text.push('?'),
            Backend::Postgres => {
                let n = self.binds.len();
                self.text.push_str(&format!("${n}"));
            }
        }
        self
    }
}

/// The SQL expression that reads a column.
pub fn expr(backend: Backend, column: &Column) -> String {
    match (column, backend) {
        (Column::Plain { sql, .. }, _) => sql.to_string(),
        (Column::Json { field, .. }, Backend::Sqlite) => format!("json_extract(data, '$.{field}')"),
        (Column::Json { field, ty: JsonTy::Text }, Backend::Postgres) => format!("(data::jsonb ->> '{field}')"),
        (Column::Json { field, ty: JsonTy::Int }, Backend::Postgres) => format!("((data::jsonb ->> '{field}')::bigint)"),
        (Column::Json { field, ty: JsonTy::Bool }, Backend::Postgres) => {
            format!("(CASE WHEN (data::jsonb ->> '{field}') = 'true' THEN 1 ELSE 0 END)")
        }
    }
}

fn like_escape(s: &str) -> String {
    s.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_")
}

fn glob_escape(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            '*' => "[*]".to_string(),
            '?' => "[?]".to_string(),
            '[' => "[[]".to_string(),
            c => c.to_string(),
        })
        .collect()
}

/// Appends ` AND <condition>` for each filter.
pub fn push_filters(sql: &mut Sql, filters: &[Filter]) {
    for f in filters {
        let e = expr(sql.backend, &f.column);
        let text = |b: &Bind| match b {
            Bind::Text(s) => s.clone(),
            Bind::Int(i) => i.to_string(),
        };
        sql.push(" AND ");
        match f.op {
            Op::Exact => {
                sql.push(&format!("{e} = ")).bind(f.values[0].clone());
            }
            Op::IExact => {
                sql.push(&format!("lower({e}) = lower(")).bind(f.values[0].clone()).push(")");
            }
            Op::Gt | Op::Gte | Op::Lt | Op::Lte => {
                let op = match f.op {
                    Op::Gt => ">",
                    Op::Gte => ">=",
                    Op::Lt => "<",
                    _ => "<=",
                };
                sql.push(&format!("{e} {op} ")).bind(f.values[0].clone());
            }
            Op::IsNull => {
                let is = f.values[0] == Bind::Int(1);
                sql.push(&format!("{e} IS {}NULL", if is { "" } else { "NOT " }));
            }
            Op::In => {
                sql.push(&format!("{e} IN ("));
                for (i, v) in f.values.iter().enumerate() {
                    if i > 0 {
                        sql.push(", ");
                    }
                    sql.bind(v.clone());
                }
                sql.push(")");
            }
            Op::Contains | Op::StartsWith | Op::EndsWith | Op::IContains | Op::IStartsWith | Op::IEndsWith => {
                let v = text(&f.values[0]);
                let insensitive = matches!(f.op, Op::IContains | Op::IStartsWith | Op::IEndsWith);
                let (pre, post) = match f.op {
                    Op::Contains | Op::IContains => (true, true),
                    Op::StartsWith | Op::IStartsWith => (false, true),
                    _ => (true, false),
                };
                match (sql.backend, insensitive) {
                    (Backend::Sqlite, false) => {
                        let p = format!("{}{}{}", if pre { "*" } else { "" }, glob_escape(&v), if post { "*" } else { "" });
                        sql.push(&format!("{e} GLOB ")).bind(Bind::Text(p));
                    }
                    (backend, insensitive) => {
                        let p = format!("{}{}{}", if pre { "%" } else { "" }, like_escape(&v), if post { "%" } else { "" });
                        let like = if insensitive && backend == Backend::Postgres { "ILIKE" } else { "LIKE" };
                        sql.push(&format!("{e} {like} ")).bind(Bind::Text(p)).push(" ESCAPE '\\'");
                    }
                }
            }
        }
    }
}

/// Appends ORDER BY, LIMIT and OFFSET.
pub fn push_page(sql: &mut Sql, q: &ListQuery, tie_breaker: &str) {
    sql.push(" ORDER BY ");
    for (column, desc) in &q.order {
        let e = expr(sql.backend, column);
        sql.push(&format!("{e}{}, ", if *desc { " DESC" } else { "" }));
    }
    sql.push(tie_breaker);
    if let Some(limit) = q.limit {
        sql.push(" LIMIT ").bind(Bind::Int(limit));
    } else if sql.backend == Backend::Sqlite {
        sql.push(" LIMIT -1");
    }
    sql.push(" OFFSET ").bind(Bind::Int(q.offset));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::CONFERENCE;

    fn columns(name: &str) -> Option<(Column, Option<&'static Field>)> {
        match name {
            "id" => Some((Column::Plain { sql: "id", int: true }, None)),
            "name" => Some((Column::Plain { sql: "name", int: false }, CONFERENCE.field("name"))),
            _ => {
                let f = CONFERENCE.field(name)?;
                let ty = match f.kind {
                    Kind::Int { .. } => JsonTy::Int,
                    Kind::Bool => JsonTy::Bool,
                    _ => JsonTy::Text,
                };
                Some((Column::Json { field: f.name, ty }, Some(f)))
            }
        }
    }

    fn params(p: &[(&str, &str)]) -> Vec<(String, String)> {
        p.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect()
    }

    fn sql_for(backend: Backend, p: &[(&str, &str)]) -> Sql {
        let q = parse(&params(p), &columns).unwrap();
        let mut sql = Sql::new(backend, "SELECT * FROM config_object WHERE kind = ");
        sql.bind(Bind::Text("conference".into()));
        push_filters(&mut sql, &q.filters);
        push_page(&mut sql, &q, "id");
        sql
    }

    #[test]
    fn icontains_on_both_backends() {
        let s = sql_for(Backend::Sqlite, &[("name__icontains", "50%_x")]);
        assert_eq!(s.text, "SELECT * FROM config_object WHERE kind = ? AND name LIKE ? ESCAPE '\\' ORDER BY id LIMIT ? OFFSET ?");
        assert_eq!(s.binds[1], Bind::Text("%50\\%\\_x%".into()));
        let p = sql_for(Backend::Postgres, &[("name__icontains", "ab")]);
        assert_eq!(p.text, "SELECT * FROM config_object WHERE kind = $1 AND name ILIKE $2 ESCAPE '\\' ORDER BY id LIMIT $3 OFFSET $4");
    }

    #[test]
    fn case_sensitive_contains_uses_glob_on_sqlite() {
        let s = sql_for(Backend::Sqlite, &[("name__startswith", "a*b")]);
        assert!(s.text.contains("name GLOB ?"));
        assert_eq!(s.binds[1], Bind::Text("a[*]b*".into()));
        let p = sql_for(Backend::Postgres, &[("name__startswith", "a")]);
        assert!(p.text.contains("name LIKE $2"));
    }

    #[test]
    fn json_fields_typed() {
        let s = sql_for(Backend::Postgres, &[("participant_limit__gte", "5"), ("allow_guests", "true"), ("service_type", "lecture")]);
        assert!(s.text.contains("((data::jsonb ->> 'participant_limit')::bigint) >= $2"), "{}", s.text);
        assert!(s.text.contains("(CASE WHEN (data::jsonb ->> 'allow_guests') = 'true' THEN 1 ELSE 0 END) = $3"));
        assert_eq!(s.binds[1..4], [Bind::Int(5), Bind::Int(1), Bind::Text("lecture".into())]);
        let l = sql_for(Backend::Sqlite, &[("service_type__in", "lecture,conference")]);
        assert!(l.text.contains("json_extract(data, '$.service_type') IN (?, ?)"));
    }

    #[test]
    fn paging_and_ordering() {
        let s = sql_for(Backend::Sqlite, &[("limit", "0"), ("offset", "40"), ("order_by", "-name")]);
        assert!(s.text.ends_with("ORDER BY name DESC, id LIMIT -1 OFFSET ?"), "{}", s.text);
        assert_eq!(*s.binds.last().unwrap(), Bind::Int(40));
    }

    #[test]
    fn bad_parameters_are_named() {
        let e = parse(&params(&[("nmae__icontains", "x"), ("name__fuzzy", "y"), ("limit", "-1"), ("participant_limit", "many"), ("pin__icontains", "")]), &columns).unwrap_err();
        assert!(e.0.contains_key("nmae__icontains"));
        assert!(e.0.contains_key("name__fuzzy"));
        assert!(e.0.contains_key("limit"));
        assert!(e.0.contains_key("participant_limit"));
        assert!(!e.0.contains_key("pin__icontains"));
        let e = parse(&params(&[("participant_limit__icontains", "1")]), &columns).unwrap_err();
        assert!(e.0.contains_key("participant_limit__icontains"));
    }

    #[test]
    fn references_filter_by_id_or_uri() {
        let s = sql_for(Backend::Sqlite, &[("system_location", "4")]);
        assert_eq!(s.binds[1], Bind::Text("/api/admin/configuration/v1/system_location/4/".into()));
    }
}
