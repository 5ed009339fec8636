/**
 * The dock panel end to end: a real daemon (child process, built-in generator on the looped
 * demo video, no OBS) and the built panel (dist/panel) in Debian's headless Chromium at dock
 * size (300 × 900). Steps run in order and share the page; each saves a screenshot under
 * test-artifacts/panel/ and checks that nothing overflows horizontally.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DaemonState, Method, RequestMap } from '../../daemon/protocol.js';
import { findChromium, launchChromium, type ChromiumSession } from '../helpers/chromium.js';
import { ControlClient } from '../helpers/control-client.js';
import { startDaemon, type DaemonProcess } from '../helpers/daemon-process.js';
import { demoDataDir } from '../helpers/system.js';

const browserBinary = findChromium();
const demo = demoDataDir();
const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
const ARTIFACTS = `${repoRoot}test-artifacts/panel/`;
const DOCK = { width: 300, height: 900 };
const PRESET = 'presets/portrait-1.jpg';

/** A control-API call for the test's own checks of the daemon's state (not the panel's). */
async function callDaemon<K extends Method>(daemon: DaemonProcess, method: K, params: RequestMap[K]['params']): Promise<RequestMap[K]['result']> {
  const reply = await ControlClient.callOnce<RequestMap[K]['result']>(daemon, method, params as Record<string, unknown>, 10_000);
  if (!reply.ok) throw new Error(`${method} failed: ${reply.error?.code}: ${reply.error?.message}`);
  return reply.result!;
}

