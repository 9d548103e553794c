/**
 * @module
 * `npm test`'s first step: makes sure what the tests need beyond `npm ci` is on the machine, which is Debian's
 * Chromium for the browser suite (`playwright-core` downloads no browser). Run as root with apt available, it
 * installs it; otherwise it stops at once and prints the one command to run. Not a test.
 */
import { spawnSync } from 'node:child_process';
import { accessSync, constants } from 'node:fs';

/** The browser the tests launch (the same default as `test/browser/servers.ts`). */
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const APT_OPTIONS = ['-o', 'DPkg::Lock::Timeout=600'];

function executable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

function onPath(command: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' }).status === 0;
}

function run(command: string, args: string[]): boolean {
  console.log(`$ ${command} ${args.join(' ')}`);
  return spawnSync(command, args, { stdio: 'inherit' }).status === 0;
}

function main(): number {
  if (executable(CHROMIUM)) return 0;
  const canInstall = process.getuid?.() === 0 && onPath('apt-get') && !process.env.CHROMIUM_PATH;
  if (canInstall) {
    console.log(
      `ensure-test-tools: ${CHROMIUM} is missing; installing Debian's chromium for the browser tests`,
    );
    const ok =
      run('apt-get', ['update', ...APT_OPTIONS]) &&
      run('apt-get', ['install', '-y', ...APT_OPTIONS, 'chromium']);
    if (ok && executable(CHROMIUM)) return 0;
    console.error(`ensure-test-tools: apt-get could not install chromium (${CHROMIUM} is still missing)`);
    return 1;
  }
  const [why, command] = process.env.CHROMIUM_PATH
    ? [`CHROMIUM_PATH=${CHROMIUM} is not an executable`, 'unset CHROMIUM_PATH  # or point it at Chromium']
    : [`${CHROMIUM} is missing and installing it needs root and apt-get`, 'sudo apt-get install -y chromium'];
  console.error(
    `ensure-test-tools: the browser tests need Chromium: ${why}.\nRun this, then npm test again:\n\n  ${command}\n`,
  );
  return 1;
}

process.exit(main());
