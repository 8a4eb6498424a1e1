//! F12 and the `vision` binary: `schema.graphql` is the served schema; the split subcommands
//! say what they need instead of pretending.

use std::process::Command;

#[test]
fn schema_graphql_is_the_served_schema() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../schema.graphql");
    let committed = std::fs::read_to_string(path).unwrap_or_default();
    let served = vision_api::graphql::sdl();
    assert!(
        committed == served,
        "schema.graphql differs from the served schema; regenerate it with \
         `cargo run -p vision-api -- schema > schema.graphql`"
    );
    let printed = Command::new(env!("CARGO_BIN_EXE_vision"))
        .arg("schema")
        .output()
        .unwrap();
    assert!(printed.status.success());
    assert_eq!(String::from_utf8(printed.stdout).unwrap(), served);
}

#[test]
fn split_subcommands_need_the_kafka_bus() {
    for args in [
        &["api"][..],
        &["worker", "extractor"],
        &["worker", "classifier", "--model", "fast"],
        &["worker", "recorder"],
    ] {
        let output = Command::new(env!("CARGO_BIN_EXE_vision"))
            .args(args)
            .env_remove("KAFKA_BROKERS")
            .output()
            .unwrap();
        assert!(!output.status.success(), "{args:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            stderr.contains("needs KAFKA_BROKERS (distributed mode arrives with the Kafka bus)"),
            "{args:?}: {stderr}"
        );
    }
}
