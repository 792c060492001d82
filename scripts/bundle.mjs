// Bundles the compiled CLI (dist/, from tsc) into dist/cli/, which bin/custctl.js runs.
//
// Why: a command's start-up is paid per module file (resolve, read, compile, link) more than per
// byte, and scripts poll `custctl status job N`. Its modules (the static closure of the ones it
// imports on demand, below) go into one chunk, so the command reads two files instead of ~34; every
// other command's modules are split as Rollup decides. Each module still exists once in the whole
// bundle (a second copy of errors.js would break `instanceof` and the exit codes), packages stay
// outside it, and `import.meta.url` keeps naming the module's own file under dist/, so paths
// relative to it (assets/console, createRequire) resolve as they do unbundled.
//
// dist/cli/modules.json lists each chunk's modules (paths under dist/): test/support's import
// tracer reads it to report the modules a command loaded.
import { rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { rollup } from 'rollup';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const dist = path.join(root, 'dist');
const out = path.join(dist, 'cli');

/**
 * What `status job N` imports on demand (from main and the modules it loads); with everything
 * these and main import statically, they are the start-up chunk. main.js stays in the entry chunk
 * alone: its top-level await would otherwise hold every chunk that imports the shared one.
 */
const STARTUP_ROOTS = ['main.js', 'commands/status.js', 'service/local.js', 'jobs/backends.js', 'adapters/state-dir.js', 'adapters/file-journal.js'];

const rel = (id) => path.relative(dist, id).split(path.sep).join('/');
const isExternal = (id) => !id.startsWith('.') && !path.isAbsolute(id);

let startup;
/** The static closure of STARTUP_ROOTS (our modules only), without main.js. */
function startupModules(getModuleInfo) {
  if (startup) return startup;
  startup = new Set();
  const queue = STARTUP_ROOTS.map((m) => path.join(dist, m));
  while (queue.length) {
    const id = queue.pop();
    if (startup.has(id)) continue;
    const info = getModuleInfo(id);
    if (!info) throw new Error(`bundle: ${rel(id)} (a start-up root) is not in the build`);
    startup.add(id);
    for (const dep of info.importedIds) if (!isExternal(dep)) queue.push(dep);
  }
  startup.delete(path.join(dist, 'main.js'));
  return startup;
}

rmSync(out, { recursive: true, force: true });
const bundle = await rollup({
  input: { main: path.join(dist, 'main.js') },
  external: isExternal,
  plugins: [{
    name: 'module-url',
    // `import.meta.url` names the module's file under dist/, not the chunk's
    resolveImportMeta(property, { chunkId, moduleId }) {
      if (property !== 'url') return null;
      const fromChunk = path.relative(path.dirname(path.join(out, chunkId)), moduleId).split(path.sep).join('/');
      return `new URL(${JSON.stringify(fromChunk)}, import.meta.url).href`;
    },
  }],
});
const { output } = await bundle.write({
  dir: out,
  format: 'es',
  chunkFileNames: '[name].js',
  manualChunks: (id, { getModuleInfo }) => (startupModules(getModuleInfo).has(id) ? 'startup' : undefined),
});
await bundle.close();

const modules = {};
for (const chunk of output) if (chunk.type === 'chunk') modules[chunk.fileName] = chunk.moduleIds.map(rel).sort();
writeFileSync(path.join(out, 'modules.json'), `${JSON.stringify(modules, null, 1)}\n`);
