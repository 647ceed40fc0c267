/**
 * Pause, drain and audit records as stored in Redis (JSON). Decoding never throws: a record this
 * version cannot read is skipped (an unreadable pause is logged by the caller, not obeyed blindly).
 */
import type { AuditEntry, DrainState, PauseState } from './types.ts';

function parse(json: unknown): Record<string, unknown> | undefined {
  if (typeof json !== 'string') return undefined;
  try {
    const v: unknown = JSON.parse(json);
    return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

const isText = (v: unknown): v is string => typeof v === 'string';
const isTime = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);

export function decodePause(json: unknown): PauseState | undefined {
  const o = parse(json);
  if (o === undefined || !isText(o.scope) || !isText(o.reason) || !isText(o.actor) || !isTime(o.since)) return undefined;
  if (o.until !== undefined && !isTime(o.until)) return undefined;
  return { scope: o.scope, reason: o.reason, actor: o.actor, since: o.since, ...(o.until === undefined ? {} : { until: o.until }) };
}

export function decodeDrain(json: unknown): DrainState | undefined {
  const o = parse(json);
  if (o === undefined || !isText(o.reason) || !isText(o.actor) || !isTime(o.since)) return undefined;
  return { reason: o.reason, actor: o.actor, since: o.since };
}

export function decodeAudit(json: unknown): AuditEntry | undefined {
  const o = parse(json);
  if (o === undefined || !isTime(o.at) || !isText(o.actor) || !isText(o.action) || !isText(o.subject) || !isText(o.reason) || !isText(o.via)) return undefined;
  if (o.until !== undefined && !isTime(o.until)) return undefined;
  return { at: o.at, actor: o.actor, action: o.action, subject: o.subject, reason: o.reason, via: o.via, ...(o.until === undefined ? {} : { until: o.until }) };
}

/** The pause in force at `now`: absent, or past its `until`, it is none. */
export function inForce(pause: PauseState | undefined, now: number): PauseState | undefined {
  return pause !== undefined && (pause.until === undefined || pause.until > now) ? pause : undefined;
}
