import type { Json } from './scalars';
export type Maybe<T> = T | null;
export type InputMaybe<T> = Maybe<T>;
export type Exact<T extends { [key: string]: unknown }> = { [K in keyof T]: T[K] };
export type MakeOptional<T, K extends keyof T> = Omit<T, K> & { [SubKey in K]?: Maybe<T[SubKey]> };
export type MakeMaybe<T, K extends keyof T> = Omit<T, K> & { [SubKey in K]: Maybe<T[SubKey]> };
export type MakeEmpty<T extends { [key: string]: unknown }, K extends keyof T> = { [_ in K]?: never };
export type Incremental<T> = T | { [P in keyof T]?: P extends ' $fragmentName' | '__typename' ? T[P] : never };
/** All built-in and custom scalars, mapped to their actual values */
export type Scalars = {
  ID: { input: string; output: string; }
  String: { input: string; output: string; }
  Boolean: { input: boolean; output: boolean; }
  Int: { input: number; output: number; }
  Float: { input: number; output: number; }
  /**
   * Implement the DateTime<Utc> scalar
   *
   * The input/output is a string in RFC3339 format.
   */
  DateTime: { input: string; output: string; }
  /** A scalar that can represent any JSON value. */
  JSON: { input: Json; output: Json; }
  /** A multipart file upload */
  Upload: { input: File; output: File; }
};

/** What a move was. */
export type AliasMoveKind =
  /**
   * An A/B test started, changed (`version`: the candidate) or stopped (`version` null);
   * `alias` is `ab` and `reason` holds the share.
   */
  | 'AB'
  /** `production` put back where it was before its last forward move. */
  | 'ROLLBACK'
  /** An alias set: a promotion, an archive, a shadow... */
  | 'SET';

export type CifarSplit =
  | 'TEST'
  | 'TRAIN';

export type HealthStatus =
  | 'DOWN'
  | 'UP';

export type ImageFilter = {
  /** Ground-truth label (one of `classes`). */
  label?: InputMaybe<Scalars['String']['input']>;
  source?: InputMaybe<Scalars['String']['input']>;
  status?: InputMaybe<ImageStatus>;
};

export type ImageStatus =
  /** Every classifier answered; the comparison is available. */
  | 'COMPLETED'
  /** Descriptors computed, waiting for the classifiers. */
  | 'EXTRACTED'
  /** Cannot be processed; see `failureReason`. */
  | 'FAILED'
  /** Stored, waiting for the extractor. */
  | 'PENDING';

/** A maintenance job. */
export type JobKind =
  /**
   * Checks rows against objects, images stuck, predictions and comparisons missing, and
   * the audit chain; reports what it finds.
   */
  | 'DATA_QUALITY'
  /**
   * Deletes images (with their objects), predictions and pipeline-feed rows older than the
   * configured ages.
   */
  | 'RETENTION';

export type ModelKind =
  /** A head that turns descriptors into class probabilities. */
  | 'CLASSIFIER'
  /** The backbone that turns an image into descriptors. */
  | 'EXTRACTOR';

/** What became durable. */
export type PipelineEventKind =
  /** Every expected head answered the image; its comparison is recorded. */
  | 'IMAGE_COMPLETED'
  /** The image cannot be processed (`image.failureReason` says why). */
  | 'IMAGE_FAILED'
  /** A prediction was recorded (`prediction` is set). */
  | 'PREDICTION_RECORDED';

export type ReplayInput = {
  /** 1 ..= 10000 (TEST) or 50000 (TRAIN). */
  limit?: Scalars['Int']['input'];
  /** Images per second, 0.1 ..= 500. */
  rate?: Scalars['Float']['input'];
  /** Seed of the shuffle: same seed, same images in the same order. */
  seed?: Scalars['Int']['input'];
  split?: CifarSplit;
};

export type ReplayStatus =
  | 'FAILED'
  | 'FINISHED'
  | 'RUNNING'
  | 'STOPPED';

/** What a caller may do; each role may also do what the roles before it may. */
export type Role =
  /** Also replays, the model registry, API keys and `/metrics`. */
  | 'ADMIN'
  /** Also uploads images (and labels them). */
  | 'UPLOADER'
  /** Queries and subscriptions. */
  | 'VIEWER';

export type PredictionFieldsFragment = { id: string, imageId: string, model: string, modelVersion: string, predictedClass: string, confidence: number, inferenceMs: number, correct: boolean | null, createdAt: string, topK: Array<{ class: string, probability: number }> };

