// End-to-end test of the Codon extension in real VS Code (code-server) driven
// by headless Chromium through playwright-core.
//
// Usage: node drive.mjs --vsix FILE --tools DIR --codon BINARY [--artifacts DIR]
// It installs the .vsix into a fresh code-server, opens a copy of ./workspace,
// and checks, in order: a type error shown in the Problems panel with its line
// and column after a save; the CPython quick fix making an import error go
// away; "Codon: Build Release Binary" leaving an executable on disk. Every wait
// is on a condition with a deadline; a failure saves a screenshot.
import { spawn, execFileSync } from "node:child_process";
import { createRequire } from "node:module";
import * as fs from "node:fs";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import { parseArgs } from "node:util";

const here = path.dirname(new URL(import.meta.url).pathname);
const { values: options } = parseArgs({
  options: {
    vsix: { type: "string" },
    tools: { type: "string" },
    codon: { type: "string" },
    artifacts: { type: "string" },
    chromium: { type: "string", default: "/usr/lib/chromium/chromium" },
    "server-python": { type: "string" },
  },
});
for (const required of ["vsix", "tools", "codon"]) {
  if (!options[required]) {
    console.error(`drive.mjs: --${required} is required`);
    process.exit(2);
  }
}
const tools = path.resolve(options.tools);
const artifacts = path.resolve(options.artifacts ?? path.join(tools, "artifacts"));
const { chromium } = createRequire(path.join(tools, "driver", "package.json"))("playwright-core");
const codeServer = path.join(tools, "code-server", "node_modules", ".bin", "code-server");

const STARTUP_TIMEOUT_MS = 120_000;
const CHECK_TIMEOUT_MS = 90_000;
const BUILD_TIMEOUT_MS = 180_000;
const POLL_MS = 250;

const TYPE_ERROR = {
  file: "typed.codon",
  message: "unsupported operand type(s) for +",
  line: 7,
  column: 14,
};
const IMPORT_ERROR = { file: "colors.codon", message: "no module named 'colorsys'" };

function log(step, fields = {}) {
  const parts = Object.entries(fields).map(([key, value]) => `${key}=${JSON.stringify(value)}`);
  console.log([new Date().toISOString(), "e2e", step, ...parts].join(" "));
}

