-- Pages of one resource in id order come straight from this index (the default list order).
CREATE INDEX config_object_kind_id ON config_object (kind, id);