export type ComparisonFieldsFragment = { fastestModel: string, fastestModelVersion: string, mostConfidentModel: string, mostConfidentModelVersion: string, consensusClass: string | null, agreement: number, createdAt: string };

export type ImageFieldsFragment = { id: string, createdAt: string, source: string, label: string | null, status: ImageStatus, failureReason: string | null, contentType: string, sizeBytes: number, width: number, height: number, contentHash: string, objectKey: string, completedAt: string | null, extractorVersion: string | null, extractMs: number | null, predictions: Array<{ id: string, imageId: string, model: string, modelVersion: string, predictedClass: string, confidence: number, inferenceMs: number, correct: boolean | null, createdAt: string, topK: Array<{ class: string, probability: number }> }>, comparison: { fastestModel: string, fastestModelVersion: string, mostConfidentModel: string, mostConfidentModelVersion: string, consensusClass: string | null, agreement: number, createdAt: string } | null };

export type ModelStatsFieldsFragment = { model: string, modelVersions: Array<string>, count: number, latencyP50Ms: number, latencyP95Ms: number, latencyP99Ms: number, meanLatencyMs: number, meanConfidence: number, labeled: number, correct: number, accuracy: number | null };

export type ReplayFieldsFragment = { id: string, split: CifarSplit, rate: number, limit: number, seed: number, submitted: number, completed: number, failed: number, correct: number, status: ReplayStatus, error: string | null, startedAt: string, finishedAt: string | null, scores: Array<{ model: string, modelVersion: string, answered: number, correct: number, accuracy: number | null }> };

export type HomeQueryVariables = Exact<{ [key: string]: never; }>;


export type HomeQuery = { health: { status: HealthStatus, ready: boolean, components: Array<{ name: string, kind: string, status: HealthStatus, detail: string | null, latencyMs: number }> }, models: Array<{ name: string, version: string, kind: ModelKind, descriptorDim: number, inputSize: number | null, runtime: string }>, modelStats: Array<{ model: string, modelVersions: Array<string>, count: number, latencyP50Ms: number, latencyP95Ms: number, latencyP99Ms: number, meanLatencyMs: number, meanConfidence: number, labeled: number, correct: number, accuracy: number | null }> };

export type BundleQueryVariables = Exact<{ [key: string]: never; }>;


export type BundleQuery = { classes: Array<string>, models: Array<{ name: string, version: string, kind: ModelKind }> };

export type ImageQueryVariables = Exact<{
  id: Scalars['ID']['input'];
}>;


export type ImageQuery = { image: { id: string, createdAt: string, source: string, label: string | null, status: ImageStatus, failureReason: string | null, contentType: string, sizeBytes: number, width: number, height: number, contentHash: string, objectKey: string, completedAt: string | null, extractorVersion: string | null, extractMs: number | null, predictions: Array<{ id: string, imageId: string, model: string, modelVersion: string, predictedClass: string, confidence: number, inferenceMs: number, correct: boolean | null, createdAt: string, topK: Array<{ class: string, probability: number }> }>, comparison: { fastestModel: string, fastestModelVersion: string, mostConfidentModel: string, mostConfidentModelVersion: string, consensusClass: string | null, agreement: number, createdAt: string } | null } | null };

export type ImagesQueryVariables = Exact<{
  first?: InputMaybe<Scalars['Int']['input']>;
  after?: InputMaybe<Scalars['String']['input']>;
  filter?: InputMaybe<ImageFilter>;
}>;


export type ImagesQuery = { images: { totalCount: number, pageInfo: { hasNextPage: boolean, endCursor: string | null }, edges: Array<{ cursor: string, node: { id: string, createdAt: string, source: string, label: string | null, status: ImageStatus, failureReason: string | null, contentType: string, width: number, height: number, sizeBytes: number, predictions: Array<{ id: string, model: string, predictedClass: string, confidence: number }>, comparison: { fastestModel: string, fastestModelVersion: string, mostConfidentModel: string, mostConfidentModelVersion: string, consensusClass: string | null, agreement: number, createdAt: string } | null } }> } };

export type StatsQueryVariables = Exact<{
  model: Scalars['String']['input'];
  bucketSeconds: Scalars['Int']['input'];
  windowSeconds: Scalars['Int']['input'];
}>;


