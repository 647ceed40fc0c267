/**
 * Input checks done in TypeScript before anything reaches Redis, so a batch with one bad item
 * is refused whole and the Lua script never sees data it would have to reject half-way.
 */
import type { DeliveryRoute } from '../delivery/sender.ts';
import { ErrorCodes, MwiError } from '../errors.ts';
import { encodeMessageSummary, isValidAccountUri } from '../mwi/message-summary.ts';
import type { MessageSummary } from '../mwi/message-summary.ts';
import { parseTarget } from '../sip/target.ts';
import type { MailboxUpdate } from './mailbox-state.ts';

export function assertMailbox(mailbox: unknown, where = 'mailbox'): asserts mailbox is string {
  if (typeof mailbox !== 'string' || !isValidAccountUri(mailbox)) {
    throw new MwiError(ErrorCodes.URI_INVALID, `${where} must be a sip:, sips: or tel: URI: ${JSON.stringify(mailbox)}`);
  }
}

/** Safe integer >= 0; RangeError otherwise (a caller bug, not a data problem we can classify). */
export function assertVersion(version: unknown, where = 'version'): asserts version is number {
  if (typeof version !== 'number' || !Number.isSafeInteger(version) || version < 0) {
    throw new RangeError(`${where} must be a safe integer >= 0, got ${String(version)}`);
  }
}

/** Throws MwiError(BODY_INVALID) exactly when the sender could not encode it. */
export function assertSummary(summary: unknown): asserts summary is MessageSummary {
  if (typeof summary !== 'object' || summary === null || typeof (summary as MessageSummary).counts !== 'object' || (summary as MessageSummary).counts === null) {
    throw new MwiError(ErrorCodes.BODY_INVALID, 'summary must be an object with counts', { details: { problem: 'counts-syntax' } });
  }
  encodeMessageSummary(summary as MessageSummary);
}

export function assertRoute(route: unknown): asserts route is DeliveryRoute {
  const r = route as Partial<Record<'mode' | 'target' | 'contact', unknown>> | null;
  const uri = r?.mode === 'publish' ? r.target : r?.mode === 'notify' ? r.contact : undefined;
  if (typeof uri !== 'string') {
    throw new MwiError(ErrorCodes.URI_INVALID, 'route must be { mode: "publish", target } or { mode: "notify", contact }');
  }
  // The default transport does not matter here: only the URI's validity is checked.
  parseTarget(uri, 'UDP');
}

export function assertValidUpdate(update: MailboxUpdate, index: number): void {
  if (typeof update !== 'object' || update === null) throw new TypeError(`update ${index} is not an object`);
  assertMailbox(update.mailbox, `update ${index} mailbox`);
  assertVersion(update.version, `update ${index} version`);
  assertRoute(update.route);
  assertSummary(update.summary);
}
