/**
 * What `personalive setup` changed, so `--uninstall` can undo it: for every file it wrote,
 * the bytes before (null: the file did not exist) and a hash of what it wrote. Undo puts the
 * old bytes back when the file is still as setup left it (byte for byte); when something
 * else rewrote it since (OBS saves its ini files on exit), only the keys setup set are put
 * back to their old values, and the rest of the file is kept.
 */
import { exitStatusOf } from './commands.js';
import { createHash } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, rmdirSync, rmSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import { PersonaLiveError } from '../errors.js';
import { writeFileAtomic } from '../util/files.js';
import { removeIniValue, setIniValue } from './ini.js';

/** One key setup set in a text file, with its value before (null: absent). */
export type KeyChange =
  | { format: 'ini'; section: string; key: string; before: string | null }
  | { format: 'json'; key: string; before: unknown };

export interface FileChange {
  path: string;
  /** What it is, for the list at the end ("OBS: obs-websocket settings"). */
  what: string;
  /** The file before setup first wrote it (base64); null when it did not exist. */
  before: string | null;
  mode: number | null;
  afterSha256: string;
  /** Empty for files setup owns whole (the plugin's), which are only ever restored or removed. */
  keys: KeyChange[];
  /** Folders setup created for it (removed again when empty), deepest first. */
  createdDirs: string[];
}

/** Something setup did that is not a file (loading a kernel module), with the command that undoes it. */
export interface ActionChange {
  what: string;
  undo: string[];
}

export interface Journal {
  version: 1;
  files: FileChange[];
  /** Absent in journals written before actions were recorded. */
  actions?: ActionChange[];
}

const sha256 = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest('hex');

export function loadJournal(file: string): Journal {
  if (!existsSync(file)) return { version: 1, files: [] };
  try {
    const parsed = JSON.parse(readFileSync(file, 'utf8')) as Journal;
    if (parsed.version !== 1 || !Array.isArray(parsed.files)) throw new Error('not a version 1 journal');
    return parsed;
  } catch (error) {
    throw new PersonaLiveError('SETUP_BLOCKED', `${file}: not a readable setup journal (${(error as Error).message}); setup cannot know what it changed before`, { source: file });
  }
}

export function saveJournal(file: string, journal: Journal): void {
  if (journal.files.length === 0 && !journal.actions?.length) rmSync(file, { force: true });
  else writeFileAtomic(file, `${JSON.stringify(journal, null, 2)}\n`);
}

function readBytes(path: string): Buffer | null {
  try {
    return readFileSync(path);
  } catch {
    return null;
  }
}

/**
 * Writes `after` to `path` unless it already holds exactly that, recording in `journal`
 * what was there before the first change (the keys' earliest values win on later runs).
 * Returns whether the file changed.
 */
export function writeJournaled(journal: Journal, path: string, what: string, after: Uint8Array | string, keys: KeyChange[] = [], mode?: number): boolean {
  const bytes = typeof after === 'string' ? Buffer.from(after, 'utf8') : Buffer.from(after);
  const current = readBytes(path);
  if (current !== null && current.equals(bytes)) return false;
  const entry = entryFor(journal, path, what, current);
  if (!entry.what.split(', ').includes(what)) entry.what = `${entry.what}, ${what}`;
  for (const key of keys) {
    const same = (k: KeyChange): boolean => k.format === key.format && k.key === key.key && (k.format !== 'ini' || key.format !== 'ini' || k.section === key.section);
    if (!entry.keys.some(same)) entry.keys.push(key);
  }
  entry.createdDirs.push(...missingDirs(dirname(path)).filter((d) => !entry.createdDirs.includes(d)));
  mkdirSync(dirname(path), { recursive: true });
  writeFileAtomic(path, bytes, mode ?? entry.mode ?? 0o644);
  entry.afterSha256 = sha256(bytes);
  return true;
}

function entryFor(journal: Journal, path: string, what: string, current: Buffer | null): FileChange {
  let entry = journal.files.find((f) => f.path === path);
  if (!entry) {
    entry = { path, what, before: current ? current.toString('base64') : null, mode: current ? statSync(path).mode & 0o777 : null, afterSha256: '', keys: [], createdDirs: [] };
    journal.files.push(entry);
  }
  return entry;
}