export type StatsQuery = { modelStats: Array<{ model: string, modelVersions: Array<string>, count: number, latencyP50Ms: number, latencyP95Ms: number, latencyP99Ms: number, meanLatencyMs: number, meanConfidence: number, labeled: number, correct: number, accuracy: number | null }>, timeSeries: Array<{ model: string, start: string, count: number, labeled: number, correct: number, accuracy: number | null, meanLatencyMs: number, latencyP50Ms: number, latencyP95Ms: number }>, classDistribution: Array<{ class: string, count: number }>, confusionMatrix: { model: string, classes: Array<string>, counts: Array<Array<number>>, total: number }, classMetrics: Array<{ class: string, precision: number | null, recall: number | null, f1: number | null, support: number, predicted: number }>, throughput: { windowSeconds: number, imagesCompleted: number, imagesPerSecond: number, predictionsPerSecond: number }, recentPredictions: Array<{ id: string, imageId: string, model: string, modelVersion: string, predictedClass: string, confidence: number, inferenceMs: number, correct: boolean | null, createdAt: string, image: { id: string, label: string | null, source: string } | null, topK: Array<{ class: string, probability: number }> }> };

export type ReplaysQueryVariables = Exact<{ [key: string]: never; }>;


export type ReplaysQuery = { replays: Array<{ id: string, split: CifarSplit, rate: number, limit: number, seed: number, submitted: number, completed: number, failed: number, correct: number, status: ReplayStatus, error: string | null, startedAt: string, finishedAt: string | null, scores: Array<{ model: string, modelVersion: string, answered: number, correct: number, accuracy: number | null }> }> };

export type MeQueryVariables = Exact<{ [key: string]: never; }>;


export type MeQuery = { me: { actor: string, role: Role | null, open: boolean } };

export type ApiKeyFieldsFragment = { id: string, name: string, role: Role, prefix: string, createdAt: string, createdBy: string, revokedAt: string | null, revokedBy: string | null };

export type ApiKeysQueryVariables = Exact<{ [key: string]: never; }>;


export type ApiKeysQuery = { apiKeys: Array<{ id: string, name: string, role: Role, prefix: string, createdAt: string, createdBy: string, revokedAt: string | null, revokedBy: string | null }> };

export type CreateApiKeyMutationVariables = Exact<{
  name: Scalars['String']['input'];
  role: Role;
}>;


export type CreateApiKeyMutation = { createApiKey: { key: string, apiKey: { id: string, name: string, role: Role, prefix: string, createdAt: string, createdBy: string, revokedAt: string | null, revokedBy: string | null } } };

export type RevokeApiKeyMutationVariables = Exact<{
  id: Scalars['ID']['input'];
}>;


export type RevokeApiKeyMutation = { revokeApiKey: { id: string, name: string, role: Role, prefix: string, createdAt: string, createdBy: string, revokedAt: string | null, revokedBy: string | null } };

export type AuditEntryFieldsFragment = { seq: number, at: string, actor: string, role: string | null, ip: string | null, requestId: string, operation: string, outcome: string, detail: string | null, hash: string };

export type AuditLogQueryVariables = Exact<{
  limit: Scalars['Int']['input'];
  beforeSeq?: InputMaybe<Scalars['Int']['input']>;
  actor?: InputMaybe<Scalars['String']['input']>;
  operation?: InputMaybe<Scalars['String']['input']>;
  outcome?: InputMaybe<Scalars['String']['input']>;
}>;


export type AuditLogQuery = { auditLog: Array<{ seq: number, at: string, actor: string, role: string | null, ip: string | null, requestId: string, operation: string, outcome: string, detail: string | null, hash: string }> };

export type UploadImageMutationVariables = Exact<{
  file: Scalars['Upload']['input'];
  label?: InputMaybe<Scalars['String']['input']>;
  source?: InputMaybe<Scalars['String']['input']>;
}>;


export type UploadImageMutation = { uploadImage: { id: string, createdAt: string, source: string, label: string | null, status: ImageStatus, failureReason: string | null, contentType: string, sizeBytes: number, width: number, height: number, contentHash: string, objectKey: string, completedAt: string | null, extractorVersion: string | null, extractMs: number | null, predictions: Array<{ id: string, imageId: string, model: string, modelVersion: string, predictedClass: string, confidence: number, inferenceMs: number, correct: boolean | null, createdAt: string, topK: Array<{ class: string, probability: number }> }>, comparison: { fastestModel: string, fastestModelVersion: string, mostConfidentModel: string, mostConfidentModelVersion: string, consensusClass: string | null, agreement: number, createdAt: string } | null } };

