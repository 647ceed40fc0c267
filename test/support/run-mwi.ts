/** Runs the `mwi` command as an operator would: a real process, its output and exit code. */
import { execFile } from 'node:child_process';
import path from 'node:path';

export const MWI_BIN = path.resolve(import.meta.dirname, '..', '..', 'bin', 'mwi.ts');

export function runMwi(args: string[], env: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [MWI_BIN, ...args], { env: { PATH: process.env.PATH ?? '', ...env }, timeout: 20_000 }, (err, stdout, stderr) => {
      const code = err && typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : err ? -1 : 0;
      resolve({ code, stdout, stderr });
    });
  });
}
