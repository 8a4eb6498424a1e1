//! The registry against SQLite and the local PostgreSQL, with a local object store: versions,
//! every refusal leaving no row and no object, aliases and their history, the bundle import.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use vision_core::ObjectStore;
use vision_core::objects::LocalStore;
use vision_db::Db;
use vision_db::entities::model_versions::ModelRole;
use vision_inference::{Manifest, RuntimeKind};
use vision_registry::{
    ARCHIVED, PRODUCTION, Registration, Registry, RegistryError, RegistryLimits, STAGING,
    import_bundle,
};
use vision_testkit::bundle::{self as testkit, CIFAR10_CLASSES};

struct Rig {
    registry: Registry,
    db: Db,
    objects: PathBuf,
    bundle: PathBuf,
    manifest: Manifest,
    _dir: tempfile::TempDir,
}

async fn rig(database: &str) -> Rig {
    let dir = tempfile::tempdir().unwrap();
    let bundle = dir.path().join("bundle");
    let manifest = testkit::write_bundle(&bundle, 16).unwrap();
    let url = match database {
        "sqlite" => format!("sqlite://{}?mode=rwc", dir.path().join("r.db").display()),
        _ => vision_testkit::postgres::fresh_database("vision_registry").await,
    };
    let db = Db::connect(&url).await.unwrap();
    let objects = dir.path().join("objects");
    let store: Arc<dyn ObjectStore> = Arc::new(LocalStore::new(&objects).unwrap());
    let classes: Arc<[String]> = CIFAR10_CLASSES.map(String::from).to_vec().into();
    let registry = Registry::new(db.clone(), store, RuntimeKind::Tract, classes);
    Rig {
        registry,
        db,
        objects,
        bundle,
        manifest,
        _dir: dir,
    }
}

fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut dirs = vec![dir.to_path_buf()];
    while let Some(d) = dirs.pop() {
        for entry in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                dirs.push(path);
            } else {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

fn head(name: &str, bytes: Vec<u8>) -> Registration {
    Registration {
        name: name.into(),
        role: ModelRole::Classifier,
        bytes: Bytes::from(bytes),
        label: None,
        extractor_label: None,
        metrics: None,
        card: None,
        lineage: None,
        registered_by: "test".into(),
    }
}

async fn imported(database: &str) -> Rig {
    let rig = rig(database).await;
    let registered = import_bundle(&rig.registry, &rig.manifest, &rig.bundle)
        .await
        .unwrap();
    assert_eq!(registered.len(), 4, "{registered:?}");
    rig
}

async fn registers_checks_and_refuses(database: &str) {
    let rig = imported(database).await;
    let versions = rig.registry.versions(None).await.unwrap();
    let labels: Vec<(&str, i32, &str)> = versions
        .iter()
        .map(|v| (v.name.as_str(), v.version, v.label.as_str()))
        .collect();
    assert_eq!(
        labels,
        [
            ("accurate", 1, "accurate-test-v1"),
            ("balanced", 1, "balanced-test-v1"),
            ("extractor", 1, "extractor-test-v1"),
            ("fast", 1, "fast-test-v1"),
        ]
    );
    let fast = &versions[3];
    assert_eq!(fast.input_shape, serde_json::json!([null, 3]));
    assert_eq!(fast.output_shape, serde_json::json!([null, 10]));
    assert_eq!(fast.extractor_label.as_deref(), Some("extractor-test-v1"));
    assert_eq!(fast.artifact_key, "models/fast/1.onnx");
    let extractor = &versions[2];
    assert_eq!(
        (extractor.input_size, extractor.descriptor_dim),
        (Some(16), 3)
    );
    // Every version's file is stored, with its checksum.
    for v in &versions {
        let bytes = rig.registry.artifact(v).await.unwrap();
        assert_eq!(bytes.len() as i64, v.size_bytes);
    }
    let stored = files(&rig.objects).len();
    assert_eq!(stored, 4);
    // A second import changes nothing.
    assert!(
        import_bundle(&rig.registry, &rig.manifest, &rig.bundle)
            .await
            .unwrap()
            .is_empty()
    );

    // A new version of `fast` with other weights.
    let weights =
        testkit::HeadSpec::colours("fast", "x", &CIFAR10_CLASSES, ["cat", "dog", "ship"], 5.0)
            .weights;
    let v2 = rig
        .registry
        .register(head("fast", testkit::head_onnx(&weights)))
        .await
        .unwrap();
    assert_eq!((v2.version, v2.label.as_str()), (2, "fast-v2"));

    // Refusals, each with its kind and nothing left behind.
    let rows = rig.registry.versions(None).await.unwrap().len();
    let garbage = rig
        .registry
        .register(head("fast", b"not onnx at all".to_vec()))
        .await
        .unwrap_err();
    assert!(
        matches!(garbage, RegistryError::InvalidModel(_)),
        "{garbage}"
    );
    let four_classes = testkit::head_onnx(&[[1.0, 0.0, 0.0]; 4]);
    let wrong_classes = rig
        .registry
        .register(head("fast", four_classes))
        .await
        .unwrap_err();
    assert!(
        matches!(wrong_classes, RegistryError::ShapeMismatch(_)),
        "{wrong_classes}"
    );
    // An extractor's graph registered as a head: it takes pixels, not 3 descriptors.
    let pixels_in = rig
        .registry
        .register(head("fast", testkit::extractor_onnx(16)))
        .await
        .unwrap_err();
    assert!(
        matches!(pixels_in, RegistryError::ShapeMismatch(_)),
        "{pixels_in}"
    );
    let mut taken = head("fast", testkit::head_onnx(&weights));
    taken.label = Some("fast-test-v1".into());
    let taken = rig.registry.register(taken).await.unwrap_err();
    assert!(matches!(taken, RegistryError::VersionExists(_)), "{taken}");
    let mut bad_name = head("../etc", testkit::head_onnx(&weights));
    bad_name.label = None;
    let bad_name = rig.registry.register(bad_name).await.unwrap_err();
    assert!(
        matches!(bad_name, RegistryError::InvalidArgument(_)),
        "{bad_name}"
    );
    let small = rig.registry.clone().with_limits(RegistryLimits {
        max_model_bytes: 100,
    });
    let large = small
        .register(head("fast", testkit::head_onnx(&weights)))
        .await
        .unwrap_err();
    assert!(matches!(large, RegistryError::TooLarge { .. }), "{large}");
    let as_extractor = Registration {
        role: ModelRole::Extractor,
        ..head("fast", testkit::extractor_onnx(16))
    };
    let role = rig.registry.register(as_extractor).await.unwrap_err();
    assert!(matches!(role, RegistryError::InvalidArgument(_)), "{role}");
    assert_eq!(rig.registry.versions(None).await.unwrap().len(), rows);
    assert_eq!(
        files(&rig.objects).len(),
        stored + 1,
        "only v2's file was added"
    );
    rig.db.close().await.unwrap();
}

async fn aliases_move_with_history(database: &str) {
    let rig = imported(database).await;
    let registry = &rig.registry;
    let aliases = registry.aliases(Some("fast")).await.unwrap();
    assert_eq!(aliases.len(), 1);
    assert_eq!(
        (aliases[0].alias.as_str(), aliases[0].version),
        (PRODUCTION, 1)
    );

    let weights =
        testkit::HeadSpec::colours("fast", "x", &CIFAR10_CLASSES, ["cat", "dog", "ship"], 5.0)
            .weights;
    registry
        .register(head("fast", testkit::head_onnx(&weights)))
        .await
        .unwrap();
    let before = chrono::Utc::now();
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    registry
        .set_alias("fast", STAGING, Some(2), "ann", Some("try it"))
        .await
        .unwrap();
    let promoted = registry
        .promote("fast", 2, "ann", Some("better"))
        .await
        .unwrap();
    assert_eq!((promoted.previous, promoted.current), (Some(1), Some(2)));
    let after = chrono::Utc::now();
    // Promoting from staging clears staging.
    let now: Vec<(String, i32)> = registry
        .aliases(Some("fast"))
        .await
        .unwrap()
        .into_iter()
        .map(|a| (a.alias, a.version))
        .collect();
    assert_eq!(now, [(PRODUCTION.to_string(), 2)]);
    assert_eq!(
        registry.production_at("fast", before).await.unwrap(),
        Some(1)
    );
    assert_eq!(
        registry.production_at("fast", after).await.unwrap(),
        Some(2)
    );
    let long_ago = before - chrono::Duration::days(1);
    assert_eq!(
        registry.production_at("fast", long_ago).await.unwrap(),
        None
    );

    // Setting an alias where it is changes nothing and records nothing.
    let same = registry.promote("fast", 2, "ann", None).await.unwrap();
    assert!(!same.changed());
    let rolled = registry
        .rollback("fast", "bob", Some("worse"))
        .await
        .unwrap();
    assert_eq!((rolled.previous, rolled.current), (Some(2), Some(1)));
    let history = registry.history("fast", Some(PRODUCTION)).await.unwrap();
    let moves: Vec<(Option<i32>, Option<i32>, &str)> = history
        .iter()
        .map(|h| (h.previous_version, h.version, h.changed_by.as_str()))
        .collect();
    assert_eq!(
        moves,
        [
            (Some(2), Some(1), "bob"),
            (Some(1), Some(2), "ann"),
            (None, Some(1), "bundle")
        ]
    );
    assert_eq!(history[0].reason.as_deref(), Some("worse"));

    // The production version cannot be archived; another can.
    let refused = registry.archive("fast", 1, "bob", None).await.unwrap_err();
    assert!(
        matches!(refused, RegistryError::InvalidArgument(_)),
        "{refused}"
    );
    let archived = registry.archive("fast", 2, "bob", None).await.unwrap();
    assert_eq!(archived.current, Some(2));
    let archived_alias = registry
        .aliases(Some("fast"))
        .await
        .unwrap()
        .into_iter()
        .find(|a| a.alias == ARCHIVED)
        .unwrap();
    assert_eq!(archived_alias.version, 2);
    // Nothing more to undo: the first rollback undid the only promotion.
    let nothing = registry.rollback("fast", "bob", None).await.unwrap_err();
    assert!(matches!(nothing, RegistryError::NotFound(_)), "{nothing}");
    // Production cannot be removed; `ab` is not an alias.
    let removed = registry
        .set_alias("fast", PRODUCTION, None, "bob", None)
        .await
        .unwrap_err();
    assert!(
        matches!(removed, RegistryError::InvalidArgument(_)),
        "{removed}"
    );
    let ab = registry
        .set_alias("fast", "ab", Some(2), "bob", None)
        .await
        .unwrap_err();
    assert!(matches!(ab, RegistryError::InvalidArgument(_)), "{ab}");
    let missing = registry.promote("fast", 9, "bob", None).await.unwrap_err();
    assert!(matches!(missing, RegistryError::NotFound(_)), "{missing}");
    let never = registry.rollback("nothing", "bob", None).await.unwrap_err();
    assert!(matches!(never, RegistryError::NotFound(_)), "{never}");
    rig.db.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_registers_checks_and_refuses() {
    registers_checks_and_refuses("sqlite").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_registers_checks_and_refuses() {
    registers_checks_and_refuses("postgres").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_aliases_move_with_history() {
    aliases_move_with_history("sqlite").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_aliases_move_with_history() {
    aliases_move_with_history("postgres").await;
}

async fn rollbacks_undo_promotions_one_by_one(database: &str) {
    let rig = imported(database).await;
    let registry = &rig.registry;
    for label in ["two", "three"] {
        let mut head_v = head("fast", testkit::head_onnx(&[[0.5, 0.0, 0.0]; 10]));
        head_v.label = Some(format!("fast-{label}"));
        registry.register(head_v).await.unwrap();
    }
    registry.promote("fast", 2, "ann", None).await.unwrap();
    registry.promote("fast", 3, "ann", None).await.unwrap();
    let back = registry.rollback("fast", "bob", None).await.unwrap();
    assert_eq!((back.previous, back.current), (Some(3), Some(2)));
    let back = registry.rollback("fast", "bob", None).await.unwrap();
    assert_eq!((back.previous, back.current), (Some(2), Some(1)));
    assert!(registry.rollback("fast", "bob", None).await.is_err());
    // An A/B test is recorded in the history; archiving its candidate stops it, and so does
    // promoting it.
    registry.start_ab("fast", 3, 0.25, "ann").await.unwrap();
    assert_eq!(registry.ab_test("fast").await.unwrap().unwrap().version, 3);
    registry.archive("fast", 3, "ann", None).await.unwrap();
    assert!(registry.ab_test("fast").await.unwrap().is_none());
    registry.start_ab("fast", 2, 0.5, "ann").await.unwrap();
    registry.promote("fast", 2, "ann", None).await.unwrap();
    assert!(registry.ab_test("fast").await.unwrap().is_none());
    let kinds: Vec<(String, Option<i32>, vision_registry::MoveKind)> = registry
        .history("fast", Some("ab"))
        .await
        .unwrap()
        .into_iter()
        .map(|h| (h.alias, h.version, h.kind))
        .collect();
    use vision_registry::MoveKind::Ab;
    assert_eq!(
        kinds,
        [
            ("ab".to_string(), None, Ab),
            ("ab".to_string(), Some(2), Ab),
            ("ab".to_string(), None, Ab),
            ("ab".to_string(), Some(3), Ab),
        ]
    );
    rig.db.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_rollbacks_undo_promotions_one_by_one() {
    rollbacks_undo_promotions_one_by_one("sqlite").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_rollbacks_undo_promotions_one_by_one() {
    rollbacks_undo_promotions_one_by_one("postgres").await;
}