export type UploadImagesMutationVariables = Exact<{
  files: Array<Scalars['Upload']['input']> | Scalars['Upload']['input'];
  labels?: InputMaybe<Array<InputMaybe<Scalars['String']['input']>> | InputMaybe<Scalars['String']['input']>>;
}>;


export type UploadImagesMutation = { uploadImages: Array<{ id: string, createdAt: string, source: string, label: string | null, status: ImageStatus, failureReason: string | null, contentType: string, sizeBytes: number, width: number, height: number, contentHash: string, objectKey: string, completedAt: string | null, extractorVersion: string | null, extractMs: number | null, predictions: Array<{ id: string, imageId: string, model: string, modelVersion: string, predictedClass: string, confidence: number, inferenceMs: number, correct: boolean | null, createdAt: string, topK: Array<{ class: string, probability: number }> }>, comparison: { fastestModel: string, fastestModelVersion: string, mostConfidentModel: string, mostConfidentModelVersion: string, consensusClass: string | null, agreement: number, createdAt: string } | null }> };

export type StartReplayMutationVariables = Exact<{
  input?: InputMaybe<ReplayInput>;
}>;


export type StartReplayMutation = { startReplay: { id: string, split: CifarSplit, rate: number, limit: number, seed: number, submitted: number, completed: number, failed: number, correct: number, status: ReplayStatus, error: string | null, startedAt: string, finishedAt: string | null, scores: Array<{ model: string, modelVersion: string, answered: number, correct: number, accuracy: number | null }> } };

export type StopReplayMutationVariables = Exact<{
  id: Scalars['ID']['input'];
}>;


export type StopReplayMutation = { stopReplay: { id: string, split: CifarSplit, rate: number, limit: number, seed: number, submitted: number, completed: number, failed: number, correct: number, status: ReplayStatus, error: string | null, startedAt: string, finishedAt: string | null, scores: Array<{ model: string, modelVersion: string, answered: number, correct: number, accuracy: number | null }> } };

export type PredictionAddedSubscriptionVariables = Exact<{
  imageId?: InputMaybe<Scalars['ID']['input']>;
  model?: InputMaybe<Scalars['String']['input']>;
}>;


export type PredictionAddedSubscription = { predictionAdded: { id: string, imageId: string, model: string, modelVersion: string, predictedClass: string, confidence: number, inferenceMs: number, correct: boolean | null, createdAt: string, topK: Array<{ class: string, probability: number }> } };

export type ImageCompletedSubscriptionVariables = Exact<{
  imageId?: InputMaybe<Scalars['ID']['input']>;
}>;


export type ImageCompletedSubscription = { imageCompleted: { id: string, createdAt: string, source: string, label: string | null, status: ImageStatus, failureReason: string | null, contentType: string, sizeBytes: number, width: number, height: number, contentHash: string, objectKey: string, completedAt: string | null, extractorVersion: string | null, extractMs: number | null, predictions: Array<{ id: string, imageId: string, model: string, modelVersion: string, predictedClass: string, confidence: number, inferenceMs: number, correct: boolean | null, createdAt: string, topK: Array<{ class: string, probability: number }> }>, comparison: { fastestModel: string, fastestModelVersion: string, mostConfidentModel: string, mostConfidentModelVersion: string, consensusClass: string | null, agreement: number, createdAt: string } | null } };

export type ImageFailedSubscriptionVariables = Exact<{
  imageId?: InputMaybe<Scalars['ID']['input']>;
}>;


export type ImageFailedSubscription = { imageFailed: { id: string, createdAt: string, source: string, label: string | null, status: ImageStatus, failureReason: string | null, contentType: string, sizeBytes: number, width: number, height: number, contentHash: string, objectKey: string, completedAt: string | null, extractorVersion: string | null, extractMs: number | null, predictions: Array<{ id: string, imageId: string, model: string, modelVersion: string, predictedClass: string, confidence: number, inferenceMs: number, correct: boolean | null, createdAt: string, topK: Array<{ class: string, probability: number }> }>, comparison: { fastestModel: string, fastestModelVersion: string, mostConfidentModel: string, mostConfidentModelVersion: string, consensusClass: string | null, agreement: number, createdAt: string } | null } };

