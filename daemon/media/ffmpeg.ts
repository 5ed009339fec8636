/**
 * The ffmpeg adapter's base: where the binaries are and how a child runs (the adapter is
 * this file with probe.ts, decode.ts and encode.ts, the only modules that spawn ffmpeg or
 * ffprobe). Everything here runs
 * the binaries directly (never through a shell) and reports failures as PersonaLiveError
 * with the file, the argument and what was expected.
 *
 * Inputs are passed as `file:<absolute path>` so that a name starting with '-' is not read
 * as an option and a name containing ':' is not read as a protocol.
 */
import { accessSync, constants, statSync } from 'node:fs';
import { spawn, type ChildProcess } from 'node:child_process';
import nodePath from 'node:path';
import { PersonaLiveError } from '../errors.js';

export interface FfmpegBinaries {
  ffmpeg: string;
  ffprobe: string;
}

export const STDERR_KEEP_CHARS = 8192;

// ---------------------------------------------------------------------------------------
// Locating the binaries

/**
 * Finds ffmpeg and ffprobe on env.PATH (no shell involved).
 * @throws PersonaLiveError FFMPEG_MISSING naming the missing binary, the PATH searched and how to install.
 */
export function findFfmpeg(env: NodeJS.ProcessEnv = process.env): FfmpegBinaries {
  const pathValue = env.PATH ?? env.Path ?? '';
  const dirs = pathValue.split(nodePath.delimiter).filter((dir) => dir.length > 0);
  const ffmpeg = lookUpBinary('ffmpeg', dirs, env);
  const ffprobe = lookUpBinary('ffprobe', dirs, env);
  if (ffmpeg !== null && ffprobe !== null) return { ffmpeg, ffprobe };

  const missing = [ffmpeg === null ? 'ffmpeg' : null, ffprobe === null ? 'ffprobe' : null].filter(Boolean).join(' and ');
  const searched = dirs.length > 0 ? dirs.join(nodePath.delimiter) : '(PATH is empty)';
  throw new PersonaLiveError(
    'FFMPEG_MISSING',
    `${missing} not found on PATH (searched: ${searched}). PersonaLive needs both ffmpeg and ffprobe to read ` +
      'the driving video and write the MP4. Install ffmpeg (Debian/Ubuntu: sudo apt-get install ffmpeg; ' +
      'macOS: brew install ffmpeg; Windows: winget install Gyan.FFmpeg) and make sure its folder is on PATH.',
    { missing: missing.split(' and '), path: pathValue },
  );
}

function lookUpBinary(name: string, dirs: string[], env: NodeJS.ProcessEnv): string | null {
  const extensions =
    process.platform === 'win32' ? (env.PATHEXT ?? '.EXE;.CMD;.BAT;.COM').split(';').filter(Boolean) : [''];
  for (const dir of dirs) {
    for (const extension of extensions) {
      const candidate = nodePath.join(dir, name + extension.toLowerCase());
      if (isExecutableFile(candidate)) return candidate;
    }
  }
  return null;
}

