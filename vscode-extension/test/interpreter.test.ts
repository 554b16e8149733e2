import { describe, expect, it } from "vitest";

import {
  InterpreterNotFound,
  candidates,
  chooseInterpreter,
  isSupported,
  type Version,
} from "../src/interpreter";

function probeFrom(versions: Record<string, Version>) {
  return async (command: string): Promise<Version | undefined> => versions[command];
}

describe("candidates", () => {
  it("tries the setting, then the Python extension, then python3", () => {
    expect(candidates("/opt/py/bin/python", "/venv/bin/python")).toEqual([
      { source: "setting", command: "/opt/py/bin/python" },
      { source: "python-extension", command: "/venv/bin/python" },
      { source: "path", command: "python3" },
    ]);
  });

  it("skips what is unset", () => {
    expect(candidates(undefined, undefined)).toEqual([{ source: "path", command: "python3" }]);
  });
});

describe("chooseInterpreter", () => {
  it("takes the first candidate that starts and is 3.10 or newer", async () => {
    const chosen = await chooseInterpreter(
      candidates("/old/python", "/venv/bin/python"),
      probeFrom({ "/old/python": [3, 8, 10], "/venv/bin/python": [3, 12, 1], python3: [3, 11, 2] }),
    );

    expect(chosen).toEqual({
      source: "python-extension",
      command: "/venv/bin/python",
      version: [3, 12, 1],
    });
  });

  it("names every candidate tried when none fits", async () => {
    const attempt = chooseInterpreter(
      candidates("/missing/python", undefined),
      probeFrom({ python3: [3, 9, 18] }),
    );

    await expect(attempt).rejects.toBeInstanceOf(InterpreterNotFound);
    await expect(attempt).rejects.toThrow(
      /\/missing\/python \(setting\): does not start; python3 \(path\): Python 3\.9\.18/,
    );
  });
});

describe("isSupported", () => {
  it("accepts 3.10 and newer", () => {
    expect(isSupported([3, 10, 0])).toBe(true);
    expect(isSupported([4, 0, 0])).toBe(true);
    expect(isSupported([3, 9, 99])).toBe(false);
  });
});
