/**
 * The environment the bundled server runs in: the bundled libraries first on
 * PYTHONPATH, and the GraphMemory-IDE token from secret storage when one is set.
 */
import * as path from "node:path";

export const TOKEN_SECRET = "codon.graphMemoryToken";
export const TOKEN_ENV = "CODON_LSP_GRAPHMEMORY_TOKEN";

/** A copy of `base` that runs the server from `bundledLibs`. */
export function serverEnvironment(
  base: NodeJS.ProcessEnv,
  bundledLibs: string,
  token: string | undefined,
): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...base, PYTHONUNBUFFERED: "1", PYTHONUTF8: "1" };
  env.PYTHONPATH = [bundledLibs, base.PYTHONPATH].filter(Boolean).join(path.delimiter);
  // The user's site-packages could shadow the bundled libraries.
  env.PYTHONNOUSERSITE = "1";
  if (token) {
    env[TOKEN_ENV] = token;
  } else {
    delete env[TOKEN_ENV];
  }
  return env;
}
