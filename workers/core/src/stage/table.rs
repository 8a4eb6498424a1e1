//! The one table of the pipeline's stages: which topics each reads (as which consumer group, in
//! batches of how many, how many at once, and what becomes of a message it cannot read) and
//! which it writes. The one-process mode and the split processes both start the stages from it,
//! declare the consumer groups from it and create the topics it names; adding a stage or a topic
//! is one entry here (plus the stage's work).

use crate::bus::topics;

/// The kinds of stage. `vision worker <kind>` runs one of them per process.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StageKind {
    /// Image -> descriptors, one backbone pass per image.
    Extractor,
    /// Descriptors -> one head's predictions; one stage per head name, serving each of its
    /// versions.
    Classifier,
    /// Predictions, descriptors and failures -> the database, and pipeline events.
    Recorder,
}

impl StageKind {
    /// The kind named `name` in the table (`vision worker <name>`).
    pub fn named(name: &str) -> Option<Self> {
        STAGES.iter().find(|s| s.name == name).map(|s| s.kind)
    }

    /// The stage's table entry.
    pub fn spec(self) -> &'static StageSpec {
        STAGES
            .iter()
            .find(|s| s.kind == self)
            .expect("every kind has an entry")
    }
}

/// What a stage does with a message it cannot read (malformed, another schema version).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Poison {
    /// To the dead-letter topic with the reason (the recorder then marks the image failed).
    DeadLetter,
    /// Counted and logged, then acknowledged: for the dead-letter topic itself, and for inputs
    /// that another stage already dead-letters.
    Drop,
}

/// How the replicas of a stage share a topic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Group {
    /// One consumer group for every replica: each message is handled once.
    Shared(&'static str),
    /// One group per head (`{prefix}-{head}`): every head sees every message, the replicas of
    /// one head share them.
    PerHead(&'static str),
}

impl Group {
    /// The group's name; `head` for [`Group::PerHead`].
    pub fn name(&self, head: Option<&str>) -> String {
        match (self, head) {
            (Group::Shared(name), _) => name.to_string(),
            (Group::PerHead(prefix), Some(head)) => format!("{prefix}-{head}"),
            (Group::PerHead(prefix), None) => panic!("group {prefix} is per head: name the head"),
        }
    }
}

/// One topic a stage reads.
#[derive(Debug, Clone, Copy)]
pub struct Input {
    pub topic: &'static str,
    pub group: Group,
    /// Messages handed to the stage at once, at most (those already waiting; it never waits
    /// for more).
    pub max_batch: usize,
    /// Batches in flight at once.
    pub concurrency: usize,
    pub poison: Poison,
    /// The `stage` label of its metrics (`vision_stage_duration_seconds`, `vision_errors_total`).
    pub metric: &'static str,
}

/// A service a stage needs besides the bus.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dependency {
    /// Where the images are (a local folder, S3/MinIO).
    ObjectStore,
    /// The database (SQLite, PostgreSQL).
    Database,
}

/// One stage of the pipeline.
#[derive(Debug)]
pub struct StageSpec {
    pub kind: StageKind,
    /// `vision worker <name>`, the logs, and the `stage` of its dead letters (`{name}-{head}`
    /// for a stage per head).
    pub name: &'static str,
    /// One instance per head name of the model bundle.
    pub per_head: bool,
    pub inputs: &'static [Input],
    /// Topics it publishes to.
    pub publishes: &'static [&'static str],
    /// What it needs besides the bus (its process connects to these, and its `/health` checks
    /// them).
    pub uses: &'static [Dependency],
}

impl StageSpec {
    /// The name of one instance: `{name}-{head}` for a stage per head.
    pub fn instance(&self, head: Option<&str>) -> String {
        match (self.per_head, head) {
            (true, Some(head)) => format!("{}-{head}", self.name),
            _ => self.name.to_string(),
        }
    }

    /// The input reading `topic`.
    pub fn input(&self, topic: &str) -> &Input {
        self.inputs
            .iter()
            .find(|i| i.topic == topic)
            .unwrap_or_else(|| panic!("stage {} does not read {topic}", self.name))
    }
}

