/**
 * The language client: starts the bundled server under the chosen Python with
 * the bundled libraries on PYTHONPATH, answers its configuration requests, and
 * restarts it when the interpreter, the token or workspace trust changes.
 */
import * as path from "node:path";
import { spawn } from "node:child_process";
import * as vscode from "vscode";
import {
  DidChangeConfigurationNotification,
  ExecuteCommandRequest,
  LanguageClient,
  ResponseError,
  ShowMessageNotification,
  State,
  type ShowMessageParams,
  type LanguageClientOptions,
  type ServerOptions,
} from "vscode-languageclient/node";

import { answerConfiguration, collectSettings, type SettingsObject } from "./configuration";
import { candidates, chooseInterpreter, probePython, type Interpreter } from "./interpreter";
import { parseLogLevel, type ExtensionLog } from "./log";
import { selectedInterpreter } from "./pythonExtension";
import { routeServerMessage } from "./serverMessages";
import { TOKEN_SECRET, serverEnvironment } from "./serverEnvironment";

export const DOCUMENT_SELECTOR = [
  { scheme: "file", language: "python" },
  { scheme: "file", language: "codon" },
];

/** The interpreter setting, ignoring workspace values in an untrusted workspace. */
export function interpreterSetting(trusted: boolean): string | undefined {
  const config = vscode.workspace.getConfiguration("codon");
  const value = trusted
    ? config.get<string | null>("server.interpreter")
    : config.inspect<string | null>("server.interpreter")?.globalValue;
  return value ?? undefined;
}

export class CodonClient implements vscode.Disposable {
  private client: LanguageClient | undefined;
  private interpreter: Interpreter | undefined;
  private readonly settingKeys: readonly string[];

  constructor(
    private readonly context: vscode.ExtensionContext,
    private readonly channel: vscode.OutputChannel,
    private readonly log: ExtensionLog,
    settingKeys: readonly string[],
    private readonly onNotification: (method: string, params: unknown) => void,
    private readonly onInterpreterMissing: (message: string) => void,
    private readonly onStopped: () => void,
  ) {
    this.settingKeys = settingKeys;
  }

  /** Finds an interpreter and starts the server; reports a missing one once. */
  async start(): Promise<void> {
    const trusted = vscode.workspace.isTrusted;
    try {
      this.interpreter = await chooseInterpreter(
        candidates(interpreterSetting(trusted), await selectedInterpreter()),
        probePython,
      );
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      this.log.error("interpreter.missing", { error: message });
      this.onInterpreterMissing(message);
      return;
    }
    this.log.info("interpreter.chosen", {
      command: this.interpreter.command,
      source: this.interpreter.source,
      version: this.interpreter.version.join("."),
    });

    this.client = this.createClient();
    this.client.onDidChangeState(({ newState }) => {
      if (newState === State.Stopped) {
        this.onStopped();
      }
    });
    for (const method of ["codon/status"]) {
      this.client.onNotification(method, (params: unknown) => this.onNotification(method, params));
    }
    try {
      await this.client.start();
      // Replaces the client's own handler, so that the missing-compiler message
      // is shown once, with buttons, from the status notification instead.
      this.client.onNotification(ShowMessageNotification.type, (params) =>
        this.showServerMessage(params),
      );
    } catch (error) {
      // The client already wrote the server's stderr to the output channel.
      this.log.error("server.start_failed", { error: String(error) });
    }
  }

  /** Stops the server and starts it again with fresh interpreter, token and trust. */
  async restart(): Promise<void> {
    await this.stop();
    await this.start();
  }

  async stop(): Promise<void> {
    const client = this.client;
    this.client = undefined;
    if (client) {
      try {
        await client.stop();
      } catch (error) {
        this.log.warning("server.stop_failed", { error: String(error) });
      }
    }
  }

  /** Sends the current settings after a change (the server also re-reads per file). */
  async settingsChanged(): Promise<void> {
    await this.client?.sendNotification(DidChangeConfigurationNotification.type, {
      settings: { codon: this.settingsFor(undefined) },
    });
  }

  /** Runs a server command; fails when the server is not running. */
  async execute(command: string, args: unknown[]): Promise<unknown> {
    if (!this.client?.isRunning()) {
      throw new Error("the Codon language server is not running; see the Codon log.");
    }
    return this.client.sendRequest(ExecuteCommandRequest.type, {
      command,
      arguments: args,
    });
  }

  dispose(): void {
    void this.stop();
  }

  private showServerMessage(params: ShowMessageParams): void {
    switch (routeServerMessage(params.type, params.message)) {
      case "error":
        void vscode.window.showErrorMessage(params.message);
        break;
      case "warning":
        void vscode.window.showWarningMessage(params.message);
        break;
      case "information":
        void vscode.window.showInformationMessage(params.message);
        break;
      default:
        this.channel.appendLine(params.message);
    }
  }

  private settingsFor(scopeUri: string | undefined): SettingsObject {
    const scope = scopeUri ? vscode.Uri.parse(scopeUri) : undefined;
    return collectSettings(
      vscode.workspace.getConfiguration("codon", scope),
      this.settingKeys,
      vscode.workspace.isTrusted,
    );
  }

  private createClient(): LanguageClient {
    const interpreter = this.interpreter as Interpreter;
    const bundledLibs = this.context.asAbsolutePath(path.join("bundled", "libs"));
    const serverOptions: ServerOptions = async () => {
      const token = await this.context.secrets.get(TOKEN_SECRET);
      const level = parseLogLevel(this.settingsFor(undefined).logLevel);
      return spawn(interpreter.command, ["-m", "codon_lsp", "--log-level", level], {
        env: serverEnvironment(process.env, bundledLibs, token),
        stdio: "pipe",
      });
    };
    const clientOptions: LanguageClientOptions = {
      documentSelector: DOCUMENT_SELECTOR,
      outputChannel: this.channel,
      diagnosticCollectionName: "codon",
      initializationOptions: () => ({
        settings: this.settingsFor(undefined),
        // User-level values only: the server accepts privileged build flags
        // (plugins, linker flags) from these alone, never from a workspace.
        userSettings: collectSettings(
          vscode.workspace.getConfiguration("codon"),
          this.settingKeys,
          false,
        ),
        trusted: vscode.workspace.isTrusted,
      }),
      middleware: {
        workspace: {
          configuration: async (params, token, next) => {
            const defaults = await next(params, token);
            if (defaults instanceof ResponseError) {
              return defaults;
            }
            return answerConfiguration(params, defaults, (scopeUri) => this.settingsFor(scopeUri));
          },
        },
      },
    };
    return new LanguageClient("codon", "Codon", serverOptions, clientOptions);
  }
}
