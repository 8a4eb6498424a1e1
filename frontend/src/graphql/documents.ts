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