/** Polls `probe` until it returns a truthy value; throws with `what` at the deadline. */
async function waitFor(what, probe, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  let last;
  while (Date.now() < deadline) {
    try {
      last = await probe();
      if (last) {
        return last;
      }
    } catch (error) {
      last = error;
    }
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what} (last: ${String(last)})`);
}

function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/**
 * A fresh user-data folder, extensions folder and copy of ./workspace. Trusted
 * runs set codon.compiler.path in the workspace; the restricted run sets it for
 * the user and points the workspace's value nowhere, which must be ignored.
 */
function prepareRun({ trusted }) {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), "codon-vscode-e2e-"));
  const userData = path.join(root, "user-data");
  const extensions = path.join(root, "extensions");
  const workspace = path.join(root, "workspace");
  fs.mkdirSync(path.join(userData, "User"), { recursive: true });
  fs.mkdirSync(extensions);
  fs.cpSync(path.join(here, "workspace"), workspace, { recursive: true });

  const userSettings = {
    "workbench.startupEditor": "none",
    "security.workspace.trust.enabled": !trusted,
    "security.workspace.trust.startupPrompt": "never",
    "telemetry.telemetryLevel": "off",
    "update.mode": "none",
    "extensions.autoCheckUpdates": false,
    "extensions.ignoreRecommendations": true,
    "workbench.enableExperiments": false,
    "workbench.tips.enabled": false,
    "chat.disableAIFeatures": true,
    "editor.acceptSuggestionOnEnter": "off",
    "files.autoSave": "off",
    ...(options["server-python"] ? { "codon.server.interpreter": options["server-python"] } : {}),
    ...(trusted ? {} : { "codon.compiler.path": options.codon }),
  };
  fs.writeFileSync(
    path.join(userData, "User", "settings.json"),
    JSON.stringify(userSettings, null, 2),
  );
  fs.mkdirSync(path.join(workspace, ".vscode"));
  fs.writeFileSync(
    path.join(workspace, ".vscode", "settings.json"),
    JSON.stringify(
      { "codon.compiler.path": trusted ? options.codon : "/nonexistent/codon" },
      null,
      2,
    ),
  );
  log("run.prepared", { root, trusted });
  return { root, userData, extensions, workspace, trusted };
}

function installExtension(run) {
  const output = execFileSync(
    codeServer,
    [
      "--user-data-dir",
      run.userData,
      "--extensions-dir",
      run.extensions,
      "--install-extension",
      path.resolve(options.vsix),
    ],
    { encoding: "utf-8" },
  );
  log("extension.installed", { output: output.trim().split("\n").pop() });
  const installed = fs
    .readdirSync(run.extensions)
    .find((name) => name.startsWith("codon-lsp.codon-lsp-"));
  if (!installed) {
    throw new Error(`the .vsix did not install into ${run.extensions}`);
  }
  return path.join(run.extensions, installed);
}

async function startCodeServer(run) {
  const port = await freePort();
  const child = spawn(
    codeServer,
    [
      "--bind-addr",
      `127.0.0.1:${port}`,
      "--auth",
      "none",
      "--user-data-dir",
      run.userData,
      "--extensions-dir",
      run.extensions,
      "--disable-telemetry",
      "--disable-update-check",
      ...(run.trusted ? ["--disable-workspace-trust"] : []),
      run.workspace,
    ],
    {
      stdio: ["ignore", "pipe", "pipe"],
      detached: true,
      // The server keeps check results in the user's cache folder: a run of
      // its own starts with none, as a new user would.
      env: { ...process.env, XDG_CACHE_HOME: path.join(run.root, "cache") },
    },
  );
  const logFile = fs.createWriteStream(path.join(run.root, "code-server.log"));
  child.stdout.pipe(logFile);
  child.stderr.pipe(logFile);
  const url = `http://127.0.0.1:${port}`;
  await waitFor(
    "code-server to answer /healthz",
    async () => (await fetch(`${url}/healthz`)).ok,
    STARTUP_TIMEOUT_MS,
  );
  log("code-server.ready", { url });
  return { child, url };
}

async function problemRows(page) {
  return page.$$eval(".markers-panel .monaco-list-row", (rows) =>
    rows.map((row) => ({
      label: row.getAttribute("aria-label") ?? "",
      text: row.textContent ?? "",
    })),
  );
}

/** The Problems panel row for a message: its text with line and column. */
async function findProblem(page, message) {
  const rows = await problemRows(page);
  const row = rows.find(
    (candidate) => candidate.text.includes(message) || candidate.label.includes(message),
  );
  if (!row) {
    return undefined;
  }
  const position =
    /Ln (\d+), Col (\d+)/.exec(row.text) ?? /line (\d+) column (\d+)/i.exec(row.label);
  return {
    ...row,
    line: position ? Number(position[1]) : undefined,
    column: position ? Number(position[2]) : undefined,
  };
}

async function openProblems(page) {
  if (await page.$(".markers-panel")) {
    if (await page.isVisible(".markers-panel")) {
      return;
    }
  }
  await runCommand(page, "View: Focus Problems");
  await waitFor("the Problems panel", () => page.isVisible(".markers-panel"), CHECK_TIMEOUT_MS);
}

async function runCommand(page, title) {
  await page.keyboard.press("F1");
  const input = page.locator(".quick-input-widget input");
  await input.waitFor({ state: "visible", timeout: CHECK_TIMEOUT_MS });
  await input.fill(`>${title}`);
  const item = page
    .locator(".quick-input-list .monaco-list-row.focused", { hasText: title })
    .first();
  await item.waitFor({ state: "visible", timeout: CHECK_TIMEOUT_MS });
  await page.keyboard.press("Enter");
}

