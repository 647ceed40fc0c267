/**
 * Operator durations (`mwi pause --for 30m`): a whole number and one unit, s, m, h or d.
 * Deliberately small: no fractions, no compound forms (1h30m), no bare numbers, so a typo is
 * an error instead of a pause a thousand times longer than meant.
 */
import { ErrorCodes, MwiError } from '../errors.ts';

const UNIT_MS = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;

/** The longest pause one command may set: 30 days (past that, resume and pause again). */
export const MAX_DURATION_MS = 30 * UNIT_MS.d;

/** `30s`, `30m`, `2h`, `1d` -> milliseconds; anything else: MwiError CLI_USAGE. */
export function parseDurationMs(text: string, flag = '--for'): number {
  const m = /^([1-9][0-9]{0,6})([smhd])$/.exec(text.trim());
  if (m === null) {
    throw new MwiError(ErrorCodes.CLI_USAGE, `${flag} must be a whole number and a unit (s, m, h or d), e.g. 30s, 30m, 2h, 1d; got ${JSON.stringify(text)}`, {
      details: { field: flag, value: text },
    });
  }
  const ms = Number(m[1]) * UNIT_MS[m[2] as keyof typeof UNIT_MS];
  if (ms > MAX_DURATION_MS) {
    throw new MwiError(ErrorCodes.CLI_USAGE, `${flag} must be at most 30d; got ${JSON.stringify(text)}`, { details: { field: flag, value: text } });
  }
  return ms;
}

/** 5400000 -> `1h30m`; below a second, `0s`. For people, in status output. */
export function formatDurationMs(ms: number): string {
  let left = Math.max(0, Math.floor(ms / 1_000));
  const parts: string[] = [];
  for (const [unit, sec] of [['d', 86_400], ['h', 3_600], ['m', 60], ['s', 1]] as const) {
    const n = Math.floor(left / sec);
    if (n > 0) parts.push(`${n}${unit}`);
    left -= n * sec;
  }
  return parts.length === 0 ? '0s' : parts.slice(0, 2).join('');
}
