/**
 * The "Codon" output channel: the server's own log (its stderr and
 * window/logMessage) and the extension's lines, filtered by `codon.logLevel`.
 */
import type { OutputChannel } from "vscode";

export type LogLevel = "debug" | "info" | "warning" | "error";

const RANK: Record<LogLevel, number> = { debug: 0, info: 1, warning: 2, error: 3 };

/** Reads a log level from settings, falling back to "info" for anything unknown. */
export function parseLogLevel(value: unknown): LogLevel {
  return typeof value === "string" && value in RANK ? (value as LogLevel) : "info";
}

/** Writes the extension's own events to the output channel, one line each. */
export class ExtensionLog {
  constructor(
    private readonly channel: Pick<OutputChannel, "appendLine">,
    private level: LogLevel = "info",
  ) {}

  setLevel(level: LogLevel): void {
    this.level = level;
  }

  debug(event: string, fields: Record<string, unknown> = {}): void {
    this.write("debug", event, fields);
  }

  info(event: string, fields: Record<string, unknown> = {}): void {
    this.write("info", event, fields);
  }

  warning(event: string, fields: Record<string, unknown> = {}): void {
    this.write("warning", event, fields);
  }

  error(event: string, fields: Record<string, unknown> = {}): void {
    this.write("error", event, fields);
  }

  private write(level: LogLevel, event: string, fields: Record<string, unknown>): void {
    if (RANK[level] < RANK[this.level]) {
      return;
    }
    const parts = Object.entries(fields).map(([key, value]) => `${key}=${JSON.stringify(value)}`);
    this.channel.appendLine(
      [new Date().toISOString(), `[${level}]`, "extension", event, ...parts].join(" "),
    );
  }
}
