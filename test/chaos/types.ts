/** What a chaos scenario is given and what it hands back (test/chaos/run.ts runs them). */

export type Figure = string | number;

export interface ScenarioResult {
  /** The scenario's name: its file name without `.chaos.ts`. */
  name: string;
  /** One line: the fault and the load it was tried under. */
  tried: string;
  /** Faults injected (kills, restarts, outages, requests, datagrams: whatever one trial is here). */
  trials: number;
  /** What this scenario counts as lost (see `lostMeans`); the goal is 0. */
  lost: number;
  /** One line: what counts as lost here. */
  lostMeans: string;
  /** Why each loss was counted (the first few), for the report. */
  failures?: string[];
  /** Key measurements, printed in the table (keep it to a handful). */
  figures: Record<string, Figure>;
  durationMs: number;
}

export interface ChaosContext {
  /** Seeds every PRNG of the run; printed in the report so a run can be replayed. */
  seed: number;
  /** Aborted when the scenario's time bound is reached: stop injecting and return soon. */
  signal: AbortSignal;
  /** The scenario's hard time bound (for sizing waits so they end before it). */
  timeLimitMs: number;
  /** Registers a cleanup the runner calls after the scenario, whatever happened (last registered runs first). */
  defer(cleanup: () => Promise<void> | void): void;
  /** A progress line on stderr, prefixed with the scenario name. */
  note(message: string): void;
}

export interface ScenarioModule {
  run(ctx: ChaosContext): Promise<ScenarioResult>;
  /** Hard bound of this scenario; the runner's default when absent. */
  timeLimitMs?: number;
}
