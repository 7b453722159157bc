/** Monitoring: the metrics collector's plan and data on every host, and the alert rules on its metrics. */
export * from "./metrics";
export * from "./rules";
