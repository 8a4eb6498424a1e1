// Every GraphQL operation of the dashboard, checked by hand against schema.graphql.

const PREDICTION_FIELDS = `
  id imageId model modelVersion predictedClass confidence inferenceMs correct createdAt
  topK { class probability }
`;

const COMPARISON_FIELDS = `
  fastestModel fastestModelVersion mostConfidentModel mostConfidentModelVersion consensusClass agreement createdAt
`;

export const IMAGE_FIELDS = `
  id createdAt source label status failureReason contentType sizeBytes width height
  contentHash objectKey completedAt extractorVersion extractMs
  predictions { ${PREDICTION_FIELDS} }
  comparison { ${COMPARISON_FIELDS} }
`;

const MODEL_STATS_FIELDS = `
  model modelVersions count latencyP50Ms latencyP95Ms latencyP99Ms meanLatencyMs
  meanConfidence labeled correct accuracy
`;

const REPLAY_FIELDS = `
  id split rate limit seed submitted completed failed correct status error startedAt finishedAt
  scores { model modelVersion answered correct accuracy }
`;

// ---- queries -------------------------------------------------------------------------------

export const HOME_QUERY = `
  query Home {
    health { status ready components { name kind status detail latencyMs } }
    models { name version kind descriptorDim inputSize runtime }
    modelStats { ${MODEL_STATS_FIELDS} }
  }
`;

/** The model bundle: class names (the heads' output order) and the models (extractor, then head versions). */
export const BUNDLE_QUERY = `
  query Bundle {
    classes
    models { name version kind }
  }
`;

export const IMAGE_QUERY = `
  query Image($id: ID!) { image(id: $id) { ${IMAGE_FIELDS} } }
`;

export const IMAGES_QUERY = `
  query Images($first: Int, $after: String, $filter: ImageFilter) {
    images(first: $first, after: $after, filter: $filter) {
      totalCount
      pageInfo { hasNextPage endCursor }
      edges { cursor node {
        id createdAt source label status failureReason contentType width height sizeBytes
        predictions { id model predictedClass confidence }
        comparison { ${COMPARISON_FIELDS} }
      } }
    }
  }
`;

export const STATS_QUERY = `
  query Stats($model: String!, $bucketSeconds: Int!, $windowSeconds: Int!) {
    modelStats { ${MODEL_STATS_FIELDS} }
    timeSeries(bucketSeconds: $bucketSeconds) {
      model start count labeled correct accuracy meanLatencyMs latencyP50Ms latencyP95Ms
    }
    classDistribution { class count }
    confusionMatrix(model: $model) { model classes counts total }
    classMetrics(model: $model) { class precision recall f1 support predicted }
    throughput(windowSeconds: $windowSeconds) {
      windowSeconds imagesCompleted imagesPerSecond predictionsPerSecond
    }
    recentPredictions(limit: 50) { ${PREDICTION_FIELDS} image { id label source } }
  }
`;


export const REPLAYS_QUERY = `
  query Replays { replays { ${REPLAY_FIELDS} } }
`;

// ---- mutations -----------------------------------------------------------------------------

export const UPLOAD_IMAGE = `
  mutation UploadImage($file: Upload!, $label: String, $source: String) {
    uploadImage(file: $file, label: $label, source: $source) { ${IMAGE_FIELDS} }
  }
`;

export const UPLOAD_IMAGES = `
  mutation UploadImages($files: [Upload!]!, $labels: [String]) {
    uploadImages(files: $files, labels: $labels) { ${IMAGE_FIELDS} }
  }
`;

export const START_REPLAY = `
  mutation StartReplay($input: ReplayInput) { startReplay(input: $input) { ${REPLAY_FIELDS} } }
`;

export const STOP_REPLAY = `
  mutation StopReplay($id: ID!) { stopReplay(id: $id) { ${REPLAY_FIELDS} } }
`;

// ---- subscriptions -------------------------------------------------------------------------

export const PREDICTION_ADDED = `
  subscription PredictionAdded($imageId: ID, $model: String) {
    predictionAdded(imageId: $imageId, model: $model) { ${PREDICTION_FIELDS} }
  }
`;

export const IMAGE_COMPLETED = `
  subscription ImageCompleted($imageId: ID) { imageCompleted(imageId: $imageId) { ${IMAGE_FIELDS} } }
`;

export const IMAGE_FAILED = `
  subscription ImageFailed($imageId: ID) { imageFailed(imageId: $imageId) { ${IMAGE_FIELDS} } }
`;

export const REPLAY_PROGRESS = `
  subscription ReplayProgress($id: ID) { replayProgress(id: $id) { ${REPLAY_FIELDS} } }
`;

