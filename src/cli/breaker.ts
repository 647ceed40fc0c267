/**
 * `mwi breaker isolate <id> --reason` (hold a target's breaker open: no traffic, no probes, until
 * reset) and `mwi breaker reset <id> --reason` (close it now; sending restarts in slow start).
 * The id is a hop key such as udp:10.0.0.5:5060, or `dns` (`mwi status` lists them). Recorded in
 * the breaker's own transition log and in the operator audit log.
 * Exit 0 done, 1 unknown breaker (reset only: MWI_BREAKER_NOT_FOUND), 2 bad usage, 69 Redis unreachable.
 */
import type { Command } from 'commander';

import { RedisBreakerStore } from '../breaker/redis-breaker-store.ts';
import { checkSubject } from '../control/control-input.ts';
import { EXIT, loadCliConfig, type GlobalOptions } from './common.ts';
import { VIA_CLI, actionFlags, addActionFlags, type ActionFlags } from './control-flags.ts';
import { withControlSession } from './control-session.ts';

type Operation = 'isolate' | 'reset';

const DESCRIPTIONS: Record<Operation, string> = {
  isolate: 'hold a breaker open (no traffic, no probes) until reset, fleet-wide',
  reset: 'close a breaker now, fleet-wide (sending restarts in slow start)',
};

function register(breaker: Command, op: Operation): void {
  addActionFlags(breaker.command(op).description(DESCRIPTIONS[op]).argument('<id>', 'breaker id: a hop key such as udp:10.0.0.5:5060, or dns')).action(
    async (id: string, opts: ActionFlags, cmd: Command) => {
      const { reason, actor } = actionFlags(opts);
      checkSubject(id);
      const config = loadCliConfig(cmd.optsWithGlobals<GlobalOptions & ActionFlags>());
      const reply = await withControlSession(config, async (s) => {
        const store = new RedisBreakerStore({ redis: s.redis, keys: s.keys, settings: config.breaker });
        const r = op === 'isolate' ? await store.isolate(id, actor, reason) : await store.reset(id, actor, reason);
        await s.control.audit({ actor, action: `breaker-${op}`, subject: id, reason, via: VIA_CLI });
        return r;
      });
      const t = reply.transition;
      process.stdout.write(opts.json ? `${JSON.stringify({ id, state: reply.state, transition: t })}\n` : `breaker ${id}: ${t.from} -> ${t.to} by ${actor}: ${reason}\n`);
      process.exitCode = EXIT.OK;
    },
  );
}

export function registerBreaker(program: Command): void {
  const breaker = program.command('breaker').description("operate the fleet's circuit breakers (list them with `mwi status`)");
  register(breaker, 'isolate');
  register(breaker, 'reset');
}
