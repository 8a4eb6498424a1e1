import {
  ArcElement,
  BarElement,
  CategoryScale,
  Chart as ChartJS,
  Legend,
  LinearScale,
  LineElement,
  PointElement,
  Tooltip,
  type ChartOptions,
} from 'chart.js';
import { Bar, Line, Pie } from 'react-chartjs-2';
import type { ClassCount, ConfusionMatrix, ModelStats, TimeBucket } from '../graphql/types';
import { useBundle } from '../lib/bundle';
import { time } from '../lib/format';

ChartJS.register(ArcElement, BarElement, CategoryScale, Legend, LinearScale, LineElement, PointElement, Tooltip);
ChartJS.defaults.font.family = getComputedStyle(document.documentElement).fontFamily || 'system-ui, sans-serif';
ChartJS.defaults.color = '#475569';

function alpha(hex: string, a: number): string {
  const n = parseInt(hex.slice(1), 16);
  return `rgba(${(n >> 16) & 255}, ${(n >> 8) & 255}, ${n & 255}, ${a})`;
}

const common = {
  responsive: true,
  maintainAspectRatio: false,
  // Live data: no animation, so frequent refreshes do not flicker.
  animation: false as const,
};

export function LatencyChart({ stats }: { stats: ModelStats[] }) {
  const { byHead, headColor } = useBundle();
  const rows = byHead(stats, (s) => s.model);
  const data = {
    labels: rows.map((s) => s.model),
    datasets: [
      {
        label: 'p50 (ms)',
        data: rows.map((s) => s.latencyP50Ms),
        backgroundColor: rows.map((s) => alpha(headColor(s.model), 0.55)),
        borderColor: rows.map((s) => headColor(s.model)),
        borderWidth: 1,
      },
      {
        label: 'p95 (ms)',
        data: rows.map((s) => s.latencyP95Ms),
        backgroundColor: rows.map((s) => alpha(headColor(s.model), 0.95)),
        borderColor: rows.map((s) => headColor(s.model)),
        borderWidth: 1,
      },
    ],
  };
  const options: ChartOptions<'bar'> = {
    ...common,
    plugins: { legend: { position: 'bottom' }, tooltip: { callbacks: { label: (c) => `${c.dataset.label}: ${(c.raw as number).toFixed(3)}` } } },
    scales: { y: { beginAtZero: true, title: { display: true, text: 'ms per image (head only)' } } },
  };
  return (
    <div className="chart" data-testid="chart-latency" data-points={rows.length}>
      <Bar data={data} options={options} />
    </div>
  );
}

export function AccuracyChart({ buckets }: { buckets: TimeBucket[] }) {
  const { byHead, headColor } = useBundle();
  const starts = [...new Set(buckets.map((b) => b.start))].sort();
  const models = byHead([...new Set(buckets.map((b) => b.model))], (m) => m);
  const labeled = buckets.filter((b) => b.accuracy !== null).length;
  const data = {
    labels: starts.map((s) => time(s)),
    datasets: models.map((m) => {
      const of = new Map(buckets.filter((b) => b.model === m).map((b) => [b.start, b]));
      return {
        label: m,
        data: starts.map((s) => {
          const a = of.get(s)?.accuracy;
          return a === null || a === undefined ? null : a * 100;
        }),
        borderColor: headColor(m),
        backgroundColor: alpha(headColor(m), 0.2),
        spanGaps: true,
        tension: 0.25,
        pointRadius: 4,
      };
    }),
  };
  const options: ChartOptions<'line'> = {
    ...common,
    plugins: { legend: { position: 'bottom' } },
    scales: {
      y: { min: 0, max: 100, title: { display: true, text: 'accuracy (%) on labeled images' } },
      x: { offset: true, title: { display: true, text: 'bucket start' } },
    },
  };
  return (
    <div className="chart" data-testid="chart-accuracy" data-points={labeled}>
      {labeled === 0 && <div className="chart-empty">No labeled predictions in this period yet.</div>}
      <Line data={data} options={options} />
    </div>
  );
}

export function ClassPie({ counts }: { counts: ClassCount[] }) {
  const { classColor } = useBundle();
  const rows = counts.filter((c) => c.count > 0);
  const data = {
    labels: rows.map((c) => c.class),
    datasets: [
      {
        data: rows.map((c) => c.count),
        backgroundColor: rows.map((c) => classColor(c.class)),
        borderColor: '#fff',
        borderWidth: 2,
      },
    ],
  };
  const options: ChartOptions<'pie'> = { ...common, plugins: { legend: { position: 'right' } } };
  return (
    <div className="chart" data-testid="chart-classes" data-points={rows.length}>
      {rows.length === 0 && <div className="chart-empty">No predictions yet.</div>}
      <Pie data={data} options={options} />
    </div>
  );
}

/** Rows: true class; columns: predicted class; cell colour by share of the row. */
export function ConfusionHeatmap({ matrix }: { matrix: ConfusionMatrix }) {
  const max = Math.max(1, ...matrix.counts.flat());
  const sum = matrix.counts.flat().reduce((a, b) => a + b, 0);
  return (
    <div className="heatmap-wrap">
      <table className="heatmap" data-testid="confusion-matrix" data-model={matrix.model} data-total={matrix.total} data-sum={sum}>
        <thead>
          <tr>
            <th className="corner">
              true ↓ / predicted →
            </th>
            {matrix.classes.map((c) => (
              <th key={c} className="col-head" title={c}>
                <span>{c}</span>
              </th>
            ))}
            <th className="num">total</th>
          </tr>
        </thead>
        <tbody>
          {matrix.classes.map((row, i) => {
            const rowSum = matrix.counts[i]?.reduce((a, b) => a + b, 0) ?? 0;
            return (
              <tr key={row}>
                <th className="row-head">{row}</th>
                {matrix.classes.map((col, j) => {
                  const v = matrix.counts[i]?.[j] ?? 0;
                  const t = v / max;
                  const diag = i === j;
                  const bg = v === 0 ? 'transparent' : diag ? `rgba(22, 163, 74, ${0.15 + 0.85 * t})` : `rgba(220, 38, 38, ${0.15 + 0.85 * t})`;
                  return (
                    <td
                      key={col}
                      data-testid="cm-cell"
                      className={diag ? 'diag' : ''}
                      style={{ background: bg, color: t > 0.55 ? '#fff' : undefined }}
                      title={`true ${row}, predicted ${col}: ${v}`}
                    >
                      {v}
                    </td>
                  );
                })}
                <td className="num muted">{rowSum}</td>
              </tr>
            );
          })}
        </tbody>
      </table>
      <div className="muted small">
        {matrix.total} labeled predictions of <strong>{matrix.model}</strong>; green diagonal = correct.
      </div>
    </div>
  );
}

