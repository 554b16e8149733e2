import * as path from "node:path";
import { defineConfig } from "vitest/config";

export default defineConfig({
  resolve: {
    alias: { vscode: path.join(__dirname, "test", "vscodeMock.ts") },
  },
  test: { include: ["test/**/*.test.ts"] },
});
