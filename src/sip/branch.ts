/**
 * Strong, unique Via branch ids. sip.js makes them as "z9hG4bK" + Math.floor(Math.random()*1e7):
 * with ~20k transactions in flight duplicates occur and responses reach the wrong transaction.
 * Ours: the RFC 3261 magic cookie, 64 random bits fixed per process (unique across processes and
 * restarts) and a counter (unique within the process), so no two live transactions ever share one.
 */
import { randomBytes } from 'node:crypto';
import { ClientTransaction } from 'sip.js/lib/core/index.js';
import type { OutgoingRequestMessage } from 'sip.js/lib/core/index.js';

const processPrefix = randomBytes(8).toString('base64url');
let counter = 0;

export function newBranch(): string {
  counter = (counter + 1) % Number.MAX_SAFE_INTEGER;
  return `z9hG4bK${processPrefix}.${counter.toString(36)}`;
}

/** A From tag or Call-ID local part, unique in the same way (RFC 3261 19.3 asks for global uniqueness). */
export function newLocalId(): string {
  counter = (counter + 1) % Number.MAX_SAFE_INTEGER;
  return `${processPrefix}.${counter.toString(36)}`;
}

type MakeId = (request: OutgoingRequestMessage) => string;

let installed = false;

/**
 * Replaces sip.js's static ClientTransaction.makeId, which every client transaction calls from
 * its constructor. CANCEL keeps the branch of the request it cancels, as sip.js does.
 */
export function installStrongBranchIds(): void {
  if (installed) return;
  const target = ClientTransaction as unknown as { makeId: MakeId };
  target.makeId = (request) => {
    if (request.method === 'CANCEL') {
      if (!request.branch) throw new Error('Outgoing CANCEL request without a branch.');
      return request.branch;
    }
    return newBranch();
  };
  installed = true;
}
