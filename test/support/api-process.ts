/**
 * `mwi start --no-workers` as a real process for integration tests (the HTTP API of a fleet whose
 * delivery workers run elsewhere): the test's environment minus every MWI_* variable, plus `env`
 * (which must set MWI_REDIS__URL); ready once it logs "mwi-runner started".
 */
import path from 'node:path';

import { REPO_ROOT, spawnManaged, type ManagedProcess } from '../harness/process.ts';

export interface ApiProcess {
  proc: ManagedProcess;
  /** http://127.0.0.1:PORT */
  url: string;
  /** The "mwi-runner started" log line. */
  started: Record<string, unknown>;
}

function startLine(text: string): Record<string, unknown> | undefined {
  for (const line of text.split('\n')) {
    if (!line.includes('"msg":"mwi-runner started')) continue;
    try {
      return JSON.parse(line) as Record<string, unknown>;
    } catch {
      // a line cut by a concurrent read
    }
  }
  return undefined;
}

export async function spawnApiProcess(label: string, env: Record<string, string>, readyTimeoutMs = 20_000): Promise<ApiProcess> {
  const proc = await spawnManaged({
    name: 'mwi-api',
    label,
    command: process.execPath,
    args: [path.join(REPO_ROOT, 'bin', 'mwi.ts'), 'start', '--no-workers'],
    cwd: REPO_ROOT,
    env: { ...Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('MWI_'))), MWI_API__PORT: '0', ...env },
    debPackages: 'nodejs',
    readyTimeoutMs,
    ready: async (p) => startLine(await p.logText()) !== undefined,
  });
  const started = startLine(await proc.logText()) ?? {};
  return { proc, url: String(started.apiUrl), started };
}