/** Polls the daemon's state until `accept` holds (the daemon may apply a change in the background). */
async function waitForState(daemon: DaemonProcess, accept: (state: DaemonState) => boolean, what: string, timeoutMs = 15_000): Promise<DaemonState> {
  const deadline = Date.now() + timeoutMs;
  let state = await callDaemon(daemon, 'state.get', {});
  while (!accept(state)) {
    if (Date.now() > deadline) throw new Error(`the daemon's state never showed ${what} within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 250));
    state = await callDaemon(daemon, 'state.get', {});
  }
  return state;
}

/** The daemon's own answer to an upload, to compare with what the panel shows. */
async function uploadDirectly(daemon: DaemonProcess, name: string, body: Buffer): Promise<{ status: number; message: string | null }> {
  const response = await fetch(`${daemon.baseUrl}/api/references?name=${encodeURIComponent(name)}`, {
    method: 'POST',
    // What Chromium sends for a .txt file, so the daemon sees the same request as from the panel.
    headers: { Authorization: `Bearer ${daemon.token}`, 'Content-Type': 'text/plain' },
    body,
  });
  const text = await response.text();
  try {
    const json = JSON.parse(text) as { error?: { message?: string }; message?: string };
    return { status: response.status, message: json.error?.message ?? json.message ?? null };
  } catch {
    return { status: response.status, message: text.trim() || null };
  }
}

async function galleryIds(page: Page): Promise<string[]> {
  return page.locator('#gallery li.ref').evaluateAll((items) => items.map((item) => item.getAttribute('data-id') ?? ''));
}

/**
 * Polls a page expression until it is truthy. (page.waitForFunction evaluates its string
 * with eval inside the page, which the panel's Content-Security-Policy rightly forbids.)
 */
async function waitForPage(page: Page, expression: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await page.evaluate(expression))) {
    if (Date.now() > deadline) throw new Error(`the page never satisfied ${expression} within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

async function intText(page: Page, selector: string): Promise<number> {
  return Number.parseInt((await page.locator(selector).textContent()) ?? '', 10);
}

describe.skipIf(browserBinary.skip || demo.skip)('dock panel in headless Chromium against a running daemon', () => {
  let daemon: DaemonProcess;
  let browser: ChromiumSession;
  let page: Page;
  let scratch: string;
  const pageErrors: string[] = [];
  let shotNumber = 0;

  /** Saves the step's screenshot and checks the 300 px dock has no horizontal overflow. */
  async function step(name: string): Promise<void> {
    shotNumber++;
    // A full-page shot from the top, so the sticky header is drawn where it belongs.
    await page.evaluate('window.scrollTo(0, 0)');
    await page.screenshot({ path: join(ARTIFACTS, `${String(shotNumber).padStart(2, '0')}-${name}.png`), fullPage: true });
    const scrollWidth = Number(await page.evaluate('document.scrollingElement.scrollWidth'));
    expect(scrollWidth, `horizontal overflow at step ${name}`).toBeLessThanOrEqual(DOCK.width);
  }

  beforeAll(async () => {
    rmSync(ARTIFACTS, { recursive: true, force: true });
    mkdirSync(ARTIFACTS, { recursive: true });
    scratch = mkdtempSync(join(tmpdir(), 'personalive-panel-test-'));
    // The daemon serves dist/panel: build it from the current sources (well under a second).
    execFileSync(process.execPath, ['panel/build.mjs'], { cwd: repoRoot, stdio: 'inherit' });
    daemon = await startDaemon();
    browser = await launchChromium(browserBinary.executablePath!, DOCK);
    page = browser.page;
    page.on('pageerror', (error) => pageErrors.push(String(error)));
    // The daemon serves the panel with a strict Content-Security-Policy: the panel must not break it.
    page.on('console', (message) => {
      if (message.type() === 'error' && /Content Security Policy|Refused to/.test(message.text())) pageErrors.push(message.text());
    });
    page.setDefaultTimeout(15_000);
  });

  afterAll(async () => {
    await browser?.close();
    await daemon?.stop();
    if (scratch) rmSync(scratch, { recursive: true, force: true });
  });

  it('loads from the daemon with its token and shows the initial references with their slots', async () => {
    await page.goto(daemon.panelUrl, { waitUntil: 'domcontentloaded' });
    await page.locator('#connection[data-state="open"]').waitFor();
    const state = await callDaemon(daemon, 'state.get', {});
    expect(state.references.length).toBeGreaterThanOrEqual(1);
    await page.locator('#gallery li.ref').nth(state.references.length - 1).waitFor();
    expect(await galleryIds(page)).toEqual(state.references.map((r) => r.id));
    for (const reference of state.references.filter((r) => r.slot !== null)) {
      expect(await page.locator(`#gallery li[data-id="${reference.id}"] .slot`).textContent()).toBe(String(reference.slot));
    }
    if (state.activeReferenceId) {
      expect(await page.locator(`#gallery button.ref-select[data-id="${state.activeReferenceId}"]`).getAttribute('aria-current')).toBe('true');
    }
    await step('loaded');
  });

  let uploadedId = '';
  it('uploads a reference through the file input; it appears with its slot number', async () => {
    const before = (await callDaemon(daemon, 'state.get', {})).references.map((r) => r.id);
    await page.locator('#upload-input').setInputFiles(join(demo.dir, PRESET));
    await page.locator('#upload-status .upload-ok').waitFor();
    const state = await waitForState(daemon, (s) => s.references.length === before.length + 1, 'the uploaded reference');
    const added = state.references.find((r) => !before.includes(r.id))!;
    uploadedId = added.id;
    const item = page.locator(`#gallery li[data-id="${added.id}"]`);
    await item.waitFor();
    expect(await item.locator('.ref-name').textContent()).toBe(added.name);
    if (added.slot !== null) expect(await item.locator('.slot').textContent()).toBe(String(added.slot));
    expect(await galleryIds(page)).toEqual(state.references.map((r) => r.id));
    // The thumbnail really loaded (the token travels in its URL).
    await waitForPage(page, `document.querySelector('#gallery li[data-id="${added.id}"] img.thumb').naturalWidth > 0`);
    await step('uploaded');
  });

  it('clicking a reference swaps to it: the panel marks it aria-current and the daemon has it active', async () => {
    await page.locator(`#gallery button.ref-select[data-id="${uploadedId}"]`).click();
    await page.locator(`#gallery button.ref-select[data-id="${uploadedId}"][aria-current="true"]`).waitFor();
    expect(await page.locator('#gallery [aria-current="true"]').count()).toBe(1);
    await waitForState(daemon, (s) => s.activeReferenceId === uploadedId, `reference ${uploadedId} active`);
    await step('swapped');
  });

  it('reorders from the keyboard (Move down) and the daemon keeps the new order', async () => {
    const before = await galleryIds(page);
    if (before.length < 2) return;
    const first = before[0]!;
    await page.locator(`#gallery li[data-id="${first}"] button[data-focus-key="down:${first}"]`).focus();
    await page.keyboard.press('Enter');
    const expected = [before[1]!, first, ...before.slice(2)];
    await waitForState(daemon, (s) => JSON.stringify(s.references.map((r) => r.id)) === JSON.stringify(expected), 'the new order');
    await waitForPage(page, `document.querySelector('#gallery li.ref:nth-child(2)')?.dataset.id === ${JSON.stringify(first)}`);
    // The focus stayed with the moved reference's button.
    expect(await page.evaluate('document.activeElement?.dataset.focusKey')).toMatch(new RegExp(`^(down|up):${first}$`));
    expect(await page.locator(`#gallery li[data-id="${first}"] .slot`).textContent()).toBe('2');
    await step('reordered');
  });

  it('backends: unavailable choices are disabled with their reason shown; the output frame rate is set', async () => {
    const state = await callDaemon(daemon, 'state.get', {});
    const unavailable = state.options.devices.filter((o) => !o.available);
    for (const option of unavailable) {
      expect(await page.locator(`#backend-device option[value="${option.value}"]`).isDisabled()).toBe(true);
      expect(await page.locator(`#backend-device option[value="${option.value}"]`).getAttribute('title')).toBe(option.reason);
      const reason = page.locator(`#backend-device-reasons li[data-value="${option.value}"]`);
      expect(await reason.isVisible()).toBe(true);
      if (option.reason) expect(await reason.textContent()).toContain(option.reason);
      // A short sentence with what to do; the library path waits behind Details, folded.
      expect(option.reason!.length).toBeLessThan(110);
      if (option.detail) {
        expect(option.reason).not.toContain('/');
        expect(await reason.locator('details').getAttribute('open')).toBeNull();
        expect(await reason.locator('details code').textContent()).toBe(option.detail);
      }
    }
    expect(await page.locator('#obs-status .status-text').textContent()).toBe('OBS control is off in the configuration (obs.enabled).');
    expect(await page.locator('#obs-detail').isHidden()).toBe(true);
    for (const option of state.options.devices.filter((o) => o.available)) {
      expect(await page.locator(`#backend-device option[value="${option.value}"]`).isDisabled()).toBe(false);
    }
    expect(await page.locator('#backend-device').inputValue()).toBe(state.generator.device);

    const fps = state.output.fps === 30 ? 24 : 30;
    await page.locator('#output-fps').selectOption(String(fps));
    await waitForState(daemon, (s) => s.output.fps === fps, `output fps ${fps}`);
    expect(await page.locator('#output-fps').inputValue()).toBe(String(fps));
    await step('backends');
  });

  it('live stats move: frames out increases between two reads; the preview shows frames', async () => {
    await waitForPage(page, `/^\\d+$/.test(document.getElementById('stat-frames-out').textContent)`);
    const first = await intText(page, '#stat-frames-out');
    await waitForPage(page, `Number(document.getElementById('stat-frames-out').textContent) > ${first}`, 10_000);
    expect(Number.parseFloat((await page.locator('#stat-output-fps').textContent()) ?? '')).toBeGreaterThan(0);
    expect((await page.locator('#stat-provider').textContent())?.trim()).not.toBe('—');
    await waitForPage(page, `document.getElementById('preview').naturalWidth > 0`, 10_000);
    await step('stats');
  });

  it('uploading a non-image shows the daemon’s typed error message as is', async () => {
    const file = join(scratch, 'not-an-image.txt');
    writeFileSync(file, 'this is not an image\n');
    const countBefore = (await galleryIds(page)).length;
    await page.locator('#upload-input').setInputFiles(file);
    const error = page.locator('#upload-status .upload-error .upload-message');
    await error.waitFor();
    const shown = (await error.textContent()) ?? '';
    // The same bytes straight to the daemon: its message must be what the panel shows.
    const direct = await uploadDirectly(daemon, 'not-an-image', readFileSync(file));
    expect(direct.status).toBeGreaterThanOrEqual(400);
    expect(direct.message).toBeTruthy();
    expect(shown).toBe(direct.message);
    expect((await galleryIds(page)).length).toBe(countBefore);
    await step('upload-error');
  });

  it('picking Webcam changes nothing on air or on disk until "Use" is pressed', async () => {
    const before = await callDaemon(daemon, 'state.get', {});
    expect(before.driving.kind).toBe('file');
    const configFile = join(daemon.configDir, 'config.json');
    const savedDriving = (): unknown => (existsSync(configFile) ? (JSON.parse(readFileSync(configFile, 'utf8')) as { driving: unknown }).driving : null);
    const savedBefore = savedDriving();
    await page.locator('#driving-kind').selectOption('webcam');
    await page.locator('#driving-webcam').waitFor({ state: 'visible' });
    await new Promise((r) => setTimeout(r, 800)); // state and stats updates arrive meanwhile
    expect((await callDaemon(daemon, 'state.get', {})).driving.kind).toBe('file');
    expect(await page.locator('#driving-kind').inputValue()).toBe('webcam'); // the choice stays shown while it is filled in
    expect(savedDriving()).toEqual(savedBefore);
    await step('webcam-pending');
    await page.locator('#webcam-device').fill('/dev/video9');
    await page.locator('#webcam-apply').click();
    await waitForState(daemon, (s) => s.driving.kind === 'webcam' && s.driving.webcam === '/dev/video9', 'the webcam in use');
    expect((await callDaemon(daemon, 'driving.set', { kind: 'file' })).kind).toBe('file');
  });

  it('deletes a reference from the keyboard: ✕, then the Delete key the README promises', async () => {
    const before = await callDaemon(daemon, 'state.get', {});
    const victim = before.references.find((r) => r.id !== before.activeReferenceId)!;
    await page.locator(`#gallery li[data-id="${victim.id}"] button[aria-label^="Delete"]`).click();
    await page.locator(`#gallery li[data-id="${victim.id}"] .ref-confirm`).waitFor();
    await page.keyboard.press('Escape');
    await page.locator(`#gallery li[data-id="${victim.id}"] .ref-confirm`).waitFor({ state: 'detached' });
    expect((await callDaemon(daemon, 'state.get', {})).references.some((r) => r.id === victim.id)).toBe(true);
    await page.locator(`#gallery li[data-id="${victim.id}"] button[aria-label^="Delete"]`).click();
    await page.locator(`#gallery li[data-id="${victim.id}"] .ref-confirm`).waitFor();
    await page.keyboard.press('Delete');
    await waitForState(daemon, (s) => !s.references.some((r) => r.id === victim.id), `reference ${victim.id} deleted`);
    await page.locator(`#gallery li[data-id="${victim.id}"]`).waitFor({ state: 'detached' });
    await step('deleted');
  });

  it('Checks: runs the doctor in the daemon and lists problems first, each with its fix, the rest folded', async () => {
    await page.locator('details[data-section="checks"] > summary').click();
    await page.locator('#checks-run').click();
    await page.locator('#checks-list li').first().waitFor();
    const statuses = await page.locator('#checks-list > li.check-row').evaluateAll((rows) => rows.map((r) => r.getAttribute("data-status")));
    expect(statuses.every((s) => s === 'fail' || s === 'warn')).toBe(true);
    for (const fix of await page.locator('#checks-list > li.check-row[data-status="fail"]').evaluateAll((rows) => rows.map((r) => r.querySelector('.fix')?.textContent ?? ''))) expect(fix).toMatch(/^Fix: /);
    expect(await page.locator('#checks-list details summary').textContent()).toMatch(/^\d+ fine$/);
    expect(await page.locator('#checks-list details li[data-status]').allTextContents()).toEqual(expect.arrayContaining([expect.stringContaining('GPU: provider cpu ran a test graph with cpu')]));
    await step('checks');
  });

  it('Expression: a slider sets the control on the running daemon, and "This is my neutral face" calibrates', async () => {
    await page.locator('details[data-section="expression"] > summary').click();
    await page.locator('#expression-mouth').fill('1.5');
    await waitForState(daemon, (s) => s.generator.expression.mouth === 1.5, 'mouth control 1.5');
    await page.locator('#expression-head-pose').selectOption('absolute');
    await waitForState(daemon, (s) => s.generator.expression.headPose === 'absolute', 'absolute head pose');
    await page.locator('#expression-calibrate').click();
    await page.getByText('Neutral face set').first().waitFor();
    await step('expression');
    await callDaemon(daemon, 'expression.set', { mouth: 1, headPose: 'relative' });
  });

  it('raised no uncaught errors and no Content-Security-Policy violations in the page', () => {
    expect(pageErrors).toEqual([]);
  });
});