/** The folders of `dir` (itself included) that do not exist yet, deepest first. */
function missingDirs(dir: string): string[] {
  const missing: string[] = [];
  for (let d = dir; !existsSync(d) && dirname(d) !== d; d = dirname(d)) missing.push(d);
  return missing;
}

/**
 * Records a file something else just created for setup (the daemon's token, written by
 * loadOrCreateToken), so --uninstall removes it too. `createdDirs` are folders that did not
 * exist before it.
 */
export function recordCreated(journal: Journal, path: string, what: string, createdDirs: string[]): void {
  if (journal.files.some((f) => f.path === path)) return;
  const entry = entryFor(journal, path, what, null);
  entry.createdDirs = createdDirs;
  entry.afterSha256 = sha256(readFileSync(path));
}

/** Folders that `path`'s creation would add (call before creating it). */
export function foldersMissingFor(path: string): string[] {
  return missingDirs(dirname(path));
}

/** Undoes one file's change; says how. */
function undoFile(entry: FileChange): string {
  const current = readBytes(entry.path);
  const untouched = current !== null && sha256(current) === entry.afterSha256;
  if (untouched || entry.keys.length === 0 || current === null) {
    if (entry.before === null) {
      rmSync(entry.path, { force: true });
      for (const dir of entry.createdDirs ?? []) {
        try {
          rmdirSync(dir); // only when empty: never what others put there
        } catch {
          break;
        }
      }
      return `removed ${entry.path}`;
    }
    writeFileAtomic(entry.path, Buffer.from(entry.before, 'base64'), entry.mode ?? 0o644);
    if (entry.mode !== null) chmodSync(entry.path, entry.mode);
    return `restored ${entry.path} as it was before setup`;
  }
  // Rewritten since (OBS saved it): put back only the keys setup set.
  let text = current.toString('utf8');
  if (entry.keys[0]!.format === 'json') {
    const json = JSON.parse(text) as Record<string, unknown>;
    for (const key of entry.keys) {
      if (key.format !== 'json') continue;
      // A dotted key reaches into objects ("obs.password").
      const path = key.key.split('.');
      let node = json;
      for (const part of path.slice(0, -1)) node = (node[part] ??= {}) as Record<string, unknown>;
      const last = path[path.length - 1]!;
      if (key.before === undefined || key.before === null) delete node[last];
      else node[last] = key.before;
    }
    text = `${JSON.stringify(json, null, 2)}\n`;
  } else {
    for (const key of entry.keys) {
      if (key.format !== 'ini') continue;
      text = key.before === null ? removeIniValue(text, key.section, key.key) : setIniValue(text, key.section, key.key, key.before);
    }
  }
  writeFileAtomic(entry.path, text, entry.mode ?? 0o644);
  return `put back the ${entry.keys.length} setting(s) setup changed in ${entry.path} (the file changed since; the rest of it is kept)`;
}

/** Records an action once (a second setup run that does it again adds nothing). */
export function recordAction(journal: Journal, action: ActionChange): void {
  journal.actions ??= [];
  if (!journal.actions.some((a) => a.what === action.what)) journal.actions.push(action);
}

/**
 * Undoes every change in `journal`, newest first (actions before files); returns what was
 * done, one line each. `run` executes an action's undo command (exit status; tests fake it).
 */
export function undoJournal(journal: Journal, run: (command: string[]) => number = (command) => exitStatusOf(command[0]!, command.slice(1), 30_000)): string[] {
  const done: string[] = [];
  for (const action of [...(journal.actions ?? [])].reverse()) {
    const status = run(action.undo);
    done.push(status === 0 ? `undid: ${action.what} (${action.undo.join(' ')})` : `could not undo: ${action.what}: ${action.undo.join(' ')} exited ${status}; run it by hand`);
  }
  journal.actions = [];
  done.push(...[...journal.files].reverse().map(undoFile));
  journal.files = [];
  return done;
}
