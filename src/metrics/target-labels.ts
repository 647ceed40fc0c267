/**
 * The `target` label of per-target metrics, with bounded cardinality: the first `maxTargets`
 * distinct hop keys keep their own label, every later one is folded into `other`, so a flood of
 * targets (a misconfigured PBX pushing random contacts) cannot grow the registry without bound.
 */
export const OTHER_TARGET = 'other';
export const DEFAULT_MAX_TARGETS = 1_000;

export class TargetLabels {
  readonly #max: number;
  readonly #known = new Set<string>();

  constructor(maxTargets = DEFAULT_MAX_TARGETS) {
    if (!Number.isInteger(maxTargets) || maxTargets < 1) throw new RangeError(`maxTargets must be a positive integer, got ${maxTargets}`);
    this.#max = maxTargets;
  }

  /** The label value for this target: itself while there is room (or it already has one), else `other`. */
  label(target: string): string {
    if (this.#known.has(target)) return target;
    if (target === OTHER_TARGET || this.#known.size >= this.#max) return OTHER_TARGET;
    this.#known.add(target);
    return target;
  }

  get size(): number {
    return this.#known.size;
  }
}