export type ReplayProgressSubscriptionVariables = Exact<{
  id?: InputMaybe<Scalars['ID']['input']>;
}>;


export type ReplayProgressSubscription = { replayProgress: { id: string, split: CifarSplit, rate: number, limit: number, seed: number, submitted: number, completed: number, failed: number, correct: number, status: ReplayStatus, error: string | null, startedAt: string, finishedAt: string | null, scores: Array<{ model: string, modelVersion: string, answered: number, correct: number, accuracy: number | null }> } };

export type StatsUpdatedSubscriptionVariables = Exact<{
  intervalMs: Scalars['Int']['input'];
}>;


export type StatsUpdatedSubscription = { statsUpdated: Array<{ model: string, modelVersions: Array<string>, count: number, latencyP50Ms: number, latencyP95Ms: number, latencyP99Ms: number, meanLatencyMs: number, meanConfidence: number, labeled: number, correct: number, accuracy: number | null }> };

export type ModelVersionFieldsFragment = { name: string, version: number, label: string, kind: ModelKind, sha256: string, sizeBytes: number, artifactKey: string, inputShape: Array<number | null>, outputShape: Array<number | null>, descriptorDim: number, inputSize: number | null, classes: Array<string> | null, extractorLabel: string | null, metrics: Json | null, card: Json | null, lineage: Json | null, registeredBy: string, registeredAt: string, aliases: Array<string> };

export type AliasUpdateFieldsFragment = { name: string, alias: string, previousVersion: number | null, version: number | null, changed: boolean };

export type ReplicaServingFieldsFragment = { replica: string, stage: string, model: string, production: string, shadow: string | null, candidate: string | null, share: number | null, at: string };

export type PairedComparisonFieldsFragment = { n: number, labeled: number, accuracyA: number | null, accuracyB: number | null, weightedF1A: number | null, weightedF1B: number | null, difference: number | null, differenceLow: number | null, differenceHigh: number | null, mcnemarB: number, mcnemarC: number, mcnemarP: number, agreement: number | null, latencyP50MsA: number, latencyP95MsA: number, latencyP50MsB: number, latencyP95MsB: number };

export type RegisteredModelsQueryVariables = Exact<{ [key: string]: never; }>;


export type RegisteredModelsQuery = { registeredModels: Array<{ name: string, kind: ModelKind, versions: Array<{ name: string, version: number, label: string, kind: ModelKind, sha256: string, sizeBytes: number, artifactKey: string, inputShape: Array<number | null>, outputShape: Array<number | null>, descriptorDim: number, inputSize: number | null, classes: Array<string> | null, extractorLabel: string | null, metrics: Json | null, card: Json | null, lineage: Json | null, registeredBy: string, registeredAt: string, aliases: Array<string> }>, aliases: Array<{ name: string, alias: string, version: number, updatedAt: string, updatedBy: string }>, production: { name: string, version: number, label: string } | null, history: Array<{ alias: string, version: number | null, previousVersion: number | null, changedAt: string, changedBy: string, reason: string | null, kind: AliasMoveKind }>, abTest: { version: number, share: number, updatedAt: string, updatedBy: string } | null }> };

export type ProductionAtQueryVariables = Exact<{
  model: Scalars['String']['input'];
  at: Scalars['DateTime']['input'];
}>;


export type ProductionAtQuery = { productionAt: { name: string, version: number, label: string, registeredAt: string } | null };

export type ModelRolloutQueryVariables = Exact<{
  model?: InputMaybe<Scalars['String']['input']>;
}>;


export type ModelRolloutQuery = { modelRollout: Array<{ replica: string, stage: string, model: string, production: string, shadow: string | null, candidate: string | null, share: number | null, at: string }> };

export type ExperimentsQueryVariables = Exact<{
  model: Scalars['String']['input'];
  last: Scalars['Int']['input'];
}>;


export type ExperimentsQuery = { shadowComparison: { model: string, shadow: string, comparison: { n: number, labeled: number, accuracyA: number | null, accuracyB: number | null, weightedF1A: number | null, weightedF1B: number | null, difference: number | null, differenceLow: number | null, differenceHigh: number | null, mcnemarB: number, mcnemarC: number, mcnemarP: number, agreement: number | null, latencyP50MsA: number, latencyP95MsA: number, latencyP50MsB: number, latencyP95MsB: number } } | null, abComparison: { model: string, production: string, candidate: string, share: number, comparison: { n: number, labeled: number, accuracyA: number | null, accuracyB: number | null, weightedF1A: number | null, weightedF1B: number | null, difference: number | null, differenceLow: number | null, differenceHigh: number | null, mcnemarB: number, mcnemarC: number, mcnemarP: number, agreement: number | null, latencyP50MsA: number, latencyP95MsA: number, latencyP50MsB: number, latencyP95MsB: number } } | null };

