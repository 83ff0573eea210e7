//! Recurring schedules, RivetKit 2.3's `c.cron`: a job by name that calls an action on a cron
//! expression (five fields, in a time zone) or at a fixed interval, with a bounded history of
//! its fires. Jobs live in the actor's database next to the one-shot schedules and count
//! against the same limit; the earliest of both is the actor's alarm, so a job wakes a sleeping
//! actor. A fire that finds the job overdue (the actor slept through several occurrences) runs
//! once and moves the job to its next occurrence after now, as RivetKit does.

use std::str::FromStr as _;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use croner::Cron;
use rusqlite::{Connection, OptionalExtension, params};

use super::definition::ActionError;
use super::schedule::{MAX_SCHEDULE_ARGS_BYTES, MAX_SCHEDULES, pending_count};

/// The shortest interval of an `every` job (RivetKit's minimum).
pub(crate) const MIN_INTERVAL_MS: i64 = 5_000;
/// Fires a job keeps in its history unless told otherwise.
pub(crate) const DEFAULT_MAX_HISTORY: i64 = 100;
/// The most fires one job keeps, and the most `history` returns at once.
pub(crate) const MAX_HISTORY: i64 = 1_000;
/// Fires `history` returns when no limit is given.
const DEFAULT_HISTORY_LIMIT: i64 = 20;
/// The longest job name, in UTF-8 bytes.
const MAX_NAME_BYTES: usize = 128;
/// The longest action name, cron expression or time zone a job stores: each fire copies the
/// action into the history, so none of them may be large.
const MAX_FIELD_BYTES: usize = 256;
/// The longest error message a fire's history keeps (longer ones are cut).
const MAX_ERROR_BYTES: usize = 1024;
/// The longest interval: a century, so every time computed from it stays far from overflow.
const MAX_INTERVAL_MS: i64 = 100 * 366 * 24 * 3600 * 1000;

/// How often a job fires.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cadence {
    /// A five-field cron expression, read in an IANA time zone.
    Cron {
        expression: String,
        timezone: String,
    },
    /// Every `interval_ms` milliseconds, the first time one interval after it was set.
    Every { interval_ms: i64 },
}

/// A recurring job as `c.cron.get` and `c.cron.list` show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CronJob {
    pub name: String,
    pub action: String,
    /// Its arguments (a CBOR array).
    pub args: Vec<u8>,
    pub cadence: Cadence,
    /// When it fires next, in ms since the Unix epoch.
    pub next_run_at_ms: i64,
    /// When it last fired.
    pub last_run_at_ms: Option<i64>,
    pub max_history: i64,
}

/// How a fire ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FireResult {
    Ok,
    Error,
}

/// One fire of a job, as `c.cron.history` shows it (RivetKit's `CronFire`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CronFire {
    pub action: String,
    /// The occurrence it was for.
    pub scheduled_at_ms: i64,
    pub fired_at_ms: i64,
    pub finished_at_ms: i64,
    pub result: FireResult,
    /// The action's error: group, code, message.
    pub error: Option<(String, String, String)>,
}

/// A job whose time has come, taken by [`take_due`].
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct DueJob {
    pub(crate) name: String,
    pub(crate) action: String,
    pub(crate) args: Vec<u8>,
    /// `"cron"` or `"every"`, for RivetKit's `ScheduledFireInfo.kind`.
    pub(crate) kind: &'static str,
    pub(crate) scheduled_at_ms: i64,
    cadence: Cadence,
}

/// The tables, created with the actor's database.
pub(crate) const SCHEMA: &str = "
    CREATE TABLE IF NOT EXISTS _rivet_cron (
        name TEXT PRIMARY KEY,
        action TEXT NOT NULL,
        args BLOB NOT NULL,
        expression TEXT,
        timezone TEXT,
        interval_ms INTEGER,
        next_ms INTEGER NOT NULL,
        last_ms INTEGER,
        max_history INTEGER NOT NULL
    );
    CREATE TABLE IF NOT EXISTS _rivet_cron_history (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        name TEXT NOT NULL,
        action TEXT NOT NULL,
        scheduled_ms INTEGER NOT NULL,
        fired_ms INTEGER NOT NULL,
        finished_ms INTEGER NOT NULL,
        ok INTEGER NOT NULL,
        error_group TEXT,
        error_code TEXT,
        error_message TEXT
    );
    CREATE INDEX IF NOT EXISTS _rivet_cron_history_by_name ON _rivet_cron_history (name, id);";

