/**
 * Builds the Config from its sources, lowest precedence first: schema defaults, the JSON file
 * (`--config` or MWI_CONFIG), MWI_* environment variables, then command-line flags. Pure: the
 * environment and file reading are passed in, so tests never touch process.env or the disk.
 */
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { ErrorCodes, MwiError } from '../src/errors.ts';
import { SECRET_PATHS, configSchema } from './schema.ts';
import type { Config } from './schema.ts';

export interface LoadConfigInput {
  /** Dotted setting paths to values from the command line, e.g. { 'sip.t1Ms': 250 }; strings are coerced. */
  flags?: Readonly<Record<string, unknown>>;
  /** The process environment; only MWI_* variables are read. */
  env?: Readonly<Record<string, string | undefined>>;
  /** The --config flag; MWI_CONFIG when unset. */
  configPath?: string;
  /** Reads a UTF-8 file (the config file and *_FILE secrets); throws when it cannot. */
  readFile: (path: string) => string;
}

export interface ConfigIssue {
  path: string;
  message: string;
}

const ENV_PREFIX = 'MWI_';
const CONFIG_PATH_ENV = 'MWI_CONFIG';

/** `readFile` for production use. */
export function readTextFile(path: string): string {
  return readFileSync(path, 'utf8');
}

/** MWI_SIP__TRANSACTION_TIMEOUT_MS -> ['sip', 'transactionTimeoutMs'] */
export function envNameToPath(name: string): string[] {
  return name
    .slice(ENV_PREFIX.length)
    .split('__')
    .map((seg) => seg.toLowerCase().replace(/_([a-z0-9])/g, (_m, c: string) => c.toUpperCase()));
}

/** ['sip', 'transactionTimeoutMs'] -> MWI_SIP__TRANSACTION_TIMEOUT_MS */
export function pathToEnvName(path: readonly string[]): string {
  return ENV_PREFIX + path.map((seg) => seg.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toUpperCase()).join('__');
}

type Tree = Record<string, unknown>;

