/**
 * Tells the processes the chaos harness stopped on purpose from those that died on their own: an
 * exit nobody asked for (a crash, an uncaught exception: exit 70, a fatal start-up error) is
 * recorded with its code, signal and log file, and counts as lost.
 */
import type { ExitInfo, ManagedProcess } from '../harness/process.ts';

export class ProcessWatch {
  readonly #expected = new WeakSet<ManagedProcess>();
  readonly #live = new Set<ManagedProcess>();
  readonly crashes: string[] = [];

  watch(proc: ManagedProcess, role: string): ManagedProcess {
    this.#live.add(proc);
    void proc.exited.then((info) => {
      this.#live.delete(proc);
      if (!this.#expected.has(proc)) this.crashes.push(`${role} (pid ${proc.pid}) exited on its own: code ${info.code}, signal ${info.signal}; log ${proc.logPath}`);
    });
    return proc;
  }

  /** kill -9, as a fault: not a crash. */
  kill9(proc: ManagedProcess): Promise<ExitInfo> {
    this.#expected.add(proc);
    return proc.kill9();
  }

  /** SIGTERM (SIGKILL after `timeoutMs`): not a crash. */
  stop(proc: ManagedProcess, timeoutMs = 5_000): Promise<ExitInfo> {
    this.#expected.add(proc);
    return proc.stop(timeoutMs);
  }

  /** kill -9 of every watched process still running (teardown). */
  async killAll(): Promise<void> {
    await Promise.all([...this.#live].map((p) => this.kill9(p)));
  }
}
