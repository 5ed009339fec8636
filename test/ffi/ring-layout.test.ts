/**
 * The TypeScript mirror of plugin/include/personalive-ring.h matches the C compiler's
 * layout: a C program prints sizeof/offsetof of every field and the constants.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  HEADER, HEADER_SIZE, PixelFormat, RING_DATA_OFFSET, RING_HEARTBEAT_INTERVAL_MS, RING_MAGIC, RING_MAX_SLOTS,
  RING_NAME_DRIVING, RING_NAME_OUTPUT, RING_SLOT_ALIGN, RING_STALE_MS, RING_VERSION, SLOT, SLOT_DESCRIPTOR_SIZE,
  WriterState, pixelFormatBytes, ringGeometry,
} from '../../daemon/ffi/ring-layout.js';
import { SHM_NAME_MAX, SHM_NAME_RULE, isValidShmName } from '../../daemon/util/checks.js';
import { requireBinary } from '../helpers/system.js';

const includeDir = fileURLToPath(new URL('../../plugin/include', import.meta.url));
const cc = requireBinary('cc');

/** Names the C and TypeScript name rules must judge alike (valid and invalid ones). */
const NAME_SAMPLES = ['personalive-output', 'a', 'A.b_c-9', 'x'.repeat(SHM_NAME_MAX), 'x'.repeat(SHM_NAME_MAX + 1), '', 'has space', 'slash/name', 'back\\slash', 'dollar$', 'ümlaut'];

const HEADER_FIELDS = Object.keys(HEADER) as (keyof typeof HEADER)[];
const SLOT_FIELDS = Object.keys(SLOT) as (keyof typeof SLOT)[];

function cProgram(): string {
  const lines = [
    '#include <stdio.h>',
    '#include <stddef.h>',
    '#include "personalive-ring.h"',
    'int main(void) {',
    '  printf("sizeof.header %zu\\n", sizeof(struct pl_ring_header));',
    '  printf("sizeof.slot %zu\\n", sizeof(struct pl_ring_slot));',
    ...HEADER_FIELDS.map((f) => `  printf("header.${f} %zu\\n", offsetof(struct pl_ring_header, ${f}));`),
    ...SLOT_FIELDS.map((f) => `  printf("slot.${f} %zu\\n", offsetof(struct pl_ring_slot, ${f}));`),
    '  printf("const.magic %u\\n", PL_RING_MAGIC);',
    '  printf("const.version %u\\n", PL_RING_VERSION);',
    '  printf("const.max_slots %u\\n", PL_RING_MAX_SLOTS);',
    '  printf("const.data_offset %u\\n", PL_RING_DATA_OFFSET);',
    '  printf("const.slot_align %u\\n", PL_RING_SLOT_ALIGN);',
    '  printf("const.heartbeat_ms %u\\n", PL_RING_HEARTBEAT_INTERVAL_MS);',
    '  printf("const.stale_ms %u\\n", PL_RING_STALE_MS);',
    '  printf("name.output %s\\n", PL_RING_NAME_OUTPUT);',
    '  printf("name.driving %s\\n", PL_RING_NAME_DRIVING);',
    '  printf("format.rgb24 %d\\n", PL_PIXEL_FORMAT_RGB24);',
    '  printf("format.rgba %d\\n", PL_PIXEL_FORMAT_RGBA);',
    '  printf("format.bgra %d\\n", PL_PIXEL_FORMAT_BGRA);',
    '  printf("state.empty %d\\n", PL_WRITER_STATE_EMPTY);',
    '  printf("state.running %d\\n", PL_WRITER_STATE_RUNNING);',
    '  printf("state.stopped %d\\n", PL_WRITER_STATE_STOPPED);',
    '  printf("bytes.rgba %u\\n", pl_pixel_format_bytes(PL_PIXEL_FORMAT_RGBA));',
    `  printf("const.shm_name_max %d\\n", PL_SHM_NAME_MAX);`,
    `  printf("const.shm_name_rule|%s\\n", PL_SHM_NAME_RULE);`,
    ...NAME_SAMPLES.map((name, i) => `  printf("name_valid.${i} %d\\n", pl_ring_name_valid(${JSON.stringify(name)}));`),
    '  printf("total.720p.rgb24.3 %llu\\n", (unsigned long long)pl_ring_total_size(3, ((1280u * 3u * 720u + 4095u) / 4096u) * 4096u));',
    '  return 0;',
    '}',
  ];
  return lines.join('\n');
}

