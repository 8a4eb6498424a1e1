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
