// A paired comparison of two versions of one head on the same images (shadow, A/B test,
// back-test): accuracies and weighted F1 of each, the accuracy difference with its 95% interval
// drawn around zero, McNemar's exact test, agreement, latencies.

import type { PairedComparison } from '../graphql/types';
import { ms, num, pct } from '../lib/format';

/** `+1.25 pp`, `−0.40 pp`; a difference of two rates in percentage points. */
function pp(x: number | null | undefined, digits = 2): string {
  if (x === null || x === undefined || Number.isNaN(x)) return '—';
  const v = x * 100;
  const s = Math.abs(v).toFixed(digits);
  return `${v > 0 ? '+' : v < 0 ? '−' : '±'}${s} pp`;
}

/** McNemar's p-value as a reader wants it. */
function pValue(p: number): string {
  if (p < 0.001) return '< 0.001';
  if (p >= 0.9995) return '1';
  return p.toFixed(3);
}

type Verdict = 'better' | 'worse' | 'even' | 'none';

/** Whether B differs from A: the 95% interval of the difference lies above or below zero. */
function verdict(c: PairedComparison): Verdict {
  if (c.difference === null || c.differenceLow === null || c.differenceHigh === null) return 'none';
  if (c.differenceLow > 0) return 'better';
  if (c.differenceHigh < 0) return 'worse';
  return 'even';
}

const VERDICT_TEXT: Record<Verdict, string> = {
  better: 'B is more accurate (95% interval above zero)',
  worse: 'B is less accurate (95% interval below zero)',
  even: 'no significant difference (95% interval spans zero)',
  none: 'no labelled image yet: no accuracy difference',
};

/** A "nice" half-range for the axis: 1, 2, 5 × 10^k percentage points, at least 1 pp. */
function halfRange(c: PairedComparison): number {
  const m = Math.max(Math.abs(c.differenceLow ?? 0), Math.abs(c.differenceHigh ?? 0), Math.abs(c.difference ?? 0), 0.01) * 1.1;
  const exp = Math.floor(Math.log10(m));
  for (const step of [1, 2, 5, 10]) {
    const r = step * 10 ** exp;
    if (r >= m) return Math.min(r, 1);
  }
  return 1;
}

/** The accuracy difference B − A and its 95% interval as a bar on an axis centred on zero. */
export function DifferenceBar({ comparison: c }: { comparison: PairedComparison }) {
  const v = verdict(c);
  if (v === 'none') {
    return (
      <div className="diff-bar diff-none muted small" data-testid="diff-bar" data-verdict={v}>
        {VERDICT_TEXT.none}
      </div>
    );
  }
  const r = halfRange(c);
  const W = 320;
  const mid = W / 2;
  const span = W / 2 - 14;
  const x = (d: number) => mid + (Math.max(-r, Math.min(r, d)) / r) * span;
  const lo = x(c.differenceLow!);
  const hi = x(c.differenceHigh!);
  return (
    <div className={`diff-bar diff-${v}`} data-testid="diff-bar" data-verdict={v}>
      <svg viewBox={`0 0 ${W} 44`} role="img" aria-label={`accuracy difference ${pp(c.difference)}, 95% interval ${pp(c.differenceLow)} to ${pp(c.differenceHigh)}`}>
        <line className="axis" x1={mid - span} x2={mid + span} y1={18} y2={18} />
        <line className="zero" x1={mid} x2={mid} y1={4} y2={32} />
        <rect className="ci" x={lo} y={12} width={Math.max(2, hi - lo)} height={12} rx={3} />
        <circle className="point" cx={x(c.difference!)} cy={18} r={4.5} />
        <text x={mid - span} y={42} textAnchor="start">
          {pp(-r, 0)}
        </text>
        <text x={mid} y={42} textAnchor="middle">
          0
        </text>
        <text x={mid + span} y={42} textAnchor="end">
          {pp(r, 0)}
        </text>
      </svg>
      <div className="small">
        <strong data-testid="difference">{pp(c.difference)}</strong>{' '}
        <span className="muted" data-testid="difference-ci">
          [{pp(c.differenceLow)}, {pp(c.differenceHigh)}]
        </span>{' '}
        · <span data-testid="verdict">{VERDICT_TEXT[v]}</span>
      </div>
    </div>
  );
}

