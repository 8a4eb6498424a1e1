// Every GraphQL operation of the dashboard. Each string is marked `/* GraphQL */` so that
// `npm run codegen` finds it and generates its types (./generated.ts) from schema.graphql; an
// operation ends with the fragments it spreads, appended by `${...}` (codegen reads the
// fragments from their own strings).

// ---- fragments -----------------------------------------------------------------------------

const PREDICTION_FIELDS = /* GraphQL */ `
  fragment PredictionFields on Prediction {
    id imageId model modelVersion predictedClass confidence inferenceMs correct createdAt
    topK { class probability }
  }
`;

const COMPARISON_FIELDS = /* GraphQL */ `
  fragment ComparisonFields on Comparison {
    fastestModel fastestModelVersion mostConfidentModel mostConfidentModelVersion consensusClass agreement createdAt
  }
`;

/** `ImageFields` with the two fragments it spreads. */
const IMAGE_FIELDS = /* GraphQL */ `
  fragment ImageFields on Image {
    id createdAt source label status failureReason contentType sizeBytes width height
    contentHash objectKey completedAt extractorVersion extractMs
    predictions { ...PredictionFields }
    comparison { ...ComparisonFields }
  }
  ${PREDICTION_FIELDS}
  ${COMPARISON_FIELDS}
`;

const MODEL_STATS_FIELDS = /* GraphQL */ `
  fragment ModelStatsFields on ModelStats {
    model modelVersions count latencyP50Ms latencyP95Ms latencyP99Ms meanLatencyMs
    meanConfidence labeled correct accuracy
  }
`;

const REPLAY_FIELDS = /* GraphQL */ `
  fragment ReplayFields on Replay {
    id split rate limit seed submitted completed failed correct status error startedAt finishedAt
    scores { model modelVersion answered correct accuracy }
  }
`;

// ---- queries -------------------------------------------------------------------------------

export const HOME_QUERY = /* GraphQL */ `
  query Home {
    health { status ready components { name kind status detail latencyMs } }
    models { name version kind descriptorDim inputSize runtime }
    modelStats { ...ModelStatsFields }
  }
  ${MODEL_STATS_FIELDS}
`;

/** The model bundle: class names (the heads' output order) and the models (extractor, then head versions). */
export const BUNDLE_QUERY = /* GraphQL */ `
  query Bundle {
    classes
    models { name version kind }
  }
`;

export const IMAGE_QUERY = /* GraphQL */ `
  query Image($id: ID!) { image(id: $id) { ...ImageFields } }
  ${IMAGE_FIELDS}
`;

export const IMAGES_QUERY = /* GraphQL */ `
  query Images($first: Int, $after: String, $filter: ImageFilter) {
    images(first: $first, after: $after, filter: $filter) {
      totalCount
      pageInfo { hasNextPage endCursor }
      edges { cursor node {
        id createdAt source label status failureReason contentType width height sizeBytes
        predictions { id model predictedClass confidence }
        comparison { ...ComparisonFields }
      } }
    }
  }
  ${COMPARISON_FIELDS}
`;

export const STATS_QUERY = /* GraphQL */ `
  query Stats($model: String!, $bucketSeconds: Int!, $windowSeconds: Int!) {
    modelStats { ...ModelStatsFields }
    timeSeries(bucketSeconds: $bucketSeconds) {
      model start count labeled correct accuracy meanLatencyMs latencyP50Ms latencyP95Ms
    }
    classDistribution { class count }
    confusionMatrix(model: $model) { model classes counts total }
    classMetrics(model: $model) { class precision recall f1 support predicted }
    throughput(windowSeconds: $windowSeconds) {
      windowSeconds imagesCompleted imagesPerSecond predictionsPerSecond
    }
    recentPredictions(limit: 50) { ...PredictionFields image { id label source } }
  }
  ${MODEL_STATS_FIELDS}
  ${PREDICTION_FIELDS}
`;


export const REPLAYS_QUERY = /* GraphQL */ `
  query Replays { replays { ...ReplayFields } }
  ${REPLAY_FIELDS}
`;

// ---- callers and API keys ------------------------------------------------------------------

/** Who is calling: `role` null when not signed in; `open` while no key is in force. */
export const ME_QUERY = /* GraphQL */ `
  query Me { me { actor role open } }
`;

const API_KEY_FIELDS = /* GraphQL */ `
  fragment ApiKeyFields on ApiKey { id name role prefix createdAt createdBy revokedAt revokedBy }
`;

/** Every API key, revoked ones too, newest first (admin). */
export const API_KEYS_QUERY = /* GraphQL */ `
  query ApiKeys { apiKeys { ...ApiKeyFields } }
  ${API_KEY_FIELDS}
`;

