/** Shared by the offline CLIs: load a stack or print every config problem and exit 1. */
import { ConfigValidationError, loadStack } from "../config/load";
import { Environment } from "../config/schema";

export function loadOrExit(stack: string): Environment {
  try {
    return loadStack(stack);
  } catch (e) {
    if (e instanceof ConfigValidationError) {
      process.stderr.write(e.message + "\n");
    } else {
      process.stderr.write(`${(e as Error).message}\n`);
    }
    process.exit(1);
  }
}
