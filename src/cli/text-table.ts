/** Aligned text tables for people (`mwi status`): columns padded to their widest cell, two spaces apart. */

export function formatTable(headers: readonly string[], rows: ReadonlyArray<readonly string[]>): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]): string =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i] ?? 0)))
      .join('  ')
      .trimEnd();
  return [line(headers), ...rows.map(line)].map((l) => `${l}\n`).join('');
}

/** Label / value lines, labels padded to the widest. */
export function formatFields(fields: ReadonlyArray<readonly [string, string]>): string {
  const width = Math.max(0, ...fields.map(([k]) => k.length));
  return fields.map(([k, v]) => `${k.padEnd(width)}  ${v}`.trimEnd() + '\n').join('');
}

/** ms since epoch -> ISO 8601 (UTC); 0 or absent -> "-". */
export function formatTime(ms: number | undefined): string {
  return ms === undefined || ms <= 0 ? '-' : new Date(ms).toISOString();
}