/// The pipeline: upload -> extractor -> heads -> recorder -> subscribers.
pub const STAGES: &[StageSpec] = &[
    StageSpec {
        kind: StageKind::Extractor,
        name: "extractor",
        per_head: false,
        inputs: &[Input {
            topic: topics::IMAGES_INPUT.name(),
            group: Group::Shared("extractor"),
            max_batch: 1,
            // The extractor sizes its in-flight images from its batching settings.
            concurrency: 8,
            poison: Poison::DeadLetter,
            metric: "extract",
        }],
        publishes: &[topics::IMAGE_FEATURES.name(), topics::DEAD_LETTER.name()],
        // The images, and the registry's extractor (its row and its file).
        uses: &[Dependency::ObjectStore, Dependency::Database],
    },
    StageSpec {
        kind: StageKind::Classifier,
        name: "classifier",
        per_head: true,
        inputs: &[Input {
            topic: topics::IMAGE_FEATURES.name(),
            group: Group::PerHead("classifier"),
            max_batch: 1,
            // Heads take microseconds: a delivery waits for the bus to take the prediction (a
            // broker round trip on Kafka), so several are in flight.
            concurrency: 16,
            poison: Poison::DeadLetter,
            metric: "classify",
        }],
        // What each replica serves, after every swap (the rollout view).
        publishes: &[
            topics::PREDICTIONS_OUTPUT.name(),
            topics::DEAD_LETTER.name(),
            topics::MODEL_EVENTS.name(),
        ],
        // The registry: its rows and its files.
        uses: &[Dependency::Database, Dependency::ObjectStore],
    },
    StageSpec {
        kind: StageKind::Recorder,
        name: "recorder",
        per_head: false,
        // Whatever is already waiting is recorded together (one statement for a batch of
        // predictions), never waiting for more.
        inputs: &[
            Input {
                topic: topics::PREDICTIONS_OUTPUT.name(),
                group: Group::Shared("recorder"),
                max_batch: 64,
                concurrency: 4,
                // Its image stays incomplete, and the recorder's sweep sends it again.
                poison: Poison::Drop,
                metric: "record",
            },
            Input {
                topic: topics::IMAGE_FEATURES.name(),
                group: Group::Shared("recorder"),
                max_batch: 64,
                concurrency: 2,
                // The classifiers dead-letter it.
                poison: Poison::Drop,
                metric: "record_features",
            },
            Input {
                topic: topics::DEAD_LETTER.name(),
                group: Group::Shared("recorder"),
                max_batch: 1,
                concurrency: 1,
                poison: Poison::Drop,
                metric: "record_failure",
            },
        ],
        publishes: &[topics::PIPELINE_EVENTS.name()],
        // The images' rows, and the registry's list of heads (what completes an image).
        uses: &[Dependency::Database],
    },
];

/// Every topic the pipeline uses (read or written by a stage), each once.
pub fn all_topics() -> Vec<&'static str> {
    let mut out: Vec<&'static str> = Vec::new();
    for spec in STAGES {
        for topic in spec
            .inputs
            .iter()
            .map(|i| i.topic)
            .chain(spec.publishes.iter().copied())
        {
            if !out.contains(&topic) {
                out.push(topic);
            }
        }
    }
    out
}

/// Every (topic, consumer group) of the pipeline, for a bundle with these head names.
pub fn consumer_groups(heads: &[String]) -> Vec<(&'static str, String)> {
    let mut out = Vec::new();
    for spec in STAGES {
        for input in spec.inputs {
            match input.group {
                Group::Shared(_) => out.push((input.topic, input.group.name(None))),
                Group::PerHead(_) => {
                    for head in heads {
                        out.push((input.topic, input.group.name(Some(head))));
                    }
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_names_every_topic_and_group() {
        let topics = all_topics();
        for topic in [
            topics::IMAGES_INPUT.name(),
            topics::IMAGE_FEATURES.name(),
            topics::PREDICTIONS_OUTPUT.name(),
            topics::PIPELINE_EVENTS.name(),
            topics::DEAD_LETTER.name(),
            topics::MODEL_EVENTS.name(),
        ] {
            assert!(topics.contains(&topic), "{topic}");
        }
        assert_eq!(topics.len(), 6);
        let heads = vec!["lean".to_string(), "keen".to_string()];
        let groups = consumer_groups(&heads);
        assert!(groups.contains(&("image-features-stream", "classifier-lean".into())));
        assert!(groups.contains(&("image-features-stream", "classifier-keen".into())));
        assert!(groups.contains(&("image-features-stream", "recorder".into())));
        assert!(groups.contains(&("images-input-stream", "extractor".into())));
        assert_eq!(groups.len(), 1 + 2 + 3);
        assert_eq!(
            StageKind::Classifier.spec().instance(Some("lean")),
            "classifier-lean"
        );
        assert_eq!(StageKind::Recorder.spec().instance(None), "recorder");
    }
}