function isTree(v: unknown): v is Tree {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

// defineProperty, not assignment: a key named "__proto__" stays a plain (and rejected) key.
function setOwn(obj: Tree, key: string, value: unknown): void {
  Object.defineProperty(obj, key, { value, enumerable: true, writable: true, configurable: true });
}

function setPath(root: Tree, path: readonly string[], value: unknown): void {
  let node = root;
  path.forEach((key, i) => {
    if (i === path.length - 1) {
      setOwn(node, key, value);
      return;
    }
    const next = Object.hasOwn(node, key) ? node[key] : undefined;
    if (isTree(next)) {
      node = next;
    } else {
      const child: Tree = {};
      setOwn(node, key, child);
      node = child;
    }
  });
}

function unwrap(schema: z.ZodType): z.ZodType {
  let s = schema;
  while (s instanceof z.ZodDefault || s instanceof z.ZodPrefault || s instanceof z.ZodOptional || s instanceof z.ZodNullable) {
    s = s.unwrap() as z.ZodType;
  }
  return s;
}

function schemaAt(path: readonly string[]): z.ZodType | undefined {
  let s: z.ZodType = configSchema;
  for (const key of path) {
    const obj = unwrap(s);
    if (!(obj instanceof z.ZodObject)) return undefined;
    const shape = obj.shape as Record<string, z.ZodType>;
    if (!Object.hasOwn(shape, key)) return undefined;
    const child = shape[key];
    if (child === undefined) return undefined;
    s = child;
  }
  return unwrap(s);
}

const TRUE_WORDS = new Set(['true', '1', 'yes', 'on']);
const FALSE_WORDS = new Set(['false', '0', 'no', 'off']);

/** Text from env or a flag, typed per the schema; left as text when it does not fit (zod reports it). */
function coerce(path: readonly string[], text: string): unknown {
  const schema = schemaAt(path);
  if (schema instanceof z.ZodNumber) {
    return /^[+-]?\d+(?:\.\d+)?$/.test(text.trim()) ? Number(text) : text;
  }
  if (schema instanceof z.ZodBoolean) {
    const word = text.trim().toLowerCase();
    if (TRUE_WORDS.has(word)) return true;
    if (FALSE_WORDS.has(word)) return false;
  }
  return text;
}

/** The errno-style code of a read failure (ENOENT, EACCES, ...); never its message. */
function failureCode(err: unknown): string {
  return typeof err === 'object' && err !== null && 'code' in err && typeof err.code === 'string' ? err.code : 'unknown';
}

function stripOneTrailingNewline(s: string): string {
  if (s.endsWith('\r\n')) return s.slice(0, -2);
  if (s.endsWith('\n')) return s.slice(0, -1);
  return s;
}

function readConfigFile(path: string, readFile: (path: string) => string): Tree {
  let text: string;
  try {
    text = readFile(path);
  } catch (err) {
    throw new MwiError(ErrorCodes.CONFIG_FILE_UNREADABLE, `cannot read config file ${path}`, {
      details: { path, reason: failureCode(err) },
    });
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    // The SyntaxError quotes file content, which may hold a secret: keep it out.
    throw new MwiError(ErrorCodes.CONFIG_FILE_UNREADABLE, `config file ${path} is not valid JSON`, { details: { path, reason: 'invalid-json' } });
  }
  if (!isTree(parsed)) {
    throw new MwiError(ErrorCodes.CONFIG_FILE_UNREADABLE, `config file ${path} does not hold a JSON object`, { details: { path, reason: 'not-an-object' } });
  }
  return parsed;
}

/** Copies `source` into `target`, objects merged key by key, anything else replaced. */
function deepMerge(target: Tree, source: Tree): Tree {
  for (const [key, value] of Object.entries(source)) {
    const existing = Object.hasOwn(target, key) ? target[key] : undefined;
    setOwn(target, key, isTree(value) ? deepMerge(isTree(existing) ? existing : {}, value) : value);
  }
  return target;
}

/** MWI_* variables as a tree; secrets may come from the file named by `<VAR>_FILE`. */
function envTree(env: Readonly<Record<string, string | undefined>>, readFile: (path: string) => string, issues: ConfigIssue[]): Tree {
  const tree: Tree = {};
  const secretFileVars = new Map<string, readonly string[]>(SECRET_PATHS.map((p) => [`${pathToEnvName(p.split('.'))}_FILE`, p.split('.')]));
  for (const [name, value] of Object.entries(env)) {
    // An empty variable counts as unset, as container tooling often sets VAR= to clear one.
    if (!name.startsWith(ENV_PREFIX) || name === CONFIG_PATH_ENV || value === undefined || value === '') continue;
    const secretPath = secretFileVars.get(name);
    if (secretPath === undefined) {
      const path = envNameToPath(name);
      setPath(tree, path, coerce(path, value));
      continue;
    }
    const direct = env[pathToEnvName(secretPath)];
    if (direct !== undefined && direct !== '') {
      issues.push({ path: secretPath.join('.'), message: `is set by both ${pathToEnvName(secretPath)} and ${name} (set only one)` });
      continue;
    }
    let secret: string;
    try {
      secret = readFile(value);
    } catch (err) {
      throw new MwiError(ErrorCodes.SECRET_UNREADABLE, `cannot read the secret file named by ${name}`, {
        details: { envVar: name, path: value, reason: failureCode(err) },
      });
    }
    setPath(tree, secretPath, stripOneTrailingNewline(secret));
  }
  return tree;
}

function flagsTree(flags: Readonly<Record<string, unknown>>): Tree {
  const tree: Tree = {};
  for (const [dotted, value] of Object.entries(flags)) {
    if (value === undefined) continue;
    const path = dotted.split('.');
    setPath(tree, path, typeof value === 'string' ? coerce(path, value) : value);
  }
  return tree;
}

function formatPath(path: readonly PropertyKey[]): string {
  return path.length === 0 ? '(root)' : path.map(String).join('.');
}

function toIssues(error: z.ZodError): ConfigIssue[] {
  const out: ConfigIssue[] = [];
  for (const iss of error.issues) {
    if (iss.code === 'unrecognized_keys') {
      for (const key of iss.keys) out.push({ path: formatPath([...iss.path, key]), message: 'is not a known setting' });
    } else {
      // Messages are ours or zod's generic ones; neither quotes the offending value.
      out.push({ path: formatPath(iss.path), message: iss.message });
    }
  }
  return out;
}

/** The validated configuration; throws MwiError CONFIG_INVALID, CONFIG_FILE_UNREADABLE or SECRET_UNREADABLE. */
export function loadConfig(input: LoadConfigInput): Config {
  const env = input.env ?? {};
  const issues: ConfigIssue[] = [];
  const merged: Tree = {};
  const filePath = input.configPath ?? (env[CONFIG_PATH_ENV] === '' ? undefined : env[CONFIG_PATH_ENV]);
  if (filePath !== undefined) deepMerge(merged, readConfigFile(filePath, input.readFile));
  deepMerge(merged, envTree(env, input.readFile, issues));
  deepMerge(merged, flagsTree(input.flags ?? {}));

  const result = configSchema.safeParse(merged);
  if (!result.success) issues.push(...toIssues(result.error));
  if (!result.success || issues.length > 0) {
    throw new MwiError(ErrorCodes.CONFIG_INVALID, issues.map((i) => `${i.path} ${i.message}`).join('; '), { details: { issues } });
  }
  return result.data;
}