function isExecutableFile(candidate: string): boolean {
  try {
    if (!statSync(candidate).isFile()) return false;
    accessSync(candidate, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

export interface Rational {
  num: number;
  den: number;
  value: number;
  text: string;
}

export function parseRational(text: string | undefined): Rational | null {
  if (text === undefined) return null;
  const match = /^\s*(\d+(?:\.\d+)?)\s*(?:\/\s*(\d+(?:\.\d+)?))?\s*$/.exec(text);
  if (match === null) return null;
  const num = Number(match[1]);
  const den = match[2] === undefined ? 1 : Number(match[2]);
  if (!(num > 0 && den > 0) || !Number.isFinite(num / den)) return null;
  return { num, den, value: num / den, text: `${match[1]}/${match[2] ?? '1'}` };
}

export function describeInput(kind: string, path: string, argument: string | undefined): string {
  return `${kind} "${path}"${argument ? ` (${argument})` : ''}`;
}


export function assertDimension(field: string, value: number, where: string, even = false): void {
  if (!(Number.isInteger(value) && value > 0 && value <= 16384) || (even && value % 2 !== 0)) {
    const expected = even ? 'an even integer from 2 to 16384 (H.264 with yuv420p needs even sizes)' : 'an integer from 1 to 16384';
    throw new PersonaLiveError('USAGE', `${where}: '${field}' must be ${expected}, got ${String(value)}.`, { [field]: value });
  }
}


// ---------------------------------------------------------------------------------------
// Child-process plumbing

export interface ChildExit {
  code: number | null;
  signal: NodeJS.Signals | null;
  spawnError: Error | null;
}

/**
 * Collects a child's stderr tail and exit, and offers stop(): SIGTERM, SIGKILL after a
 * grace period, then wait for 'close' so the process is reaped (no zombie).
 */
export function watchChild(child: ChildProcess): { exited: Promise<ChildExit>; stderrTail(): string; stop(): Promise<void> } {
  let stderr = '';
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (text: string) => {
    stderr = (stderr + text).slice(-STDERR_KEEP_CHARS);
  });
  child.stderr?.on('error', () => {});
  let settled = false;
  const exited = new Promise<ChildExit>((resolve) => {
    // 'error' is kept listening for good: a failed kill() emits it too and must not go unhandled.
    child.on('error', (error) => {
      if (child.pid === undefined && !settled) {
        settled = true;
        resolve({ code: null, signal: null, spawnError: error });
      }
    });
    child.on('close', (code, signal) => {
      if (!settled) {
        settled = true;
        resolve({ code, signal, spawnError: null });
      }
    });
  });
  const stop = async (): Promise<void> => {
    if (!settled && child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 2000);
      await exited;
      clearTimeout(timer);
    } else {
      await exited;
    }
  };
  return { exited, stderrTail: () => stderr, stop };
}

export async function runToEnd(
  binary: string,
  args: string[],
  env: NodeJS.ProcessEnv,
): Promise<{ code: number | null; signal: NodeJS.Signals | null; spawnError: Error | null; stdout: string; stderr: string }> {
  const child = spawn(binary, args, { stdio: ['ignore', 'pipe', 'pipe'], env, windowsHide: true });
  const run = watchChild(child);
  let stdout = '';
  child.stdout?.setEncoding('utf8');
  child.stdout?.on('data', (text: string) => {
    stdout += text;
  });
  const exit = await run.exited;
  return { ...exit, stdout, stderr: run.stderrTail() };
}

export function spawnFailure(name: string, binary: string, error: Error): PersonaLiveError {
  const code = (error as NodeJS.ErrnoException).code;
  if (code === 'ENOENT' || code === 'EACCES') {
    return new PersonaLiveError(
      'FFMPEG_MISSING',
      `${name} at "${binary}" could not be started (${code}). Install ffmpeg (apt-get install ffmpeg, brew install ffmpeg, ` +
        'winget install Gyan.FFmpeg) and make sure it is on PATH.',
      { binary },
      { cause: error },
    );
  }
  return new PersonaLiveError('FFMPEG_FAILED', `${name} at "${binary}" could not be started: ${error.message}`, { binary }, { cause: error });
}

/** The last few meaningful stderr lines, on one line, without our long file: paths. */
export function shortenStderr(stderr: string, absolutePath: string, maxChars = 400): string {
  const lines = stderr
    .split(/\r?\n/)
    .map((line) => line.split(`file:${absolutePath}`).join(nodePath.basename(absolutePath)).trim())
    .filter((line) => line.length > 0);
  let text = lines.slice(-4).join(' | ');
  if (text.length > maxChars) text = `...${text.slice(-(maxChars - 3))}`;
  return text;
}

/** 'does not exist' for ENOENT, otherwise 'cannot be accessed (<reason>)'. */
export function missingText(error: unknown): string {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  return code === 'ENOENT' ? 'does not exist' : `cannot be accessed (${errnoText(error)})`;
}

export function errnoText(error: unknown): string {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  switch (code) {
    case 'ENOENT':
      return 'no such file or folder';
    case 'EACCES':
    case 'EPERM':
      return 'permission denied';
    case 'EROFS':
      return 'read-only file system';
    case 'ENOTDIR':
      return 'a part of the path is a file, not a folder';
    default:
      return code ?? (error instanceof Error ? error.message : String(error));
  }
}
