DROP TABLE admin_session;
DROP TABLE admin_user;
DROP TABLE history_record;
DROP TABLE config_object;
