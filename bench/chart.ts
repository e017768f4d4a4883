/** A horizontal bar chart as a standalone SVG: one bar per store, value printed at its end. */
export function barChart(title: string, bars: { name: string; value: number }[]): string {
  const rowH = 26; const left = 150; const width = 640; const top = 40;
  const max = Math.max(...bars.map((b) => b.value), 1e-9);
  const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;');
  const fmt = (v: number): string => (v >= 100 ? Math.round(v).toLocaleString('en-US') : Number(v.toPrecision(3)).toString());
  const h = top + bars.length * rowH + 10;
  const rows = bars.map((b, i) => {
    const y = top + i * rowH;
    const w = Math.max(1, ((width - left - 90) * b.value) / max);
    const fill = b.name.startsWith('tickstore') ? '#2b7bb9' : '#9aa5b1';
    return `<text x="${left - 8}" y="${y + 16}" text-anchor="end">${esc(b.name)}</text>`
      + `<rect x="${left}" y="${y + 3}" width="${w.toFixed(1)}" height="${rowH - 8}" fill="${fill}"/>`
      + `<text x="${(left + w + 6).toFixed(1)}" y="${y + 16}">${fmt(b.value)}</text>`;
  }).join('\n  ');
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${h}" font-family="sans-serif" font-size="13">
  <rect width="100%" height="100%" fill="white"/>
  <text x="10" y="24" font-size="15" font-weight="bold">${esc(title)}</text>
  ${rows}
</svg>
`;
}

/** One line of a {@link lineChart}: its name and its (x, y) points. */
export interface Series { name: string; points: [number, number][] }

const PALETTE = ['#2b7bb9', '#e8743b', '#19a979', '#945ecf', '#ed4a7b', '#6f7d8c', '#bfbf26'];

/**
 * A line chart as a standalone SVG (the sweeps: a cost against a growing
 * work size), one polyline per series with its points marked, a legend, and
 * axes on a log scale when the x values span decades (`logX`) or the y values
 * do (`logY`). Tick labels are the data's own x values.
 */
export function lineChart(title: string, xLabel: string, yLabel: string, series: Series[], opts: { logX?: boolean; logY?: boolean; xFormat?: (x: number) => string } = {}): string {
  const W = 640; const H = 360; const L = 70; const R = 170; const T = 40; const B = 50;
  const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;');
  const fmt = (v: number): string => (Math.abs(v) >= 1e6 ? `${Number((v / 1e6).toPrecision(3))}M` : Math.abs(v) >= 1e3 ? `${Number((v / 1e3).toPrecision(3))}k` : Number(v.toPrecision(3)).toString());
  const pts = series.flatMap((s) => s.points).filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y));
  if (pts.length === 0) return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="60"><text x="10" y="30">${esc(title)}: no data</text></svg>\n`;
  const fx = (x: number): number => (opts.logX ? Math.log10(Math.max(x, 1e-9)) : x);
  const fy = (y: number): number => (opts.logY ? Math.log10(Math.max(y, 1e-9)) : y);
  const xs = pts.map(([x]) => fx(x)); const ys = pts.map(([, y]) => fy(y));
  const x0 = Math.min(...xs); const x1 = Math.max(...xs) === x0 ? x0 + 1 : Math.max(...xs);
  const y0 = opts.logY ? Math.min(...ys) : Math.min(0, ...ys); const y1 = Math.max(...ys) === y0 ? y0 + 1 : Math.max(...ys) * (opts.logY ? 1 : 1.08);
  const px = (x: number): number => L + ((fx(x) - x0) / (x1 - x0)) * (W - L - R);
  const py = (y: number): number => H - B - ((fy(y) - y0) / (y1 - y0)) * (H - T - B);
  const xTicks = [...new Set(pts.map(([x]) => x))].sort((a, b) => a - b);
  const yTicks = Array.from({ length: 5 }, (_, i) => y0 + ((y1 - y0) * i) / 4).map((v) => (opts.logY ? 10 ** v : v));
  const grid = [
    ...xTicks.map((x) => `<line x1="${px(x).toFixed(1)}" y1="${T}" x2="${px(x).toFixed(1)}" y2="${H - B}" stroke="#eee"/><text x="${px(x).toFixed(1)}" y="${H - B + 16}" text-anchor="middle">${esc((opts.xFormat ?? fmt)(x))}</text>`),
    ...yTicks.map((y) => `<line x1="${L}" y1="${py(y).toFixed(1)}" x2="${W - R}" y2="${py(y).toFixed(1)}" stroke="#eee"/><text x="${L - 6}" y="${(py(y) + 4).toFixed(1)}" text-anchor="end">${fmt(y)}</text>`),
  ].join('\n  ');
  const lines = series.map((s, i) => {
    const c = PALETTE[i % PALETTE.length]!;
    const ok = s.points.filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y));
    const path = ok.map(([x, y]) => `${px(x).toFixed(1)},${py(y).toFixed(1)}`).join(' ');
    const dots = ok.map(([x, y]) => `<circle cx="${px(x).toFixed(1)}" cy="${py(y).toFixed(1)}" r="3" fill="${c}"/>`).join('');
    const ly = T + 10 + i * 18;
    return `<polyline points="${path}" fill="none" stroke="${c}" stroke-width="2"/>${dots}`
      + `<rect x="${W - R + 12}" y="${ly - 9}" width="12" height="4" fill="${c}"/><text x="${W - R + 30}" y="${ly - 3}">${esc(s.name)}</text>`;
  }).join('\n  ');
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif" font-size="12">
  <rect width="100%" height="100%" fill="white"/>
  <text x="10" y="22" font-size="15" font-weight="bold">${esc(title)}</text>
  ${grid}
  <line x1="${L}" y1="${H - B}" x2="${W - R}" y2="${H - B}" stroke="#333"/><line x1="${L}" y1="${T}" x2="${L}" y2="${H - B}" stroke="#333"/>
  <text x="${(L + W - R) / 2}" y="${H - 12}" text-anchor="middle">${esc(xLabel)}${opts.logX ? ' (log scale)' : ''}</text>
  <text x="14" y="${(T + H - B) / 2}" text-anchor="middle" transform="rotate(-90 14 ${(T + H - B) / 2})">${esc(yLabel)}${opts.logY ? ' (log scale)' : ''}</text>
  ${lines}
</svg>
`;
}
