/**
 * Types for redlock 5.0.0-beta2 (pinned exactly). Its own index.d.ts does not resolve under
 * `moduleResolution: nodenext` (the package's `exports` has no `types` condition; redlock #173,
 * #307), so this ambient declaration stands in for it. Only what we use is declared. An ambient
 * module (not a tsconfig `paths` entry, which breaks tsx) keeps runtime resolution untouched.
 */
declare module 'redlock' {
  import type { EventEmitter } from 'node:events';
  import type { Cluster, Redis } from 'ioredis';

  type Client = Redis | Cluster;

  export interface Settings {
    readonly driftFactor: number;
    /** Attempts after the first; -1 retries forever. */
    readonly retryCount: number;
    readonly retryDelay: number;
    readonly retryJitter: number;
    /** `using` extends the lock this many ms before it would expire; must be <= duration - 100. */
    readonly automaticExtensionThreshold: number;
  }

  export interface ExecutionStats {
    readonly membershipSize: number;
    readonly quorumSize: number;
    readonly votesFor: Set<Client>;
    readonly votesAgainst: Map<Client, Error>;
  }

  export interface ExecutionResult {
    attempts: ReadonlyArray<Promise<ExecutionStats>>;
  }

  /** The key holds another value (or none): the operation was refused on that client. */
  export class ResourceLockedError extends Error {}

  /** No quorum within the retry window; the per-client errors are in the attempts' votesAgainst. */
  export class ExecutionError extends Error {
    readonly attempts: ReadonlyArray<Promise<ExecutionStats>>;
  }

  export class Lock {
    readonly redlock: Redlock;
    readonly resources: string[];
    readonly value: string;
    readonly attempts: ReadonlyArray<Promise<ExecutionStats>>;
    /** Local estimate of when the lock lapses (ms since epoch); 0 once released or replaced. */
    expiration: number;
    release(): Promise<ExecutionResult>;
    extend(duration: number): Promise<Lock>;
  }

  export type RedlockAbortSignal = AbortSignal & { error?: Error };

  export default class Redlock extends EventEmitter {
    readonly settings: Settings;
    constructor(clients: Iterable<Client>, settings?: Partial<Settings>);
    acquire(resources: string[], duration: number, settings?: Partial<Settings>): Promise<Lock>;
    release(lock: Lock, settings?: Partial<Settings>): Promise<ExecutionResult>;
    extend(existing: Lock, duration: number, settings?: Partial<Settings>): Promise<Lock>;
    /** Runs `routine` holding the lock, extending it automatically; the signal aborts when an extension fails for good. */
    using<T>(resources: string[], duration: number, settings: Partial<Settings>, routine: (signal: RedlockAbortSignal) => Promise<T>): Promise<T>;
    using<T>(resources: string[], duration: number, routine: (signal: RedlockAbortSignal) => Promise<T>): Promise<T>;
  }
}
