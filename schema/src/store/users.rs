//! Administrator accounts (password hashes only) and dashboard login sessions.

use diesel::prelude::*;

use super::tables::admin_session::dsl as s;
use super::tables::admin_user::dsl as u;
use super::{Db, Result, on_conn};
use super::config::now_iso;

/// Stores (or replaces) `username`'s password hash.
pub fn set_password_hash(db: &Db, username: &str, hash: &str) -> Result<()> {
    db.transaction(|conn| {
        on_conn!(conn, c => diesel::delete(u::admin_user.filter(u::username.eq(username))).execute(*c))?;
        let now = now_iso();
        on_conn!(conn, c => diesel::insert_into(u::admin_user)
            .values((u::username.eq(username), u::password_hash.eq(hash), u::created.eq(&now)))
            .execute(*c))?;
        // A new password ends every session of the old one.
        on_conn!(conn, c => diesel::delete(s::admin_session.filter(s::username.eq(username))).execute(*c))?;
        Ok(())
    })
}

pub fn password_hash(db: &Db, username: &str) -> Result<Option<String>> {
    db.read(|conn| Ok(on_conn!(conn, c => u::admin_user
        .filter(u::username.eq(username))
        .select(u::password_hash)
        .first::<String>(*c)
        .optional())?))
}

pub fn user_count(db: &Db) -> Result<i64> {
    db.read(|conn| Ok(on_conn!(conn, c => u::admin_user.count().get_result::<i64>(*c))?))
}

#[derive(Debug, Clone, PartialEq, Queryable, Selectable)]
#[diesel(table_name = super::tables::admin_session)]
pub struct Session {
    pub id: String,
    pub username: String,
    pub csrf_token: String,
    pub expires: String,
}

pub fn create_session(db: &Db, session: &Session) -> Result<()> {
    db.transaction(|conn| {
        let now = now_iso();
        on_conn!(conn, c => diesel::delete(s::admin_session.filter(s::expires.lt(&now))).execute(*c))?;
        on_conn!(conn, c => diesel::insert_into(s::admin_session)
            .values((s::id.eq(&session.id), s::username.eq(&session.username), s::csrf_token.eq(&session.csrf_token), s::expires.eq(&session.expires)))
            .execute(*c))?;
        Ok(())
    })
}

/// The session with this id, unless it has expired.
pub fn session(db: &Db, id: &str) -> Result<Option<Session>> {
    let now = now_iso();
    db.read(|conn| Ok(on_conn!(conn, c => s::admin_session
        .filter(s::id.eq(id))
        .filter(s::expires.gt(&now))
        .select(Session::as_select())
        .first(*c)
        .optional())?))
}

pub fn delete_session(db: &Db, id: &str) -> Result<()> {
    db.transaction(|conn| {
        on_conn!(conn, c => diesel::delete(s::admin_session.filter(s::id.eq(id))).execute(*c))?;
        Ok(())
    })
}
