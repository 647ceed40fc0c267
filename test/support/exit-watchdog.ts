/**
 * Preloaded into every test file's process (`node --import`, package.json "test"): a file whose
 * tests have all finished but whose process does not exit (a timer, socket or client left
 * running) fails after LINGER_MS, naming what keeps it alive, instead of holding the whole run
 * until CI's deadline. Two such leaks were product bugs (a lock refresh loop, a BullMQ timer).
 */
import { after } from 'node:test';

const LINGER_MS = 60_000;

// Only in a test file's own process (the runner sets NODE_TEST_CONTEXT there), not in the runner.
if (process.env.NODE_TEST_CONTEXT !== undefined) {
  after(() => {
    setTimeout(() => {
      process.stderr.write(
        `exit-watchdog: every test finished ${LINGER_MS / 1000} s ago but the process is still alive; ` +
          `it holds: ${JSON.stringify(process.getActiveResourcesInfo())}\n`,
      );
      process.exit(1);
    }, LINGER_MS).unref();
  });
}
