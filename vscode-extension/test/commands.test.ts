import { beforeEach, describe, expect, it, vi } from "vitest";

import * as vscode from "./vscodeMock";
import {
  COMMAND_IDS,
  MANAGE_TRUST,
  RESTRICTED_MESSAGE,
  registerCommands,
  summarizeResult,
  type CommandHost,
} from "../src/commands";

function host(overrides: Partial<CommandHost> = {}): CommandHost {
  return {
    execute: vi.fn(async () => ({ artifact: "/w/build/prog" })),
    isTrusted: () => true,
    showLogs: vi.fn(),
    restartServer: vi.fn(async () => undefined),
    setToken: vi.fn(async () => undefined),
    log: vi.fn(),
    ...overrides,
  };
}

async function run(id: string, ...args: unknown[]): Promise<void> {
  const handler = vscode.registered.get(id);
  if (!handler) {
    throw new Error(`${id} is not registered`);
  }
  await handler(...args);
}

beforeEach(() => vscode.resetMock());

describe("registerCommands", () => {
  it("registers every contributed command", () => {
    registerCommands(host());

    expect([...vscode.registered.keys()]).toEqual([...COMMAND_IDS]);
  });

  it("builds the active editor's file after saving it", async () => {
    const uri = vscode.Uri.file("/w/prog.codon");
    const save = vi.fn(async () => true);
    vscode.window.activeTextEditor = { document: { uri } };
    vscode.workspace.textDocuments = [{ uri, isDirty: true, save }];
    const h = host();
    registerCommands(h);

    await run("codon-lsp.buildRelease");

    expect(save).toHaveBeenCalledOnce();
    expect(h.execute).toHaveBeenCalledWith("codon.buildRelease", ["file:///w/prog.codon"]);
    expect(vscode.window.showInformationMessage).toHaveBeenCalledWith("Codon: built /w/build/prog");
  });

  it("uses the clicked file over the active editor", async () => {
    vscode.window.activeTextEditor = { document: { uri: vscode.Uri.file("/w/other.py") } };
    const h = host();
    registerCommands(h);

    await run("codon-lsp.runWithCPython", vscode.Uri.file("/w/prog.py"));

    expect(h.execute).toHaveBeenCalledWith("codon.runWithCPython", ["file:///w/prog.py"]);
    expect(h.showLogs).toHaveBeenCalledOnce();
  });

  it("explains why run and build are off in an untrusted workspace", async () => {
    vscode.window.activeTextEditor = { document: { uri: vscode.Uri.file("/w/prog.py") } };
    vscode.window.showWarningMessage.mockResolvedValueOnce(MANAGE_TRUST);
    const h = host({ isTrusted: () => false });
    registerCommands(h);

    await run("codon-lsp.run");

    expect(h.execute).not.toHaveBeenCalled();
    expect(vscode.window.showWarningMessage).toHaveBeenCalledWith(RESTRICTED_MESSAGE, MANAGE_TRUST);
    expect(vscode.commands.executeCommand).toHaveBeenCalledWith("workbench.trust.manage");
  });

  it("stores the token, and an empty answer removes it", async () => {
    const h = host();
    registerCommands(h);

    vscode.window.showInputBox.mockResolvedValueOnce("s3cret");
    await run("codon-lsp.setGraphMemoryToken");
    vscode.window.showInputBox.mockResolvedValueOnce("");
    await run("codon-lsp.setGraphMemoryToken");
    vscode.window.showInputBox.mockResolvedValueOnce(undefined);
    await run("codon-lsp.setGraphMemoryToken");

    expect(h.setToken).toHaveBeenNthCalledWith(1, "s3cret");
    expect(h.setToken).toHaveBeenNthCalledWith(2, undefined);
    expect(h.setToken).toHaveBeenCalledTimes(2);
    expect(vscode.window.showInputBox.mock.calls[0][0]).toMatchObject({ password: true });
  });

  it("asks for a binary when scan is run on a source file", async () => {
    const binary = vscode.Uri.file("/w/build/prog");
    vscode.window.showOpenDialog.mockResolvedValueOnce([binary]);
    const h = host({ execute: vi.fn(async () => ({ findings: [] })) });
    registerCommands(h);

    await run("codon-lsp.scanBinary", vscode.Uri.file("/w/prog.py"));

    expect(h.execute).toHaveBeenCalledWith("codon.scanBinary", ["file:///w/build/prog"]);
    expect(vscode.workspace.openTextDocument).toHaveBeenCalledWith({
      language: "json",
      content: JSON.stringify({ findings: [] }, null, 2),
    });
  });

  it("turns a failing server command into one error message", async () => {
    vscode.window.activeTextEditor = { document: { uri: vscode.Uri.file("/w/prog.py") } };
    const h = host({
      execute: vi.fn(async () => {
        throw new Error("server not running");
      }),
    });
    registerCommands(h);

    await run("codon-lsp.run");

    expect(vscode.window.showErrorMessage).toHaveBeenCalledWith("Codon: server not running");
  });
});

describe("summarizeResult", () => {
  it("names the artifact of a release build", () => {
    expect(summarizeResult("codon.buildRelease", { ok: true, artifact: "/w/build/p" })).toEqual({
      level: "information",
      text: "Codon: built /w/build/p",
    });
  });

  it("warns with the detail of a failed build", () => {
    expect(
      summarizeResult("codon.buildRelease", { ok: false, status: "failed", detail: "exit 1" }),
    ).toEqual({ level: "warning", text: "Codon: codon.buildRelease failed: exit 1" });
  });

  it("stays quiet on a refusal the server already explained", () => {
    expect(summarizeResult("codon.buildRelease", { status: "refused", ok: false })).toBeUndefined();
  });

  it("names a run's exit status and warns when it failed", () => {
    expect(
      summarizeResult("codon.run", { ok: false, file: "/w/prog.py", exitCode: 3, signal: null }),
    ).toEqual({
      level: "warning",
      text: "Codon: prog.py exited with status 3; its output is in the Codon log.",
    });
  });

  it("names the signal or the time limit that ended a run", () => {
    const killed = { ok: false, file: "/w/p.py", exitCode: null, signal: "SIGFPE" };
    const slow = { ok: false, file: "/w/p.py", exitCode: null, timedOut: true };

    expect(summarizeResult("codon.run", killed)?.text).toMatch(/p\.py was killed by SIGFPE/);
    expect(summarizeResult("codon.runWithCPython", slow)?.text).toMatch(
      /stopped at the time limit/,
    );
  });

  it("stays quiet on nothing", () => {
    expect(summarizeResult("codon.run", null)).toBeUndefined();
  });
});