/** A new key: `key` is in this answer only. */
export const CREATE_API_KEY = /* GraphQL */ `
  mutation CreateApiKey($name: String!, $role: Role!) {
    createApiKey(name: $name, role: $role) { key apiKey { ...ApiKeyFields } }
  }
  ${API_KEY_FIELDS}
`;

export const REVOKE_API_KEY = /* GraphQL */ `
  mutation RevokeApiKey($id: ID!) { revokeApiKey(id: $id) { ...ApiKeyFields } }
  ${API_KEY_FIELDS}
`;

const AUDIT_ENTRY_FIELDS = /* GraphQL */ `
  fragment AuditEntryFields on AuditEntry { seq at actor role ip requestId operation outcome detail hash }
`;

/**
 * The audit log (admin), newest first: `limit` entries before `beforeSeq` (none: the newest),
 * of one actor, an operation containing `operation`, one outcome code.
 */
export const AUDIT_LOG_QUERY = /* GraphQL */ `
  query AuditLog($limit: Int!, $beforeSeq: Int, $actor: String, $operation: String, $outcome: String) {
    auditLog(limit: $limit, beforeSeq: $beforeSeq, actor: $actor, operation: $operation, outcome: $outcome) {
      ...AuditEntryFields
    }
  }
  ${AUDIT_ENTRY_FIELDS}
`;

// ---- mutations -----------------------------------------------------------------------------

export const UPLOAD_IMAGE = /* GraphQL */ `
  mutation UploadImage($file: Upload!, $label: String, $source: String) {
    uploadImage(file: $file, label: $label, source: $source) { ...ImageFields }
  }
  ${IMAGE_FIELDS}
`;

export const UPLOAD_IMAGES = /* GraphQL */ `
  mutation UploadImages($files: [Upload!]!, $labels: [String]) {
    uploadImages(files: $files, labels: $labels) { ...ImageFields }
  }
  ${IMAGE_FIELDS}
`;

export const START_REPLAY = /* GraphQL */ `
  mutation StartReplay($input: ReplayInput) { startReplay(input: $input) { ...ReplayFields } }
  ${REPLAY_FIELDS}
`;

export const STOP_REPLAY = /* GraphQL */ `
  mutation StopReplay($id: ID!) { stopReplay(id: $id) { ...ReplayFields } }
  ${REPLAY_FIELDS}
`;

// ---- subscriptions -------------------------------------------------------------------------

export const PREDICTION_ADDED = /* GraphQL */ `
  subscription PredictionAdded($imageId: ID, $model: String) {
    predictionAdded(imageId: $imageId, model: $model) { ...PredictionFields }
  }
  ${PREDICTION_FIELDS}
`;

export const IMAGE_COMPLETED = /* GraphQL */ `
  subscription ImageCompleted($imageId: ID) { imageCompleted(imageId: $imageId) { ...ImageFields } }
  ${IMAGE_FIELDS}
`;

export const IMAGE_FAILED = /* GraphQL */ `
  subscription ImageFailed($imageId: ID) { imageFailed(imageId: $imageId) { ...ImageFields } }
  ${IMAGE_FIELDS}
`;

export const REPLAY_PROGRESS = /* GraphQL */ `
  subscription ReplayProgress($id: ID) { replayProgress(id: $id) { ...ReplayFields } }
  ${REPLAY_FIELDS}
`;

export const STATS_UPDATED = /* GraphQL */ `
  subscription StatsUpdated($intervalMs: Int!) { statsUpdated(intervalMs: $intervalMs) { ...ModelStatsFields } }
  ${MODEL_STATS_FIELDS}
`;

// ---- model registry, rollout and experiments -----------------------------------------------

const MODEL_VERSION_FIELDS = /* GraphQL */ `
  fragment ModelVersionFields on ModelVersion {
    name version label kind sha256 sizeBytes artifactKey inputShape outputShape descriptorDim
    inputSize classes extractorLabel metrics card lineage registeredBy registeredAt aliases
  }
`;

const ALIAS_UPDATE_FIELDS = /* GraphQL */ `
  fragment AliasUpdateFields on AliasUpdate { name alias previousVersion version changed }
`;

const REPLICA_SERVING_FIELDS = /* GraphQL */ `
  fragment ReplicaServingFields on ReplicaServing { replica stage model production shadow candidate share at }
`;

