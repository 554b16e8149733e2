import { describe, expect, it } from "vitest";

import {
  answerConfiguration,
  collectSettings,
  serverSettingKeys,
  type ConfigReader,
} from "../src/configuration";

function reader(effective: Record<string, unknown>, user: Record<string, unknown>): ConfigReader {
  return {
    get: (key) => effective[key],
    inspect: (key) => ({ globalValue: user[key] }),
  };
}

const KEYS = ["compiler.path", "compiler.timeoutSeconds", "logLevel", "metrics.port"];

describe("collectSettings", () => {
  it("nests dotted keys and leaves unset values to the server", () => {
    const config = reader(
      { "compiler.path": "/opt/codon", "compiler.timeoutSeconds": 12, "metrics.port": null },
      {},
    );

    expect(collectSettings(config, KEYS, true)).toEqual({
      compiler: { path: "/opt/codon", timeoutSeconds: 12 },
    });
  });

  it("uses only user-level values in an untrusted workspace", () => {
    const config = reader(
      { "compiler.path": "./evil/codon", logLevel: "debug" },
      { logLevel: "warning" },
    );

    expect(collectSettings(config, KEYS, false)).toEqual({ logLevel: "warning" });
  });
});

describe("answerConfiguration", () => {
  it("answers codon items from the collector and keeps other sections' answers", () => {
    const params = {
      items: [
        { section: "codon", scopeUri: "file:///w/a.py" },
        { section: "editor" },
        { section: "codon.compiler" },
      ],
    };
    const seen: (string | undefined)[] = [];

    const answer = answerConfiguration(params, [{ x: 1 }, { tabSize: 4 }, { y: 2 }], (scope) => {
      seen.push(scope);
      return { compiler: { path: "/c" } };
    });

    expect(answer).toEqual([{ compiler: { path: "/c" } }, { tabSize: 4 }, { path: "/c" }]);
    expect(seen).toEqual(["file:///w/a.py", undefined]);
  });
});

describe("serverSettingKeys", () => {
  it("drops extension-only settings", () => {
    const packageJson = {
      contributes: {
        configuration: {
          properties: { "codon.server.interpreter": {}, "codon.checkOn": {}, "other.x": {} },
        },
      },
    };

    expect(serverSettingKeys(packageJson)).toEqual(["checkOn"]);
  });
});
