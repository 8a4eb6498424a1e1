// TypeScript shapes of the GraphQL types the dashboard reads (see ../../../schema.graphql).

export type ImageStatus = 'PENDING' | 'EXTRACTED' | 'COMPLETED' | 'FAILED';
export type HealthStatus = 'UP' | 'DOWN';
export type ReplayStatus = 'RUNNING' | 'FINISHED' | 'STOPPED' | 'FAILED';
export type CifarSplit = 'TRAIN' | 'TEST';

export interface ClassScore {
  class: string;
  probability: number;
}

export interface Prediction {
  id: string;
  imageId: string;
  model: string;
  modelVersion: string;
  predictedClass: string;
  confidence: number;
  topK: ClassScore[];
  inferenceMs: number;
  correct: boolean | null;
  createdAt: string;
}

export interface Comparison {
  fastestModel: string;
  /** Its version ('' for images completed before versions were compared). */
  fastestModelVersion: string;
  mostConfidentModel: string;
  /** Its version ('' for images completed before versions were compared). */
  mostConfidentModelVersion: string;
  consensusClass: string | null;
  agreement: number;
  createdAt: string;
}

export interface Image {
  id: string;
  createdAt: string;
  source: string;
  label: string | null;
  status: ImageStatus;
  failureReason: string | null;
  contentType: string;
  sizeBytes: number;
  width: number;
  height: number;
  contentHash: string;
  objectKey: string;
  completedAt: string | null;
  extractorVersion: string | null;
  extractMs: number | null;
  predictions: Prediction[];
  comparison: Comparison | null;
}

export interface ComponentHealth {
  name: string;
  kind: string;
  status: HealthStatus;
  detail: string | null;
  latencyMs: number;
}

export interface Health {
  status: HealthStatus;
  ready: boolean;
  components: ComponentHealth[];
}

export interface ModelInfo {
  name: string;
  version: string;
  kind: 'EXTRACTOR' | 'CLASSIFIER';
  descriptorDim: number;
  inputSize: number | null;
  runtime: string;
}

/** `{ classes models { name version kind } }`: what the dashboard needs of the model bundle. */
export interface BundleData {
  classes: string[];
  models: Pick<ModelInfo, 'name' | 'version' | 'kind'>[];
}

export interface ModelStats {
  model: string;
  modelVersions: string[];
  count: number;
  latencyP50Ms: number;
  latencyP95Ms: number;
  latencyP99Ms: number;
  meanLatencyMs: number;
  meanConfidence: number;
  labeled: number;
  correct: number;
  accuracy: number | null;
}

export interface Replay {
  id: string;
  split: CifarSplit;
  rate: number;
  limit: number;
  seed: number;
  submitted: number;
  completed: number;
  failed: number;
  /** Completed images whose consensus class (the class most heads chose) is their label. */
  correct: number;
  /** How each head version did on the replay's completed labelled images. */
  scores: ReplayScore[];
  status: ReplayStatus;
  error: string | null;
  startedAt: string;
  finishedAt: string | null;
}

export interface ReplayScore {
  model: string;
  modelVersion: string;
  /** Completed replay images it answered. */
  answered: number;
  /** Of those, the ones it got right. */
  correct: number;
  /** `correct / answered`; null before any answer. */
  accuracy: number | null;
}

export interface ConfusionMatrix {
  model: string;
  classes: string[];
  counts: number[][];
  total: number;
}

export interface ClassMetrics {
  class: string;
  precision: number | null;
  recall: number | null;
  f1: number | null;
  support: number;
  predicted: number;
}

export interface ClassCount {
  class: string;
  count: number;
}

export interface TimeBucket {
  model: string;
  start: string;
  count: number;
  labeled: number;
  correct: number;
  accuracy: number | null;
  meanLatencyMs: number;
  latencyP50Ms: number;
  latencyP95Ms: number;
}

export interface Throughput {
  windowSeconds: number;
  imagesCompleted: number;
  imagesPerSecond: number;
  predictionsPerSecond: number;
}

export interface PageInfo {
  hasNextPage: boolean;
  endCursor: string | null;
}

export interface ImageConnection {
  edges: { cursor: string; node: Image }[];
  pageInfo: PageInfo;
  totalCount: number;
}

export interface ImageFilter {
  source?: string | null;
  status?: ImageStatus | null;
  label?: string | null;
}

// ---- model registry, rollout and experiments -----------------------------------------------