async function openFile(page, name) {
  await page.keyboard.press("Control+P");
  const input = page.locator(".quick-input-widget input");
  await input.waitFor({ state: "visible", timeout: CHECK_TIMEOUT_MS });
  await input.fill(name);
  const item = page
    .locator(".quick-input-list .monaco-list-row.focused", { hasText: name })
    .first();
  await item.waitFor({ state: "visible", timeout: CHECK_TIMEOUT_MS });
  await page.keyboard.press("Enter");
  await page.locator(`.tab.active[aria-label*="${name}"]`).waitFor({ timeout: CHECK_TIMEOUT_MS });
  const editor = page.locator(".editor-instance .monaco-editor .view-lines").first();
  await editor.click();
}

/** The active editor's visible text, with the spaces the view renders as NBSP. */
async function editorText(page) {
  const lines = page.locator(".editor-instance .monaco-editor .view-lines").first();
  return ((await lines.textContent()) ?? "").replace(/\u00a0/g, " ");
}

/** Edits the end of the file (leaving the error's position alone) and saves. */
async function editAndSave(page) {
  await page.keyboard.press("Control+End");
  await page.keyboard.press("Enter");
  await page.keyboard.press("Control+S");
  await waitFor(
    "the editor to be saved",
    async () => !(await page.$(".tab.active.dirty")),
    CHECK_TIMEOUT_MS,
  );
}

async function checkTypeError(page) {
  await openFile(page, TYPE_ERROR.file);
  await editAndSave(page);
  await openProblems(page);
  const problem = await waitFor(
    `"${TYPE_ERROR.message}" in the Problems panel`,
    () => findProblem(page, TYPE_ERROR.message),
    CHECK_TIMEOUT_MS,
  );
  log("problem.seen", { text: problem.text, line: problem.line, column: problem.column });
  if (problem.line !== TYPE_ERROR.line || problem.column !== TYPE_ERROR.column) {
    throw new Error(
      `expected the error at Ln ${TYPE_ERROR.line}, Col ${TYPE_ERROR.column}; the Problems panel says ${problem.text}`,
    );
  }
  if (!problem.text.includes("codon")) {
    throw new Error(`expected the problem's source to be codon: ${problem.text}`);
  }
}

async function applyCPythonQuickFix(page) {
  await openFile(page, IMPORT_ERROR.file);
  await editAndSave(page);
  await waitFor(
    `"${IMPORT_ERROR.message}" in the Problems panel`,
    () => findProblem(page, IMPORT_ERROR.message),
    CHECK_TIMEOUT_MS,
  );

  const editor = page.locator(".editor-instance .monaco-editor .view-lines").first();
  await editor.click();
  await page.keyboard.press("Control+Home");
  await page.keyboard.press("Control+.");
  const fix = page
    .locator(".action-widget .monaco-list-row", { hasText: /Import .?colorsys.? from CPython/ })
    .first();
  await fix.waitFor({ state: "visible", timeout: CHECK_TIMEOUT_MS });
  log("quickfix.offered", { title: (await fix.textContent())?.trim() });
  await fix.click();

  // The edit arrives through codeAction/resolve: wait for it in the editor, then save.
  await waitFor(
    "the quick fix's import in the editor",
    async () => (await editorText(page)).includes("from python import colorsys"),
    CHECK_TIMEOUT_MS,
  );
  await page.keyboard.press("Control+S");
  const file = path.join(page.workspace, IMPORT_ERROR.file);
  await waitFor(
    "the fixed file on disk",
    () => fs.readFileSync(file, "utf-8").includes("from python import colorsys"),
    CHECK_TIMEOUT_MS,
  );
  await waitFor(
    `"${IMPORT_ERROR.message}" to leave the Problems panel`,
    async () => !(await findProblem(page, IMPORT_ERROR.message)),
    CHECK_TIMEOUT_MS,
  );
  log("quickfix.applied", {});
}

