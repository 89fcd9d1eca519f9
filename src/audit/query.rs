//! Reading the system log: which events a filter selects, and paging through them.
//!
//! Events come oldest first, in the order they were written (the table's `seq`, which is
//! time order for a clock that does not go back). A page ends with a [`Cursor`], the last
//! row's sequence number; the next page is the events written after it. New events only
//! ever land after every cursor already handed out, so following cursors sees each event
//! exactly once, even while the log grows.
//!
//! Every filter is a SQL condition. Each text filter has an index (`db.rs`, migration 2)
//! that SQLite walks in `seq` order from the cursor, stopping after one page, so neither the
//! log's size nor the page's position makes such a page slower.

use super::event::{AuditEvent, Outcome};
use rusqlite::types::Value;
use std::fmt;
use std::str::FromStr;

/// Events on a page unless the caller asks for another size.
pub const DEFAULT_PAGE_SIZE: usize = 100;

/// The most events one page holds.
pub const MAX_PAGE_SIZE: usize = 1000;

/// Which events to read. Every field that is set must match (they combine with AND); the
/// default selects every event. String filters compare exactly (case-sensitive), as the
/// status details are exact strings that admins search for.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AuditFilter {
    /// Events at or after this time, Unix milliseconds (inclusive).
    pub since_ms: Option<i64>,
    /// Events before this time, Unix milliseconds (exclusive), so that consecutive ranges
    /// `[a, b)`, `[b, c)` never share an event.
    pub until_ms: Option<i64>,
    /// The identity the token was requested for (the event's `user`, a `sub`).
    pub user: Option<String>,
    /// The client that made the request (its id at the issuer).
    pub client: Option<String>,
    /// The system: the requested audience.
    pub system: Option<String>,
    /// Granted or denied.
    pub outcome: Option<Outcome>,
    /// The status detail, e.g. `No grant for the scope` or `Granted (narrowed)`.
    pub status_detail: Option<String>,
    /// The HTTP request the event records (the response's `x-request-id`).
    pub request_id: Option<String>,
}

impl AuditFilter {
    /// Whether `event` is one this filter selects: the same rule the SQL applies.
    pub fn matches(&self, event: &AuditEvent) -> bool {
        let same = |want: &Option<String>, have: Option<&str>| {
            want.as_deref().is_none_or(|w| have == Some(w))
        };
        self.since_ms.is_none_or(|t| event.time_ms >= t)
            && self.until_ms.is_none_or(|t| event.time_ms < t)
            && same(&self.user, event.user.as_deref())
            && same(&self.client, event.client.as_deref())
            && same(&self.system, event.system.as_deref())
            && self.outcome.is_none_or(|o| event.outcome == o)
            && same(&self.status_detail, Some(&event.status_detail))
            && same(&self.request_id, Some(&event.request_id))
    }

    /// The `WHERE` clause (starting with ` WHERE`, or empty) and its parameters (`?1`,
    /// `?2`, … in order), for the rows after `after` and up to `up_to`.
    pub(super) fn to_sql(
        &self,
        after: Option<Cursor>,
        up_to: Option<Cursor>,
    ) -> (String, Vec<Value>) {
        let mut conditions: Vec<String> = Vec::new();
        let mut params: Vec<Value> = Vec::new();
        let mut add = |condition: &str, value: Value| {
            params.push(value);
            conditions.push(format!("{condition} ?{}", params.len()));
        };
        let text = |s: &String| Value::Text(s.clone());
        if let Some(c) = after {
            add("seq >", Value::Integer(c.0));
        }
        if let Some(c) = up_to {
            add("seq <=", Value::Integer(c.0));
        }
        if let Some(t) = self.since_ms {
            add("time_ms >=", Value::Integer(t));
        }
        if let Some(t) = self.until_ms {
            add("time_ms <", Value::Integer(t));
        }
        if let Some(v) = &self.request_id {
            add("request_id =", text(v));
        }
        if let Some(v) = &self.user {
            add("user =", text(v));
        }
        if let Some(v) = &self.client {
            add("client =", text(v));
        }
        if let Some(v) = &self.system {
            add("system =", text(v));
        }
        if let Some(v) = &self.status_detail {
            add("status_detail =", text(v));
        }
        if let Some(o) = self.outcome {
            add("outcome =", Value::Text(o.as_str().to_owned()));
        }
        let clause = if conditions.is_empty() {
            String::new()
        } else {
            format!(" WHERE {}", conditions.join(" AND "))
        };
        (clause, params)
    }
}

/// Where a page ended: pass it back to read the events written after it. Opaque to
/// clients: as text it is the last row's sequence number today, which may change.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Cursor(pub(super) i64);

impl fmt::Display for Cursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// A cursor that is not one this log hands out.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("not a cursor from a page of this log")]
pub struct InvalidCursor;

impl FromStr for Cursor {
    type Err = InvalidCursor;

    /// The text of [`Cursor`]'s `Display`: decimal digits only (no sign, no spaces).
    fn from_str(s: &str) -> Result<Self, InvalidCursor> {
        if s.is_empty() || s.len() > 19 || !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(InvalidCursor);
        }
        s.parse().map(Self).map_err(|_| InvalidCursor)
    }
}

/// One page of events, oldest first.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AuditPage {
    /// The events.
    pub events: Vec<AuditEvent>,
    /// Where to continue; `None` when no matching event was written after this page (at
    /// the time of reading: a later read from the last cursor finds events written since).
    pub next: Option<Cursor>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cursor_round_trips_as_text_and_anything_else_is_refused() {
        let c = Cursor(1234);
        assert_eq!(c.to_string().parse::<Cursor>(), Ok(c));
        for bad in [
            "",
            "-1",
            "+1",
            " 1",
            "1 ",
            "abc",
            "1e3",
            "99999999999999999999",
            "9223372036854775808",
        ] {
            assert_eq!(bad.parse::<Cursor>(), Err(InvalidCursor), "{bad:?}");
        }
        assert_eq!(
            "9223372036854775807".parse::<Cursor>(),
            Ok(Cursor(i64::MAX))
        );
    }

    #[test]
    fn an_empty_filter_has_no_where_clause_and_every_filter_binds_its_value() {
        assert_eq!(
            AuditFilter::default().to_sql(None, None),
            (String::new(), vec![])
        );
        let filter = AuditFilter {
            since_ms: Some(1),
            until_ms: Some(2),
            user: Some("alice".into()),
            client: Some("agent".into()),
            system: Some("https://as.example".into()),
            outcome: Some(Outcome::Denied),
            status_detail: Some("Server paused".into()),
            request_id: Some("r1".into()),
        };
        let (clause, params) = filter.to_sql(Some(Cursor(7)), Some(Cursor(9)));
        assert_eq!(
            clause,
            " WHERE seq > ?1 AND seq <= ?2 AND time_ms >= ?3 AND time_ms < ?4 AND request_id = ?5 \
             AND user = ?6 AND client = ?7 AND system = ?8 AND status_detail = ?9 \
             AND outcome = ?10"
        );
        assert_eq!(params.len(), 10);
        assert_eq!(params[9], Value::Text("denied".into()));
    }
}
