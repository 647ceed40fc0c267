/**
 * `npm run bench:report`: redraws bench/results/latest.md and its charts from latest.json,
 * without running any benchmark (after a change to the report or the charts).
 */
import { benchmarkNames, readResults, RESULTS_DIR, writeReport } from './results-dir.ts';

const results = readResults();
if (results === undefined) {
  console.error(`no ${RESULTS_DIR}/latest.json yet: run npm run bench first`);
  process.exitCode = 1;
} else {
  const written = writeReport(results, benchmarkNames());
  console.log(`wrote ${written.join(', ')} in ${RESULTS_DIR}`);
}
