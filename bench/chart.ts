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
