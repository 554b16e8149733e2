/**
 * The `codon` settings as the server receives them: nested camelCase objects,
 * unset values left out so the server applies its own defaults, and in an
 * untrusted workspace only what the user set at user level.
 */
import type { ConfigurationParams } from "vscode-languageclient";

/** The part of vscode.WorkspaceConfiguration this module reads. */
export interface ConfigReader {
  get(key: string): unknown;
  inspect(key: string): { globalValue?: unknown } | undefined;
}

export type SettingsObject = { [key: string]: unknown };

/** Settings of the extension itself, never sent to the server. */
const EXTENSION_ONLY_PREFIX = "server.";

/** The server's setting keys, relative to `codon`, from package.json's contributions. */
export function serverSettingKeys(packageJson: unknown): string[] {
  const properties = (packageJson as { contributes?: { configuration?: { properties?: object } } })
    ?.contributes?.configuration?.properties;
  return Object.keys(properties ?? {})
    .filter((key) => key.startsWith("codon."))
    .map((key) => key.slice("codon.".length))
    .filter((key) => !key.startsWith(EXTENSION_ONLY_PREFIX))
    .sort();
}

/** Builds the nested settings object; untrusted workspaces contribute nothing. */
export function collectSettings(
  config: ConfigReader,
  keys: readonly string[],
  trusted: boolean,
): SettingsObject {
  const settings: SettingsObject = {};
  for (const key of keys) {
    const value = trusted ? config.get(key) : config.inspect(key)?.globalValue;
    if (value !== undefined && value !== null) {
      setPath(settings, key.split("."), value);
    }
  }
  return settings;
}

function setPath(target: SettingsObject, path: readonly string[], value: unknown): void {
  let node = target;
  for (const part of path.slice(0, -1)) {
    const child = node[part];
    if (typeof child !== "object" || child === null) {
      node[part] = {};
    }
    node = node[part] as SettingsObject;
  }
  node[path[path.length - 1]] = value;
}

/** Answers `workspace/configuration` items for `codon` (or a sub-section of it). */
export function answerConfiguration(
  params: ConfigurationParams,
  defaults: readonly unknown[],
  settingsFor: (scopeUri: string | undefined) => SettingsObject,
): unknown[] {
  return params.items.map((item, index) => {
    const section = item.section ?? "";
    if (section !== "codon" && !section.startsWith("codon.")) {
      return defaults[index] ?? null;
    }
    let value: unknown = settingsFor(item.scopeUri);
    for (const part of section.split(".").slice(1)) {
      value = (value as SettingsObject | undefined)?.[part];
    }
    return value ?? null;
  });
}