/// Creates or replaces the job `name`. A job set again with the same cadence keeps its next
/// occurrence (so an `onWake` that sets its jobs every start does not push them back); a new
/// cadence starts from `now_ms`.
pub(crate) fn set(
    db: &Connection,
    name: &str,
    action: &str,
    args: &[u8],
    cadence: &Cadence,
    max_history: Option<i64>,
    now_ms: i64,
) -> Result<(), ActionError> {
    check_name(name)?;
    check_field("action name", action)?;
    if let Cadence::Cron {
        expression,
        timezone,
    } = cadence
    {
        check_field("cron expression", expression)?;
        check_field("time zone", timezone)?;
    }
    let max_history = check_max_history(max_history)?;
    if args.len() > MAX_SCHEDULE_ARGS_BYTES {
        return Err(invalid(format!(
            "a cron job's arguments are at most {MAX_SCHEDULE_ARGS_BYTES} bytes encoded"
        )));
    }
    let existing = get(db, name)?;
    if existing.is_none() && pending_count(db)? >= MAX_SCHEDULES {
        return Err(ActionError::new(
            "actor",
            "too_many_schedules",
            format!(
                "an actor holds at most {MAX_SCHEDULES} schedules and cron jobs together; delete some first"
            ),
        ));
    }
    let next_ms = match existing {
        Some(job) if job.cadence == *cadence => job.next_run_at_ms,
        _ => first_occurrence(cadence, now_ms)?,
    };
    let (expression, timezone, interval_ms) = match cadence {
        Cadence::Cron {
            expression,
            timezone,
        } => (Some(expression.as_str()), Some(timezone.as_str()), None),
        Cadence::Every { interval_ms } => (None, None, Some(*interval_ms)),
    };
    db.execute(
        "INSERT INTO _rivet_cron (name, action, args, expression, timezone, interval_ms, next_ms, max_history)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
         ON CONFLICT(name) DO UPDATE SET action = excluded.action, args = excluded.args,
             expression = excluded.expression, timezone = excluded.timezone,
             interval_ms = excluded.interval_ms, next_ms = excluded.next_ms,
             max_history = excluded.max_history",
        params![name, action, args, expression, timezone, interval_ms, next_ms, max_history],
    )?;
    prune(db, name, max_history)?;
    Ok(())
}

/// Removes the job `name` and its history; `false` if there was none.
pub(crate) fn delete(db: &Connection, name: &str) -> Result<bool, ActionError> {
    check_name(name)?;
    db.execute("DELETE FROM _rivet_cron_history WHERE name = ?1", [name])?;
    Ok(db.execute("DELETE FROM _rivet_cron WHERE name = ?1", [name])? > 0)
}

/// The job `name`, if any.
pub(crate) fn get(db: &Connection, name: &str) -> Result<Option<CronJob>, ActionError> {
    check_name(name)?;
    Ok(db
        .query_row(
            &format!("SELECT {JOB_COLUMNS} FROM _rivet_cron WHERE name = ?1"),
            [name],
            job,
        )
        .optional()?)
}

/// Every job, the next to fire first.
pub(crate) fn list(db: &Connection) -> Result<Vec<CronJob>, ActionError> {
    let mut statement = db.prepare(&format!(
        "SELECT {JOB_COLUMNS} FROM _rivet_cron ORDER BY next_ms, name"
    ))?;
    let jobs = statement.query_map([], job)?;
    Ok(jobs.collect::<Result<_, _>>()?)
}

/// The latest fires of `name`, newest first: `limit` of them (20 by default, at most 1 000).
pub(crate) fn history(
    db: &Connection,
    name: &str,
    limit: Option<i64>,
) -> Result<Vec<CronFire>, ActionError> {
    check_name(name)?;
    let limit = limit.unwrap_or(DEFAULT_HISTORY_LIMIT);
    if !(1..=MAX_HISTORY).contains(&limit) {
        return Err(invalid(format!(
            "a history limit is between 1 and {MAX_HISTORY}, not {limit}"
        )));
    }
    let mut statement = db.prepare(
        "SELECT action, scheduled_ms, fired_ms, finished_ms, ok, error_group, error_code, error_message
         FROM _rivet_cron_history WHERE name = ?1 ORDER BY id DESC LIMIT ?2",
    )?;
    let fires = statement.query_map(params![name, limit], |row| {
        let error = match row.get::<_, Option<String>>(5)? {
            Some(group) => Some((group, row.get(6)?, row.get(7)?)),
            None => None,
        };
        Ok(CronFire {
            action: row.get(0)?,
            scheduled_at_ms: row.get(1)?,
            fired_at_ms: row.get(2)?,
            finished_at_ms: row.get(3)?,
            result: if row.get::<_, bool>(4)? {
                FireResult::Ok
            } else {
                FireResult::Error
            },
            error,
        })
    })?;
    Ok(fires.collect::<Result<_, _>>()?)
}