export type BacktestQueryVariables = Exact<{
  model: Scalars['String']['input'];
  version: Scalars['Int']['input'];
  since?: InputMaybe<Scalars['DateTime']['input']>;
  until?: InputMaybe<Scalars['DateTime']['input']>;
  last: Scalars['Int']['input'];
}>;


export type BacktestQuery = { backtest: { model: string, version: number, label: string, seconds: number, comparison: { n: number, labeled: number, accuracyA: number | null, accuracyB: number | null, weightedF1A: number | null, weightedF1B: number | null, difference: number | null, differenceLow: number | null, differenceHigh: number | null, mcnemarB: number, mcnemarC: number, mcnemarP: number, agreement: number | null, latencyP50MsA: number, latencyP95MsA: number, latencyP50MsB: number, latencyP95MsB: number } } };

export type RegisterModelVersionMutationVariables = Exact<{
  file: Scalars['Upload']['input'];
  name: Scalars['String']['input'];
  kind: ModelKind;
  label?: InputMaybe<Scalars['String']['input']>;
  extractorLabel?: InputMaybe<Scalars['String']['input']>;
  metrics?: InputMaybe<Scalars['JSON']['input']>;
  card?: InputMaybe<Scalars['JSON']['input']>;
  lineage?: InputMaybe<Scalars['JSON']['input']>;
}>;


export type RegisterModelVersionMutation = { registerModelVersion: { name: string, version: number, label: string, kind: ModelKind, sha256: string, sizeBytes: number, artifactKey: string, inputShape: Array<number | null>, outputShape: Array<number | null>, descriptorDim: number, inputSize: number | null, classes: Array<string> | null, extractorLabel: string | null, metrics: Json | null, card: Json | null, lineage: Json | null, registeredBy: string, registeredAt: string, aliases: Array<string> } };

export type PromoteModelVersionMutationVariables = Exact<{
  name: Scalars['String']['input'];
  version: Scalars['Int']['input'];
  reason?: InputMaybe<Scalars['String']['input']>;
}>;


export type PromoteModelVersionMutation = { promoteModelVersion: { name: string, alias: string, previousVersion: number | null, version: number | null, changed: boolean } };

export type RollbackModelMutationVariables = Exact<{
  name: Scalars['String']['input'];
  reason?: InputMaybe<Scalars['String']['input']>;
}>;


export type RollbackModelMutation = { rollbackModel: { name: string, alias: string, previousVersion: number | null, version: number | null, changed: boolean } };

export type ArchiveModelVersionMutationVariables = Exact<{
  name: Scalars['String']['input'];
  version: Scalars['Int']['input'];
  reason?: InputMaybe<Scalars['String']['input']>;
}>;


export type ArchiveModelVersionMutation = { archiveModelVersion: { name: string, alias: string, previousVersion: number | null, version: number | null, changed: boolean } };

export type SetModelAliasMutationVariables = Exact<{
  name: Scalars['String']['input'];
  alias: Scalars['String']['input'];
  version?: InputMaybe<Scalars['Int']['input']>;
  reason?: InputMaybe<Scalars['String']['input']>;
}>;


export type SetModelAliasMutation = { setModelAlias: { name: string, alias: string, previousVersion: number | null, version: number | null, changed: boolean } };

export type StartAbTestMutationVariables = Exact<{
  model: Scalars['String']['input'];
  version: Scalars['Int']['input'];
  share: Scalars['Float']['input'];
}>;


export type StartAbTestMutation = { startAbTest: boolean };

export type StopAbTestMutationVariables = Exact<{
  model: Scalars['String']['input'];
}>;


export type StopAbTestMutation = { stopAbTest: boolean };

export type ModelRolloutChangesSubscriptionVariables = Exact<{
  model?: InputMaybe<Scalars['String']['input']>;
}>;


export type ModelRolloutChangesSubscription = { modelRollout: { replica: string, stage: string, model: string, production: string, shadow: string | null, candidate: string | null, share: number | null, at: string } };
