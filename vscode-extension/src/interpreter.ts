/**
 * Finding the Python 3.10+ that runs the bundled server: the
 * `codon.server.interpreter` setting, then the Python extension's selected
 * interpreter, then `python3` on PATH.
 */
import { execFile } from "node:child_process";

export const MIN_PYTHON: readonly [number, number] = [3, 10];

export type InterpreterSource = "setting" | "python-extension" | "path";

export interface Candidate {
  source: InterpreterSource;
  command: string;
}

export type Version = [number, number, number];

export interface Interpreter extends Candidate {
  version: Version;
}

/** Runs a candidate and returns its version, or undefined when it does not start. */
export type Probe = (command: string) => Promise<Version | undefined>;

/** Why no interpreter could run the server, one reason per candidate tried. */
export class InterpreterNotFound extends Error {
  constructor(readonly tried: readonly string[]) {
    super(
      `Codon: no Python ${MIN_PYTHON.join(".")}+ found to run the language server` +
        (tried.length > 0 ? ` (tried ${tried.join("; ")})` : "") +
        ". Set codon.server.interpreter, select an interpreter in the Python extension, " +
        "or install python3.",
    );
    this.name = "InterpreterNotFound";
  }
}

/** True when a version is new enough for the server. */
export function isSupported(version: Version): boolean {
  const [major, minor] = version;
  return major > MIN_PYTHON[0] || (major === MIN_PYTHON[0] && minor >= MIN_PYTHON[1]);
}

/** Lists the candidates in the order they are tried, dropping unset ones. */
export function candidates(
  setting: string | undefined,
  pythonExtension: string | undefined,
): Candidate[] {
  const found: Candidate[] = [];
  if (setting) {
    found.push({ source: "setting", command: setting });
  }
  if (pythonExtension) {
    found.push({ source: "python-extension", command: pythonExtension });
  }
  found.push({ source: "path", command: "python3" });
  return found;
}

/** The first candidate that starts and is new enough; throws InterpreterNotFound. */
export async function chooseInterpreter(
  options: readonly Candidate[],
  probe: Probe,
): Promise<Interpreter> {
  const tried: string[] = [];
  for (const candidate of options) {
    const version = await probe(candidate.command);
    if (version === undefined) {
      tried.push(`${candidate.command} (${candidate.source}): does not start`);
    } else if (!isSupported(version)) {
      tried.push(`${candidate.command} (${candidate.source}): Python ${version.join(".")}`);
    } else {
      return { ...candidate, version };
    }
  }
  throw new InterpreterNotFound(tried);
}

const VERSION_SCRIPT = "import sys; print('%d.%d.%d' % sys.version_info[:3])";
const PROBE_TIMEOUT_MS = 15_000;

/** Asks an interpreter for its version. */
export const probePython: Probe = (command) =>
  new Promise((resolve) => {
    execFile(command, ["-c", VERSION_SCRIPT], { timeout: PROBE_TIMEOUT_MS }, (error, stdout) => {
      const match = /^(\d+)\.(\d+)\.(\d+)/.exec(String(stdout).trim());
      if (error || !match) {
        resolve(undefined);
        return;
      }
      resolve([Number(match[1]), Number(match[2]), Number(match[3])]);
    });
  });