/// The earliest job due at `now_ms`, if any.
pub(crate) fn take_due(db: &Connection, now_ms: i64) -> rusqlite::Result<Option<DueJob>> {
    db.query_row(
        &format!("SELECT {JOB_COLUMNS} FROM _rivet_cron WHERE next_ms <= ?1 ORDER BY next_ms, name LIMIT 1"),
        [now_ms],
        job,
    )
    .optional()
    .map(|job| {
        job.map(|job| DueJob {
            kind: match job.cadence {
                Cadence::Cron { .. } => "cron",
                Cadence::Every { .. } => "every",
            },
            name: job.name,
            action: job.action,
            args: job.args,
            scheduled_at_ms: job.next_run_at_ms,
            cadence: job.cadence,
        })
    })
}

/// Records that `due` fired at `fired_ms` and ended at `finished_ms` with `error` (if it
/// failed), and moves the job past `finished_ms`. The job is read again first: if the action
/// deleted it, nothing is recorded; if the action set it anew with another cadence, its new
/// next run stands; the history follows the job's `max_history` as it is now.
pub(crate) fn finish(
    db: &Connection,
    due: &DueJob,
    fired_ms: i64,
    finished_ms: i64,
    error: Option<&ActionError>,
) -> Result<(), ActionError> {
    let Some(job) = get(db, &due.name)? else {
        return Ok(());
    };
    if job.cadence == due.cadence && job.next_run_at_ms == due.scheduled_at_ms {
        advance(db, due, finished_ms)?;
    }
    db.execute(
        "UPDATE _rivet_cron SET last_ms = ?1 WHERE name = ?2",
        params![fired_ms, due.name],
    )?;
    if job.max_history > 0 {
        let message = error.map(|e| cut(&e.message, MAX_ERROR_BYTES));
        db.execute(
            "INSERT INTO _rivet_cron_history (name, action, scheduled_ms, fired_ms, finished_ms, ok, error_group, error_code, error_message)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            params![
                due.name,
                job.action,
                due.scheduled_at_ms,
                fired_ms,
                finished_ms,
                error.is_none(),
                error.map(|e| cut(&e.group, MAX_FIELD_BYTES)),
                error.map(|e| cut(&e.code, MAX_FIELD_BYTES)),
                message,
            ],
        )?;
    }
    prune(db, &due.name, job.max_history)?;
    Ok(())
}

/// Moves `due` to its first occurrence after `now_ms`, and nothing else: what is left when
/// its fire cannot be recorded (a full database still takes an update in place), so a job is
/// never left due. A job whose stored cadence no longer has an occurrence is removed.
pub(crate) fn advance(db: &Connection, due: &DueJob, now_ms: i64) -> Result<(), ActionError> {
    match next_after(&due.cadence, due.scheduled_at_ms, now_ms) {
        Ok(next) => {
            db.execute(
                "UPDATE _rivet_cron SET next_ms = ?1 WHERE name = ?2",
                params![next, due.name],
            )?;
        }
        Err(err) => {
            tracing::error!(job = %due.name, error = %err, "a cron job has no next occurrence; removing it");
            delete(db, &due.name)?;
        }
    }
    Ok(())
}

/// Removes the job `name` alone, its history left: the last resort when a due job cannot
/// even be moved on.
pub(crate) fn remove(db: &Connection, name: &str) -> rusqlite::Result<()> {
    db.execute("DELETE FROM _rivet_cron WHERE name = ?1", [name])?;
    Ok(())
}

