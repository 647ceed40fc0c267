#!/usr/bin/env node
// Entry point of the `mwi` command: owns the process exit code.
import { main } from '../src/cli/main.ts';

process.exitCode = await main(process.argv.slice(2));
