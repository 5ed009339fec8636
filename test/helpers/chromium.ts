/**
 * Debian's Chromium driven by playwright-core (no downloaded browser), headless, with a
 * throwaway profile. Used by test/panel. The binary is CHROMIUM_PATH, /usr/bin/chromium, or
 * chromium / chromium-browser on PATH; under CI=true its absence fails the suite.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { hasBinary, requireBinary } from './system.js';

/** The flags every run uses: headless, no sandbox (containers, root), nothing phoning home. */
export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/**
 * Finds the Chromium binary. Under CI=true a missing one throws (the suite fails, never
 * skips); elsewhere it says to skip.
 * @throws Error under CI=true when no Chromium is found, or when CHROMIUM_PATH names a missing file.
 */
export function findChromium(): { executablePath: string | null; skip: boolean } {
  const fromEnv = process.env.CHROMIUM_PATH;
  if (fromEnv) {
    if (existsSync(fromEnv)) return { executablePath: fromEnv, skip: false };
    throw new Error(`CHROMIUM_PATH is ${JSON.stringify(fromEnv)}, which does not exist`);
  }
  if (existsSync('/usr/bin/chromium')) return { executablePath: '/usr/bin/chromium', skip: false };
  for (const name of ['chromium', 'chromium-browser']) {
    if (hasBinary(name)) return { executablePath: name, skip: false };
  }
  // Throws under CI=true with the standard message; otherwise reports the skip.
  requireBinary('chromium');
  return { executablePath: null, skip: true };
}

export interface ChromiumSession {
  readonly context: BrowserContext;
  readonly page: Page;
  /** Closes the browser and removes its profile. */
  close(): Promise<void>;
}

/** Launches Chromium with a fresh profile and one page of the given viewport. */
export async function launchChromium(executablePath: string, viewport = { width: 1280, height: 720 }): Promise<ChromiumSession> {
  const userDataDir = mkdtempSync(join(tmpdir(), 'personalive-chromium-'));
  try {
    const context = await chromium.launchPersistentContext(userDataDir, {
      executablePath,
      headless: true,
      args: CHROMIUM_ARGS,
      viewport,
      deviceScaleFactor: 1,
      timeout: 30_000,
    });
    const page = context.pages()[0] ?? (await context.newPage());
    return {
      context,
      page,
      async close() {
        try {
          await context.close();
        } finally {
          rmSync(userDataDir, { recursive: true, force: true });
        }
      },
    };
  } catch (error) {
    rmSync(userDataDir, { recursive: true, force: true });
    throw error;
  }
}
