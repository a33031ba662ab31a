DROP INDEX config_object_kind_id;
