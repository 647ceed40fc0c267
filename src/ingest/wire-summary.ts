/**
 * Message counts between the wire format (`counts` for voice-message, `otherClasses` for the
 * rest) and the stored MessageSummary (counts keyed by class). Both directions copy only the
 * known fields, so nothing a producer sent beyond them reaches Redis.
 */
import type { MessageClass, MessageCounts, MessageSummary } from '../mwi/message-summary.ts';
import type { WireCounts, WireOtherClasses } from './update-schema.ts';

export interface WireSummary {
  counts?: WireCounts;
  otherClasses?: WireOtherClasses;
}

function copyCounts(c: MessageCounts): MessageCounts {
  return {
    new: c.new,
    old: c.old,
    ...(c.urgentNew === undefined ? {} : { urgentNew: c.urgentNew }),
    ...(c.urgentOld === undefined ? {} : { urgentOld: c.urgentOld }),
  };
}

export function summaryFromWire(w: WireSummary): MessageSummary {
  const counts: Partial<Record<MessageClass, MessageCounts>> = {};
  if (w.counts !== undefined) counts['voice-message'] = copyCounts(w.counts);
  for (const [cls, c] of Object.entries(w.otherClasses ?? {}) as Array<[Exclude<MessageClass, 'voice-message'>, MessageCounts | undefined]>) {
    if (c !== undefined) counts[cls] = copyCounts(c);
  }
  return { counts };
}

export function wireFromSummary(s: MessageSummary): WireSummary {
  const out: WireSummary = {};
  const other: WireOtherClasses = {};
  for (const [cls, c] of Object.entries(s.counts) as Array<[MessageClass, MessageCounts | undefined]>) {
    if (c === undefined) continue;
    if (cls === 'voice-message') out.counts = copyCounts(c);
    else other[cls] = copyCounts(c);
  }
  if (Object.keys(other).length > 0) out.otherClasses = other;
  return out;
}
