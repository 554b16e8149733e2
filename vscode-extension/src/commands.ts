/**
 * The palette and context-menu commands. Build, run and scan go to the server
 * through `workspace/executeCommand`; logs, restart and the token are handled
 * here.
 */
import * as vscode from "vscode";

/** Sends one `workspace/executeCommand` to the running server. */
export type ExecuteOnServer = (command: string, args: unknown[]) => Promise<unknown>;

export interface CommandHost {
  execute: ExecuteOnServer;
  isTrusted(): boolean;
  showLogs(): void;
  restartServer(): Promise<void>;
  setToken(token: string | undefined): Promise<void>;
  log(event: string, fields: Record<string, unknown>): void;
}

export const COMMAND_IDS = [
  "codon-lsp.buildRelease",
  "codon-lsp.run",
  "codon-lsp.runWithCPython",
  "codon-lsp.scanBinary",
  "codon-lsp.showMetrics",
  "codon-lsp.showLogs",
  "codon-lsp.restartServer",
  "codon-lsp.setGraphMemoryToken",
] as const;

export type CommandId = (typeof COMMAND_IDS)[number];

/** The server commands that run a program or the compiler's linker. */
const NEEDS_TRUST: Partial<Record<CommandId, string>> = {
  "codon-lsp.buildRelease": "codon.buildRelease",
  "codon-lsp.run": "codon.run",
  "codon-lsp.runWithCPython": "codon.runWithCPython",
};

export const RESTRICTED_MESSAGE =
  "Codon: running and building are off in Restricted Mode, because they execute code and " +
  "settings from this workspace. Trust the workspace to turn them on; checking still works " +
  "with your user settings.";
export const MANAGE_TRUST = "Manage Workspace Trust";

/** Registers every command; returns their disposables. */
export function registerCommands(host: CommandHost): vscode.Disposable[] {
  const handlers: Record<CommandId, (...args: unknown[]) => Promise<void>> = {
    "codon-lsp.buildRelease": (uri) => runOnSource(host, "codon-lsp.buildRelease", uri),
    "codon-lsp.run": (uri) => runOnSource(host, "codon-lsp.run", uri),
    "codon-lsp.runWithCPython": (uri) => runOnSource(host, "codon-lsp.runWithCPython", uri),
    "codon-lsp.scanBinary": (uri) => scanBinary(host, uri),
    "codon-lsp.showMetrics": () => showMetrics(host),
    "codon-lsp.showLogs": async () => host.showLogs(),
    "codon-lsp.restartServer": () => host.restartServer(),
    "codon-lsp.setGraphMemoryToken": () => askForToken(host),
  };
  return COMMAND_IDS.map((id) =>
    vscode.commands.registerCommand(id, (...args: unknown[]) => reportFailure(host, id, args)),
  );

  async function reportFailure(h: CommandHost, id: CommandId, args: unknown[]): Promise<void> {
    try {
      await handlers[id](...args);
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      h.log("command.failed", { command: id, error: message });
      void vscode.window.showErrorMessage(`Codon: ${message}`);
    }
  }
}

/** The file a command acts on: the clicked resource, else the active editor's file. */
export function targetUri(argument: unknown): vscode.Uri | undefined {
  if (argument instanceof vscode.Uri) {
    return argument;
  }
  return vscode.window.activeTextEditor?.document.uri;
}

async function runOnSource(host: CommandHost, id: CommandId, argument: unknown): Promise<void> {
  if (!host.isTrusted()) {
    const choice = await vscode.window.showWarningMessage(RESTRICTED_MESSAGE, MANAGE_TRUST);
    if (choice === MANAGE_TRUST) {
      await vscode.commands.executeCommand("workbench.trust.manage");
    }
    return;
  }
  const uri = targetUri(argument);
  if (!uri) {
    void vscode.window.showWarningMessage("Codon: open a Python or Codon file first.");
    return;
  }
  const document = vscode.workspace.textDocuments.find(
    (open) => open.uri.toString() === uri.toString(),
  );
  if (document?.isDirty) {
    await document.save();
  }

  const serverCommand = NEEDS_TRUST[id] as string;
  if (id !== "codon-lsp.buildRelease") {
    // The server streams the program's output into the log as it runs.
    host.showLogs();
  }
  const result = await vscode.window.withProgress(
    { location: vscode.ProgressLocation.Notification, title: progressTitle(id) },
    () => host.execute(serverCommand, [uri.toString()]),
  );
  host.log("command.finished", { command: serverCommand, uri: uri.toString(), result });
  const summary = summarizeResult(serverCommand, result);
  if (summary?.level === "warning") {
    void vscode.window.showWarningMessage(summary.text);
  } else if (summary) {
    void vscode.window.showInformationMessage(summary.text);
  }
}

