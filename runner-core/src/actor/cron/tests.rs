use chrono::TimeZone as _;

use super::*;

fn db() -> Connection {
    let db = Connection::open_in_memory().unwrap();
    db.execute_batch(
        "CREATE TABLE _rivet_schedule (id INTEGER PRIMARY KEY AUTOINCREMENT, at_ms INTEGER NOT NULL, action TEXT NOT NULL, args BLOB NOT NULL);",
    )
    .unwrap();
    db.execute_batch(SCHEMA).unwrap();
    db
}

fn cron(expression: &str, timezone: &str) -> Cadence {
    Cadence::Cron {
        expression: expression.into(),
        timezone: timezone.into(),
    }
}

fn every(interval_ms: i64) -> Cadence {
    Cadence::Every { interval_ms }
}

fn utc_ms(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> i64 {
    Utc.with_ymd_and_hms(y, mo, d, h, mi, 0)
        .unwrap()
        .timestamp_millis()
}

#[test]
fn an_expression_fires_at_its_next_wall_time_in_its_zone() {
    // 09:00 in New York on 15 January is 14:00 UTC (EST, UTC-5).
    let at = next_cron("0 9 * * *", "America/New_York", utc_ms(2026, 1, 15, 0, 0)).unwrap();
    assert_eq!(at, utc_ms(2026, 1, 15, 14, 0));
    // In July it is 13:00 UTC (EDT, UTC-4); strictly after: at 13:00 exactly, the next day.
    let summer = utc_ms(2026, 7, 1, 13, 0);
    assert_eq!(
        next_cron("0 9 * * *", "America/New_York", summer).unwrap(),
        utc_ms(2026, 7, 2, 13, 0)
    );
    // Every 15 minutes, UTC by default through `set`.
    assert_eq!(
        next_cron("*/15 * * * *", "UTC", utc_ms(2026, 1, 1, 10, 7)).unwrap(),
        utc_ms(2026, 1, 1, 10, 15)
    );
}

#[test]
fn a_wall_time_inside_a_daylight_saving_gap_is_skipped() {
    // New York springs forward at 02:00 on 8 March 2026: 02:30 does not exist that day, so the
    // next 02:30 is on 9 March (EDT, 06:30 UTC), not 03:00 on the 8th.
    let midnight = utc_ms(2026, 3, 8, 5, 0);
    assert_eq!(
        next_cron("30 2 * * *", "America/New_York", midnight).unwrap(),
        utc_ms(2026, 3, 9, 6, 30)
    );
}

#[test]
fn bad_cadences_names_and_limits_are_refused_with_invalid_cron() {
    let db = db();
    let refused = |name: &str, cadence: Cadence, max_history: Option<i64>| {
        set(&db, name, "tick", b"\x80", &cadence, max_history, 0)
            .unwrap_err()
            .code
    };
    assert_eq!(
        refused("j", cron("0 0 * * * *", "UTC"), None),
        "invalid_cron"
    );
    assert_eq!(
        refused("j", cron("61 * * * *", "UTC"), None),
        "invalid_cron"
    );
    assert_eq!(
        refused("j", cron("0 9 * * *", "Mars/Olympus"), None),
        "invalid_cron"
    );
    assert_eq!(
        refused("j", every(MIN_INTERVAL_MS - 1), None),
        "invalid_cron"
    );
    assert_eq!(refused("", every(MIN_INTERVAL_MS), None), "invalid_cron");
    assert_eq!(
        refused(&"n".repeat(129), every(MIN_INTERVAL_MS), None),
        "invalid_cron"
    );
    assert_eq!(
        refused("j", every(MIN_INTERVAL_MS), Some(1001)),
        "invalid_cron"
    );
    assert_eq!(
        refused("j", every(MIN_INTERVAL_MS), Some(-1)),
        "invalid_cron"
    );
    assert!(list(&db).unwrap().is_empty(), "nothing refused was stored");
    assert_eq!(history(&db, "j", Some(0)).unwrap_err().code, "invalid_cron");
}

#[test]
fn jobs_are_set_listed_replaced_and_deleted_by_name() {
    let db = db();
    set(
        &db,
        "tick",
        "tick",
        b"\x81\x01",
        &every(10_000),
        None,
        1_000,
    )
    .unwrap();
    set(
        &db,
        "daily",
        "report",
        b"\x80",
        &cron("0 9 * * *", "Europe/Paris"),
        Some(5),
        0,
    )
    .unwrap();
    let tick = get(&db, "tick").unwrap().unwrap();
    assert_eq!(
        (tick.next_run_at_ms, tick.max_history),
        (11_000, DEFAULT_MAX_HISTORY)
    );
    assert_eq!(tick.args, b"\x81\x01");
    let names: Vec<_> = list(&db).unwrap().into_iter().map(|j| j.name).collect();
    assert_eq!(names, ["tick", "daily"], "the next to fire first");

    // The same cadence set again (as an onWake does every start) keeps its next occurrence;
    // a new cadence starts from now.
    set(&db, "tick", "tock", b"\x80", &every(10_000), None, 9_000).unwrap();
    let again = get(&db, "tick").unwrap().unwrap();
    assert_eq!(
        (again.next_run_at_ms, again.action.as_str()),
        (11_000, "tock")
    );
    set(&db, "tick", "tock", b"\x80", &every(20_000), None, 9_000).unwrap();
    assert_eq!(get(&db, "tick").unwrap().unwrap().next_run_at_ms, 29_000);

    assert!(delete(&db, "tick").unwrap());
    assert!(
        !delete(&db, "tick").unwrap(),
        "a second delete finds nothing"
    );
    assert_eq!(get(&db, "tick").unwrap(), None);
}

#[test]
fn a_due_job_fires_once_keeps_its_phase_and_records_its_fires() {
    let db = db();
    set(&db, "tick", "tick", b"\x80", &every(5_000), Some(2), 0).unwrap();
    assert_eq!(super::super::schedule::next_due(&db).unwrap(), Some(5_000));
    assert_eq!(take_due(&db, 4_999).unwrap(), None);
    // Asleep through three occurrences (5 s, 10 s, 15 s): one fire, then the next on the grid.
    let due = take_due(&db, 17_000).unwrap().unwrap();
    assert_eq!((due.scheduled_at_ms, due.kind), (5_000, "every"));
    finish(&db, &due, 17_000, 17_002, None).unwrap();
    let job = get(&db, "tick").unwrap().unwrap();
    assert_eq!(
        (job.next_run_at_ms, job.last_run_at_ms),
        (20_000, Some(17_000))
    );

    let due = take_due(&db, 20_000).unwrap().unwrap();
    let error = ActionError::new("user", "boom", "it broke");
    finish(&db, &due, 20_000, 20_001, Some(&error)).unwrap();
    let due = take_due(&db, 25_000).unwrap().unwrap();
    finish(&db, &due, 25_000, 25_001, None).unwrap();

    let fires = history(&db, "tick", None).unwrap();
    assert_eq!(fires.len(), 2, "maxHistory 2 keeps the newest two");
    assert_eq!(
        (fires[0].fired_at_ms, fires[0].result),
        (25_000, FireResult::Ok)
    );
    assert_eq!(fires[1].result, FireResult::Error);
    assert_eq!(
        fires[1].error,
        Some(("user".into(), "boom".into(), "it broke".into()))
    );
    assert_eq!(history(&db, "tick", Some(1)).unwrap().len(), 1);
}

#[test]
fn no_history_is_kept_with_max_history_zero_and_delete_clears_it() {
    let db = db();
    set(&db, "quiet", "tick", b"\x80", &every(5_000), Some(0), 0).unwrap();
    let due = take_due(&db, 5_000).unwrap().unwrap();
    finish(&db, &due, 5_000, 5_000, None).unwrap();
    assert!(history(&db, "quiet", None).unwrap().is_empty());

    set(&db, "loud", "tick", b"\x80", &every(5_000), None, 0).unwrap();
    let due = take_due(&db, 5_000).unwrap().unwrap();
    finish(&db, &due, 5_000, 5_000, None).unwrap();
    assert_eq!(history(&db, "loud", None).unwrap().len(), 1);
    delete(&db, "loud").unwrap();
    assert!(history(&db, "loud", None).unwrap().is_empty());
}

#[test]
fn jobs_and_one_shot_schedules_share_one_limit() {
    let db = db();
    for i in 0..MAX_SCHEDULES - 1 {
        super::super::schedule::insert(&db, i, "a", b"\x80").unwrap();
    }
    set(&db, "last", "tick", b"\x80", &every(5_000), None, 0).unwrap();
    let err = set(&db, "more", "tick", b"\x80", &every(5_000), None, 0).unwrap_err();
    assert_eq!(err.code, "too_many_schedules");
    let err = super::super::schedule::insert(&db, 0, "a", b"\x80").unwrap_err();
    assert_eq!(err.code, "too_many_schedules");
    // Replacing a job that exists adds nothing.
    set(&db, "last", "tock", b"\x80", &every(6_000), None, 0).unwrap();
    // The alarm is the earliest of both kinds.
    assert_eq!(super::super::schedule::next_due(&db).unwrap(), Some(0));
}

#[test]
fn a_fire_that_deleted_or_reset_its_own_job_leaves_the_action_s_word_standing() {
    let db = db();
    // Deleted by its own action: nothing is recorded, no history row is left behind.
    set(&db, "once", "tick", b"\x80", &every(5_000), None, 0).unwrap();
    let due = take_due(&db, 5_000).unwrap().unwrap();
    delete(&db, "once").unwrap();
    finish(&db, &due, 5_000, 5_001, None).unwrap();
    assert_eq!(get(&db, "once").unwrap(), None);
    let rows: i64 = db
        .query_row("SELECT COUNT(*) FROM _rivet_cron_history", [], |r| r.get(0))
        .unwrap();
    assert_eq!(rows, 0);

    // Set anew with another cadence and history size: the new next run and size stand.
    set(&db, "slow", "tick", b"\x80", &every(5_000), None, 0).unwrap();
    let due = take_due(&db, 5_000).unwrap().unwrap();
    set(&db, "slow", "tick", b"\x80", &every(60_000), Some(0), 5_000).unwrap();
    finish(&db, &due, 5_000, 5_001, None).unwrap();
    let job = get(&db, "slow").unwrap().unwrap();
    assert_eq!(
        (job.next_run_at_ms, job.last_run_at_ms),
        (65_000, Some(5_000))
    );
    assert!(
        history(&db, "slow", None).unwrap().is_empty(),
        "maxHistory 0 now"
    );
}

#[test]
fn what_a_job_stores_is_bounded() {
    let db = db();
    let long = "x".repeat(257);
    let refused = set(&db, "j", &long, b"\x80", &every(5_000), None, 0).unwrap_err();
    assert_eq!(refused.code, "invalid_cron");
    let zone = cron("0 9 * * *", &long);
    assert_eq!(
        set(&db, "j", "tick", b"\x80", &zone, None, 0)
            .unwrap_err()
            .code,
        "invalid_cron"
    );
    let century = every(MAX_INTERVAL_MS + 1);
    assert_eq!(
        set(&db, "j", "tick", b"\x80", &century, None, 0)
            .unwrap_err()
            .code,
        "invalid_cron"
    );

    // An error message is kept cut to 1 KiB (on a character boundary).
    set(&db, "j", "tick", b"\x80", &every(5_000), None, 0).unwrap();
    let due = take_due(&db, 5_000).unwrap().unwrap();
    let error = ActionError::new("user", "boom", "é".repeat(10_000));
    finish(&db, &due, 5_000, 5_000, Some(&error)).unwrap();
    let (_, _, message) = history(&db, "j", None).unwrap()[0].error.clone().unwrap();
    assert!(message.len() <= MAX_ERROR_BYTES && message.len() >= MAX_ERROR_BYTES - 1);

    // A job moved on without a record (what is left when recording fails) is no longer due.
    let due = take_due(&db, 10_000).unwrap().unwrap();
    advance(&db, &due, 10_000).unwrap();
    assert_eq!(take_due(&db, 10_000).unwrap(), None);
}