describe.skipIf(cc.skip)('ring layout: C header vs TypeScript mirror', () => {
  let dir = '';
  let c: Map<string, string>;
  let ruleInWords = '';

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'pl-ring-layout-'));
    writeFileSync(join(dir, 'layout.c'), cProgram());
    execFileSync('cc', ['-std=c11', '-Wall', '-Werror', '-I', includeDir, '-o', join(dir, 'layout'), join(dir, 'layout.c')]);
    const output = execFileSync(join(dir, 'layout'), { encoding: 'utf8' });
    const lines = output.trim().split('\n');
    ruleInWords = lines.find((line) => line.startsWith('const.shm_name_rule|'))!.slice('const.shm_name_rule|'.length);
    c = new Map(lines.map((line) => line.split(' ') as [string, string]));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('has the same struct sizes', () => {
    expect(Number(c.get('sizeof.header'))).toBe(HEADER_SIZE);
    expect(Number(c.get('sizeof.slot'))).toBe(SLOT_DESCRIPTOR_SIZE);
    expect(HEADER_SIZE).toBeLessThanOrEqual(RING_DATA_OFFSET);
  });

  it('has the same offset for every header and slot field', () => {
    for (const field of HEADER_FIELDS) expect({ field, offset: Number(c.get(`header.${field}`)) }).toEqual({ field, offset: HEADER[field] });
    for (const field of SLOT_FIELDS) expect({ field, offset: Number(c.get(`slot.${field}`)) }).toEqual({ field, offset: SLOT[field] });
  });

  it('has the same constants, names and enums', () => {
    expect(Number(c.get('const.magic'))).toBe(RING_MAGIC);
    expect(Number(c.get('const.version'))).toBe(RING_VERSION);
    expect(Number(c.get('const.max_slots'))).toBe(RING_MAX_SLOTS);
    expect(Number(c.get('const.data_offset'))).toBe(RING_DATA_OFFSET);
    expect(Number(c.get('const.slot_align'))).toBe(RING_SLOT_ALIGN);
    expect(Number(c.get('const.heartbeat_ms'))).toBe(RING_HEARTBEAT_INTERVAL_MS);
    expect(Number(c.get('const.stale_ms'))).toBe(RING_STALE_MS);
    expect(c.get('name.output')).toBe(RING_NAME_OUTPUT);
    expect(c.get('name.driving')).toBe(RING_NAME_DRIVING);
    expect([c.get('format.rgb24'), c.get('format.rgba'), c.get('format.bgra')].map(Number)).toEqual([PixelFormat.RGB24, PixelFormat.RGBA, PixelFormat.BGRA]);
    expect([c.get('state.empty'), c.get('state.running'), c.get('state.stopped')].map(Number)).toEqual([WriterState.EMPTY, WriterState.RUNNING, WriterState.STOPPED]);
    expect(Number(c.get('bytes.rgba'))).toBe(pixelFormatBytes(PixelFormat.RGBA));
    expect(Number(c.get('total.720p.rgb24.3'))).toBe(ringGeometry(1280, 720, PixelFormat.RGB24, 3).totalSize);
  });

  it('judges shared-memory names by the same rule as the daemon', () => {
    expect(Number(c.get('const.shm_name_max'))).toBe(SHM_NAME_MAX);
    expect(ruleInWords).toBe(SHM_NAME_RULE);
    const judged = NAME_SAMPLES.map((name, i) => ({ name: name.slice(0, 20), c: c.get(`name_valid.${i}`) === '1', ts: isValidShmName(name) }));
    for (const j of judged) expect(j.c).toBe(j.ts);
    expect(judged.filter((j) => j.ts).length).toBe(4);
  });

  it('spells the magic "PNGR" in memory', () => {
    const bytes = new Uint8Array(new Uint32Array([RING_MAGIC]).buffer);
    expect(String.fromCharCode(...bytes)).toBe('PNGR');
  });
});
