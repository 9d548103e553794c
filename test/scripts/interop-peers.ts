/**
 * Which Python peers this machine has: /usr/bin/python3 (Debian's, where python3-torch installs) or python3 on
 * the PATH, with numpy, and with PyTorch. Prints why a peer's tests are skipped, so no skip is silent.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';

export interface PythonPeers {
  python: string;
  numpy: boolean;
  torch: boolean;
  /** torch imports and the PyTorch peer's trainer is beside the repo (`../shared/peers/torch_mlp.py`). */
  torchPeer: boolean;
}

const probe = (python: string, module: string): Promise<boolean> =>
  new Promise((done) =>
    execFile(python, ['-c', `import ${module}`], { timeout: 60_000 }, (error) => done(!error)),
  );

export async function pythonPeers(root: string): Promise<PythonPeers> {
  const python = existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';
  const numpy = await probe(python, 'numpy');
  const torch = numpy && (await probe(python, 'torch'));
  const peersDir = join(root, '..', 'shared', 'peers', 'torch_mlp.py');
  const peerScript = existsSync(peersDir);
  if (!numpy) console.warn(`skipping the Python peer tests: ${python} cannot import numpy`);
  if (!torch) {
    console.warn(
      `skipping the PyTorch tests: ${python} cannot import torch (apt-get install python3-torch libopenblas0-pthread); ` +
        'the exported files are read with numpy instead',
    );
  }
  if (torch && !peerScript) console.warn(`skipping the PyTorch-trained import: no ${peersDir}`);
  return { python, numpy, torch, torchPeer: torch && peerScript };
}
