//! Tastypie `schema/` documents, generated from the same descriptors that validate requests.

use convene_schema::descriptor::{Field, Kind, Resource};
use convene_schema::store::config;
use convene_schema::validate;
use serde_json::{Map, Value, json};

/// Filter operators offered for a field, or `None` when it cannot be filtered on.
pub fn filters_for(res: &'static Resource, field: &Field) -> Option<Vec<&'static str>> {
    let (column, _) = config::column_of(res)(field.name)?;
    let textual = match column {
        convene_schema::store::query::Column::Plain { int, .. } => !int,
        convene_schema::store::query::Column::Json { ty, .. } => ty == convene_schema::store::query::JsonTy::Text,
    };
    Some(if textual && !matches!(field.kind, Kind::Ref(_)) {
        vec!["exact", "iexact", "contains", "icontains", "startswith", "istartswith", "endswith", "iendswith", "gt", "gte", "lt", "lte", "in", "isnull"]
    } else {
        vec!["exact", "gt", "gte", "lt", "lte", "in", "isnull"]
    })
}

pub fn tastypie_schema(res: &'static Resource) -> Value {
    let mut fields = Map::new();
    let mut filtering = Map::new();
    let mut ordering = vec![Value::from("id")];
    fields.insert("id".into(), json!({"type": "integer", "readonly": true, "nullable": false, "blank": false, "unique": true, "help_text": "Integer id of this object.", "default": null}));
    fields.insert("resource_uri".into(), json!({"type": "string", "readonly": true, "nullable": false, "blank": false, "unique": true, "help_text": "The URI of this object.", "default": null}));
    for f in res.fields {
        let mut d = json!({
            "type": f.type_name(),
            "readonly": f.readonly,
            "nullable": f.nullable,
            "blank": !f.required,
            "unique": f.name == res.key && res.key_unique,
            "help_text": f.help,
            "default": if matches!(f.kind, Kind::Secret { .. }) { Value::Null } else { validate::default_value(f) },
        });
        match f.kind {
            Kind::Choice(values) => d["valid_choices"] = json!(values),
            Kind::Int { min, max } => {
                d["min_value"] = json!(min);
                d["max_value"] = json!(max);
            }
            Kind::Str { max } | Kind::Text { max } | Kind::Template { max } | Kind::Secret { max } => d["max_length"] = json!(max),
            Kind::Ref(target) | Kind::RefList(target) => {
                d["related_type"] = json!(if matches!(f.kind, Kind::Ref(_)) { "to_one" } else { "to_many" });
                d["related_schema"] = json!(format!("{}{target}/schema/", convene_schema::descriptor::CONFIG_PREFIX));
            }
            Kind::Aliases => d["related_type"] = json!("to_many"),
            _ => {}
        }
        if let Some(ops) = filters_for(res, f) {
            filtering.insert(f.name.into(), json!(ops));
            ordering.push(Value::from(f.name));
        }
        fields.insert(f.name.into(), d);
    }
    filtering.insert("id".into(), json!(["exact", "gt", "gte", "lt", "lte", "in"]));
    let (list_methods, detail_methods) = if res.singleton {
        (json!(["get"]), json!(["get", "put", "patch"]))
    } else {
        (json!(["get", "post", "patch", "delete"]), json!(["get", "put", "patch", "delete"]))
    };
    json!({
        "allowed_list_http_methods": list_methods,
        "allowed_detail_http_methods": detail_methods,
        "default_format": "application/json",
        "default_limit": convene_schema::store::query::DEFAULT_LIMIT,
        "fields": fields,
        "filtering": filtering,
        "ordering": ordering,
    })
}
