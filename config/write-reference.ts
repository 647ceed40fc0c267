/** `npm run docs:config`: regenerates the configuration reference in README.md from the schema. */
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';

import { withReference } from './reference.ts';

const readmePath = path.join(import.meta.dirname, '..', 'README.md');
const before = readFileSync(readmePath, 'utf8');
const after = withReference(before);
if (after !== before) writeFileSync(readmePath, after);
process.stdout.write(after === before ? 'README.md configuration reference already current\n' : 'README.md configuration reference updated\n');
