/** Monitoring: the metrics collector's plan and data on every host, the alert rules and the Grafana dashboard on its metrics. */
export * from "./metrics";
export * from "./rules";
export * from "./dashboard";
