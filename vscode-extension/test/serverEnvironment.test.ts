import * as path from "node:path";
import { describe, expect, it } from "vitest";

import { TOKEN_ENV, serverEnvironment } from "../src/serverEnvironment";

describe("serverEnvironment", () => {
  it("puts the bundled libraries first on PYTHONPATH", () => {
    const env = serverEnvironment({ PYTHONPATH: "/mine" }, "/ext/bundled/libs", undefined);

    expect(env.PYTHONPATH).toBe(["/ext/bundled/libs", "/mine"].join(path.delimiter));
    expect(env.PYTHONNOUSERSITE).toBe("1");
  });

  it("passes the token only when one is stored", () => {
    expect(serverEnvironment({}, "/libs", "tok")[TOKEN_ENV]).toBe("tok");
    expect(serverEnvironment({ [TOKEN_ENV]: "stale" }, "/libs", undefined)).not.toHaveProperty(
      TOKEN_ENV,
    );
  });
});
