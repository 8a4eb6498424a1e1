#!/bin/bash
# Creates the platform's Kafka topics, idempotently, and raises a topic's partition count to
# PARTITIONS when it has fewer (Kafka adds partitions, it never removes them). Run by the
# `kafka-init` service of deploy/docker-compose.yml and the `kafka-topics` Job of deploy/k8s,
# both in the apache/kafka image.
#
# Environment: BOOTSTRAP (kafka:9092), PARTITIONS (3), REPLICATION_FACTOR (1), TOPICS (the five
# topics of the pipeline, space-separated), DEAD_LETTER_RETENTION_MS (14 days),
# KAFKA_TOPICS (path of kafka-topics.sh), WAIT_SECONDS (120: how long to wait for the broker).
#
# More partitions means more consumers of one group can share a topic (F28). Adding partitions
# changes which partition a key (an image id) maps to from then on; the pipeline tolerates it
# (writes are idempotent), so raise PARTITIONS and rerun rather than recreate topics.
set -euo pipefail

bootstrap="${BOOTSTRAP:-kafka:9092}"
partitions="${PARTITIONS:-3}"
replication="${REPLICATION_FACTOR:-1}"
topics="${TOPICS:-images-input-stream image-features-stream predictions-output-stream pipeline-events dead-letter model-events}"
dead_letter_retention_ms="${DEAD_LETTER_RETENTION_MS:-1209600000}"
kafka_topics="${KAFKA_TOPICS:-/opt/kafka/bin/kafka-topics.sh}"
wait_seconds="${WAIT_SECONDS:-120}"

kt() {
    "$kafka_topics" --bootstrap-server "$bootstrap" "$@"
}

deadline=$((SECONDS + wait_seconds))
until kt --list >/dev/null 2>&1; do
    if ((SECONDS >= deadline)); then
        echo "create-topics: Kafka at $bootstrap not reachable after ${wait_seconds}s" >&2
        exit 1
    fi
    echo "create-topics: waiting for Kafka at $bootstrap"
    sleep 3
done

partition_count() {
    kt --describe --topic "$1" | sed -n 's/.*PartitionCount: *\([0-9][0-9]*\).*/\1/p' | head -n 1
}

for topic in $topics; do
    config=()
    if [[ "$topic" == dead-letter ]]; then
        config=(--config "retention.ms=${dead_letter_retention_ms}")
    fi
    kt --create --if-not-exists --topic "$topic" \
        --partitions "$partitions" --replication-factor "$replication" "${config[@]}"
    current="$(partition_count "$topic")"
    if [[ -z "$current" ]]; then
        echo "create-topics: cannot read the partition count of $topic" >&2
        exit 1
    fi
    if ((current < partitions)); then
        echo "create-topics: $topic has $current partitions, raising to $partitions"
        kt --alter --topic "$topic" --partitions "$partitions"
        current="$partitions"
    fi
    echo "create-topics: $topic ready ($current partitions)"
done
echo "create-topics: done"
