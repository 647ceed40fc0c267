/**
 * The small pieces every chart shares: XML escaping, fixed-precision coordinates (so the same
 * data always gives the same bytes), number labels, a text width estimate for layout, a palette.
 */

export function escapeXml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&apos;');
}

/** A coordinate with one decimal: enough for a screen, stable across runs. */
export function coord(value: number): string {
  const s = value.toFixed(1);
  return s === '-0.0' ? '0.0' : s;
}

/** The decimals needed to write `step` exactly (0.25 -> 2, 500 -> 0), at most 6. */
export function decimalsOf(step: number): number {
  for (let d = 0; d < 6; d++) {
    const scaled = step * 10 ** d;
    if (Math.abs(scaled - Math.round(scaled)) < 1e-9 * Math.max(1, Math.abs(scaled))) return d;
  }
  return 6;
}

/** "2,500", "0.25", "1.5" (en-US grouping, a fixed number of decimals). */
export function formatNumber(value: number, decimals = 0): string {
  const fixed = Number(value.toFixed(decimals));
  return (Object.is(fixed, -0) ? 0 : fixed).toLocaleString('en-US', { minimumFractionDigits: decimals, maximumFractionDigits: decimals });
}

/** Rough width of `text` in a sans-serif font of `fontPx`; only for layout (legend wrapping, margins). */
export function textWidthPx(text: string, fontPx: number): number {
  return Math.ceil(text.length * fontPx * 0.6);
}

/** Distinct on white, and in this order for the usual number of lines (Tableau 10). */
export const PALETTE = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#e377c2', '#7f7f7f', '#bcbd22', '#17becf'] as const;

export function colorAt(i: number): string {
  return PALETTE[i % PALETTE.length] ?? '#000000';
}

/** `<text>` with escaped content; attributes in the given order. */
export function text(x: number, y: number, content: string, attrs: Record<string, string | number> = {}): string {
  const extra = Object.entries(attrs)
    .map(([k, v]) => ` ${k}="${escapeXml(String(v))}"`)
    .join('');
  return `<text x="${coord(x)}" y="${coord(y)}"${extra}>${escapeXml(content)}</text>`;
}

export function line(x1: number, y1: number, x2: number, y2: number, attrs: string): string {
  return `<line x1="${coord(x1)}" y1="${coord(y1)}" x2="${coord(x2)}" y2="${coord(y2)}" ${attrs}/>`;
}