export type ModelKind = 'EXTRACTOR' | 'CLASSIFIER';

/** A JSON scalar (metrics, card, lineage). */
export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** One registered version of a model: immutable. */
export interface ModelVersion {
  name: string;
  /** 1, 2, 3... in registration order. */
  version: number;
  /** The version string its predictions carry (`Prediction.modelVersion`). */
  label: string;
  kind: ModelKind;
  sha256: string;
  sizeBytes: number;
  artifactKey: string;
  /** null for a symbolic dimension (the batch). */
  inputShape: (number | null)[];
  outputShape: (number | null)[];
  descriptorDim: number;
  inputSize: number | null;
  classes: string[] | null;
  /** The extractor version (its label) whose descriptors a classifier reads. */
  extractorLabel: string | null;
  metrics: Json;
  card: Json;
  lineage: Json;
  registeredBy: string;
  registeredAt: string;
  /** The aliases that point at it now (`production`, `staging`, `shadow`, `archived`...). */
  aliases: string[];
}

export interface ModelAlias {
  name: string;
  alias: string;
  version: number;
  updatedAt: string;
  updatedBy: string;
}

/** What an alias move was: set (a promotion, an archive, a shadow...), a rollback, or an A/B test
 * started, changed or stopped (`alias` is `ab`, `reason` holds the share). */
export type AliasMoveKind = 'SET' | 'ROLLBACK' | 'AB';

/** A head's running A/B test. */
export interface AbTest {
  /** The candidate version. */
  version: number;
  /** The share of images it answers. */
  share: number;
  updatedAt: string;
  updatedBy: string;
}

/** One move of an alias (append-only history). */
export interface AliasMove {
  alias: string;
  /** Where it points after the move; null when it was removed. */
  version: number | null;
  /** Where it pointed before; null when it pointed nowhere. */
  previousVersion: number | null;
  changedAt: string;
  changedBy: string;
  reason: string | null;
  kind: AliasMoveKind;
}

/** A registered model: its versions (oldest first), aliases, production and history (newest first). */
export interface RegisteredModel {
  name: string;
  kind: ModelKind;
  versions: ModelVersion[];
  aliases: ModelAlias[];
  production: ModelVersion | null;
  history: AliasMove[];
  /** The A/B test running on it, if any. */
  abTest: AbTest | null;
}

/** What a promotion, rollback, archive or alias change did. */
export interface AliasUpdate {
  name: string;
  alias: string;
  previousVersion: number | null;
  version: number | null;
  /** False when the alias already pointed there (nothing was recorded). */
  changed: boolean;
}

/** What one replica of one stage serves (labels), as it last said. */
export interface ReplicaServing {
  replica: string;
  stage: string;
  model: string;
  production: string;
  shadow: string | null;
  candidate: string | null;
  share: number | null;
  at: string;
}

/** Version A (production) against version B on the same images. */
export interface PairedComparison {
  /** Images both answered. */
  n: number;
  /** Of those, the labelled ones: the base of accuracy, F1 and McNemar's test. */
  labeled: number;
  accuracyA: number | null;
  accuracyB: number | null;
  weightedF1A: number | null;
  weightedF1B: number | null;
  /** `accuracyB - accuracyA`, with its 95% interval (Wald, paired). */
  difference: number | null;
  differenceLow: number | null;
  differenceHigh: number | null;
  /** Labelled images A got right and B wrong. */
  mcnemarB: number;
  /** Labelled images A got wrong and B right. */
  mcnemarC: number;
  mcnemarP: number;
  /** Share of all `n` images both gave the same class. */
  agreement: number | null;
  latencyP50MsA: number;
  latencyP95MsA: number;
  latencyP50MsB: number;
  latencyP95MsB: number;
}

export interface ShadowComparison {
  model: string;
  /** The shadow version's label. */
  shadow: string;
  /** A: production's answers; B: the shadow's. */
  comparison: PairedComparison;
}

export interface AbComparison {
  model: string;
  /** Production's label. */
  production: string;
  /** The candidate's label. */
  candidate: string;
  /** The share of images the candidate answers. */
  share: number;
  /** A: production; B: the candidate. */
  comparison: PairedComparison;
}

export interface Backtest {
  model: string;
  version: number;
  label: string;
  /** A: what production answered then; B: this version. */
  comparison: PairedComparison;
  /** Time to read and score the images, in seconds. */
  seconds: number;
}