/// `text` cut to at most `max` bytes, on a character boundary.
fn cut(text: &str, max: usize) -> &str {
    let mut end = text.len().min(max);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

const JOB_COLUMNS: &str =
    "name, action, args, expression, timezone, interval_ms, next_ms, last_ms, max_history";

fn job(row: &rusqlite::Row<'_>) -> rusqlite::Result<CronJob> {
    let cadence = match row.get::<_, Option<i64>>(5)? {
        Some(interval_ms) => Cadence::Every { interval_ms },
        None => Cadence::Cron {
            expression: row.get::<_, Option<String>>(3)?.unwrap_or_default(),
            timezone: row.get::<_, Option<String>>(4)?.unwrap_or_default(),
        },
    };
    Ok(CronJob {
        name: row.get(0)?,
        action: row.get(1)?,
        args: row.get(2)?,
        cadence,
        next_run_at_ms: row.get(6)?,
        last_run_at_ms: row.get(7)?,
        max_history: row.get(8)?,
    })
}

/// Keeps the newest `max_history` fires of `name`.
fn prune(db: &Connection, name: &str, max_history: i64) -> rusqlite::Result<()> {
    db.execute(
        "DELETE FROM _rivet_cron_history WHERE name = ?1 AND id NOT IN
             (SELECT id FROM _rivet_cron_history WHERE name = ?1 ORDER BY id DESC LIMIT ?2)",
        params![name, max_history],
    )?;
    Ok(())
}

/// The first time a job set at `now_ms` fires.
fn first_occurrence(cadence: &Cadence, now_ms: i64) -> Result<i64, ActionError> {
    match cadence {
        Cadence::Every { interval_ms } => {
            check_interval(*interval_ms)?;
            Ok(now_ms.saturating_add(*interval_ms))
        }
        Cadence::Cron {
            expression,
            timezone,
        } => next_cron(expression, timezone, now_ms),
    }
}

/// The first occurrence after `now_ms` of a job that was due at `scheduled_ms`. An interval
/// keeps its phase: it skips the occurrences it missed rather than restarting from now.
fn next_after(cadence: &Cadence, scheduled_ms: i64, now_ms: i64) -> Result<i64, ActionError> {
    match cadence {
        Cadence::Every { interval_ms } => {
            check_interval(*interval_ms)?;
            let missed = now_ms.saturating_sub(scheduled_ms).max(0) / interval_ms;
            Ok(scheduled_ms.saturating_add(interval_ms.saturating_mul(missed + 1)))
        }
        Cadence::Cron {
            expression,
            timezone,
        } => next_cron(expression, timezone, now_ms),
    }
}

fn check_interval(interval_ms: i64) -> Result<(), ActionError> {
    if !(MIN_INTERVAL_MS..=MAX_INTERVAL_MS).contains(&interval_ms) {
        return Err(invalid(format!(
            "a cron job's interval is {MIN_INTERVAL_MS} ms to a century, not {interval_ms}"
        )));
    }
    Ok(())
}

fn check_field(what: &str, value: &str) -> Result<(), ActionError> {
    if value.len() > MAX_FIELD_BYTES {
        return Err(invalid(format!(
            "a cron job's {what} is at most {MAX_FIELD_BYTES} bytes"
        )));
    }
    Ok(())
}

/// The first occurrence of `expression` in `timezone` strictly after `after_ms`. A wall time
/// that does not exist (inside a daylight-saving gap) is skipped, not moved.
fn next_cron(expression: &str, timezone: &str, after_ms: i64) -> Result<i64, ActionError> {
    if expression.split_whitespace().count() != 5 {
        return Err(invalid(format!(
            "a cron expression has five fields (minute hour day-of-month month day-of-week): `{expression}`"
        )));
    }
    let cron = Cron::from_str(expression)
        .map_err(|e| invalid(format!("cron expression `{expression}`: {e}")))?;
    let zone: Tz = timezone.parse().map_err(|_| {
        invalid(format!(
            "unknown time zone `{timezone}` (an IANA name such as `Europe/Paris`)"
        ))
    })?;
    let mut cursor = DateTime::<Utc>::from_timestamp_millis(after_ms)
        .ok_or_else(|| invalid("the time is out of range"))?
        .with_timezone(&zone);
    // Bounded: a gap is at most a few hours, so a handful of steps always finds a real time.
    for _ in 0..8 {
        let next = cron
            .find_next_occurrence(&cursor, false)
            .map_err(|e| invalid(format!("cron expression `{expression}`: {e}")))?;
        if cron.is_time_matching(&next).unwrap_or(false) {
            return Ok(next.timestamp_millis());
        }
        cursor = next;
    }
    Err(invalid(format!(
        "cron expression `{expression}` has no occurrence in `{timezone}`"
    )))
}

fn check_name(name: &str) -> Result<(), ActionError> {
    if name.is_empty() || name.len() > MAX_NAME_BYTES {
        return Err(invalid(format!(
            "a cron job's name is 1 to {MAX_NAME_BYTES} bytes"
        )));
    }
    Ok(())
}

fn check_max_history(max_history: Option<i64>) -> Result<i64, ActionError> {
    let max_history = max_history.unwrap_or(DEFAULT_MAX_HISTORY);
    if !(0..=MAX_HISTORY).contains(&max_history) {
        return Err(invalid(format!(
            "maxHistory is between 0 and {MAX_HISTORY}, not {max_history}"
        )));
    }
    Ok(max_history)
}

fn invalid(message: impl Into<String>) -> ActionError {
    ActionError::new("actor", "invalid_cron", message.into())
}

#[cfg(test)]
mod tests;
