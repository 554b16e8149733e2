/**
 * package.json must contribute exactly the settings the server reads: the keys
 * (and their defaults) come from server/codon_lsp/settings.py.
 */
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import * as path from "node:path";
import { describe, expect, it } from "vitest";

import { serverSettingKeys } from "../src/configuration";

const root = path.resolve(__dirname, "..");
const packageJson = JSON.parse(readFileSync(path.join(root, "package.json"), "utf-8"));
const python = process.env.CODON_LSP_SCHEMA_PYTHON ?? "python3";

function schemaScript(...args: string[]): string {
  return execFileSync(python, [path.join(root, "scripts", "settings_schema.py"), ...args], {
    encoding: "utf-8",
  });
}

describe("contributed settings", () => {
  it("lists the same keys as settings.py", () => {
    const fromServer = schemaScript("--keys")
      .split("\n")
      .filter((line) => line.length > 0)
      .map((key) => key.slice("codon.".length));

    expect(serverSettingKeys(packageJson)).toEqual(fromServer);
  });

  it("gives every setting a description, a default and a scope", () => {
    const properties = packageJson.contributes.configuration.properties as Record<
      string,
      Record<string, unknown>
    >;

    for (const [key, property] of Object.entries(properties)) {
      expect(property.markdownDescription, key).toBeTruthy();
      expect("default" in property, key).toBe(true);
      expect(property.scope, key).toMatch(/^(resource|window|machine-overridable)$/);
    }
  });

  it("contributes codon.server.interpreter for the extension itself", () => {
    expect(packageJson.contributes.configuration.properties).toHaveProperty(
      "codon.server.interpreter",
    );
  });
});