export const STATS_UPDATED = `
  subscription StatsUpdated($intervalMs: Int!) { statsUpdated(intervalMs: $intervalMs) { ${MODEL_STATS_FIELDS} } }
`;

// ---- model registry, rollout and experiments -----------------------------------------------

const MODEL_VERSION_FIELDS = `
  name version label kind sha256 sizeBytes artifactKey inputShape outputShape descriptorDim
  inputSize classes extractorLabel metrics card lineage registeredBy registeredAt aliases
`;

const ALIAS_UPDATE_FIELDS = `name alias previousVersion version changed`;

const REPLICA_SERVING_FIELDS = `replica stage model production shadow candidate share at`;

const PAIRED_COMPARISON_FIELDS = `
  n labeled accuracyA accuracyB weightedF1A weightedF1B difference differenceLow differenceHigh
  mcnemarB mcnemarC mcnemarP agreement latencyP50MsA latencyP95MsA latencyP50MsB latencyP95MsB
`;

export const REGISTERED_MODELS_QUERY = `
  query RegisteredModels {
    registeredModels {
      name kind
      versions { ${MODEL_VERSION_FIELDS} }
      aliases { name alias version updatedAt updatedBy }
      production { name version label }
      history { alias version previousVersion changedAt changedBy reason kind }
      abTest { version share updatedAt updatedBy }
    }
  }
`;

export const PRODUCTION_AT_QUERY = `
  query ProductionAt($model: String!, $at: DateTime!) {
    productionAt(model: $model, at: $at) { name version label registeredAt }
  }
`;

export const MODEL_ROLLOUT_QUERY = `
  query ModelRollout($model: String) { modelRollout(model: $model) { ${REPLICA_SERVING_FIELDS} } }
`;

/** A head's running experiments: its shadow and its A/B test, each null when there is none. */
export const EXPERIMENTS_QUERY = `
  query Experiments($model: String!, $last: Int!) {
    shadowComparison(model: $model, last: $last) { model shadow comparison { ${PAIRED_COMPARISON_FIELDS} } }
    abComparison(model: $model, last: $last) { model production candidate share comparison { ${PAIRED_COMPARISON_FIELDS} } }
  }
`;

export const BACKTEST_QUERY = `
  query Backtest($model: String!, $version: Int!, $since: DateTime, $until: DateTime, $last: Int!) {
    backtest(model: $model, version: $version, since: $since, until: $until, last: $last) {
      model version label seconds comparison { ${PAIRED_COMPARISON_FIELDS} }
    }
  }
`;

export const REGISTER_MODEL_VERSION = `
  mutation RegisterModelVersion(
    $file: Upload!, $name: String!, $kind: ModelKind!, $label: String, $extractorLabel: String,
    $metrics: JSON, $card: JSON, $lineage: JSON
  ) {
    registerModelVersion(
      file: $file, name: $name, kind: $kind, label: $label, extractorLabel: $extractorLabel,
      metrics: $metrics, card: $card, lineage: $lineage
    ) { ${MODEL_VERSION_FIELDS} }
  }
`;

export const PROMOTE_MODEL_VERSION = `
  mutation PromoteModelVersion($name: String!, $version: Int!, $reason: String) {
    promoteModelVersion(name: $name, version: $version, reason: $reason) { ${ALIAS_UPDATE_FIELDS} }
  }
`;

export const ROLLBACK_MODEL = `
  mutation RollbackModel($name: String!, $reason: String) {
    rollbackModel(name: $name, reason: $reason) { ${ALIAS_UPDATE_FIELDS} }
  }
`;

export const ARCHIVE_MODEL_VERSION = `
  mutation ArchiveModelVersion($name: String!, $version: Int!, $reason: String) {
    archiveModelVersion(name: $name, version: $version, reason: $reason) { ${ALIAS_UPDATE_FIELDS} }
  }
`;

/** Points `alias` of `name` at `version`; a null version removes the alias. */
export const SET_MODEL_ALIAS = `
  mutation SetModelAlias($name: String!, $alias: String!, $version: Int, $reason: String) {
    setModelAlias(name: $name, alias: $alias, version: $version, reason: $reason) { ${ALIAS_UPDATE_FIELDS} }
  }
`;

export const START_AB_TEST = `
  mutation StartAbTest($model: String!, $version: Int!, $share: Float!) {
    startAbTest(model: $model, version: $version, share: $share)
  }
`;

export const STOP_AB_TEST = `
  mutation StopAbTest($model: String!) { stopAbTest(model: $model) }
`;

export const MODEL_ROLLOUT = `
  subscription ModelRollout($model: String) { modelRollout(model: $model) { ${REPLICA_SERVING_FIELDS} } }
`;