const PAIRED_COMPARISON_FIELDS = /* GraphQL */ `
  fragment PairedComparisonFields on PairedComparison {
    n labeled accuracyA accuracyB weightedF1A weightedF1B difference differenceLow differenceHigh
    mcnemarB mcnemarC mcnemarP agreement latencyP50MsA latencyP95MsA latencyP50MsB latencyP95MsB
  }
`;

export const REGISTERED_MODELS_QUERY = /* GraphQL */ `
  query RegisteredModels {
    registeredModels {
      name kind
      versions { ...ModelVersionFields }
      aliases { name alias version updatedAt updatedBy }
      production { name version label }
      history { alias version previousVersion changedAt changedBy reason kind }
      abTest { version share updatedAt updatedBy }
    }
  }
  ${MODEL_VERSION_FIELDS}
`;

export const PRODUCTION_AT_QUERY = /* GraphQL */ `
  query ProductionAt($model: String!, $at: DateTime!) {
    productionAt(model: $model, at: $at) { name version label registeredAt }
  }
`;

export const MODEL_ROLLOUT_QUERY = /* GraphQL */ `
  query ModelRollout($model: String) { modelRollout(model: $model) { ...ReplicaServingFields } }
  ${REPLICA_SERVING_FIELDS}
`;

/** A head's running experiments: its shadow and its A/B test, each null when there is none. */
export const EXPERIMENTS_QUERY = /* GraphQL */ `
  query Experiments($model: String!, $last: Int!) {
    shadowComparison(model: $model, last: $last) { model shadow comparison { ...PairedComparisonFields } }
    abComparison(model: $model, last: $last) { model production candidate share comparison { ...PairedComparisonFields } }
  }
  ${PAIRED_COMPARISON_FIELDS}
`;

export const BACKTEST_QUERY = /* GraphQL */ `
  query Backtest($model: String!, $version: Int!, $since: DateTime, $until: DateTime, $last: Int!) {
    backtest(model: $model, version: $version, since: $since, until: $until, last: $last) {
      model version label seconds comparison { ...PairedComparisonFields }
    }
  }
  ${PAIRED_COMPARISON_FIELDS}
`;

export const REGISTER_MODEL_VERSION = /* GraphQL */ `
  mutation RegisterModelVersion(
    $file: Upload!, $name: String!, $kind: ModelKind!, $label: String, $extractorLabel: String,
    $metrics: JSON, $card: JSON, $lineage: JSON
  ) {
    registerModelVersion(
      file: $file, name: $name, kind: $kind, label: $label, extractorLabel: $extractorLabel,
      metrics: $metrics, card: $card, lineage: $lineage
    ) { ...ModelVersionFields }
  }
  ${MODEL_VERSION_FIELDS}
`;

export const PROMOTE_MODEL_VERSION = /* GraphQL */ `
  mutation PromoteModelVersion($name: String!, $version: Int!, $reason: String) {
    promoteModelVersion(name: $name, version: $version, reason: $reason) { ...AliasUpdateFields }
  }
  ${ALIAS_UPDATE_FIELDS}
`;

export const ROLLBACK_MODEL = /* GraphQL */ `
  mutation RollbackModel($name: String!, $reason: String) {
    rollbackModel(name: $name, reason: $reason) { ...AliasUpdateFields }
  }
  ${ALIAS_UPDATE_FIELDS}
`;

export const ARCHIVE_MODEL_VERSION = /* GraphQL */ `
  mutation ArchiveModelVersion($name: String!, $version: Int!, $reason: String) {
    archiveModelVersion(name: $name, version: $version, reason: $reason) { ...AliasUpdateFields }
  }
  ${ALIAS_UPDATE_FIELDS}
`;

/** Points `alias` of `name` at `version`; a null version removes the alias. */
export const SET_MODEL_ALIAS = /* GraphQL */ `
  mutation SetModelAlias($name: String!, $alias: String!, $version: Int, $reason: String) {
    setModelAlias(name: $name, alias: $alias, version: $version, reason: $reason) { ...AliasUpdateFields }
  }
  ${ALIAS_UPDATE_FIELDS}
`;

export const START_AB_TEST = /* GraphQL */ `
  mutation StartAbTest($model: String!, $version: Int!, $share: Float!) {
    startAbTest(model: $model, version: $version, share: $share)
  }
`;

export const STOP_AB_TEST = /* GraphQL */ `
  mutation StopAbTest($model: String!) { stopAbTest(model: $model) }
`;

/** (Named apart from the query: codegen needs every operation's name to be unique.) */
export const MODEL_ROLLOUT = /* GraphQL */ `
  subscription ModelRolloutChanges($model: String) { modelRollout(model: $model) { ...ReplicaServingFields } }
  ${REPLICA_SERVING_FIELDS}
`;
