/**
 * @module
 * Lets TypeScript accept `import mod from './x.wasm'`: bundlers (wrangler, vitest-pool-workers) turn such an
 * import into a compiled `WebAssembly.Module`. Declarations only.
 */
declare module '*.wasm' {
  const module: WebAssembly.Module;
  export default module;
}
