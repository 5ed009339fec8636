/**
 * `personalive setup [--yes] [--gpu] [--uninstall]`: the one command that connects PersonaLive
 * to OBS, the virtual camera and the GPU (daemon/setup/setup.ts), with what it changed listed
 * at the end. Exit 0 when nothing failed (steps left to do are listed, not failures).
 */
import { existsSync, readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { PersonaLiveError } from '../errors.js';
import { defaultPaths, loadConfigForStart } from '../config/config.js';
import { formatDoctor, runDoctor } from '../setup/doctor.js';
import { runSetup, runUninstall } from '../setup/setup.js';

export const SETUP_USAGE = `  personalive setup [--yes] [--gpu] [--uninstall] [--obs-config DIR] [--config-dir DIR] [--root DIR] [--json]
      (OBS plugin, obs-websocket with a password shared with the daemon, the panel as an OBS dock,
       the virtual camera with --yes, GPU providers with --gpu; safe to run again; --uninstall undoes it)`;

/** The repository: above dist/daemon/cli (built) or daemon/cli (sources under tsx). */
const REPO_ROOT = [fileURLToPath(new URL('../../..', import.meta.url)), fileURLToPath(new URL('../..', import.meta.url))].find((dir) => existsSync(`${dir}/installer/install-obs-plugin.sh`)) ?? process.cwd();

interface Io {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
}

export async function runSetupCommand(args: string[], io: Io): Promise<number> {
  let values: Record<string, string | boolean | undefined>;
  try {
    values = parseArgs({
      args,
      strict: true,
      allowPositionals: false,
      options: { yes: { type: 'boolean' }, gpu: { type: 'boolean' }, uninstall: { type: 'boolean' }, 'obs-config': { type: 'string' }, 'config-dir': { type: 'string' }, root: { type: 'string' }, json: { type: 'boolean' } },
    }).values;
  } catch (error) {
    throw new PersonaLiveError('USAGE', `${(error as Error).message}\n\nUsage:\n${SETUP_USAGE}`);
  }
  const env = { ...process.env, ...(values['config-dir'] ? { PERSONALIVE_CONFIG_DIR: values['config-dir'] as string } : {}) };
  const paths = defaultPaths(env);
  const say = values.json ? () => undefined : io.stdout;
  if (values.uninstall) {
    const done = runUninstall(paths);
    if (values.json) io.stdout(JSON.stringify({ undone: done }));
    else if (done.length === 0) io.stdout('setup had changed nothing: nothing to undo.');
    else for (const line of done) io.stdout(`undone   ${line}`);
    return 0;
  }
  const { results, changedFiles } = await runSetup({
    env,
    paths,
    repoRoot: REPO_ROOT,
    obsConfigDir: values['obs-config'] as string | undefined,
    yes: values.yes === true,
    gpu: values.gpu === true,
    root: (values.root as string | undefined) ?? '/',
    say,
  });
  const failed = results.filter((r) => r.outcome === 'failed');
  if (values.json) io.stdout(JSON.stringify({ ok: failed.length === 0, results, changedFiles }));
  else {
    io.stdout('');
    if (!results.some((r) => r.outcome === 'changed')) io.stdout('This run changed nothing: everything setup can do is in place.');
    io.stdout(changedFiles.length ? 'Changed by setup, this run and earlier ones (undo with personalive setup --uninstall):' : 'setup has changed no file.');
    for (const file of changedFiles) io.stdout(`  ${file}`);
    const todo = results.filter((r) => r.outcome === 'todo');
    if (todo.length) io.stdout(`Left to do: ${todo.map((r) => r.step).join(', ')} (see above).`);
    if (failed.length) io.stdout(`Failed: ${failed.map((r) => r.step).join(', ')} (see above).`);
  }
  return failed.length === 0 ? 0 : 1;
}

export const DOCTOR_USAGE = `  personalive doctor [--json] [--obs-config DIR] [--config-dir DIR]
      (ffmpeg, OBS, plugin, obs-websocket, dock, virtual camera, GPU providers opened for real,
       model pack, daemon and rings: one line each, with the fix)`;

/** `personalive doctor`: exit 0 when no check failed. */
export async function runDoctorCommand(args: string[], io: Io): Promise<number> {
  let values: Record<string, string | boolean | undefined>;
  try {
    values = parseArgs({ args, strict: true, allowPositionals: false, options: { json: { type: 'boolean' }, 'obs-config': { type: 'string' }, 'config-dir': { type: 'string' } } }).values;
  } catch (error) {
    throw new PersonaLiveError('USAGE', `${(error as Error).message}\n\nUsage:\n${DOCTOR_USAGE}`);
  }
  const env = { ...process.env, ...(values['config-dir'] ? { PERSONALIVE_CONFIG_DIR: values['config-dir'] as string } : {}) };
  const paths = defaultPaths(env);
  const { config } = loadConfigForStart(paths.configFile);
  const token = existsSync(paths.tokenFile) ? readFileSync(paths.tokenFile, 'utf8').trim() : '';
  const checks = await runDoctor({ env, config, token, obsConfigDir: values['obs-config'] as string | undefined });
  if (values.json) io.stdout(JSON.stringify({ ok: !checks.some((c) => c.status === 'fail'), checks }));
  else for (const line of formatDoctor(checks)) io.stdout(line);
  return checks.some((c) => c.status === 'fail') ? 1 : 0;
}