function isElf(file) {
  const head = Buffer.alloc(4);
  const fd = fs.openSync(file, "r");
  try {
    fs.readSync(fd, head, 0, 4, 0);
  } finally {
    fs.closeSync(fd);
  }
  return head.equals(Buffer.from([0x7f, 0x45, 0x4c, 0x46]));
}

/** Waits for the "Codon: built PATH" notification and checks PATH on disk. */
async function buildRelease(page) {
  await openFile(page, IMPORT_ERROR.file);
  await runCommand(page, "Codon: Build Release Binary");
  const message = await waitFor(
    'the "Codon: built" notification',
    async () => {
      const texts = await page.$$eval(
        ".notifications-toasts .notification-list-item-message",
        (items) => items.map((item) => item.textContent ?? ""),
      );
      return texts.find((text) => text.startsWith("Codon: built ") || text.includes("failed"));
    },
    BUILD_TIMEOUT_MS,
  );
  const artifact = message.replace(/^Codon: built /, "").trim();
  if (!message.startsWith("Codon: built ") || !fs.existsSync(artifact)) {
    throw new Error(`the build did not leave a binary: ${message}`);
  }
  const stat = fs.statSync(artifact);
  if (!isElf(artifact) || (stat.mode & 0o777) !== 0o755) {
    throw new Error(
      `${artifact} is not an ELF file with mode 755 (mode ${(stat.mode & 0o777).toString(8)})`,
    );
  }
  log("build.artifact", { path: artifact, bytes: stat.size });
}

/** The extension's "Codon" output channel as code-server wrote it to disk. */
function codonLog(userData) {
  const logs = path.join(userData, "logs");
  const files = fs.existsSync(logs)
    ? fs
        .readdirSync(logs, { recursive: true })
        .map((name) => path.join(logs, String(name)))
        .filter((file) => file.endsWith("-Codon.log"))
    : [];
  return files.map((file) => fs.readFileSync(file, "utf-8")).join("\n");
}

function count(text, needle) {
  return text.split(needle).length - 1;
}

async function toastTexts(page) {
  return page.$$eval(".notifications-toasts .notification-list-item", (items) =>
    items.map((item) => item.textContent ?? ""),
  );
}

/** The language status hover names Codon's version once a check finished. */
async function checkLanguageStatus(page) {
  await openFile(page, TYPE_ERROR.file);
  const item = page.locator("#status\\.languageStatus").first();
  await item.waitFor({ state: "visible", timeout: CHECK_TIMEOUT_MS });
  await item.hover();
  const hover = await waitFor(
    "the language status hover with Codon's version",
    async () => {
      const texts = await page.$$eval(".workbench-hover, .monaco-hover", (nodes) =>
        nodes.map((node) => node.textContent ?? ""),
      );
      return texts.find((text) => /Codon 0\.\d+\.\d+/.test(text));
    },
    CHECK_TIMEOUT_MS,
  );
  log("status.seen", { hover });
  if (!hover.includes("Last check:")) {
    throw new Error(`the language status does not name the last check: ${hover}`);
  }
  await page.keyboard.press("Escape");
}

/**
 * Points codon.compiler.path nowhere: one message with its two buttons must
 * appear, and a second failing check must not add another.
 */
async function checkMissingCompiler(page, run) {
  fs.writeFileSync(
    path.join(run.workspace, ".vscode", "settings.json"),
    JSON.stringify({ "codon.compiler.path": "/nonexistent/codon" }, null, 2),
  );
  const isMissingMessage = (text) =>
    text.includes("Codon compiler not found") || text.includes("Searched:");
  const toast = await waitFor(
    "the missing-compiler message",
    async () => (await toastTexts(page)).find(isMissingMessage),
    CHECK_TIMEOUT_MS,
  );
  for (const button of ["Open Settings", "How to Install Codon"]) {
    if (!toast.includes(button)) {
      throw new Error(`the missing-compiler message has no "${button}" button: ${toast}`);
    }
  }

  const reportsBefore = count(codonLog(run.userData), "server.message");
  await openFile(page, TYPE_ERROR.file);
  await editAndSave(page);
  await waitFor(
    "the server to report the missing compiler again",
    () => count(codonLog(run.userData), "server.message") > reportsBefore,
    CHECK_TIMEOUT_MS,
  );
  const shown = (await toastTexts(page)).filter(isMissingMessage);
  if (shown.length !== 1) {
    throw new Error(`expected one missing-compiler message, saw ${shown.length}: ${shown}`);
  }
  log("missing-compiler.once", { message: shown[0].slice(0, 120) });
}

