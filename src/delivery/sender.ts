/**
 * The seam the queue calls: one mailbox's state in, one outcome out. Nothing above this file
 * knows about sip.js, transports or ETags.
 */
import type { MessageSummary } from '../mwi/message-summary.ts';
import type { ExplicitHop } from '../sip/transport/transport.ts';
import type { Outcome } from './outcome.ts';

export type DeliveryRoute =
  /** RFC 3903 PUBLISH to a presence server (URI of the server, e.g. sip:ps.example.net;transport=tcp). */
  | { mode: 'publish'; target: string }
  /** Unsolicited NOTIFY straight to a phone's contact URI. */
  | { mode: 'notify'; contact: string };

export interface MwiDelivery {
  /** The mailbox's account URI, e.g. sip:1000@pbx.example.net. */
  mailbox: string;
  summary: MessageSummary;
  route: DeliveryRoute;
  /** Send to this hop (RFC 3263 location chose it); without it the target URI's host is resolved by the transport. */
  hop?: ExplicitHop;
  /**
   * Asked before every further request of this delivery (the initial PUBLISH after a 412, the one
   * after a 423, a digest retry after a 401/407): the rate is per request on the wire, not per delivery. Absent: no pacing (the
   * CLI, tests of the sender alone). The GuardedSender gives one that takes a send slot of the hop.
   */
  admitAnother?: AdmitAnother;
  /**
   * PUBLISH: the entity tag of this mailbox's publication at route.target as the caller recorded
   * it, read together with the delivery (null: the caller holds none). When given, the sender uses
   * it instead of its own PublicationStore and writes nothing there: the caller records
   * outcome.etag / expiresAt itself, in the same write as the delivered state. Absent: the
   * sender's PublicationStore keeps the ETag (the CLI, records written before the caller kept one).
   */
  publication?: KnownPublication | null;
}

/** An entity tag the presence server granted, and when that grant lapses (ms since epoch). */
export interface KnownPublication {
  etag: string;
  expiresAt: number;
}

/** A send slot for one more request of a delivery, or when to come back. */
export type AdmitAnother = () => Promise<{ ok: true } | { ok: false; reason: string; retryAt: number }>;

export interface ProbeOutcome {
  up: boolean;
  status?: number;
  reason: string;
  elapsedMs: number;
  /** 503 with Retry-After: how long the server asked us to stay away. */
  retryAfterMs?: number;
}

export interface MwiSender {
  send(delivery: MwiDelivery): Promise<Outcome>;
  /** SIP OPTIONS health probe of a target URI (at `hop` when given). */
  probe(target: string, hop?: ExplicitHop): Promise<ProbeOutcome>;
  close(): Promise<void>;
}
