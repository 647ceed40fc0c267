/**
 * RFC 2782 target selection: lowest priority first; within one priority a weighted random
 * order, where a record's chance to come next is its weight over the remaining total and
 * weight-0 records go first in the list (so they win only when the draw is 0).
 */
export interface Weighted {
  priority: number;
  weight: number;
}

/** A permutation of `records`: ascending priority, weighted random within a priority. `random` is uniform in [0, 1). */
export function orderSrv<T extends Weighted>(records: readonly T[], random: () => number): T[] {
  const priorities = [...new Set(records.map((r) => r.priority))].sort((x, y) => x - y);
  const ordered: T[] = [];
  for (const priority of priorities) {
    const group = records.filter((r) => r.priority === priority);
    const remaining = [...group.filter((r) => r.weight === 0), ...group.filter((r) => r.weight !== 0)];
    while (remaining.length > 0) {
      const total = remaining.reduce((sum, r) => sum + r.weight, 0);
      // RFC 2782: a uniform random number between 0 and the running total, inclusive.
      const draw = Math.min(total, Math.floor(random() * (total + 1)));
      let running = 0;
      let index = remaining.findIndex((r) => (running += r.weight) >= draw);
      if (index < 0) index = remaining.length - 1;
      ordered.push(...remaining.splice(index, 1));
    }
  }
  return ordered;
}
