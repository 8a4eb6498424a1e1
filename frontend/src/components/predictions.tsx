import type { Comparison, Image, Prediction } from '../graphql/types';
import { useBundle } from '../lib/bundle';
import { ms, pct } from '../lib/format';
import { ClassChip, Meter, Spinner } from './ui';

/** The heads' answers for one image; a placeholder row for every head of the bundle still missing. */
export function PredictionList({
  predictions,
  label,
  topK = false,
  compact = false,
}: {
  predictions: Prediction[];
  label?: string | null;
  topK?: boolean;
  compact?: boolean;
}) {
  const { heads, byHeadVersion, headColor, versioned } = useBundle();
  const sorted = byHeadVersion(predictions, (p) => p.model, (p) => p.modelVersion);
  const present = new Set(sorted.map((p) => p.model));
  const missing = heads.filter((h) => !present.has(h));
  return (
    <div className={compact ? 'predictions compact' : 'predictions'} data-testid="predictions" data-count={sorted.length}>
      {sorted.map((p) => (
        <div key={p.id} className="prediction" data-testid={`prediction-${p.model}`} data-model={p.model} data-class={p.predictedClass}>
          <div className="prediction-head">
            <span className="model-name" style={{ borderColor: headColor(p.model) }}>
              {p.model}
              {(!compact || versioned(p.model)) && <span className="muted small version"> {p.modelVersion}</span>}
            </span>
            <ClassChip cls={p.predictedClass} />
            {label && p.correct !== null && (
              <span className={p.correct ? 'verdict ok' : 'verdict bad'} title={p.correct ? 'matches the label' : `label is ${label}`}>
                {p.correct ? '✓' : '✗'}
              </span>
            )}
            <span className="prediction-ms" data-testid="inference-ms">
              {ms(p.inferenceMs)}
            </span>
          </div>
          <div className="prediction-conf">
            <Meter value={p.confidence} color={headColor(p.model)} testId="confidence-bar" />
            <span className="conf-value" data-testid="confidence">
              {pct(p.confidence)}
            </span>
          </div>
          {topK && p.topK.length > 0 && (
            <div className="topk" data-testid="topk">
              {p.topK.map((s) => (
                <div key={s.class} className="topk-row">
                  <span className="topk-class">{s.class}</span>
                  <Meter value={s.probability} color={headColor(p.model)} />
                  <span className="topk-value">{pct(s.probability)}</span>
                </div>
              ))}
            </div>
          )}
        </div>
      ))}
      {missing.map((m) => (
        <div key={m} className="prediction pending" data-testid={`prediction-pending-${m}`}>
          <div className="prediction-head">
            <span className="model-name" style={{ borderColor: headColor(m) }}>
              {m}
            </span>
            <span className="muted small">
              <Spinner /> waiting…
            </span>
          </div>
        </div>
      ))}
    </div>
  );
}

/**
 * A contestant of the comparison: the head's name, and its version when the bundle serves
 * several versions of that head (two versions of one head can answer the same image).
 */
function Contestant({ model, version, testId }: { model: string; version: string; testId: string }) {
  const { versioned } = useBundle();
  return (
    <span className="v">
      <span data-testid={testId}>{model}</span>
      {version && versioned(model) && (
        <span className="muted small version" data-testid={`${testId}-version`}>
          {' '}
          {version}
        </span>
      )}
    </span>
  );
}

export function ComparisonView({ comparison, label }: { comparison: Comparison | null; label?: string | null }) {
  if (!comparison) {
    return (
      <div className="comparison pending muted small" data-testid="comparison-pending">
        Comparison appears when every head has answered.
      </div>
    );
  }
  const consensusOk = label && comparison.consensusClass ? comparison.consensusClass === label : null;
  return (
    <div className="comparison" data-testid="comparison">
      <div>
        <span className="k">Consensus</span>
        <span className="v" data-testid="consensus">
          {comparison.consensusClass ? <ClassChip cls={comparison.consensusClass} /> : <em>tie</em>}
          {consensusOk !== null && <span className={consensusOk ? 'verdict ok' : 'verdict bad'}>{consensusOk ? '✓' : '✗'}</span>}
        </span>
      </div>
      <div>
        <span className="k">Agreement</span>
        <span className="v" data-testid="agreement">
          {pct(comparison.agreement, 0)}
        </span>
      </div>
      <div>
        <span className="k">Fastest</span>
        <Contestant model={comparison.fastestModel} version={comparison.fastestModelVersion} testId="fastest-model" />
      </div>
      <div>
        <span className="k">Most confident</span>
        <Contestant model={comparison.mostConfidentModel} version={comparison.mostConfidentModelVersion} testId="most-confident-model" />
      </div>
    </div>
  );
}

export function ImageSummary({ image }: { image: Image }) {
  return (
    <>
      <PredictionList predictions={image.predictions} label={image.label} compact />
      <ComparisonView comparison={image.comparison} label={image.label} />
    </>
  );
}