function progressTitle(id: CommandId): string {
  if (id === "codon-lsp.buildRelease") {
    return "Codon: building release binary";
  }
  return id === "codon-lsp.run" ? "Codon: running" : "Codon: running with CPython";
}

export interface Summary {
  level: "information" | "warning";
  text: string;
}

/**
 * A one-line message for a server command's result, or undefined to stay
 * quiet: a refused command was already explained by the server's own message.
 */
export function summarizeResult(command: string, result: unknown): Summary | undefined {
  if (typeof result === "string") {
    return { level: "information", text: result };
  }
  if (typeof result !== "object" || result === null) {
    return undefined;
  }
  const fields = result as Record<string, unknown>;
  if (fields.status === "refused") {
    return undefined;
  }
  if (typeof fields.message === "string") {
    return { level: fields.ok === false ? "warning" : "information", text: fields.message };
  }
  if (command === "codon.run" || command === "codon.runWithCPython") {
    return summarizeRun(fields);
  }
  if (fields.ok === false) {
    const detail = typeof fields.detail === "string" ? `: ${fields.detail}` : "";
    const status = typeof fields.status === "string" ? fields.status : "failed";
    return { level: "warning", text: `Codon: ${command} ${status}${detail}` };
  }
  if (command === "codon.buildRelease" && typeof fields.artifact === "string") {
    return { level: "information", text: `Codon: built ${fields.artifact}` };
  }
  return undefined;
}

function summarizeRun(fields: Record<string, unknown>): Summary {
  const file = typeof fields.file === "string" ? fields.file.split(/[\\/]/).pop() : "the program";
  let ending = `exited with status ${String(fields.exitCode)}`;
  if (fields.timedOut === true) {
    ending = "was stopped at the time limit";
  } else if (typeof fields.signal === "string" && fields.signal) {
    ending = `was killed by ${fields.signal}`;
  }
  return {
    level: fields.ok === false ? "warning" : "information",
    text: `Codon: ${file} ${ending}; its output is in the Codon log.`,
  };
}

async function scanBinary(host: CommandHost, argument: unknown): Promise<void> {
  let uri = argument instanceof vscode.Uri && !isSource(argument) ? argument : undefined;
  if (!uri) {
    const picked = await vscode.window.showOpenDialog({
      canSelectMany: false,
      openLabel: "Scan",
      title: "Codon: choose an ELF binary to scan",
    });
    uri = picked?.[0];
  }
  if (!uri) {
    return;
  }
  const result = await host.execute("codon.scanBinary", [uri.toString()]);
  host.log("command.finished", { command: "codon.scanBinary", uri: uri.toString(), result });
  await showJson(result);
}

function isSource(uri: vscode.Uri): boolean {
  return /\.(py|codon)$/.test(uri.path);
}

async function showMetrics(host: CommandHost): Promise<void> {
  const result = await host.execute("codon.showMetrics", []);
  await showJson(result);
}

async function showJson(value: unknown): Promise<void> {
  const text = typeof value === "string" ? value : JSON.stringify(value, null, 2);
  const document = await vscode.workspace.openTextDocument({ language: "json", content: text });
  await vscode.window.showTextDocument(document, { preview: true });
}

async function askForToken(host: CommandHost): Promise<void> {
  const token = await vscode.window.showInputBox({
    title: "Codon: GraphMemory-IDE token",
    prompt: "Kept in VS Code's secret storage; leave empty to remove the stored token.",
    password: true,
    ignoreFocusOut: true,
  });
  if (token === undefined) {
    return;
  }
  await host.setToken(token === "" ? undefined : token);
}
