/** PowerAdmin's checker: its PHP configuration parses. */
import { Validate } from "../../plan/types";

export const PHP_SYNTAX: Validate = { checker: "php", command: "php -l {file}" };
