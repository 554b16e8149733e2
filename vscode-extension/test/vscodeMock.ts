/**
 * The few parts of the `vscode` API the extension's modules touch, as fakes a
 * test can inspect. Tests reset them with `resetMock()`.
 */
import { vi } from "vitest";

export class Uri {
  private constructor(
    readonly scheme: string,
    readonly path: string,
  ) {}

  static file(path: string): Uri {
    return new Uri("file", path);
  }

  static parse(value: string): Uri {
    const match = /^(\w+):\/\/(.*)$/.exec(value);
    return match ? new Uri(match[1], match[2]) : new Uri("file", value);
  }

  get fsPath(): string {
    return this.path;
  }

  toString(): string {
    return `${this.scheme}://${this.path}`;
  }
}

export enum LanguageStatusSeverity {
  Information = 0,
  Warning = 1,
  Error = 2,
}

export enum ProgressLocation {
  SourceControl = 1,
  Window = 10,
  Notification = 15,
}

export const registered = new Map<string, (...args: unknown[]) => unknown>();

export const commands = {
  registerCommand: vi.fn((id: string, handler: (...args: unknown[]) => unknown) => {
    registered.set(id, handler);
    return { dispose: () => registered.delete(id) };
  }),
  executeCommand: vi.fn(async () => undefined),
};

export const window = {
  activeTextEditor: undefined as { document: { uri: Uri } } | undefined,
  showInformationMessage: vi.fn(async (..._args: unknown[]) => undefined as string | undefined),
  showWarningMessage: vi.fn(async (..._args: unknown[]) => undefined as string | undefined),
  showErrorMessage: vi.fn(async (..._args: unknown[]) => undefined as string | undefined),
  showInputBox: vi.fn(async (..._args: unknown[]) => undefined as string | undefined),
  showOpenDialog: vi.fn(async (..._args: unknown[]) => undefined as Uri[] | undefined),
  showTextDocument: vi.fn(async (..._args: unknown[]) => undefined),
  withProgress: vi.fn(async (_options: unknown, task: () => Promise<unknown>) => task()),
};

export const workspace = {
  isTrusted: true,
  textDocuments: [] as { uri: Uri; isDirty: boolean; save: () => Promise<boolean> }[],
  openTextDocument: vi.fn(async (options: unknown) => ({ options })),
};

export function resetMock(): void {
  registered.clear();
  vi.clearAllMocks();
  window.activeTextEditor = undefined;
  workspace.isTrusted = true;
  workspace.textDocuments = [];
}
