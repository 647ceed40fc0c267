/** Who an operator command acts as: `--actor`, or `$USER@hostname` (what the audit log names). */
import { hostname, userInfo } from 'node:os';

export function defaultActor(env: NodeJS.ProcessEnv = process.env): string {
  let user = env.USER ?? env.LOGNAME;
  if (user === undefined || user === '') {
    try {
      user = userInfo().username;
    } catch {
      user = 'unknown'; // no passwd entry for this uid (some containers)
    }
  }
  return `${user}@${hostname()}`;
}
