/**
 * `workers/delivery-worker.ts` as a real process for integration tests: the test's environment
 * minus every MWI_* variable, plus `env`; ready once it logs "delivery worker started".
 */
import path from 'node:path';

import { REPO_ROOT, logMatches, spawnManaged, type ManagedProcess } from '../harness/process.ts';

export function spawnDeliveryWorker(label: string, env: Record<string, string>, readyTimeoutMs = 15_000): Promise<ManagedProcess> {
  return spawnManaged({
    name: 'delivery-worker',
    label,
    command: process.execPath,
    args: [path.join(REPO_ROOT, 'workers', 'delivery-worker.ts')],
    cwd: REPO_ROOT,
    env: { ...Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('MWI_'))), ...env },
    debPackages: 'nodejs',
    readyTimeoutMs,
    ready: logMatches(/"msg":"delivery worker started"/),
  });
}
