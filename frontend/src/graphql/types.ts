// Names for the GraphQL result types the dashboard reads. Nothing here is written by hand: each
// is a fragment or a part of an operation result from ./generated.ts, which `npm run codegen`
// generates from ../../../schema.graphql and the documents in ./documents.ts.

import type {
  AliasUpdateFieldsFragment,
  ApiKeyFieldsFragment,
  AuditEntryFieldsFragment,
  BacktestQuery,
  BundleQuery,
  ComparisonFieldsFragment,
  ExperimentsQuery,
  HomeQuery,
  ImageFieldsFragment,
  ImagesQuery,
  MeQuery,
  ModelStatsFieldsFragment,
  ModelVersionFieldsFragment,
  PairedComparisonFieldsFragment,
  PredictionFieldsFragment,
  RegisteredModelsQuery,
  ReplayFieldsFragment,
  ReplicaServingFieldsFragment,
  StatsQuery,
} from './generated';

export type { CifarSplit, ImageFilter, ImageStatus, ModelKind, Role } from './generated';
export type { Json } from './scalars';

export type Prediction = PredictionFieldsFragment;
export type Comparison = ComparisonFieldsFragment;
export type Image = ImageFieldsFragment;

export type Health = HomeQuery['health'];
export type ModelInfo = HomeQuery['models'][number];

/** `{ classes models { name version kind } }`: what the dashboard needs of the model bundle. */
export type BundleData = BundleQuery;

export type ModelStats = ModelStatsFieldsFragment;

export type Replay = ReplayFieldsFragment;
export type ReplayScore = Replay['scores'][number];

export type ConfusionMatrix = StatsQuery['confusionMatrix'];
export type ClassMetrics = StatsQuery['classMetrics'][number];
export type ClassCount = StatsQuery['classDistribution'][number];
export type TimeBucket = StatsQuery['timeSeries'][number];
export type Throughput = StatsQuery['throughput'];

/** A page of the History list (its images carry fewer fields than `Image`). */
export type ImageConnection = ImagesQuery['images'];

// ---- model registry, rollout and experiments -----------------------------------------------

/** One registered version of a model: immutable. */
export type ModelVersion = ModelVersionFieldsFragment;

/** A registered model: its versions (oldest first), aliases, production and history (newest first). */
export type RegisteredModel = RegisteredModelsQuery['registeredModels'][number];

/** One move of an alias (append-only history). */
export type AliasMove = RegisteredModel['history'][number];

/** What a promotion, rollback, archive or alias change did. */
export type AliasUpdate = AliasUpdateFieldsFragment;

/** What one replica of one stage serves (labels), as it last said. */
export type ReplicaServing = ReplicaServingFieldsFragment;

/** Version A against version B on the same images. */
export type PairedComparison = PairedComparisonFieldsFragment;

export type ShadowComparison = NonNullable<ExperimentsQuery['shadowComparison']>;
export type AbComparison = NonNullable<ExperimentsQuery['abComparison']>;
export type Backtest = BacktestQuery['backtest'];

// ---- callers and API keys ------------------------------------------------------------------

/** The caller of a request: `key:<id>` or `anonymous`, its role (null: not signed in), open mode. */
export type Me = MeQuery['me'];

/** An API key as listed (never the key itself). */
export type ApiKey = ApiKeyFieldsFragment;

/** One entry of the audit log (F25): who did what, when, from where, and how it ended. */
export type AuditEntry = AuditEntryFieldsFragment;
