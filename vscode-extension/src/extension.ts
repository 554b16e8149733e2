/**
 * Entry point: wires the output channel, the language client, the language
 * status item, the missing-compiler message and the commands together.
 */
import * as vscode from "vscode";

import { CodonClient, DOCUMENT_SELECTOR } from "./client";
import { registerCommands } from "./commands";
import { serverSettingKeys } from "./configuration";
import { ExtensionLog, parseLogLevel } from "./log";
import { TOKEN_SECRET } from "./serverEnvironment";
import {
  INSTALL_DOCS,
  MissingCompilerNotice,
  OPEN_SETTINGS,
  STATUS_NOTIFICATION,
  applyStatus,
  isCodonStatus,
  type MissingCompilerAction,
} from "./status";

let codon: CodonClient | undefined;

export async function activate(context: vscode.ExtensionContext): Promise<void> {
  const channel = vscode.window.createOutputChannel("Codon");
  const log = new ExtensionLog(channel, currentLogLevel());
  context.subscriptions.push(channel);

  const item = vscode.languages.createLanguageStatusItem("codon.status", DOCUMENT_SELECTOR);
  item.name = "Codon";
  item.text = "Codon: starting";
  item.command = { title: "Show Logs", command: "codon-lsp.showLogs" };
  context.subscriptions.push(item);

  const openSettings = (): void =>
    void vscode.commands.executeCommand("workbench.action.openSettings", "codon.");
  const notice = new MissingCompilerNotice(
    (message, ...actions) => vscode.window.showErrorMessage(message, ...actions),
    (action: MissingCompilerAction) => {
      if (action === OPEN_SETTINGS) {
        openSettings();
      } else if (action === INSTALL_DOCS) {
        const readme = vscode.Uri.joinPath(context.extensionUri, "README.md");
        void vscode.commands.executeCommand("markdown.showPreview", readme);
      }
    },
  );
  const onNotification = (method: string, params: unknown): void => {
    if (method === STATUS_NOTIFICATION && isCodonStatus(params)) {
      applyStatus(item, params, (severity) =>
        severity === "error"
          ? vscode.LanguageStatusSeverity.Error
          : vscode.LanguageStatusSeverity.Information,
      );
      notice.onStatus(params);
    }
  };
  const onInterpreterMissing = (message: string): void => {
    item.text = "Codon: no Python";
    item.detail = message;
    item.severity = vscode.LanguageStatusSeverity.Error;
    void vscode.window.showErrorMessage(message, OPEN_SETTINGS).then((action) => {
      if (action === OPEN_SETTINGS) {
        void vscode.commands.executeCommand(
          "workbench.action.openSettings",
          "codon.server.interpreter",
        );
      }
    });
  };

  const onStopped = (): void => {
    item.text = "Codon: server stopped";
    item.detail = "See the Codon log; Codon: Restart Server starts it again.";
    item.busy = false;
    item.severity = vscode.LanguageStatusSeverity.Warning;
  };

  const keys = serverSettingKeys(context.extension.packageJSON);
  codon = new CodonClient(
    context,
    channel,
    log,
    keys,
    onNotification,
    onInterpreterMissing,
    onStopped,
  );
  context.subscriptions.push(codon);
  const client = codon;

  context.subscriptions.push(
    ...registerCommands({
      execute: (command, args) => client.execute(command, args),
      isTrusted: () => vscode.workspace.isTrusted,
      showLogs: () => channel.show(true),
      restartServer: () => client.restart(),
      setToken: async (token) => {
        if (token === undefined) {
          await context.secrets.delete(TOKEN_SECRET);
        } else {
          await context.secrets.store(TOKEN_SECRET, token);
        }
        void vscode.window.showInformationMessage(
          token === undefined
            ? "Codon: GraphMemory-IDE token removed."
            : "Codon: GraphMemory-IDE token stored.",
        );
      },
      log: (event, fields) => log.info(event, fields),
    }),
    vscode.workspace.onDidChangeConfiguration((event) => {
      if (event.affectsConfiguration("codon.logLevel")) {
        log.setLevel(currentLogLevel());
      }
      // The server's stderr log level is fixed when it starts.
      const needsRestart =
        event.affectsConfiguration("codon.server.interpreter") ||
        event.affectsConfiguration("codon.logLevel");
      if (needsRestart) {
        void client.restart();
      } else if (event.affectsConfiguration("codon")) {
        void client.settingsChanged();
      }
    }),
    context.secrets.onDidChange((event) => {
      if (event.key === TOKEN_SECRET) {
        log.info("token.changed", {});
        void client.restart();
      }
    }),
    vscode.workspace.onDidGrantWorkspaceTrust(() => {
      log.info("workspace.trusted", {});
      void client.restart();
    }),
  );

  await client.start();
}

export async function deactivate(): Promise<void> {
  await codon?.stop();
  codon = undefined;
}

function currentLogLevel(): ReturnType<typeof parseLogLevel> {
  return parseLogLevel(vscode.workspace.getConfiguration("codon").get("logLevel"));
}