function delta(a: number | null, b: number | null): number | null {
  return a === null || b === null ? null : b - a;
}

/**
 * The comparison of A (production) and B (the shadow, the candidate or the back-tested
 * version), named by their labels.
 */
export function PairedComparisonView({
  comparison: c,
  labelA,
  labelB,
  testId = 'paired-comparison',
}: {
  comparison: PairedComparison;
  labelA: string;
  labelB: string;
  testId?: string;
}) {
  const significant = c.mcnemarB + c.mcnemarC > 0 && c.mcnemarP < 0.05;
  return (
    <div
      className="paired"
      data-testid={testId}
      data-n={c.n}
      data-labeled={c.labeled}
      data-agreement={c.agreement ?? ''}
      data-mcnemar-b={c.mcnemarB}
      data-mcnemar-c={c.mcnemarC}
      data-mcnemar-p={c.mcnemarP}
    >
      <div className="paired-figures">
        <div>
          <span className="k">Images</span>
          <span className="v" data-testid="paired-n">
            {num(c.n)}
          </span>
        </div>
        <div>
          <span className="k">Labelled</span>
          <span className="v" data-testid="paired-labeled">
            {num(c.labeled)}
          </span>
        </div>
        <div>
          <span className="k">Agreement</span>
          <span className="v" data-testid="paired-agreement">
            {pct(c.agreement)}
          </span>
        </div>
        <div title="McNemar's exact test on the labelled images: b = A right and B wrong, c = A wrong and B right">
          <span className="k">McNemar b / c</span>
          <span className="v" data-testid="paired-mcnemar">
            {c.mcnemarB} / {c.mcnemarC}
          </span>
        </div>
        <div>
          <span className="k">p (two-sided)</span>
          <span className={significant ? 'v significant' : 'v'} data-testid="paired-p">
            {pValue(c.mcnemarP)}
          </span>
        </div>
      </div>
      <table className="table compact-table paired-table">
        <thead>
          <tr>
            <th />
            <th className="num" title="A">
              A · <code>{labelA}</code>
            </th>
            <th className="num" title="B">
              B · <code>{labelB}</code>
            </th>
            <th className="num">B − A</th>
          </tr>
        </thead>
        <tbody>
          <tr data-testid="paired-accuracy">
            <td>Accuracy</td>
            <td className="num">{pct(c.accuracyA, 2)}</td>
            <td className="num">{pct(c.accuracyB, 2)}</td>
            <td className="num">{pp(c.difference)}</td>
          </tr>
          <tr data-testid="paired-f1">
            <td>Weighted F1</td>
            <td className="num">{pct(c.weightedF1A, 2)}</td>
            <td className="num">{pct(c.weightedF1B, 2)}</td>
            <td className="num">{pp(delta(c.weightedF1A, c.weightedF1B))}</td>
          </tr>
          <tr>
            <td>Latency p50</td>
            <td className="num">{c.n ? ms(c.latencyP50MsA, 3) : '—'}</td>
            <td className="num">{c.n ? ms(c.latencyP50MsB, 3) : '—'}</td>
            <td className="num">{c.n ? ms(c.latencyP50MsB - c.latencyP50MsA, 3) : '—'}</td>
          </tr>
          <tr>
            <td>Latency p95</td>
            <td className="num">{c.n ? ms(c.latencyP95MsA, 3) : '—'}</td>
            <td className="num">{c.n ? ms(c.latencyP95MsB, 3) : '—'}</td>
            <td className="num">{c.n ? ms(c.latencyP95MsB - c.latencyP95MsA, 3) : '—'}</td>
          </tr>
        </tbody>
      </table>
      <DifferenceBar comparison={c} />
    </div>
  );
}