/**
 * Restricted Mode: the check runs with the user's compiler path (the
 * workspace's points nowhere), and Build Release Binary explains why it is off.
 */
async function checkRestrictedMode(page) {
  await waitFor(
    "Restricted Mode in the status bar",
    async () => (await page.locator(".statusbar", { hasText: "Restricted Mode" }).count()) > 0,
    STARTUP_TIMEOUT_MS,
  );
  await checkTypeError(page);
  await runCommand(page, "Codon: Build Release Binary");
  const toast = await waitFor(
    "the message that building is off in Restricted Mode",
    async () => (await toastTexts(page)).find((text) => text.includes("Restricted Mode")),
    CHECK_TIMEOUT_MS,
  );
  if (!toast.includes("Manage Workspace Trust")) {
    throw new Error(`the Restricted Mode message has no trust button: ${toast}`);
  }
  if (fs.existsSync(path.join(page.workspace, "build"))) {
    throw new Error("a build ran in Restricted Mode");
  }
  log("restricted.refused", { message: toast.slice(0, 120) });
}

/** One code-server and browser page for a run; saves evidence when a step fails. */
async function session(browser, run, steps) {
  installExtension(run);
  const server = await startCodeServer(run);
  const page = await browser.newPage({ viewport: { width: 1600, height: 1000 } });
  page.workspace = run.workspace;
  page.run = run;
  try {
    await page.goto(`${server.url}/?folder=${encodeURIComponent(run.workspace)}`);
    await page.locator(".monaco-workbench").waitFor({ timeout: STARTUP_TIMEOUT_MS });
    log("workbench.ready", { trusted: run.trusted });
    await steps(page);
    fs.rmSync(run.root, { recursive: true, force: true });
  } catch (error) {
    const name = run.trusted ? "trusted" : "restricted";
    const shot = path.join(artifacts, `e2e-failure-${name}.png`);
    await page.screenshot({ path: shot }).catch(() => undefined);
    // Logs and the workspace as the test left them; sockets cannot be copied.
    fs.cpSync(run.root, path.join(artifacts, `run-${name}`), {
      recursive: true,
      filter: (src) => {
        const stat = fs.lstatSync(src);
        return (stat.isDirectory() || stat.isFile()) && !src.startsWith(run.extensions);
      },
    });
    log("failed", {
      error: String(error),
      screenshot: shot,
      run: path.join(artifacts, `run-${name}`),
    });
    throw error;
  } finally {
    await page.close();
    process.kill(-server.child.pid, "SIGTERM");
  }
}

async function main() {
  // Evidence of an earlier failed run must not pass for this one's.
  fs.rmSync(artifacts, { recursive: true, force: true });
  fs.mkdirSync(artifacts, { recursive: true });
  const browser = await chromium.launch({
    executablePath: options.chromium,
    headless: true,
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--no-first-run",
    ],
  });
  try {
    await session(browser, prepareRun({ trusted: true }), async (page) => {
      await checkTypeError(page);
      await applyCPythonQuickFix(page);
      await buildRelease(page);
      await checkLanguageStatus(page);
      await checkMissingCompiler(page, page.run);
    });
    await session(browser, prepareRun({ trusted: false }), checkRestrictedMode);
    log("passed", {});
  } catch {
    process.exitCode = 1;
  } finally {
    await browser.close();
  }
}

main().catch((error) => {
  console.error(error);
  process.exitCode = 1;
});
