//! The audit log's hash chain; every case runs on SQLite and on PostgreSQL (see `common`).

mod common;

use sea_orm::ConnectionTrait;
use vision_db::{AuditFilter, Db, NewAuditEntry};

backend_tests!(
    concurrent_appends_make_one_unbroken_chain,
    appends_are_committed_in_groups_and_callers_that_leave_abandon_no_one,
    a_changed_or_removed_entry_breaks_the_chain,
);

fn entry(i: usize) -> NewAuditEntry {
    NewAuditEntry {
        actor: format!("key:{i}"),
        role: Some("admin".into()),
        ip: Some("127.0.0.1".into()),
        request_id: format!("r{i}"),
        operation: "mutation uploadImage".into(),
        outcome: "OK".into(),
        detail: None,
    }
}

async fn concurrent_appends_make_one_unbroken_chain(db: Db) {
    let writers: Vec<_> = (0..20)
        .map(|i| {
            let db = db.clone();
            tokio::spawn(async move { db.append_audit(entry(i)).await.unwrap() })
        })
        .collect();
    for writer in writers {
        writer.await.unwrap();
    }
    let verification = db.verify_audit_log().await.unwrap();
    assert_eq!(verification.entries, 20);
    assert_eq!(verification.broken, None);
    let all = db
        .audit_log(&AuditFilter {
            limit: 100,
            ..Default::default()
        })
        .await
        .unwrap();
    let seqs: Vec<i64> = all.iter().map(|e| e.seq).collect();
    assert_eq!(seqs, (1..=20).rev().collect::<Vec<_>>());
    let mine = db
        .audit_log(&AuditFilter {
            actor: Some("key:3".into()),
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(mine.len(), 1);
}

async fn a_changed_or_removed_entry_breaks_the_chain(db: Db) {
    for i in 0..5 {
        db.append_audit(entry(i)).await.unwrap();
    }
    assert_eq!(db.verify_audit_log().await.unwrap().broken, None);
    let conn = db.conn();
    conn.execute_unprepared("UPDATE audit_log SET outcome = 'FORBIDDEN' WHERE seq = 3")
        .await
        .unwrap();
    let verification = db.verify_audit_log().await.unwrap();
    assert_eq!(
        verification.broken.as_ref().map(|b| b.0),
        Some(3),
        "{verification:?}"
    );
    assert_eq!(verification.entries, 2);
    conn.execute_unprepared("UPDATE audit_log SET outcome = 'OK' WHERE seq = 3")
        .await
        .unwrap();
    assert_eq!(db.verify_audit_log().await.unwrap().broken, None);
    conn.execute_unprepared("DELETE FROM audit_log WHERE seq = 2")
        .await
        .unwrap();
    let verification = db.verify_audit_log().await.unwrap();
    assert_eq!(
        verification.broken.as_ref().map(|b| b.0),
        Some(3),
        "{verification:?}"
    );
    assert!(verification.broken.unwrap().1.contains("missing"));
}

async fn appends_are_committed_in_groups_and_callers_that_leave_abandon_no_one(db: Db) {
    let writers: Vec<_> = (0..300)
        .map(|i| {
            let db = db.clone();
            tokio::spawn(async move { (i, db.append_audit(entry(i)).await.unwrap()) })
        })
        .collect();
    // Callers going away mid-append (a client disconnecting): one in six.
    for (i, w) in writers.iter().enumerate() {
        if i % 6 == 5 {
            w.abort();
        }
    }
    let mut answered = 0;
    for writer in writers {
        if let Ok((i, row)) = writer.await {
            // Each caller gets its own entry back.
            assert_eq!(row.request_id, format!("r{i}"));
            answered += 1;
        }
    }
    assert!(answered >= 250, "{answered}");
    let verification = db.verify_audit_log().await.unwrap();
    assert_eq!(verification.broken, None);
    let all = db
        .audit_log(&AuditFilter {
            limit: 1_000,
            ..Default::default()
        })
        .await
        .unwrap();
    // Every answered caller's entry is there (and maybe some of those who left).
    assert!(all.len() >= answered && all.len() <= 300, "{}", all.len());
    let seqs: Vec<i64> = all.iter().map(|e| e.seq).collect();
    assert_eq!(seqs, (1..=all.len() as i64).rev().collect::<Vec<_>>());
    // A group shares its commit's time: fewer times than entries means groups were written.
    let mut times: Vec<_> = all.iter().map(|e| e.at).collect();
    times.dedup();
    assert!(
        times.len() < all.len() / 2,
        "{} times for {} entries",
        times.len(),
        all.len()
    );
}
